package ticket

import (
	"testing"
	"time"
)

// BenchmarkVerify is parse + verify of one static ticket text: base45,
// strict CBOR/COSE decode, canonical checks, Ed25519 verify, window.
func BenchmarkVerify(b *testing.B) {
	k := fixedKey("fest25", "k1", 1)
	text := mustEncode(b, vipClaims(), k)
	kr := NewKeyring(k.Public(), fixedKey("fest25", "k2", 2).Public())
	rl := NewRevocationList()
	rl.Revoke("fest25", "other")
	opts := VerifyOptions{Now: t0.Add(time.Hour), Event: "fest25", Revocations: rl}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyWith(text, kr, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyRotating adds the TOTP check (current step).
func BenchmarkVerifyRotating(b *testing.B) {
	k := fixedKey("fest25", "k1", 1)
	c := vipClaims()
	c.Rotating = true
	secret := []byte("0123456789abcdefghij")
	now := t0.Add(time.Hour)
	text := mustRotate(b, mustEncode(b, c, k), secret, now)
	kr := NewKeyring(k.Public())
	opts := VerifyOptions{Now: now, Codes: CodeSecretsFunc(func(string, string) ([]byte, bool) { return secret, true })}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyWith(text, kr, opts); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParse is the decode half alone (no signature check).
func BenchmarkParse(b *testing.B) {
	text := mustEncode(b, vipClaims(), fixedKey("fest25", "k1", 1))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseUnverified(text); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRefuseForged: a forged ticket costs about as much as a good one.
func BenchmarkRefuseForged(b *testing.B) {
	text := mustEncode(b, vipClaims(), fixedKey("fest25", "k1", 9))
	kr := NewKeyring(fixedKey("fest25", "k1", 1).Public())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(text, kr, t0); err == nil {
			b.Fatal("accepted")
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	k := fixedKey("fest25", "k1", 1)
	c := vipClaims()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(c, k); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyJWTEdDSA(b *testing.B) {
	pub, sign := newEdJWTSigner(b)
	kr := NewKeyring()
	if err := kr.AddJWT(JWTKey{Event: "fest25", ID: "ed1", Key: pub}); err != nil {
		b.Fatal(err)
	}
	text := sign(`{"alg":"EdDSA","kid":"ed1"}`, `{"jti":"EXT-1","nbf":1700000000,"exp":1900000000,"type":"GA"}`)
	opts := VerifyOptions{Now: time.Unix(1_800_000_000, 0)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyWith(text, kr, opts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyJWTES256(b *testing.B) {
	pub, sign := newES256JWTSigner(b)
	kr := NewKeyring()
	if err := kr.AddJWT(JWTKey{Event: "fest25", ID: "ec1", Key: pub}); err != nil {
		b.Fatal(err)
	}
	text := sign(`{"alg":"ES256","kid":"ec1"}`, `{"jti":"EXT-1","nbf":1700000000,"exp":1900000000,"type":"GA"}`)
	opts := VerifyOptions{Now: time.Unix(1_800_000_000, 0)}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := VerifyWith(text, kr, opts); err != nil {
			b.Fatal(err)
		}
	}
}
