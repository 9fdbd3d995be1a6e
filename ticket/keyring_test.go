package ticket

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// TestRotation: a second key is added and used for new tickets; tickets
// under the first stay valid (no reissue) until it is retired, and from the
// retirement instant on only they are refused.
func TestRotation(t *testing.T) {
	k1 := fixedKey("fest25", "k1", 1)
	k2 := fixedKey("fest25", "k2", 2)
	kr := NewKeyring(k1.Public())
	old := mustEncode(t, gaClaims(), k1)
	now := t0.Add(time.Hour)
	if _, err := Verify(old, kr, now); err != nil {
		t.Fatal(err)
	}
	kr.Add(k2.Public())
	c := gaClaims()
	c.ID = "NEW00001"
	fresh := mustEncode(t, c, k2)
	for _, s := range []string{old, fresh} {
		if _, err := Verify(s, kr, now); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
	retireAt := now.Add(time.Hour)
	if err := kr.Retire("fest25", "k1", retireAt); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(old, kr, retireAt.Add(-time.Second)); err != nil {
		t.Fatalf("before retirement: %v", err)
	}
	if _, err := Verify(old, kr, retireAt); ReasonOf(err) != ReasonRetiredKey {
		t.Fatalf("at retirement: %v", err)
	}
	if _, err := Verify(fresh, kr, retireAt.Add(time.Hour)); err != nil {
		t.Fatalf("new key after retirement of old: %v", err)
	}
	if err := kr.Retire("fest25", "nope", now); !errors.Is(err, ErrKeyNotFound) {
		t.Fatalf("retire unknown: %v", err)
	}
	keys := kr.Keys()
	if len(keys) != 2 || keys[0].ID != "k1" || !keys[0].RetiredAt.Equal(retireAt) || !keys[1].RetiredAt.IsZero() {
		t.Fatalf("Keys = %+v", keys)
	}
	kr.Remove("fest25", "k1")
	if _, err := Verify(old, kr, now); ReasonOf(err) != ReasonUnknownKey {
		t.Fatalf("removed key: %v", err)
	}
	// Add replaces by (Event, ID), un-retiring.
	kr.Add(k2.Public())
	if _, err := Verify(fresh, kr, retireAt.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestKeyringConcurrent(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	kr := NewKeyring(k.Public())
	text := mustEncode(t, gaClaims(), k)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if i == 0 {
					kr.Add(fixedKey("other", "x", byte(j)).Public())
					continue
				}
				if _, err := Verify(text, kr, t0); err != nil {
					t.Error(err)
					return
				}
			}
		}(i)
	}
	wg.Wait()
}

func TestRevocationList(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	kr := NewKeyring(k.Public())
	text := mustEncode(t, gaClaims(), k)
	rl := NewRevocationList()
	opts := VerifyOptions{Now: t0, Revocations: rl}
	if _, err := VerifyWith(text, kr, opts); err != nil {
		t.Fatal(err)
	}
	rl.Revoke("fest25", "Q7XK2M4P")
	rl.Revoke("expo25", "Q7XK2M4P")
	if _, err := VerifyWith(text, kr, opts); !errors.Is(err, ErrRevoked) {
		t.Fatalf("revoked: %v", err)
	}
	if ids := rl.IDs("fest25"); len(ids) != 1 {
		t.Fatalf("IDs = %v", ids)
	}
	rl.Unrevoke("fest25", "Q7XK2M4P")
	if _, err := VerifyWith(text, kr, opts); err != nil {
		t.Fatal(err)
	}
}

func TestEncodeRejects(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	bad := []Claims{
		{},
		{ID: "x", NotBefore: t0},
		{ID: "x", NotBefore: t0, NotAfter: t0.Add(-time.Second)},
		{ID: "x", Event: "expo25", NotBefore: t0, NotAfter: t0},
		{ID: "x", NotBefore: t0, NotAfter: t0, Zones: []string{""}},
		{ID: "x", NotBefore: t0, NotAfter: t0, Policy: 7},
		{ID: string(make([]byte, MaxFieldLen+1)), NotBefore: t0, NotAfter: t0},
		{ID: "x", NotBefore: t0, NotAfter: t0, Zones: make([]string, MaxZones+1)},
	}
	for i, c := range bad {
		if _, err := Encode(c, k); err == nil {
			t.Errorf("case %d: Encode accepted %+v", i, c)
		}
	}
	if _, err := Encode(gaClaims(), SigningKey{Event: "fest25", ID: "k1"}); err == nil {
		t.Error("Encode without a private key")
	}
	if _, err := GenerateSigningKey("", "k1"); err == nil {
		t.Error("GenerateSigningKey without event")
	}
}

func TestZeroKeyring(t *testing.T) {
	var kr Keyring
	k := fixedKey("fest25", "k1", 1)
	text := mustEncode(t, gaClaims(), k)
	if _, err := Verify(text, &kr, t0); ReasonOf(err) != ReasonUnknownKey {
		t.Fatalf("empty: %v", err)
	}
	kr.Add(k.Public())
	if _, err := Verify(text, &kr, t0); err != nil {
		t.Fatal(err)
	}
	if _, err := Verify(text, nil, t0); ReasonOf(err) != ReasonUnknownKey {
		t.Fatalf("nil keyring: %v", err)
	}
}
