package storetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"slices"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/audit"
	"admit/fleet/operator"
)

func operators(t *testing.T, s fleet.Store) operator.Store {
	t.Helper()
	os, ok := s.(operator.Store)
	if !ok {
		t.Fatalf("%T is not an operator.Store", s)
	}
	return os
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func testOperators(t *testing.T, fs fleet.Store) {
	s, ctx := operators(t, fs), context.Background()
	grants := []access.Grant{{Role: access.EventManager, Event: "gala"}, {Role: access.Viewer, Event: access.AllEvents}}
	if err := s.CreateOperator(ctx, operator.Operator{Name: "ada", Grants: grants, CreatedAt: t0, CreatedBy: "root"}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateOperator(ctx, operator.Operator{Name: "ada", CreatedAt: t0}); !errors.Is(err, operator.ErrExists) {
		t.Fatalf("duplicate operator: %v", err)
	}
	o, err := s.Operator(ctx, "ada")
	if err != nil || o.SetUp || len(o.Grants) != 2 || o.CreatedBy != "root" || !o.CreatedAt.Equal(t0) {
		t.Fatalf("Operator: %+v %v", o, err)
	}
	if _, err := s.Operator(ctx, "nobody"); !errors.Is(err, operator.ErrNotFound) {
		t.Fatalf("unknown operator: %v", err)
	}
	if err := s.SetGrants(ctx, "ada", grants[:1]); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGrants(ctx, "nobody", grants); !errors.Is(err, operator.ErrNotFound) {
		t.Fatalf("grants of unknown: %v", err)
	}

	// A setup link: one per operator (a new one replaces the old), a
	// pending seed kept once chosen, used once.
	if err := s.CreateSetup(ctx, operator.Setup{TokenHash: hash("old"), Operator: "ada", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSetup(ctx, operator.Setup{TokenHash: hash("link"), Operator: "ada", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Setup(ctx, hash("old"), t0); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("replaced link: %v", err)
	}
	if _, err := s.Setup(ctx, hash("link"), t0.Add(2*time.Hour)); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("expired link: %v", err)
	}
	seed, err := s.SetSetupSecret(ctx, hash("link"), []byte("first seed"))
	if err != nil || string(seed) != "first seed" {
		t.Fatalf("SetSetupSecret: %q %v", seed, err)
	}
	if seed, _ = s.SetSetupSecret(ctx, hash("link"), []byte("second")); string(seed) != "first seed" {
		t.Fatalf("a second seed replaced the first: %q", seed)
	}
	st, err := s.Setup(ctx, hash("link"), t0)
	if err != nil || st.Operator != "ada" || string(st.PendingSecret) != "first seed" {
		t.Fatalf("Setup: %+v %v", st, err)
	}
	creds := operator.Credentials{PasswordHash: "$argon2id$x", TOTPSecret: []byte("first seed"), TOTPStep: 100, Recovery: [][]byte{hash("r1"), hash("r2")}}
	if o, err = s.FinishSetup(ctx, hash("link"), creds, t0); err != nil || !o.SetUp || o.TOTPLastStep != 100 {
		t.Fatalf("FinishSetup: %+v %v", o, err)
	}
	if _, err := s.FinishSetup(ctx, hash("link"), creds, t0); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("link used twice: %v", err)
	}

	// A TOTP step and a recovery code are each used once.
	for _, c := range []struct {
		step int64
		want bool
	}{{100, false}, {99, false}, {101, true}, {101, false}, {103, true}} {
		if ok, err := s.UseTOTPStep(ctx, "ada", c.step); err != nil || ok != c.want {
			t.Fatalf("UseTOTPStep(%d) = %v %v, want %v", c.step, ok, err, c.want)
		}
	}
	if ok, _ := s.UseRecoveryCode(ctx, "ada", hash("r1"), t0); !ok {
		t.Fatal("recovery code refused")
	}
	if ok, _ := s.UseRecoveryCode(ctx, "ada", hash("r1"), t0); ok {
		t.Fatal("recovery code used twice")
	}
	if ok, _ := s.UseRecoveryCode(ctx, "ada", hash("nope"), t0); ok {
		t.Fatal("unknown recovery code taken")
	}
	if n, err := s.RecoveryCodesLeft(ctx, "ada"); err != nil || n != 1 {
		t.Fatalf("RecoveryCodesLeft: %d %v", n, err)
	}

	// Sessions.
	sess := operator.Session{IDHash: hash("sid"), ID: "abcd", Operator: "ada", Stage: operator.StageFull, CreatedAt: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour), Remote: "10.0.0.1"}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, operator.Session{IDHash: hash("sid2"), ID: "ef01", Operator: "ada", Stage: operator.StageTOTP, CreatedAt: t0, LastSeen: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.TouchSession(ctx, hash("sid"), t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Session(ctx, hash("sid"))
	if err != nil || got.Operator != "ada" || !got.LastSeen.Equal(t0.Add(time.Minute)) || got.Remote != "10.0.0.1" || got.ID != "abcd" {
		t.Fatalf("Session: %+v %v", got, err)
	}
	if ss, _ := s.Sessions(ctx, "ada"); len(ss) != 2 {
		t.Fatalf("Sessions: %+v", ss)
	}
	if err := s.DeleteSessionID(ctx, "ada", "ef01"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSessionID(ctx, "ada", "ef01"); !errors.Is(err, operator.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if err := s.DeleteSession(ctx, hash("sid")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Session(ctx, hash("sid")); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("deleted session: %v", err)
	}

	// A reset clears credentials, codes, sessions and links.
	s.CreateSession(ctx, sess)
	if err := s.ResetOperator(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	o, _ = s.Operator(ctx, "ada")
	ss, _ := s.Sessions(ctx, "ada")
	if n, _ := s.RecoveryCodesLeft(ctx, "ada"); o.SetUp || o.PasswordHash != "" || len(ss) != 0 || n != 0 {
		t.Fatalf("after reset: %+v sessions %d codes %d", o, len(ss), n)
	}
	ops, err := s.Operators(ctx)
	if err != nil || len(ops) != 1 || len(ops[0].Grants) != 1 || ops[0].Grants[0] != grants[0] {
		t.Fatalf("Operators: %+v %v", ops, err)
	}
}

func testTokens(t *testing.T, fs fleet.Store) {
	s, ctx := operators(t, fs), context.Background()
	tk := operator.Token{ID: "tok_1", Hash: hash("secret"), Name: "ci", Grant: access.Grant{Role: access.Viewer, Event: "gala"},
		CreatedBy: "ada", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateToken(ctx, tk); err != nil {
		t.Fatal(err)
	}
	got, err := s.TokenByHash(ctx, hash("secret"))
	if err != nil || got.ID != "tok_1" || got.Grant != tk.Grant || !got.ExpiresAt.Equal(tk.ExpiresAt) || !got.RevokedAt.IsZero() {
		t.Fatalf("TokenByHash: %+v %v", got, err)
	}
	if _, err := s.TokenByHash(ctx, hash("other")); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("unknown token: %v", err)
	}
	s.TouchToken(ctx, "tok_1", t0.Add(time.Minute))
	if got, err = s.RevokeToken(ctx, "tok_1", t0.Add(2*time.Minute)); err != nil || !got.RevokedAt.Equal(t0.Add(2*time.Minute)) || !got.LastUsed.Equal(t0.Add(time.Minute)) {
		t.Fatalf("RevokeToken: %+v %v", got, err)
	}
	if got, _ = s.RevokeToken(ctx, "tok_1", t0.Add(time.Hour)); !got.RevokedAt.Equal(t0.Add(2 * time.Minute)) {
		t.Fatalf("revoked twice moved the time: %+v", got)
	}
	if _, err := s.RevokeToken(ctx, "tok_x", t0); !errors.Is(err, operator.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if ts, _ := s.Tokens(ctx); len(ts) != 1 || len(ts[0].Hash) == 0 {
		t.Fatalf("Tokens: %+v", ts)
	}
}

func testLoginThrottle(t *testing.T, fs fleet.Store) {
	s, ctx := operators(t, fs), context.Background()
	const max, window, lock = 3, 15 * time.Minute, 10 * time.Minute
	count := func(at time.Time) operator.Throttle {
		t.Helper()
		th, err := s.CountLoginFailure(ctx, "account:ada", at, at.Add(-window), max, at.Add(lock))
		if err != nil {
			t.Fatal(err)
		}
		return th
	}
	if th := count(t0); th.Failures != 1 || !th.LockedUntil.IsZero() || !th.First.Equal(t0) {
		t.Fatalf("first: %+v", th)
	}
	count(t0.Add(time.Minute))
	if th := count(t0.Add(2 * time.Minute)); th.Failures != 3 || !th.LockedUntil.Equal(t0.Add(2*time.Minute+lock)) {
		t.Fatalf("third: %+v", th)
	}
	if th, _ := s.LoginThrottle(ctx, "account:ada"); th.Failures != 3 {
		t.Fatalf("LoginThrottle: %+v", th)
	}
	// Past the window, the count starts again.
	if th := count(t0.Add(window + time.Minute)); th.Failures != 1 || !th.First.Equal(t0.Add(window+time.Minute)) {
		t.Fatalf("after the window: %+v", th)
	}
	if err := s.ClearLoginThrottle(ctx, "account:ada"); err != nil {
		t.Fatal(err)
	}
	if th, _ := s.LoginThrottle(ctx, "account:ada"); th.Failures != 0 {
		t.Fatalf("cleared: %+v", th)
	}
	count(t0)
	if err := s.PruneLoginThrottle(ctx, t0.Add(time.Second), t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if th, _ := s.LoginThrottle(ctx, "account:ada"); th.Failures != 0 {
		t.Fatalf("pruned: %+v", th)
	}
}

func testAudit(t *testing.T, fs fleet.Store) {
	s, ok := fs.(audit.Store)
	if !ok {
		t.Fatalf("%T is not an audit.Store", fs)
	}
	ctx := context.Background()
	for i, e := range []audit.Entry{
		{ActorKind: audit.ActorOperator, Actor: "ada", Method: "POST", Route: "/api/events", Target: "", Status: 201},
		{ActorKind: audit.ActorToken, Actor: "tok_1", Method: "POST", Route: "/api/events/{event}/tickets", Target: "event=gala_1", Summary: "issued 3", Status: 201},
		{ActorKind: audit.ActorOperator, Actor: "ada", Method: "POST", Route: "/api/devices/{id}/revoke", Target: "id=gate-1", Status: 403},
	} {
		e.At, e.Remote = t0.Add(time.Duration(i)*time.Minute), "10.0.0.9"
		if err := s.RecordAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.AuditLog(ctx, audit.Filter{})
	if err != nil || len(all) != 3 || all[0].Route != "/api/devices/{id}/revoke" || all[0].ID <= all[1].ID || !all[2].At.Equal(t0) || all[1].Remote != "10.0.0.9" {
		t.Fatalf("AuditLog: %+v %v", all, err)
	}
	for _, c := range []struct {
		f    audit.Filter
		want int
	}{
		{audit.Filter{Actor: "ada"}, 2},
		{audit.Filter{Kind: audit.ActorToken}, 1},
		{audit.Filter{Target: "gala_"}, 1},
		{audit.Filter{Target: "ala%"}, 0}, // wildcards are literal
		{audit.Filter{Since: t0.Add(time.Minute)}, 2},
		{audit.Filter{Until: t0.Add(time.Minute)}, 1},
		{audit.Filter{Before: all[0].ID}, 2},
		{audit.Filter{Limit: 1}, 1},
		{audit.Filter{Route: "/api/events"}, 1},
	} {
		if got, err := s.AuditLog(ctx, c.f); err != nil || len(got) != c.want {
			t.Errorf("AuditLog(%+v): %d entries %v, want %d", c.f, len(got), err, c.want)
		}
	}
}

// testDeviceKeys: a device's key and revocation change only through
// RekeyDevice or a replacing enrollment token.
func testDeviceKeys(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	pub1, _, _ := ed25519.GenerateKey(nil)
	pub2, _, _ := ed25519.GenerateKey(nil)
	if err := s.PutDevice(ctx, fleet.Device{ID: "gate-1", Gate: "A", Events: []string{"gala"}, PublicKey: pub1, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDevice(ctx, "gate-1", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDevice(ctx, fleet.Device{ID: "gate-1", Gate: "B", Events: []string{"gala", "cup"}, PublicKey: pub2, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	d, _ := s.Device(ctx, "gate-1")
	if !bytes.Equal(d.PublicKey, pub1) || !d.Revoked() || d.Gate != "B" || !slices.Equal(d.Events, []string{"gala", "cup"}) {
		t.Fatalf("PutDevice changed the key or revocation, or not the rest: %+v", d)
	}
	// An enrollment token for the id does not enroll it, and stays unused.
	tok := hash("plain")
	if err := s.CreateEnrollment(ctx, fleet.Enrollment{TokenHash: tok, Device: "gate-1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Enroll(ctx, tok, pub2, t0); !errors.Is(err, fleet.ErrExists) {
		t.Fatalf("enrolled over an existing device: %v", err)
	}
	d, _ = s.Device(ctx, "gate-1")
	if !bytes.Equal(d.PublicKey, pub1) || !d.Revoked() {
		t.Fatalf("refused enrollment changed the device: %+v", d)
	}
	// A replacing token does: new key, revocation cleared.
	rep := hash("replace")
	if err := s.CreateEnrollment(ctx, fleet.Enrollment{TokenHash: rep, Device: "gate-1", Events: []string{"gala"}, Replace: true, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if d, err := s.Enroll(ctx, rep, pub2, t0); err != nil || !bytes.Equal(d.PublicKey, pub2) || d.Revoked() || !slices.Equal(d.Events, []string{"gala"}) {
		t.Fatalf("replacing enrollment: %+v %v", d, err)
	}
	s.RevokeDevice(ctx, "gate-1", t0)
	if err := s.RekeyDevice(ctx, "gate-1", pub1); err != nil {
		t.Fatal(err)
	}
	if d, _ = s.Device(ctx, "gate-1"); !bytes.Equal(d.PublicKey, pub1) || d.Revoked() {
		t.Fatalf("RekeyDevice: %+v", d)
	}
	if err := s.RekeyDevice(ctx, "nope", pub1); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("rekey unknown: %v", err)
	}
}
