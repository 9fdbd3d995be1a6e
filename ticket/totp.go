package ticket

import (
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"admit/internal/otp"
)

// Rotating codes: RFC 6238 TOTP (HMAC-SHA1, T0 = 0) with a 15 s step and 6
// digits over a per-ticket secret that lives in the allowlist, never in the
// static code. A gate accepts the current step ±1.
const (
	CodeStep      = 15 * time.Second
	CodeDigits    = 6
	CodeSkewSteps = 1 // steps accepted either side of now
	// CodeLookback is how far back a matching code is recognised as an
	// old one (ReasonExpiredCode, "screenshot?") rather than a wrong one.
	CodeLookback = time.Hour
	// CodeSecretLen is the length of secrets made by GenerateCodeSecret.
	CodeSecretLen = 20
)

// GenerateCodeSecret returns a fresh random per-ticket TOTP secret.
func GenerateCodeSecret() ([]byte, error) {
	b := make([]byte, CodeSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("ticket: code secret: %w", err)
	}
	return b, nil
}

// hotp is RFC 4226 HOTP, CodeDigits digits.
func hotp(secret []byte, counter uint64) string { return otp.HOTP(secret, counter, CodeDigits) }

func codeStep(t time.Time) int64 { return otp.Step(t, CodeStep) }

// TOTP returns the rotating code for secret at t.
func TOTP(secret []byte, t time.Time) string { return hotp(secret, uint64(codeStep(t))) }

// CheckCode checks a rotating code against secret at now: nil for the
// current step ±1; ReasonExpiredCode ("expired code (screenshot?)") for a
// code of an older step within CodeLookback; ReasonBadCode otherwise.
func CheckCode(secret []byte, code string, now time.Time) error {
	if len(code) != CodeDigits || !allDigits(code) {
		return refusef(ReasonBadCode, "code %q is not %d digits", code, CodeDigits)
	}
	if len(secret) == 0 {
		return refusef(ReasonBadCode, "empty code secret")
	}
	step := codeStep(now)
	for d := int64(-CodeSkewSteps); d <= CodeSkewSteps; d++ {
		if step+d >= 0 && codeEqual(hotp(secret, uint64(step+d)), code) {
			return nil
		}
	}
	back := int64(CodeLookback / CodeStep)
	for d := int64(CodeSkewSteps + 1); d <= back && step-d >= 0; d++ {
		if codeEqual(hotp(secret, uint64(step-d)), code) {
			return refusef(ReasonExpiredCode, "code from about %s ago", time.Duration(d)*CodeStep)
		}
	}
	return refusef(ReasonBadCode, "code does not match")
}

func codeEqual(a, b string) bool { return otp.Equal(a, b) }

// Rotate returns the rotating text for a static ticket text at now:
// "AD1R:" + TOTP(secret, now) + the static base45 body. This is what a
// wallet shows, refreshed every CodeStep.
func Rotate(static string, secret []byte, now time.Time) (string, error) {
	if !strings.HasPrefix(static, Prefix) {
		return "", fmt.Errorf("ticket: rotate: not a static %q ticket", Prefix)
	}
	if len(secret) == 0 {
		return "", fmt.Errorf("ticket: rotate: empty secret")
	}
	return RotatingPrefix + TOTP(secret, now) + static[len(Prefix):], nil
}
