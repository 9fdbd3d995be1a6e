package operator

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"admit/clock"
	"admit/fleet/access"
)

// Service holds the rules of accounts, sign-in, sessions and tokens.
type Service struct {
	Store Store
	Clock clock.Clock // nil: clock.Real{}
	// Argon2 hashes new passwords; zero: DefaultArgon2. Verification
	// always uses the parameters a hash records.
	Argon2 Argon2
	// Wake, when set, is called with "v:" after an operator's grants
	// changed: gate staff sign in at the gates of the events they are
	// staff of, which the events' venue scopes tell the gates (the store
	// logs the change; Wake tells this node's streams).
	Wake func(payload string)
}

// Session and sign-in policy.
const (
	SessionIdle = 30 * time.Minute // a session unused this long ends
	SessionMax  = 12 * time.Hour   // and every session ends this long after sign-in
	PendingTTL  = 5 * time.Minute  // the time between password and TOTP code
	SetupTTL    = 24 * time.Hour   // a setup link's life
	touchEvery  = time.Minute      // last-seen writes at most this often

	AccountFailures = 5                // failed sign-ins that lock an account
	AddressFailures = 20               // failed sign-ins that lock out an address
	FailureWindow   = 15 * time.Minute // within which failures count together
	LockFor         = 15 * time.Minute // how long a lock-out lasts
)

func (s *Service) now() time.Time {
	if s.Clock == nil {
		return clock.Real{}.Now().UTC()
	}
	return s.Clock.Now().UTC()
}

func (s *Service) argon() Argon2 {
	if s.Argon2 == (Argon2{}) {
		return DefaultArgon2
	}
	return s.Argon2
}

// Principal is who a request is from.
type Principal struct {
	Kind    string // "operator" or "token" (audit.ActorOperator, audit.ActorToken)
	Name    string // the operator's name, or the token's id
	Grants  []access.Grant
	Session string // the session's public id (operators)
}

// newSecret returns n random bytes as URL-safe base64 text.
func newSecret(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("operator: random: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashSecret is how session ids, setup links and API tokens are stored.
func HashSecret(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

func publicID(hash []byte) string { return hex.EncodeToString(hash[:8]) }

// CSRFToken is the token the console sends in a header with every change
// of a session: derived from the session's secret, which only the cookie
// holds, so a page of another origin cannot know it.
func CSRFToken(sessionSecret string) string {
	h := sha256.Sum256([]byte("admit csrf\x00" + sessionSecret))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// CheckCSRF compares a header against the session's CSRF token in
// constant time.
func CheckCSRF(sessionSecret, header string) bool {
	return header != "" && subtle.ConstantTimeCompare([]byte(CSRFToken(sessionSecret)), []byte(header)) == 1
}

// Bootstrap prepares the first start: when the store has no operator it
// creates "admin" (admin on all events) and returns a one-time setup
// token for it; when "admin" exists but was never set up (the node
// restarted before anyone used the link) it returns a fresh one (older
// links stop working). Otherwise it returns "".
func (s *Service) Bootstrap(ctx context.Context) (string, error) {
	ops, err := s.Store.Operators(ctx)
	if err != nil {
		return "", fmt.Errorf("operator: bootstrap: %w", err)
	}
	for _, o := range ops {
		if o.SetUp {
			return "", nil
		}
	}
	if len(ops) == 0 {
		err := s.Store.CreateOperator(ctx, Operator{Name: "admin", Grants: []access.Grant{{Role: access.Admin, Event: access.AllEvents}},
			CreatedAt: s.now(), CreatedBy: "first start"})
		if err != nil && !errors.Is(err, ErrExists) { // ErrExists: another node made it
			return "", fmt.Errorf("operator: bootstrap: %w", err)
		}
	} else if _, err := s.Store.Operator(ctx, "admin"); err != nil {
		return "", nil // operators exist, none set up, none the first admin: theirs to finish
	}
	return s.newSetup(ctx, "admin")
}

func (s *Service) newSetup(ctx context.Context, name string) (string, error) {
	token, err := newSecret(32)
	if err != nil {
		return "", err
	}
	now := s.now()
	if err := s.Store.CreateSetup(ctx, Setup{TokenHash: HashSecret(token), Operator: name, CreatedAt: now, ExpiresAt: now.Add(SetupTTL)}); err != nil {
		return "", fmt.Errorf("operator: setup link for %s: %w", name, err)
	}
	return token, nil
}

func validGrants(grants []access.Grant) error {
	if len(grants) > 100 {
		return fmt.Errorf("more than 100 grants: %w", ErrInvalid)
	}
	for _, g := range grants {
		if err := g.Validate(); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		if len(g.Event) > 64 {
			return fmt.Errorf("grant event of more than 64 bytes: %w", ErrInvalid)
		}
	}
	return nil
}

// CreateOperator creates an account with grants and returns its setup
// token, with which the operator sets a password and enrols a TOTP seed.
func (s *Service) CreateOperator(ctx context.Context, name string, grants []access.Grant, by string) (Operator, string, error) {
	if err := ValidName(name); err != nil {
		return Operator{}, "", err
	}
	if err := validGrants(grants); err != nil {
		return Operator{}, "", err
	}
	o := Operator{Name: name, Grants: grants, CreatedAt: s.now(), CreatedBy: by}
	if err := s.Store.CreateOperator(ctx, o); err != nil {
		return o, "", err
	}
	token, err := s.newSetup(ctx, name)
	return o, token, err
}

// ResetOperator signs an operator out everywhere, clears its password,
// TOTP seed and recovery codes, unlocks it, and returns a new setup token
// (a lost phone, a forgotten password).
func (s *Service) ResetOperator(ctx context.Context, name string) (string, error) {
	if err := s.Store.ResetOperator(ctx, name); err != nil {
		return "", err
	}
	if err := s.Store.ClearLoginThrottle(ctx, accountSubject(name)); err != nil {
		return "", err
	}
	return s.newSetup(ctx, name)
}

// SetGrants replaces an operator's grants.
func (s *Service) SetGrants(ctx context.Context, name string, grants []access.Grant) (Operator, error) {
	if err := validGrants(grants); err != nil {
		return Operator{}, err
	}
	if err := s.Store.SetGrants(ctx, name, grants); err != nil {
		return Operator{}, err
	}
	if s.Wake != nil {
		s.Wake("v:")
	}
	return s.Store.Operator(ctx, name)
}

// Unlock lifts an account's lock-out.
func (s *Service) Unlock(ctx context.Context, name string) error {
	if _, err := s.Store.Operator(ctx, name); err != nil {
		return err
	}
	return s.Store.ClearLoginThrottle(ctx, accountSubject(name))
}

// Operators lists the accounts, with their lock-outs.
func (s *Service) Operators(ctx context.Context) ([]Operator, error) {
	ops, err := s.Store.Operators(ctx)
	if err != nil {
		return nil, err
	}
	now := s.now()
	for i := range ops {
		th, err := s.Store.LoginThrottle(ctx, accountSubject(ops[i].Name))
		if err != nil {
			return nil, err
		}
		if th.LockedUntil.After(now) {
			ops[i].LockedUntil = th.LockedUntil
		}
	}
	return ops, nil
}

// SetupInfo is what a setup link's page shows: whose account, and the
// TOTP seed to enrol (text and otpauth:// URI for the QR).
type SetupInfo struct {
	Operator string `json:"operator"`
	Secret   string `json:"secret"`
	URI      string `json:"uri"`
}

// BeginSetup opens a setup link: it returns the seed to enrol, the same
// one every time the link is opened until it is used.
func (s *Service) BeginSetup(ctx context.Context, token string) (SetupInfo, error) {
	st, err := s.Store.Setup(ctx, HashSecret(token), s.now())
	if err != nil {
		return SetupInfo{}, err
	}
	secret := st.PendingSecret
	if secret == nil {
		fresh, err := NewTOTPSecret()
		if err != nil {
			return SetupInfo{}, err
		}
		if secret, err = s.Store.SetSetupSecret(ctx, st.TokenHash, fresh); err != nil {
			return SetupInfo{}, err
		}
	}
	return SetupInfo{Operator: st.Operator, Secret: SecretText(secret), URI: OTPAuthURI(st.Operator, secret)}, nil
}

// CheckPassword says why a password is refused, or nil.
func CheckPassword(name, password string) error {
	switch {
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("password longer than %d bytes: %w", MaxPasswordLen, ErrInvalid)
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return fmt.Errorf("password shorter than %d characters: %w", MinPasswordLen, ErrInvalid)
	case password == name:
		return fmt.Errorf("password is the operator's name: %w", ErrInvalid)
	}
	return nil
}

// FinishSetup uses a setup link: it sets the password, enrols the seed the
// link showed (code proves the app has it) and returns the recovery codes,
// shown this once.
func (s *Service) FinishSetup(ctx context.Context, token, password, code string) (Operator, []string, error) {
	now := s.now()
	st, err := s.Store.Setup(ctx, HashSecret(token), now)
	if err != nil {
		return Operator{}, nil, err
	}
	if err := CheckPassword(st.Operator, password); err != nil {
		return Operator{}, nil, err
	}
	if st.PendingSecret == nil {
		return Operator{}, nil, fmt.Errorf("setup: open the link first (no TOTP seed shown yet): %w", ErrInvalid)
	}
	step, ok := matchTOTP(st.PendingSecret, code, now, -1)
	if !ok {
		return Operator{}, nil, ErrBadCode
	}
	phc, err := hashPassword(password, s.argon())
	if err != nil {
		return Operator{}, nil, err
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return Operator{}, nil, err
	}
	o, err := s.Store.FinishSetup(ctx, st.TokenHash, Credentials{PasswordHash: phc, TOTPSecret: st.PendingSecret, TOTPStep: step, Recovery: hashes}, now)
	if err != nil {
		return Operator{}, nil, err
	}
	return o, codes, nil
}

// SetCredentials sets an operator's password and TOTP seed directly, with
// fresh recovery codes: for provisioning tools that hold the secrets
// themselves (the demo venue's printed login, tests). The API has no
// route to it; operators set theirs through a setup link.
func (s *Service) SetCredentials(ctx context.Context, name, password string, secret []byte) ([]string, error) {
	if err := CheckPassword(name, password); err != nil {
		return nil, err
	}
	if len(secret) < 16 {
		return nil, fmt.Errorf("TOTP seed of %d bytes: %w", len(secret), ErrInvalid)
	}
	o, err := s.Store.Operator(ctx, name)
	if err != nil {
		return nil, err
	}
	last := int64(-1)
	if subtle.ConstantTimeCompare(o.TOTPSecret, secret) == 1 {
		last = o.TOTPLastStep // the same seed: a used code stays used
	}
	token, err := s.newSetup(ctx, name)
	if err != nil {
		return nil, err
	}
	phc, err := hashPassword(password, s.argon())
	if err != nil {
		return nil, err
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if _, err := s.Store.FinishSetup(ctx, HashSecret(token), Credentials{PasswordHash: phc, TOTPSecret: secret, TOTPStep: last, Recovery: hashes}, s.now()); err != nil {
		return nil, err
	}
	return codes, nil
}

func accountSubject(name string) string { return "account:" + name }
func addressSubject(addr string) string { return "address:" + addr }
func (s *Service) locked(ctx context.Context, subject, kind string, now time.Time) error {
	th, err := s.Store.LoginThrottle(ctx, subject)
	if err != nil {
		return err
	}
	if th.LockedUntil.After(now) {
		return &LockedError{Subject: kind, Until: th.LockedUntil, Now: now}
	}
	return nil
}

// checkThrottle refuses a sign-in step while the address or the account
// is locked out.
func (s *Service) checkThrottle(ctx context.Context, name, remote string, now time.Time) error {
	if err := s.locked(ctx, addressSubject(remote), "address", now); err != nil {
		return err
	}
	return s.locked(ctx, accountSubject(name), "account", now)
}

// failed counts a failed step against the account and the address and
// returns the lock-out it caused, if any, else fail.
func (s *Service) failed(ctx context.Context, name, remote string, now time.Time, fail error) error {
	start := now.Add(-FailureWindow)
	_ = s.Store.PruneLoginThrottle(ctx, start, now)
	acct, err := s.Store.CountLoginFailure(ctx, accountSubject(name), now, start, AccountFailures, now.Add(LockFor))
	if err != nil {
		return err
	}
	addr, err := s.Store.CountLoginFailure(ctx, addressSubject(remote), now, start, AddressFailures, now.Add(LockFor))
	if err != nil {
		return err
	}
	if acct.LockedUntil.After(now) {
		return &LockedError{Subject: "account", Until: acct.LockedUntil, Now: now}
	}
	if addr.LockedUntil.After(now) {
		return &LockedError{Subject: "address", Until: addr.LockedUntil, Now: now}
	}
	return fail
}

// Login is the password step. It returns the secret of a session that may
// only take the second step (LoginCode) within PendingTTL. An unknown
// operator, or one not set up, costs the same argon2id hash as a known one
// and fails the same way.
func (s *Service) Login(ctx context.Context, name, password, remote, userAgent string) (string, error) {
	now := s.now()
	if len(name) > MaxNameLen || len(password) > MaxPasswordLen {
		return "", ErrBadCredentials
	}
	if err := s.checkThrottle(ctx, name, remote, now); err != nil {
		return "", err
	}
	o, err := s.Store.Operator(ctx, name)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return "", err
	}
	phc := ""
	if err == nil && o.SetUp {
		phc = o.PasswordHash
	}
	if !checkPassword(password, phc) {
		return "", s.failed(ctx, name, remote, now, ErrBadCredentials)
	}
	secret, _, err := s.newSession(ctx, o.Name, StageTOTP, now, now.Add(PendingTTL), remote, userAgent)
	return secret, err
}

// LoginCode is the second step: a TOTP code (or a recovery code, used up)
// for the operator of a pending session. It returns a full session's
// secret; the pending one ends. A wrong code counts toward the lock-out.
func (s *Service) LoginCode(ctx context.Context, pending, code, remote, userAgent string) (string, Session, error) {
	now := s.now()
	ps, err := s.Store.Session(ctx, HashSecret(pending))
	if err != nil || ps.Stage != StageTOTP || !now.Before(ps.ExpiresAt) {
		return "", Session{}, ErrBadToken
	}
	if err := s.checkThrottle(ctx, ps.Operator, remote, now); err != nil {
		return "", Session{}, err
	}
	o, err := s.Store.Operator(ctx, ps.Operator)
	if err != nil {
		return "", Session{}, err
	}
	ok := false
	if len(code) == TOTPDigits {
		if step, match := matchTOTP(o.TOTPSecret, code, now, o.TOTPLastStep); match {
			if ok, err = s.Store.UseTOTPStep(ctx, o.Name, step); err != nil {
				return "", Session{}, err
			}
		}
	} else if len(code) <= 32 {
		if ok, err = s.Store.UseRecoveryCode(ctx, o.Name, hashRecovery(code), now); err != nil {
			return "", Session{}, err
		}
	}
	if !ok {
		err := s.failed(ctx, o.Name, remote, now, ErrBadCode)
		var locked *LockedError
		if errors.As(err, &locked) && locked.Subject == "account" {
			s.Store.DeleteSession(ctx, ps.IDHash)
		}
		return "", Session{}, err
	}
	if err := s.Store.DeleteSession(ctx, ps.IDHash); err != nil {
		return "", Session{}, err
	}
	if err := s.Store.ClearLoginThrottle(ctx, accountSubject(o.Name)); err != nil {
		return "", Session{}, err
	}
	return s.newSession(ctx, o.Name, StageFull, now, now.Add(SessionMax), remote, userAgent)
}

// SignIn starts a full session for an operator who just proved both
// factors another way (a finished setup link).
func (s *Service) SignIn(ctx context.Context, name, remote, userAgent string) (string, Session, error) {
	now := s.now()
	return s.newSession(ctx, name, StageFull, now, now.Add(SessionMax), remote, userAgent)
}

func (s *Service) newSession(ctx context.Context, name, stage string, now, expires time.Time, remote, userAgent string) (string, Session, error) {
	secret, err := newSecret(32)
	if err != nil {
		return "", Session{}, err
	}
	if len(userAgent) > 200 {
		userAgent = userAgent[:200]
	}
	h := HashSecret(secret)
	ss := Session{IDHash: h, ID: publicID(h), Operator: name, Stage: stage, CreatedAt: now, LastSeen: now, ExpiresAt: expires,
		Remote: remote, UserAgent: userAgent}
	if err := s.Store.CreateSession(ctx, ss); err != nil {
		return "", Session{}, fmt.Errorf("operator: session: %w", err)
	}
	return secret, ss, nil
}

// Authenticate returns who a full session's secret belongs to; the
// session ends (ErrBadToken) once idle for SessionIdle or SessionMax after
// sign-in.
func (s *Service) Authenticate(ctx context.Context, secret string) (Principal, error) {
	now := s.now()
	ss, err := s.Store.Session(ctx, HashSecret(secret))
	if err != nil {
		return Principal{}, ErrBadToken
	}
	if ss.Stage != StageFull || !now.Before(ss.ExpiresAt) || now.Sub(ss.LastSeen) >= SessionIdle {
		if ss.Stage == StageFull {
			s.Store.DeleteSession(ctx, ss.IDHash)
		}
		return Principal{}, ErrBadToken
	}
	o, err := s.Store.Operator(ctx, ss.Operator)
	if err != nil {
		return Principal{}, ErrBadToken
	}
	if now.Sub(ss.LastSeen) >= touchEvery {
		if err := s.Store.TouchSession(ctx, ss.IDHash, now); err != nil {
			return Principal{}, err
		}
	}
	return Principal{Kind: "operator", Name: o.Name, Grants: o.Grants, Session: ss.ID}, nil
}

// Logout ends the session of secret.
func (s *Service) Logout(ctx context.Context, secret string) error {
	return s.Store.DeleteSession(ctx, HashSecret(secret))
}

// Sessions lists an operator's sessions; current (a public id) is marked.
func (s *Service) Sessions(ctx context.Context, name, current string) ([]Session, error) {
	ss, err := s.Store.Sessions(ctx, name)
	if err != nil {
		return nil, err
	}
	now := s.now()
	out := ss[:0]
	for _, x := range ss {
		if x.Stage != StageFull || !now.Before(x.ExpiresAt) || now.Sub(x.LastSeen) >= SessionIdle {
			continue
		}
		x.Current = x.ID == current
		out = append(out, x)
	}
	return out, nil
}

// RevokeSession ends one of an operator's sessions by its public id.
func (s *Service) RevokeSession(ctx context.Context, name, id string) error {
	return s.Store.DeleteSessionID(ctx, name, id)
}

// TokenPrefix starts every API token's secret.
const TokenPrefix = "admit_"

// MaxTokenName bounds a token's name.
const MaxTokenName = 64

// CreateToken makes an API token with one grant and an optional life
// (ttl 0: until revoked). The secret is returned this once.
func (s *Service) CreateToken(ctx context.Context, name string, g access.Grant, ttl time.Duration, by string) (string, Token, error) {
	if name == "" || len(name) > MaxTokenName || !utf8.ValidString(name) {
		return "", Token{}, fmt.Errorf("token name: 1 to %d bytes: %w", MaxTokenName, ErrInvalid)
	}
	if err := validGrants([]access.Grant{g}); err != nil {
		return "", Token{}, err
	}
	if ttl < 0 {
		return "", Token{}, fmt.Errorf("token life %s: %w", ttl, ErrInvalid)
	}
	body, err := newSecret(32)
	if err != nil {
		return "", Token{}, err
	}
	secret := TokenPrefix + body
	h := HashSecret(secret)
	now := s.now()
	t := Token{ID: "tok_" + publicID(h), Hash: h, Name: name, Grant: g, CreatedBy: by, CreatedAt: now}
	if ttl > 0 {
		t.ExpiresAt = now.Add(ttl)
	}
	if err := s.Store.CreateToken(ctx, t); err != nil {
		return "", Token{}, err
	}
	return secret, t, nil
}

// AuthenticateToken returns who an API token's secret stands for.
func (s *Service) AuthenticateToken(ctx context.Context, secret string) (Principal, error) {
	if len(secret) > 128 {
		return Principal{}, ErrBadToken
	}
	t, err := s.Store.TokenByHash(ctx, HashSecret(secret))
	if err != nil {
		return Principal{}, ErrBadToken
	}
	now := s.now()
	if !t.RevokedAt.IsZero() || (!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)) {
		return Principal{}, ErrBadToken
	}
	if now.Sub(t.LastUsed) >= touchEvery {
		if err := s.Store.TouchToken(ctx, t.ID, now); err != nil {
			return Principal{}, err
		}
	}
	return Principal{Kind: "token", Name: t.ID, Grants: []access.Grant{t.Grant}}, nil
}

// Tokens lists API tokens (never their secrets).
func (s *Service) Tokens(ctx context.Context) ([]Token, error) { return s.Store.Tokens(ctx) }

// RevokeToken revokes an API token; it stops working at once.
func (s *Service) RevokeToken(ctx context.Context, id string) (Token, error) {
	return s.Store.RevokeToken(ctx, id, s.now())
}
