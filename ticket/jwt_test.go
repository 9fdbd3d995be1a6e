package ticket

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"testing"
	"time"
)

type jwtSigner func(header, payload string) string

func jwsInput(header, payload string) string {
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(header)) + "." + enc.EncodeToString([]byte(payload))
}

func newEdJWTSigner(t testing.TB) (ed25519.PublicKey, jwtSigner) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, func(header, payload string) string {
		in := jwsInput(header, payload)
		return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(in)))
	}
}

func newES256JWTSigner(t testing.TB) (*ecdsa.PublicKey, jwtSigner) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &priv.PublicKey, func(header, payload string) string {
		in := jwsInput(header, payload)
		d := sha256.Sum256([]byte(in))
		r, s, err := ecdsa.Sign(rand.Reader, priv, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
		return in + "." + base64.RawURLEncoding.EncodeToString(sig)
	}
}

func TestJWT(t *testing.T) {
	edPub, edSign := newEdJWTSigner(t)
	ecPub, ecSign := newES256JWTSigner(t)
	kr := NewKeyring()
	if err := kr.AddJWT(JWTKey{Event: "fest25", ID: "ed1", Issuer: "https://tix.example", Key: edPub}); err != nil {
		t.Fatal(err)
	}
	if err := kr.AddJWT(JWTKey{Event: "fest25", ID: "ec1", Key: ecPub}); err != nil {
		t.Fatal(err)
	}
	if err := kr.AddJWT(JWTKey{Event: "fest25", ID: "rsa", Key: "not a key"}); err == nil {
		t.Fatal("AddJWT accepted an unsupported key type")
	}
	now := time.Unix(1_800_000_000, 0)
	payload := `{"iss":"https://tix.example","jti":"EXT-77","nbf":1799990000,"exp":1800090000,` +
		`"type":"VIP","zones":["vip","main"],"seat":"C3","policy":"reentry","event":"fest25"}`
	for name, text := range map[string]string{
		"EdDSA": edSign(`{"alg":"EdDSA","kid":"ed1","typ":"JWT"}`, payload),
		"ES256": ecSign(`{"alg":"ES256","kid":"ec1"}`, payload),
	} {
		if Classify(text) != FormatJWT {
			t.Fatalf("%s: Classify = %v", name, Classify(text))
		}
		c, err := VerifyWith(text, kr, VerifyOptions{Now: now, Event: "fest25"})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.ID != "EXT-77" || c.Event != "fest25" || c.Type != "VIP" || c.Seat != "C3" || c.Policy != ReEntry ||
			len(c.Zones) != 2 || !c.NotBefore.Equal(time.Unix(1799990000, 0)) || !c.NotAfter.Equal(time.Unix(1800090000, 0)) {
			t.Errorf("%s: mapped claims %+v", name, c)
		}
		res, err := Check(text, kr, VerifyOptions{Now: now})
		if err != nil || res.Assurance != AssuranceHigh || res.Format != FormatJWT {
			t.Errorf("%s: Check = %+v, %v", name, res, err)
		}
		// Tampered payload.
		tampered := text[:len(text)-90] + "A" + text[len(text)-89:]
		if _, err := VerifyWith(tampered, kr, VerifyOptions{Now: now}); err == nil {
			t.Errorf("%s: tampered token accepted", name)
		}
		if _, err := VerifyWith(text, kr, VerifyOptions{Now: now.Add(48 * time.Hour)}); ReasonOf(err) != ReasonExpired {
			t.Errorf("%s: expired: %v", name, err)
		}
		if _, err := VerifyWith(text, kr, VerifyOptions{Now: now, Revocations: RevocationsFunc(func(e, id string) bool { return id == "EXT-77" })}); ReasonOf(err) != ReasonRevoked {
			t.Errorf("%s: revoked: %v", name, err)
		}
	}

	refusals := []struct {
		name, text string
		want       Reason
	}{
		{"alg none", jwsInput(`{"alg":"none","kid":"ed1"}`, payload) + ".", ReasonUnsupportedAlg},
		{"HS256", edSign(`{"alg":"HS256","kid":"ed1"}`, payload), ReasonUnsupportedAlg},
		{"alg/key mismatch", edSign(`{"alg":"ES256","kid":"ed1"}`, payload), ReasonUnknownKey},
		{"unknown kid", edSign(`{"alg":"EdDSA","kid":"zz"}`, payload), ReasonUnknownKey},
		{"signed by another key", ecSign(`{"alg":"EdDSA","kid":"ed1"}`, payload), ReasonBadSignature},
		{"crit", edSign(`{"alg":"EdDSA","kid":"ed1","crit":["x"]}`, payload), ReasonMalformed},
		{"no exp", edSign(`{"alg":"EdDSA","kid":"ed1"}`, `{"iss":"https://tix.example","jti":"A"}`), ReasonMalformed},
		{"no id", edSign(`{"alg":"EdDSA","kid":"ed1"}`, `{"iss":"https://tix.example","exp":1900000000}`), ReasonMalformed},
		{"wrong iss", edSign(`{"alg":"EdDSA","kid":"ed1"}`, `{"iss":"x","jti":"A","exp":1900000000}`), ReasonWrongIssuer},
		{"event claim mismatch", edSign(`{"alg":"EdDSA","kid":"ed1"}`, `{"iss":"https://tix.example","jti":"A","exp":1900000000,"event":"expo25"}`), ReasonWrongEvent},
		{"bad policy", edSign(`{"alg":"EdDSA","kid":"ed1"}`, `{"iss":"https://tix.example","jti":"A","exp":1900000000,"policy":"twice"}`), ReasonMalformed},
		{"padding in base64", edSign(`{"alg":"EdDSA","kid":"ed1"}`, payload) + "=", ReasonMalformed},
		{"not json", edSign(`{"alg":"EdDSA","kid":"ed1"}`, `[1,2]`), ReasonMalformed},
	}
	for _, r := range refusals {
		if _, err := VerifyWith(r.text, kr, VerifyOptions{Now: now}); ReasonOf(err) != r.want {
			t.Errorf("%s: got %v, want %s", r.name, err, r.want)
		}
	}
}

func TestJWTRetiredKey(t *testing.T) {
	pub, sign := newEdJWTSigner(t)
	kr := NewKeyring()
	now := time.Unix(1_800_000_000, 0)
	if err := kr.AddJWT(JWTKey{Event: "fest25", ID: "ed1", Key: pub, RetiredAt: now.Add(-time.Second)}); err != nil {
		t.Fatal(err)
	}
	text := sign(`{"alg":"EdDSA","kid":"ed1"}`, `{"jti":"A","exp":1900000000}`)
	if _, err := VerifyWith(text, kr, VerifyOptions{Now: now}); ReasonOf(err) != ReasonRetiredKey {
		t.Fatalf("got %v", err)
	}
	if got := kr.JWTKeys(); len(got) != 1 || got[0].Alg() != "EdDSA" {
		t.Fatalf("JWTKeys = %+v", got)
	}
}

// TestJWTRemoveKey: a key removed from the keyring verifies nothing more.
func TestJWTRemoveKey(t *testing.T) {
	pub, sign := newEdJWTSigner(t)
	kr := NewKeyring()
	now := time.Unix(1_800_000_000, 0)
	if err := kr.AddJWT(JWTKey{Event: "fest25", ID: "ed1", Key: pub}); err != nil {
		t.Fatal(err)
	}
	text := sign(`{"alg":"EdDSA","kid":"ed1"}`, `{"jti":"A","exp":1900000000}`)
	if _, err := VerifyWith(text, kr, VerifyOptions{Now: now}); err != nil {
		t.Fatal(err)
	}
	kr.RemoveJWT("fest25", "ed1")
	kr.RemoveJWT("fest25", "ed1") // twice: a no-op
	if _, err := VerifyWith(text, kr, VerifyOptions{Now: now}); ReasonOf(err) != ReasonUnknownKey {
		t.Fatalf("after removal: %v, want unknown key", err)
	}
}
