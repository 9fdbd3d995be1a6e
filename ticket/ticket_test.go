package ticket

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Date(2025, 7, 4, 18, 0, 0, 0, time.UTC)

func mustKey(t testing.TB, event, id string) SigningKey {
	t.Helper()
	k, err := GenerateSigningKey(event, id)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func gaClaims() Claims {
	return Claims{
		ID:        "Q7XK2M4P",
		Event:     "fest25",
		Type:      "GA",
		NotBefore: t0,
		NotAfter:  t0.Add(48 * time.Hour),
	}
}

func mustEncode(t testing.TB, c Claims, k SigningKey) string {
	t.Helper()
	s, err := Encode(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRoundTrip(t *testing.T) {
	k := mustKey(t, "fest25", "k1")
	c := gaClaims()
	c.Zones = []string{"main", "vip"}
	c.Seat = "B12"
	c.Policy = ReEntry
	text := mustEncode(t, c, k)
	got, err := Verify(text, NewKeyring(k.Public()), t0.Add(time.Hour))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	c.KeyID = "k1"
	if got.ID != c.ID || got.Event != c.Event || got.Type != c.Type || got.Seat != c.Seat ||
		!got.NotBefore.Equal(c.NotBefore) || !got.NotAfter.Equal(c.NotAfter) || got.Policy != c.Policy ||
		got.KeyID != "k1" || len(got.Zones) != 2 || got.Zones[1] != "vip" {
		t.Fatalf("got %+v, want %+v", got, c)
	}
	if got.NotBefore.Location() != time.UTC {
		t.Errorf("NotBefore not UTC: %v", got.NotBefore.Location())
	}
}

func TestReasonOf(t *testing.T) {
	if ReasonOf(nil) != "" {
		t.Error("nil")
	}
	if ReasonOf(errors.New("x")) != ReasonMalformed {
		t.Error("plain error")
	}
	err := refusef(ReasonRevoked, "x")
	if ReasonOf(err) != ReasonRevoked || !errors.Is(err, ErrRevoked) || errors.Is(err, ErrExpired) {
		t.Errorf("reason %q", ReasonOf(err))
	}
}

func TestPolicyString(t *testing.T) {
	for _, p := range []Policy{SingleEntry, MultiEntry, ReEntry} {
		q, err := ParsePolicy(p.String())
		if err != nil || q != p {
			t.Errorf("%v: %v %v", p, q, err)
		}
	}
	if _, err := ParsePolicy("twice"); err == nil {
		t.Error("ParsePolicy(twice) succeeded")
	}
}
