package ticket

import (
	"errors"
	"testing"
	"time"
)

// TestStateLookup: the agent's allowlist lookup runs once, only for
// authentic tickets of the gate's event, and drives revocation and the
// rotating-code secret.
func TestStateLookup(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	kr := NewKeyring(k.Public())
	c := gaClaims()
	c.Rotating = true
	static := mustEncode(t, c, k)
	forged := mustEncode(t, c, fixedKey("fest25", "k1", 9))
	secret := []byte("row-secret-0123456789")
	now := t0.Add(time.Hour)
	shown := mustRotate(t, static, secret, now)

	var calls int
	row := GateState{CodeSecret: secret}
	var lookupErr error
	opts := VerifyOptions{Now: now, Event: "fest25", State: func(got Claims) (GateState, error) {
		calls++
		if got.ID != c.ID || got.Event != "fest25" {
			t.Errorf("lookup of %s/%s", got.Event, got.ID)
		}
		return row, lookupErr
	}}
	if _, err := VerifyWith(shown, kr, opts); err != nil || calls != 1 {
		t.Fatalf("live code: %v, %d lookups", err, calls)
	}
	calls = 0
	if _, err := VerifyWith(RotatingPrefix+"000000"+forged[len(Prefix):], kr, opts); ReasonOf(err) != ReasonBadSignature || calls != 0 {
		t.Fatalf("forged: %v, %d lookups (want none)", err, calls)
	}
	opts.Event = "expo25"
	if _, err := VerifyWith(shown, kr, opts); ReasonOf(err) != ReasonWrongEvent || calls != 0 {
		t.Fatalf("other event: %v, %d lookups (want none)", err, calls)
	}
	// A gate of several events: any of them.
	opts.Event, opts.Events = "", []string{"expo25", "cup25"}
	if _, err := VerifyWith(shown, kr, opts); ReasonOf(err) != ReasonWrongEvent || calls != 0 {
		t.Fatalf("none of the events: %v, %d lookups (want none)", err, calls)
	}
	opts.Events = []string{"expo25", "fest25"}
	if _, err := VerifyWith(shown, kr, opts); err != nil || calls != 1 {
		t.Fatalf("one of the events: %v, %d lookups", err, calls)
	}
	calls = 0
	opts.Event, opts.Events = "fest25", nil
	if _, err := VerifyWith(static, kr, opts); ReasonOf(err) != ReasonMissingCode {
		t.Fatalf("static of rotating: %v", err)
	}
	row.Revoked = true
	if _, err := VerifyWith(shown, kr, opts); ReasonOf(err) != ReasonRevoked {
		t.Fatalf("revoked row: %v", err)
	}
	row.Revoked = false
	// The agent's own refusal passes through unchanged.
	lookupErr = refusef(ReasonNotInAllowlist, "not on the allowlist")
	if _, err := VerifyWith(shown, kr, opts); ReasonOf(err) != ReasonNotInAllowlist {
		t.Fatalf("agent refusal: %v", err)
	}
	sentinel := errors.New("db closed")
	lookupErr = sentinel
	_, err := VerifyWith(shown, kr, opts)
	if ReasonOf(err) != ReasonLookupFailed || !errors.Is(err, sentinel) {
		t.Fatalf("lookup failure: %v", err)
	}
}
