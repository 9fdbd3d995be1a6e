package operator_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"admit/clock"
	"admit/fleet/access"
	"admit/fleet/operator"
	"admit/fleet/sqlite"
)

var fast = operator.Argon2{Time: 1, Memory: 64, Threads: 1, KeyLen: 32}

func newService(t *testing.T) (*operator.Service, *clock.Fake) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC))
	return &operator.Service{Store: st, Clock: clk, Argon2: fast}, clk
}

const pw = "a long enough password"

// setUp creates an operator through its setup link, as the console does,
// and returns its seed and recovery codes.
func setUp(t *testing.T, s *operator.Service, clk *clock.Fake, name string) ([]byte, []string) {
	t.Helper()
	ctx := context.Background()
	_, link, err := s.CreateOperator(ctx, name, []access.Grant{{Role: access.Viewer, Event: "gala"}}, "test")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.BeginSetup(ctx, link)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := s.BeginSetup(ctx, link)
	if again.Secret != info.Secret {
		t.Fatal("opening the link twice showed two seeds")
	}
	seed, err := operator.ParseSecret(info.Secret)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.FinishSetup(ctx, link, "short", operator.TOTP(seed, clk.Now())); !errors.Is(err, operator.ErrInvalid) {
		t.Fatalf("short password: %v", err)
	}
	if _, _, err := s.FinishSetup(ctx, link, pw, "000000"); !errors.Is(err, operator.ErrBadCode) && operator.TOTP(seed, clk.Now()) != "000000" {
		t.Fatalf("wrong code at setup: %v", err)
	}
	_, codes, err := s.FinishSetup(ctx, link, pw, operator.TOTP(seed, clk.Now()))
	if err != nil || len(codes) != operator.RecoveryCodes {
		t.Fatalf("FinishSetup: %v %v", codes, err)
	}
	if _, _, err := s.FinishSetup(ctx, link, pw, operator.TOTP(seed, clk.Now())); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("setup link used twice: %v", err)
	}
	return seed, codes
}

func TestSignIn(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	seed, codes := setUp(t, s, clk, "ada")

	// The code that proved the seed at setup is used: the next step's
	// code signs in; the same code again does not.
	clk.Advance(operator.TOTPStep)
	pending, err := s.Login(ctx, "ada", pw, "10.0.0.1", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Authenticate(ctx, pending); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("a pending sign-in authenticates: %v", err)
	}
	code := operator.TOTP(seed, clk.Now())
	secret, sess, err := s.LoginCode(ctx, pending, code, "10.0.0.1", "test")
	if err != nil || sess.Stage != operator.StageFull {
		t.Fatalf("LoginCode: %+v %v", sess, err)
	}
	p, err := s.Authenticate(ctx, secret)
	if err != nil || p.Name != "ada" || len(p.Grants) != 1 {
		t.Fatalf("Authenticate: %+v %v", p, err)
	}
	pending, _ = s.Login(ctx, "ada", pw, "10.0.0.1", "test")
	if _, _, err := s.LoginCode(ctx, pending, code, "10.0.0.1", "test"); !errors.Is(err, operator.ErrBadCode) {
		t.Fatalf("a used TOTP step again: %v", err)
	}
	// A recovery code instead, once.
	if _, _, err := s.LoginCode(ctx, pending, codes[3], "10.0.0.1", "test"); err != nil {
		t.Fatalf("recovery code: %v", err)
	}
	pending, _ = s.Login(ctx, "ada", pw, "10.0.0.1", "test")
	if _, _, err := s.LoginCode(ctx, pending, codes[3], "10.0.0.1", "test"); !errors.Is(err, operator.ErrBadCode) {
		t.Fatalf("recovery code twice: %v", err)
	}
	// A code of the previous step is taken (skew ±1), two steps back not.
	clk.Advance(3 * operator.TOTPStep)
	if _, _, err := s.LoginCode(ctx, pending, operator.TOTP(seed, clk.Now().Add(-2*operator.TOTPStep)), "10.0.0.1", "test"); !errors.Is(err, operator.ErrBadCode) {
		t.Fatalf("a code two steps old: %v", err)
	}
	if _, _, err := s.LoginCode(ctx, pending, operator.TOTP(seed, clk.Now().Add(-operator.TOTPStep)), "10.0.0.1", "test"); err != nil {
		t.Fatalf("a code one step old: %v", err)
	}

	// Wrong password and unknown operator fail alike.
	_, e1 := s.Login(ctx, "ada", "not the password", "10.0.0.2", "test")
	_, e2 := s.Login(ctx, "nobody", pw, "10.0.0.2", "test")
	if !errors.Is(e1, operator.ErrBadCredentials) || e1.Error() != e2.Error() {
		t.Fatalf("wrong password %v, unknown operator %v", e1, e2)
	}

	// Sessions end when idle and at their absolute expiry; logout ends one.
	secret, _, _ = s.SignIn(ctx, "ada", "", "")
	clk.Advance(operator.SessionIdle - time.Second)
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Fatalf("before the idle limit: %v", err)
	}
	clk.Advance(operator.SessionIdle)
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("idle session: %v", err)
	}
	secret, _, _ = s.SignIn(ctx, "ada", "", "")
	for range int(operator.SessionMax / (operator.SessionIdle / 2)) {
		clk.Advance(operator.SessionIdle / 2)
		s.Authenticate(ctx, secret)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("session past its absolute expiry: %v", err)
	}
	secret, sess, _ = s.SignIn(ctx, "ada", "", "")
	if ss, _ := s.Sessions(ctx, "ada", sess.ID); len(ss) != 1 || !ss[0].Current {
		t.Fatalf("Sessions: %+v", ss)
	}
	s.Logout(ctx, secret)
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("after logout: %v", err)
	}
}

func TestLockOut(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	seed, _ := setUp(t, s, clk, "ada")
	clk.Advance(operator.TOTPStep)
	pending, _ := s.Login(ctx, "ada", pw, "10.0.0.1", "test")
	var locked *operator.LockedError
	for i := 1; i <= operator.AccountFailures; i++ {
		_, _, err := s.LoginCode(ctx, pending, "000000", "10.0.0.1", "test")
		if i < operator.AccountFailures && !errors.Is(err, operator.ErrBadCode) {
			t.Fatalf("failure %d: %v", i, err)
		}
		if i == operator.AccountFailures && (!errors.As(err, &locked) || locked.Subject != "account" || locked.RetryAfter() != operator.LockFor) {
			t.Fatalf("failure %d: %v, want the account locked", i, err)
		}
	}
	// Locked: even the right password and code are refused, from
	// anywhere, until an admin unlocks or the time passes.
	if _, err := s.Login(ctx, "ada", pw, "10.0.0.3", "test"); !errors.As(err, &locked) {
		t.Fatalf("locked account signed in: %v", err)
	}
	if err := s.Unlock(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	pending, err := s.Login(ctx, "ada", pw, "10.0.0.3", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.LoginCode(ctx, pending, operator.TOTP(seed, clk.Now()), "10.0.0.3", "test"); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	// The time passing unlocks too.
	for range operator.AccountFailures {
		s.Login(ctx, "ada", "wrong", "10.0.0.4", "test")
	}
	if _, err := s.Login(ctx, "ada", pw, "10.0.0.4", "test"); !errors.As(err, &locked) {
		t.Fatalf("not locked: %v", err)
	}
	clk.Advance(operator.LockFor)
	if _, err := s.Login(ctx, "ada", pw, "10.0.0.4", "test"); err != nil {
		t.Fatalf("after the lock-out: %v", err)
	}

	// An address that fails on many accounts is locked out by itself.
	for i := range operator.AddressFailures {
		s.Login(ctx, "guess"+string(rune('a'+i)), "x", "10.9.9.9", "test")
	}
	if _, err := s.Login(ctx, "ada", pw, "10.9.9.9", "test"); !errors.As(err, &locked) || locked.Subject != "address" {
		t.Fatalf("address not locked out: %v", err)
	}
	if _, err := s.Login(ctx, "ada", pw, "10.0.0.5", "test"); err != nil {
		t.Fatalf("another address: %v", err)
	}
}

func TestTokens(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	g := access.Grant{Role: access.EventManager, Event: "gala"}
	secret, tk, err := s.CreateToken(ctx, "ci", g, time.Hour, "ada")
	if err != nil || tk.ID == "" || len(secret) < 40 {
		t.Fatalf("CreateToken: %+v %v", tk, err)
	}
	p, err := s.AuthenticateToken(ctx, secret)
	if err != nil || p.Kind != "token" || p.Name != tk.ID || p.Grants[0] != g {
		t.Fatalf("AuthenticateToken: %+v %v", p, err)
	}
	if _, err := s.AuthenticateToken(ctx, secret+"x"); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("a wrong secret: %v", err)
	}
	clk.Advance(time.Hour)
	if _, err := s.AuthenticateToken(ctx, secret); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("an expired token: %v", err)
	}
	secret, tk, _ = s.CreateToken(ctx, "ci2", g, 0, "ada")
	if _, err := s.RevokeToken(ctx, tk.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AuthenticateToken(ctx, secret); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("a revoked token: %v", err)
	}
	if _, _, err := s.CreateToken(ctx, "bad", access.Grant{Role: access.Admin, Event: "gala"}, 0, "ada"); !errors.Is(err, operator.ErrInvalid) {
		t.Fatalf("admin on one event: %v", err)
	}
}

func TestBootstrap(t *testing.T) {
	s, clk := newService(t)
	ctx := context.Background()
	link, err := s.Bootstrap(ctx)
	if err != nil || link == "" {
		t.Fatalf("first start: %q %v", link, err)
	}
	again, _ := s.Bootstrap(ctx)
	if again == "" || again == link {
		t.Fatal("a restart before setup gave no fresh link")
	}
	if _, err := s.BeginSetup(ctx, link); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("the older link still works: %v", err)
	}
	info, err := s.BeginSetup(ctx, again)
	if err != nil || info.Operator != "admin" {
		t.Fatalf("BeginSetup: %+v %v", info, err)
	}
	seed, _ := operator.ParseSecret(info.Secret)
	o, _, err := s.FinishSetup(ctx, again, pw, operator.TOTP(seed, clk.Now()))
	if err != nil || len(o.Grants) != 1 || o.Grants[0].Role != access.Admin {
		t.Fatalf("FinishSetup: %+v %v", o, err)
	}
	if l, _ := s.Bootstrap(ctx); l != "" {
		t.Fatal("a link after the admin was set up")
	}
	// Links expire.
	_, link, _ = s.CreateOperator(ctx, "bob", nil, "admin")
	clk.Advance(operator.SetupTTL)
	if _, err := s.BeginSetup(ctx, link); !errors.Is(err, operator.ErrBadToken) {
		t.Fatalf("an expired link: %v", err)
	}
}

func TestPasswordHash(t *testing.T) {
	// The defaults are RFC 9106's second recommended option.
	if d := operator.DefaultArgon2; d.Time != 3 || d.Memory != 64*1024 || d.Threads != 4 || d.KeyLen != 32 {
		t.Fatalf("DefaultArgon2 = %+v", d)
	}
}

func TestOTPAuthURI(t *testing.T) {
	u := operator.OTPAuthURI("ada", []byte("12345678901234567890"))
	if u != "otpauth://totp/admit:ada?algorithm=SHA1&digits=6&issuer=admit&period=30&secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" {
		t.Fatal(u)
	}
}
