package otp

import (
	"testing"
	"time"
)

// RFC 4226 Appendix D: HOTP values for secret "12345678901234567890".
func TestHOTPVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := HOTP(secret, uint64(i), 6); got != w {
			t.Errorf("HOTP(%d) = %s, want %s", i, got, w)
		}
	}
}

// RFC 6238 Appendix B, SHA-1, 8 digits, 30 s steps.
func TestTOTPVectors(t *testing.T) {
	secret := []byte("12345678901234567890")
	for _, v := range []struct {
		unix int64
		want string
	}{
		{59, "94287082"}, {1111111109, "07081804"}, {1111111111, "14050471"},
		{1234567890, "89005924"}, {2000000000, "69279037"}, {20000000000, "65353130"},
	} {
		if got := HOTP(secret, uint64(Step(time.Unix(v.unix, 0), 30*time.Second)), 8); got != v.want {
			t.Errorf("T=%d: %s, want %s", v.unix, got, v.want)
		}
	}
}

func TestEqual(t *testing.T) {
	if !Equal("123456", "123456") || Equal("123456", "123457") || Equal("12345", "123456") {
		t.Fatal("Equal")
	}
}
