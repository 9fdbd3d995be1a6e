package aescmac

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 4493 §4, the four AES-128 examples (key 2b7e1516…), and its subkeys
// (§4, "Subkey Generation").
func TestRFC4493(t *testing.T) {
	key := unhex(t, "2b7e151628aed2a6abf7158809cf4f3c")
	m, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(m.k1[:]); got != "fbeed618357133667c85e08f7236a8de" {
		t.Fatalf("K1 %s", got)
	}
	if got := hex.EncodeToString(m.k2[:]); got != "f7ddac306ae266ccf90bc11ee46d513b" {
		t.Fatalf("K2 %s", got)
	}
	msg := unhex(t, "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
	for _, tc := range []struct {
		n    int
		want string
	}{
		{0, "bb1d6929e95937287fa37d129b756746"},
		{16, "070a16b46b4d4144f79bdd9dd04a287c"},
		{40, "dfa66747de9ae63030ca32611497c827"},
		{64, "51f0bebf7e3b9d92fc49741779363cfe"},
	} {
		got := m.Sum(msg[:tc.n])
		if !bytes.Equal(got[:], unhex(t, tc.want)) {
			t.Errorf("len %d: %x, want %s", tc.n, got, tc.want)
		}
	}
	if _, err := New(key[:15]); err != ErrKeySize {
		t.Fatalf("15-byte key: %v", err)
	}
}

// The truncation keeps the odd-indexed bytes: AN12196 §3.4.4.2.1 Table 4,
// CMAC 3FB5F6E3… of the empty message under the session key gives the SUN
// MAC 94EED9EE65337086 (the table's vector, as reproduced by
// nfc-developer/sdm-backend tests/test_libsdm.py test_sun1).
func TestTruncate(t *testing.T) {
	ks := unhex(t, "3fb5f6e3a807a03d5e3570ace393776f")
	m, err := New(ks)
	if err != nil {
		t.Fatal(err)
	}
	got := m.SumTruncated(nil)
	if !bytes.Equal(got[:], unhex(t, "94eed9ee65337086")) {
		t.Fatalf("MACt %x", got)
	}
}
