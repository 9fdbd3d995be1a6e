package ticket

import (
	"bytes"
	"crypto/ed25519"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// TestStandardCOSE re-derives the COSE_Sign1 structure and the
// Sig_structure with a generic CBOR encoder (not our hand-built bytes) and
// verifies the signature over those, as any COSE library would.
func TestStandardCOSE(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	b := mustEncodeBinary(t, vipClaims(), k)
	var msg []cbor.RawMessage
	if err := cbor.Unmarshal(b, &msg); err != nil || len(msg) != 4 {
		t.Fatalf("not a 4-array: %v", err)
	}
	var prot, payload, sig []byte
	var unprot map[int]any
	for i, v := range []any{&prot, &unprot, &payload, &sig} {
		if err := cbor.Unmarshal(msg[i], v); err != nil {
			t.Fatalf("element %d: %v", i, err)
		}
	}
	var hdr map[int]any
	if err := cbor.Unmarshal(prot, &hdr); err != nil {
		t.Fatal(err)
	}
	if hdr[1] != int64(-8) || !bytes.Equal(hdr[4].([]byte), []byte("k1")) || len(unprot) != 0 {
		t.Fatalf("headers %v %v", hdr, unprot)
	}
	em, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		t.Fatal(err)
	}
	tbs, err := em.Marshal([]any{"Signature1", prot, []byte{}, payload})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(tbs, sigStructure(prot, payload)) {
		t.Fatalf("Sig_structure differs:\n%x\n%x", tbs, sigStructure(prot, payload))
	}
	if !ed25519.Verify(k.Public().Key, tbs, sig) {
		t.Fatal("signature does not verify over the generic Sig_structure")
	}
	var claims map[int]any
	if err := cbor.Unmarshal(payload, &claims); err != nil || claims[1] != "V3N8R2KD" || claims[8] != uint64(ReEntry) {
		t.Fatalf("claims %v %v", claims, err)
	}
}
