package ticket

import (
	"bytes"
	"crypto/ed25519"
	"testing"
)

// fixedKey returns a deterministic signing key (Ed25519 signatures are
// deterministic too, so tickets signed with it are byte-stable).
func fixedKey(event, id string, seed byte) SigningKey {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, ed25519.SeedSize))
	return SigningKey{Event: event, ID: id, Private: priv}
}

func mustEncodeBinary(t testing.TB, c Claims, k SigningKey) []byte {
	t.Helper()
	b, err := EncodeBinary(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// vipClaims is a fuller ticket: zones, seat, re-entry.
func vipClaims() Claims {
	c := gaClaims()
	c.ID = "V3N8R2KD"
	c.Type = "VIP"
	c.Zones = []string{"vip"}
	c.Seat = "B12"
	c.Policy = ReEntry
	return c
}

func ed25519Sign(k SigningKey, msg []byte) []byte { return ed25519.Sign(k.Private, msg) }
