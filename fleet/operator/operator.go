// Package operator is who may sign in to the fleet and how: operator
// accounts with an argon2id password and a TOTP second factor (RFC 6238)
// with single-use recovery codes, their grants (fleet/access roles per
// event), browser sessions, scoped API tokens for admitctl and scripts,
// one-time setup links (the first admin's, a new or reset operator's), and
// the sign-in throttle that locks an account or an address out after
// repeated failures. Every secret is stored hashed but the TOTP seed,
// which verification needs in the clear.
//
// Storage lives behind Store (fleet/sqlstore implements it for both
// backends); Service holds the rules and tells the time by its Clock.
// fleet/api puts it on HTTP.
package operator

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"admit/fleet/access"
)

// Expected outcomes.
var (
	ErrNotFound = errors.New("operator: not found")
	ErrExists   = errors.New("operator: already exists")
	ErrInvalid  = errors.New("operator: invalid request")
	// ErrBadCredentials is a failed password step: wrong name or
	// password, or an account not set up (the caller cannot tell which).
	ErrBadCredentials = errors.New("operator: wrong username or password")
	// ErrBadCode is a wrong, reused or expired second-factor code.
	ErrBadCode = errors.New("operator: wrong code")
	// ErrBadToken is an unknown, used, expired or revoked token (setup
	// link, session, API token).
	ErrBadToken = errors.New("operator: token unknown, used, expired or revoked")
)

// LockedError says sign-in is refused until Until, for an account or for
// an address, after too many failures.
type LockedError struct {
	Subject string // "account" or "address"
	Until   time.Time
	Now     time.Time
}

// RetryAfter is how long until sign-in is tried again.
func (e *LockedError) RetryAfter() time.Duration {
	return max(0, e.Until.Sub(e.Now)).Round(time.Second)
}

func (e *LockedError) Error() string {
	if e.Subject == "account" {
		return fmt.Sprintf("too many failed sign-ins for this account: locked, try again in %s or ask an administrator to unlock it", e.RetryAfter())
	}
	return fmt.Sprintf("too many failed sign-ins from this address: try again in %s", e.RetryAfter())
}

// Operator is an account.
type Operator struct {
	Name      string         `json:"name"`
	Grants    []access.Grant `json:"grants"`
	CreatedAt time.Time      `json:"created_at"`
	CreatedBy string         `json:"created_by,omitempty"`
	// SetUp: a password and a TOTP seed are set (the setup link was used).
	SetUp bool `json:"set_up"`
	// LockedUntil is set when the account is locked out (Operators fills
	// it in; the store does not).
	LockedUntil time.Time `json:"locked_until,omitzero"`

	PasswordHash string `json:"-"` // PHC string, see password.go
	TOTPSecret   []byte `json:"-"`
	TOTPLastStep int64  `json:"-"` // the last step accepted: never again
}

// Limits on names.
const (
	MaxNameLen     = 64
	MaxPasswordLen = 1024 // bytes: bounds the hashing work an attacker can ask for
	MinPasswordLen = 12
)

// ValidName reports whether name is an acceptable operator name: 1 to 64
// of a-z, 0-9, '.', '_', '-'.
func ValidName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("operator name %q: 1 to %d characters: %w", name, MaxNameLen, ErrInvalid)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("._-", c)) {
			return fmt.Errorf("operator name %q: only a-z, 0-9, '.', '_' and '-': %w", name, ErrInvalid)
		}
	}
	return nil
}

// Session is a browser session. Stage "totp" is a session that passed the
// password step only: it may do nothing but the second step.
type Session struct {
	IDHash    []byte    `json:"-"`
	ID        string    `json:"id"` // public handle (a prefix of the hash), to list and revoke
	Operator  string    `json:"operator"`
	Stage     string    `json:"stage"`
	CreatedAt time.Time `json:"created_at"`
	LastSeen  time.Time `json:"last_seen"`
	ExpiresAt time.Time `json:"expires_at"` // absolute
	Remote    string    `json:"remote"`
	UserAgent string    `json:"user_agent,omitempty"`
	Current   bool      `json:"current,omitempty"` // the session asking (listings)
}

// Session stages.
const (
	StageTOTP = "totp"
	StageFull = "full"
)

// Token is an API token: one grant, an optional expiry, revocable. Only its
// hash is stored; the secret is shown once.
type Token struct {
	ID        string       `json:"id"`
	Hash      []byte       `json:"-"`
	Name      string       `json:"name"`
	Grant     access.Grant `json:"grant"`
	CreatedBy string       `json:"created_by"`
	CreatedAt time.Time    `json:"created_at"`
	ExpiresAt time.Time    `json:"expires_at,omitzero"`
	RevokedAt time.Time    `json:"revoked_at,omitzero"`
	LastUsed  time.Time    `json:"last_used,omitzero"`
}

// Setup is a one-time setup link's state: it lets Operator set a password
// and enrol a TOTP seed (PendingSecret, chosen when the link is opened).
type Setup struct {
	TokenHash     []byte
	Operator      string
	PendingSecret []byte
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// Throttle counts failed sign-ins of one subject ("account:<name>" or
// "address:<ip>") since First.
type Throttle struct {
	Subject     string
	Failures    int
	First       time.Time
	LockedUntil time.Time
}

// Credentials are what a finished setup stores.
type Credentials struct {
	PasswordHash string
	TOTPSecret   []byte
	TOTPStep     int64    // the step of the code that proved the seed
	Recovery     [][]byte // hashes of the recovery codes
}

// Store keeps operators, sessions, tokens, setup links and the throttle.
type Store interface {
	CreateOperator(ctx context.Context, o Operator) error
	Operator(ctx context.Context, name string) (Operator, error)
	Operators(ctx context.Context) ([]Operator, error)
	// SetGrants replaces an operator's grants.
	SetGrants(ctx context.Context, name string, grants []access.Grant) error
	// ResetOperator clears an operator's password, TOTP seed, recovery
	// codes, sessions and setup links.
	ResetOperator(ctx context.Context, name string) error
	// UseTOTPStep records step as used if it is after the last one used;
	// false when it was not (a replay).
	UseTOTPStep(ctx context.Context, name string, step int64) (bool, error)
	// UseRecoveryCode consumes a recovery code; false when unknown or used.
	UseRecoveryCode(ctx context.Context, name string, hash []byte, at time.Time) (bool, error)
	RecoveryCodesLeft(ctx context.Context, name string) (int, error)

	// CreateSetup stores a setup link, invalidating the operator's older ones.
	CreateSetup(ctx context.Context, s Setup) error
	// Setup returns an unused, unexpired setup link (ErrBadToken otherwise).
	Setup(ctx context.Context, tokenHash []byte, at time.Time) (Setup, error)
	// SetSetupSecret stores secret as the link's pending seed unless it
	// has one, and returns the link's seed.
	SetSetupSecret(ctx context.Context, tokenHash, secret []byte) ([]byte, error)
	// FinishSetup uses the link (once: ErrBadToken after) and stores c as
	// its operator's credentials, in one transaction.
	FinishSetup(ctx context.Context, tokenHash []byte, c Credentials, at time.Time) (Operator, error)

	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, idHash []byte) (Session, error)
	TouchSession(ctx context.Context, idHash []byte, at time.Time) error
	DeleteSession(ctx context.Context, idHash []byte) error
	// DeleteSessionID deletes the operator's session of that public id.
	DeleteSessionID(ctx context.Context, operator, id string) error
	Sessions(ctx context.Context, operator string) ([]Session, error)

	CreateToken(ctx context.Context, t Token) error
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	Tokens(ctx context.Context) ([]Token, error)
	RevokeToken(ctx context.Context, id string, at time.Time) (Token, error)
	TouchToken(ctx context.Context, id string, at time.Time) error

	// LoginThrottle returns the subject's count (zero when none).
	LoginThrottle(ctx context.Context, subject string) (Throttle, error)
	// CountLoginFailure adds a failure in one statement: the count starts
	// again at 1 when its first failure is at or before windowStart, and
	// the subject is locked until lockUntil when the count reaches max.
	CountLoginFailure(ctx context.Context, subject string, at, windowStart time.Time, max int, lockUntil time.Time) (Throttle, error)
	ClearLoginThrottle(ctx context.Context, subject string) error
	// PruneLoginThrottle drops counts that started before and are not locked at.
	PruneLoginThrottle(ctx context.Context, before, at time.Time) error
}
