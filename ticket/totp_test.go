package ticket

import (
	"testing"
	"time"
)

// RFC 4226 Appendix D: HOTP values for secret "12345678901234567890".
func TestHOTPVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := hotp(secret, uint64(i)); got != w {
			t.Errorf("hotp(%d) = %s, want %s", i, got, w)
		}
	}
}

// RFC 6238 Appendix B (SHA-1), last 6 of the 8 digits; the RFC uses a 30 s
// step, so the vectors map to our 15 s counter as T/15 = 2 * (T/30) + ...:
// we check the counter function directly instead.
func TestTOTPVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		want string // RFC value mod 10^6, at counter unix/30
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"},
	} {
		if got := hotp(secret, uint64(v.unix/30)); got != v.want {
			t.Errorf("T=%d: %s, want %s", v.unix, got, v.want)
		}
		// Our step is 15 s: TOTP(t) is HOTP at t/15.
		at := time.Unix(v.unix, 0)
		if TOTP(secret, at) != hotp(secret, uint64(v.unix/15)) {
			t.Errorf("T=%d: TOTP does not use a 15 s step", v.unix)
		}
	}
}

func TestCheckCodeWindow(t *testing.T) {
	secret := []byte("0123456789abcdefghij")
	now := time.Unix(1_750_000_007, 0)
	for _, c := range []struct {
		offset time.Duration
		want   Reason
	}{
		{0, ""},
		{-CodeStep, ""},
		{CodeStep, ""},
		{-2 * CodeStep, ReasonExpiredCode},
		{-10 * time.Minute, ReasonExpiredCode},
		{-CodeLookback, ReasonExpiredCode},
		{2 * CodeStep, ReasonBadCode}, // from the future: not a screenshot
	} {
		code := TOTP(secret, now.Add(c.offset))
		if err := CheckCode(secret, code, now); ReasonOf(err) != c.want {
			t.Errorf("offset %s: got %v, want %q", c.offset, err, c.want)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "12a456"} {
		if err := CheckCode(secret, bad, now); ReasonOf(err) != ReasonBadCode {
			t.Errorf("code %q: got %v", bad, err)
		}
	}
	if err := CheckCode(nil, "123456", now); ReasonOf(err) != ReasonBadCode {
		t.Errorf("nil secret: got %v", err)
	}
}

func TestRotatingTicket(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	c := gaClaims()
	c.Rotating = true
	static := mustEncode(t, c, k)
	secret, err := GenerateCodeSecret()
	if err != nil {
		t.Fatal(err)
	}
	if len(secret) != CodeSecretLen {
		t.Fatalf("secret length %d", len(secret))
	}
	codes := CodeSecretsFunc(func(e, id string) ([]byte, bool) { return secret, e == "fest25" && id == c.ID })
	now := t0.Add(time.Hour)
	kr := NewKeyring(k.Public())
	shown := mustRotate(t, static, secret, now)
	if Classify(shown) != FormatAD1Rotating {
		t.Fatalf("Classify = %v", Classify(shown))
	}
	got, err := VerifyWith(shown, kr, VerifyOptions{Now: now.Add(10 * time.Second), Codes: codes})
	if err != nil || !got.Rotating || got.ID != c.ID {
		t.Fatalf("current code: %+v %v", got, err)
	}
	// A screenshot replayed a minute later.
	_, err = VerifyWith(shown, kr, VerifyOptions{Now: now.Add(time.Minute), Codes: codes})
	if ReasonOf(err) != ReasonExpiredCode || SentenceOf(err) != "expired code (screenshot?)" {
		t.Fatalf("screenshot: %v", err)
	}
	// Without the secrets a gate cannot check a rotating code.
	if _, err := VerifyWith(shown, kr, VerifyOptions{Now: now}); ReasonOf(err) != ReasonBadCode {
		t.Fatalf("no secrets: %v", err)
	}
	// The static part alone is refused for a rotating ticket.
	if _, err := Verify(static, kr, now); ReasonOf(err) != ReasonMissingCode {
		t.Fatalf("static of rotating: %v", err)
	}
	// The secret is not in the static code.
	b := mustEncodeBinary(t, c, k)
	if containsBytes(b, secret) {
		t.Fatal("secret found in the static ticket")
	}
	if _, err := Rotate("HC1:xyz", secret, now); err == nil {
		t.Error("Rotate accepted a non-AD1 text")
	}
}

func containsBytes(haystack, needle []byte) bool {
	for i := 0; i+len(needle) <= len(haystack); i++ {
		if string(haystack[i:i+len(needle)]) == string(needle) {
			return true
		}
	}
	return false
}
