package wire_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"admit/fleet/wire"
)

// replicaKey is a fixed replica key, so that the signed frames of the fuzz
// corpus stay valid.
var replicaKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, 32))

var (
	sessionA = wire.Session{Device: "gate-a", Nonce: bytes.Repeat([]byte{1}, 32)}
	sessionB = wire.Session{Device: "gate-b", Nonce: bytes.Repeat([]byte{2}, 32)}
)

func trust(s wire.Session) *wire.Trust {
	return &wire.Trust{ReplicaKey: replicaKey.Public().(ed25519.PublicKey), Session: s}
}

func signedBatch() []byte {
	b := sealed(wire.Batch{Event: "gala", From: 0, To: 3, Changes: []wire.Change{
		{Seq: 1, Kind: wire.KindKey, Key: &wire.Key{ID: "k1", Public: make([]byte, 32)}},
		{Seq: 2, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T1", Type: "GA", Holder: "Ada"}},
		{Seq: 3, Kind: wire.KindRevoke, Revoke: &wire.Revoke{TicketID: "T1", Reason: "lost"}},
	}})
	b.Running = wire.RunningChecksum(0, b.Changes)
	b.Seal()
	return wire.SignBatchFrame(replicaKey, wire.MarshalBatch(b))
}

// TestSignedFrames: a signed batch or snapshot chunk decodes to what was
// signed; a changed byte, another key, an unsigned frame, a JSON batch,
// or a snapshot signed for another session (device or nonce) is refused
// with ErrUnsigned, and plain Decode refuses signed frames.
func TestSignedFrames(t *testing.T) {
	frame := signedBatch()
	m, err := trust(sessionA).Decode(frame)
	if err != nil || m.Batch == nil || m.Batch.To != 3 || m.Batch.Changes[1].Ticket.Holder != "Ada" {
		t.Fatalf("signed batch: %+v %v", m, err)
	}
	// The same batch frame serves every gate: no session in its signature.
	if _, err := trust(sessionB).Decode(frame); err != nil {
		t.Fatalf("signed batch at another gate: %v", err)
	}
	refused := func(name string, tr *wire.Trust, data []byte) {
		t.Helper()
		if _, err := tr.Decode(data); !errors.Is(err, wire.ErrUnsigned) {
			t.Errorf("%s: %v, want ErrUnsigned", name, err)
		}
	}
	for i := 1; i < len(frame); i++ {
		tampered := bytes.Clone(frame)
		tampered[i] ^= 0x20
		if _, err := trust(sessionA).Decode(tampered); err == nil {
			t.Fatalf("byte %d of %d changed: accepted", i, len(frame))
		}
	}
	// The holder renamed, checksums recomputed: a forger's best effort.
	i := bytes.Index(frame, []byte("Ada"))
	forged := bytes.Clone(frame)
	copy(forged[i:], "Eve")
	refused("batch with a changed holder", trust(sessionA), forged)
	_, other, _ := ed25519.GenerateKey(nil)
	inner := frame[1+ed25519.SignatureSize:]
	refused("batch signed by another key", trust(sessionA), wire.SignBatchFrame(other, inner))
	refused("unsigned binary batch", trust(sessionA), inner)
	b, _ := wire.Decode(inner)
	js, _ := json.Marshal(b)
	refused("batch as JSON", trust(sessionA), js)
	if _, err := wire.Decode(frame); !errors.Is(err, wire.ErrInvalid) {
		t.Errorf("plain Decode of a signed frame: %v, want ErrInvalid", err)
	}

	chunk := wire.SignSnapshotFrame(replicaKey, sessionA, wire.MarshalSnapshot(snapshotChunk()))
	if m, err := trust(sessionA).Decode(chunk); err != nil || m.Snapshot == nil || len(m.Snapshot.Tickets) != 3 {
		t.Fatalf("signed snapshot chunk: %+v %v", m, err)
	}
	refused("snapshot chunk of another device", trust(sessionB), chunk)
	refused("snapshot chunk of another session of the device", trust(wire.Session{Device: sessionA.Device, Nonce: sessionB.Nonce}), chunk)
	refused("unsigned snapshot chunk", trust(sessionA), wire.MarshalSnapshot(snapshotChunk()))
	// A batch's signature does not make a snapshot frame, nor the reverse.
	swapped := append([]byte{0x04}, frame[1:]...)
	if _, err := trust(sessionA).Decode(swapped); err == nil {
		t.Error("a batch signed as a snapshot chunk: accepted")
	}
}

// TestSignedMessages: Config, Revoked and ScanAck verify in the session
// they were signed for, as JSON goes over the wire, and nowhere else: a
// revocation of one gate replayed to another, or to the same gate in a
// new session, is refused.
func TestSignedMessages(t *testing.T) {
	wireForm := func(m *wire.Message) []byte {
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(m); err != nil { // as websocket.Conn.WriteJSON
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	cfg := &wire.Config{Version: 7, Body: json.RawMessage("{\n  \"note\": \"<b>&\",\n  \"n\": 1\n}")}
	if err := cfg.Sign(replicaKey, sessionA); err != nil {
		t.Fatal(err)
	}
	revoked := &wire.Revoked{Reason: "device revoked"}
	revoked.Sign(replicaKey, sessionA)
	ack := &wire.ScanAck{UpTo: 42}
	ack.Sign(replicaKey, sessionA)
	for _, m := range []*wire.Message{
		{Type: wire.TypeConfig, Config: cfg},
		{Type: wire.TypeRevoked, Revoked: revoked},
		{Type: wire.TypeScanAck, ScanAck: ack},
	} {
		data := wireForm(m)
		got, err := trust(sessionA).Decode(data)
		if err != nil || got.Type != m.Type {
			t.Fatalf("%s in its session: %+v %v", m.Type, got, err)
		}
		for name, s := range map[string]wire.Session{
			"another device":                 sessionB,
			"another session of this device": {Device: sessionA.Device, Nonce: sessionB.Nonce},
		} {
			if _, err := trust(s).Decode(data); !errors.Is(err, wire.ErrUnsigned) {
				t.Errorf("%s replayed to %s: %v, want ErrUnsigned", m.Type, name, err)
			}
		}
	}
	if got, _ := trust(sessionA).Decode(wireForm(&wire.Message{Type: wire.TypeConfig, Config: cfg})); !bytes.Contains(got.Config.Body, []byte(`"n":1`)) {
		t.Fatalf("config body %s", got.Config.Body)
	}
	more := *ack
	more.UpTo = 1 << 40
	if _, err := trust(sessionA).Decode(wireForm(&wire.Message{Type: wire.TypeScanAck, ScanAck: &more})); !errors.Is(err, wire.ErrUnsigned) {
		t.Errorf("scan ack with a changed UpTo: %v", err)
	}
	unsignedRevoked := wireForm(&wire.Message{Type: wire.TypeRevoked, Revoked: &wire.Revoked{Reason: "device revoked"}})
	if _, err := trust(sessionA).Decode(unsignedRevoked); !errors.Is(err, wire.ErrUnsigned) {
		t.Errorf("unsigned revoked: %v", err)
	}
	// What changes nothing at a gate needs no signature.
	for _, m := range []*wire.Message{
		{Type: wire.TypeChallenge, Challenge: &wire.Challenge{Nonce: make([]byte, 32)}},
		{Type: wire.TypeError, Error: &wire.Error{Code: "bye"}},
	} {
		if _, err := trust(sessionA).Decode(wireForm(m)); err != nil {
			t.Errorf("%s: %v", m.Type, err)
		}
	}
	if _, err := (&wire.Trust{Session: sessionA}).Decode(wireForm(&wire.Message{Type: wire.TypeRevoked, Revoked: revoked})); !errors.Is(err, wire.ErrUnsigned) {
		t.Errorf("no replica key: %v", err)
	}
}

// TestHelloSigningBytes: protocol 4 signs what it always signed;
// protocol 5 covers the agent's nonce.
func TestHelloSigningBytes(t *testing.T) {
	challenge := bytes.Repeat([]byte{9}, 32)
	v4 := (&wire.Hello{Protocol: 4, Device: "d"}).SigningBytes(challenge)
	if want := append(append([]byte("admit-hello-v2\x00"), challenge...), append([]byte{0}, 'd')...); !bytes.Equal(v4, want) {
		t.Fatalf("protocol 4 hello signs %q", v4)
	}
	a := (&wire.Hello{Protocol: 5, Device: "d", Nonce: sessionA.Nonce}).SigningBytes(challenge)
	b := (&wire.Hello{Protocol: 5, Device: "d", Nonce: sessionB.Nonce}).SigningBytes(challenge)
	if bytes.Equal(a, b) || bytes.Equal(a, v4) {
		t.Fatal("protocol 5 hello does not sign the agent's nonce")
	}
}

// TestDecideResponseSigningBytes: an answer is bound to its request.
func TestDecideResponseSigningBytes(t *testing.T) {
	resp := []byte(`{"admit":true}`)
	if bytes.Equal(wire.DecideResponseSigningBytes([]byte(`{"ticket_id":"A"}`), resp), wire.DecideResponseSigningBytes([]byte(`{"ticket_id":"B"}`), resp)) {
		t.Fatal("the answer's signature does not depend on the request")
	}
}

// TestEnrollURIReplicaKey: the enrollment code carries the replica key.
func TestEnrollURIReplicaKey(t *testing.T) {
	u := wire.EnrollURI{Fleet: "https://f:8443", Token: "T", CAFingerprint: bytes.Repeat([]byte{1}, 32), ReplicaKey: bytes.Repeat([]byte{2}, 32)}
	got, err := wire.ParseEnrollURI(u.String())
	if err != nil || !reflect.DeepEqual(got, u) {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := wire.ParseEnrollURI("admit-enroll:?fleet=x&token=t&rk=00"); !errors.Is(err, wire.ErrInvalid) {
		t.Fatalf("short replica key: %v", err)
	}
}

// FuzzTrustDecode: what an agent of protocol 5 reads from its fleet never
// panics the decoder; refusals are ErrInvalid or ErrUnsigned; and what it
// accepts was signed by the replica key: a batch or snapshot frame
// re-signed from its parsed contents is the frame received.
func FuzzTrustDecode(f *testing.F) {
	f.Add(signedBatch())
	f.Add(wire.SignSnapshotFrame(replicaKey, sessionA, wire.MarshalSnapshot(snapshotChunk())))
	cfg := &wire.Config{Version: 3, Body: json.RawMessage(`{"mode":"online"}`)}
	cfg.Sign(replicaKey, sessionA)
	data, _ := json.Marshal(&wire.Message{Type: wire.TypeConfig, Config: cfg})
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := trust(sessionA).Decode(data)
		if err != nil {
			if !errors.Is(err, wire.ErrInvalid) && !errors.Is(err, wire.ErrUnsigned) {
				t.Fatalf("error neither ErrInvalid nor ErrUnsigned: %v", err)
			}
			return
		}
		switch {
		case len(data) > 0 && data[0] == 0x03:
			if m.Batch == nil || !bytes.Equal(wire.SignBatchFrame(replicaKey, wire.MarshalBatch(m.Batch)), data) {
				t.Fatal("an accepted signed batch is not the fleet's frame")
			}
		case len(data) > 0 && data[0] == 0x04:
			if m.Snapshot == nil || !bytes.Equal(wire.SignSnapshotFrame(replicaKey, sessionA, wire.MarshalSnapshot(m.Snapshot)), data) {
				t.Fatal("an accepted signed snapshot chunk is not the fleet's frame")
			}
		case m.Type == wire.TypeBatch || m.Type == wire.TypeSnapshot:
			t.Fatalf("an unsigned %s was accepted", m.Type)
		}
	})
}
