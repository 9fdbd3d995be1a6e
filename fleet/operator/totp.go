package operator

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"net/url"
	"strings"
	"time"

	"admit/internal/otp"
)

// The second factor: RFC 6238 TOTP, HMAC-SHA1, 30 s steps, 6 digits, the
// current step ±1 accepted, and a step once accepted never again (the
// store keeps the last one per operator).
const (
	TOTPStep      = 30 * time.Second
	TOTPDigits    = 6
	TOTPSkew      = 1
	TOTPSecretLen = 20 // bytes (160 bits, RFC 4226's recommendation)
	// Issuer names the fleet in authenticator apps.
	Issuer = "admit"
)

var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// SecretText is the base32 text of a TOTP seed, as authenticator apps and
// oathtool -b take it.
func SecretText(secret []byte) string { return secretEncoding.EncodeToString(secret) }

// ParseSecret reads base32 text (any case, spaces ignored).
func ParseSecret(text string) ([]byte, error) {
	b, err := secretEncoding.DecodeString(strings.ToUpper(strings.ReplaceAll(text, " ", "")))
	if err != nil {
		return nil, fmt.Errorf("operator: TOTP secret: %w", err)
	}
	return b, nil
}

// NewTOTPSecret returns a fresh random seed.
func NewTOTPSecret() ([]byte, error) {
	b := make([]byte, TOTPSecretLen)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("operator: TOTP secret: %w", err)
	}
	return b, nil
}

// TOTP is the code of secret at t.
func TOTP(secret []byte, t time.Time) string {
	return otp.HOTP(secret, uint64(otp.Step(t, TOTPStep)), TOTPDigits)
}

// matchTOTP returns the step, within ±TOTPSkew of now and after last,
// whose code is code; ok false when none is. Every candidate is computed
// and compared in constant time.
func matchTOTP(secret []byte, code string, now time.Time, last int64) (step int64, ok bool) {
	cur := otp.Step(now, TOTPStep)
	for d := int64(-TOTPSkew); d <= TOTPSkew; d++ {
		s := cur + d
		if s < 0 {
			continue
		}
		if otp.Equal(otp.HOTP(secret, uint64(s), TOTPDigits), code) && s > last && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// OTPAuthURI is the otpauth:// URI an authenticator app enrols from (the
// enrolment QR's text).
func OTPAuthURI(operator string, secret []byte) string {
	v := url.Values{}
	v.Set("secret", SecretText(secret))
	v.Set("issuer", Issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", fmt.Sprint(TOTPDigits))
	v.Set("period", fmt.Sprint(int(TOTPStep/time.Second)))
	return "otpauth://totp/" + url.PathEscape(Issuer+":"+operator) + "?" + v.Encode()
}

// Recovery codes: RecoveryCodes of them per setup, each 80 random bits
// shown as XXXX-XXXX-XXXX-XXXX (Crockford-free base32), stored as SHA-256
// (80 random bits need no slow hash), usable once instead of a TOTP code.
const RecoveryCodes = 10

var recoveryEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

func newRecoveryCodes() (codes []string, hashes [][]byte, err error) {
	for range RecoveryCodes {
		var b [10]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, nil, fmt.Errorf("operator: recovery code: %w", err)
		}
		s := recoveryEncoding.EncodeToString(b[:]) // 16 characters
		codes = append(codes, s[0:4]+"-"+s[4:8]+"-"+s[8:12]+"-"+s[12:16])
		hashes = append(hashes, hashRecovery(s))
	}
	return codes, hashes, nil
}

func hashRecovery(code string) []byte {
	norm := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(code))
	h := sha256.Sum256([]byte("admit recovery code\x00" + norm))
	return h[:]
}
