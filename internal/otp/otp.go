// Package otp computes one-time passwords: HOTP (RFC 4226, HMAC-SHA1 with
// dynamic truncation) and the time steps of TOTP (RFC 6238, T0 = 0). It is
// the one home of the algorithm: the tickets' rotating codes (ticket, 15 s
// steps) and the operators' second factor (fleet/operator, 30 s steps) both
// call it with their own step and window. It imports nothing of ours.
package otp

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
	"time"
)

var pow10 = [...]uint32{1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000, 100_000_000}

// HOTP returns the RFC 4226 code of secret at counter, digits long (1..8).
func HOTP(secret []byte, counter uint64, digits int) string {
	if digits < 1 || digits >= len(pow10) {
		panic(fmt.Sprintf("otp: %d digits", digits))
	}
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	return fmt.Sprintf("%0*d", digits, v%pow10[digits])
}

// Step is the RFC 6238 time step of t for a step length (T0 = 0).
func Step(t time.Time, step time.Duration) int64 {
	return t.Unix() / int64(step/time.Second)
}

// Equal compares two codes in constant time.
func Equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }
