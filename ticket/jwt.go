package ticket

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strings"
	"time"
)

// JWT interop: tickets issued by another system as a JWS compact
// serialization (RFC 7515) of a JWT (RFC 7519), signed with EdDSA (Ed25519,
// RFC 8037) or ES256 (ECDSA P-256 with SHA-256, R||S signature). The keys are
// configured per event; "alg" must match the configured key's type, "none"
// and every other algorithm are refused, and a "crit" header is refused.
//
// Claim mapping onto Claims:
//
//	jti (else sub)  -> ID (required)
//	key's Event     -> Event; an "event" claim, if present, must equal it
//	nbf (else iat)  -> NotBefore (0 if neither)
//	exp             -> NotAfter (required)
//	type (else tier)-> Type
//	zones           -> Zones (array of strings)
//	seat            -> Seat
//	policy          -> Policy ("single", "multi", "reentry"; default single)
//	header kid      -> KeyID
//
// iss must equal JWTKey.Issuer when that is set.

// MaxJWTLen caps the length of a JWT text we decode.
const MaxJWTLen = 4096

// JWTKey is a configured verification key of a foreign JWT issuer for one
// event.
type JWTKey struct {
	Event  string
	ID     string           // JWS "kid"; "" matches a JWT without kid
	Issuer string           // required "iss"; "" accepts any
	Key    crypto.PublicKey // ed25519.PublicKey (EdDSA) or *ecdsa.PublicKey on P-256 (ES256)
	// RetiredAt, if non-zero, refuses tokens under this key from then on.
	RetiredAt time.Time
}

// Alg returns the JWS algorithm the key verifies ("EdDSA" or "ES256"), or "".
func (k JWTKey) Alg() string {
	switch key := k.Key.(type) {
	case ed25519.PublicKey:
		if len(key) == ed25519.PublicKeySize {
			return "EdDSA"
		}
	case *ecdsa.PublicKey:
		if key != nil && key.Curve == elliptic.P256() {
			return "ES256"
		}
	}
	return ""
}

// AddJWT adds (or replaces, by Event and ID) a foreign issuer's JWT key.
func (kr *Keyring) AddJWT(k JWTKey) error {
	if k.Event == "" {
		return fmt.Errorf("ticket: add jwt key: empty event")
	}
	if k.Alg() == "" {
		return fmt.Errorf("ticket: add jwt key %s/%s: key type %T not supported (want Ed25519 or ECDSA P-256)", k.Event, k.ID, k.Key)
	}
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.jwt == nil {
		kr.jwt = make(map[keyRef]JWTKey)
	}
	kr.jwt[keyRef{k.Event, k.ID}] = k
	return nil
}

// RemoveJWT removes a foreign issuer's JWT key (a no-op when absent).
func (kr *Keyring) RemoveJWT(event, id string) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	delete(kr.jwt, keyRef{event, id})
}

// JWTKeys returns the configured JWT keys sorted by event then id.
func (kr *Keyring) JWTKeys() []JWTKey {
	kr.mu.RLock()
	out := make([]JWTKey, 0, len(kr.jwt))
	for _, k := range kr.jwt {
		out = append(out, k)
	}
	kr.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Event != out[j].Event {
			return out[i].Event < out[j].Event
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// jwtCandidates returns the keys whose kid and algorithm match.
func (kr *Keyring) jwtCandidates(kid, alg string) []JWTKey {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	var out []JWTKey
	for ref, k := range kr.jwt {
		if ref.id == kid && k.Alg() == alg {
			out = append(out, k)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Event < out[j].Event })
	return out
}

// looksLikeJWT reports whether text has the shape of a JWS compact
// serialization of a JSON header: "eyJ" and exactly two dots.
func looksLikeJWT(text string) bool {
	return strings.HasPrefix(text, "eyJ") && strings.Count(text, ".") == 2
}

type jwtHeader struct {
	Alg  string          `json:"alg"`
	Kid  string          `json:"kid"`
	Crit json.RawMessage `json:"crit"`
}

type jwtPayload struct {
	Iss    string   `json:"iss"`
	Jti    string   `json:"jti"`
	Sub    string   `json:"sub"`
	Nbf    *float64 `json:"nbf"`
	Iat    *float64 `json:"iat"`
	Exp    *float64 `json:"exp"`
	Event  *string  `json:"event"`
	Type   string   `json:"type"`
	Tier   string   `json:"tier"`
	Zones  []string `json:"zones"`
	Seat   string   `json:"seat"`
	Policy string   `json:"policy"`
}

var b64 = base64.RawURLEncoding.Strict()

// VerifyJWT verifies a JWT ticket against the JWT keys in kr and maps it onto
// Claims, then applies the same state checks as VerifyWith (retired key,
// revocation, event, validity window).
func VerifyJWT(text string, kr *Keyring, opts VerifyOptions) (Claims, error) {
	c, err := parseJWT(text, kr, opts.Now)
	if err != nil {
		return Claims{}, err
	}
	if err := gateChecks(c, noCode, opts); err != nil {
		return Claims{}, err
	}
	return c, nil
}

func parseJWT(text string, kr *Keyring, now time.Time) (Claims, error) {
	if len(text) > MaxJWTLen {
		return Claims{}, refusef(ReasonTooLarge, "jwt of %d bytes, at most %d", len(text), MaxJWTLen)
	}
	parts := strings.Split(text, ".")
	if len(parts) != 3 {
		return Claims{}, refusef(ReasonMalformed, "jwt: %d parts, want 3", len(parts))
	}
	hb, err := b64.DecodeString(parts[0])
	if err != nil {
		return Claims{}, refusef(ReasonMalformed, "jwt header: %v", err)
	}
	var h jwtHeader
	if err := json.Unmarshal(hb, &h); err != nil {
		return Claims{}, refusef(ReasonMalformed, "jwt header: %v", err)
	}
	if h.Crit != nil {
		return Claims{}, refusef(ReasonMalformed, "jwt header: crit not supported")
	}
	if h.Alg != "EdDSA" && h.Alg != "ES256" {
		return Claims{}, refusef(ReasonUnsupportedAlg, "jwt alg %q (want EdDSA or ES256)", h.Alg)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return Claims{}, refusef(ReasonMalformed, "jwt signature: %v", err)
	}
	if len(sig) != 64 {
		return Claims{}, refusef(ReasonMalformed, "jwt signature is %d bytes, want 64", len(sig))
	}
	if kr == nil {
		return Claims{}, refusef(ReasonUnknownKey, "no keyring")
	}
	cands := kr.jwtCandidates(h.Kid, h.Alg)
	if len(cands) == 0 {
		return Claims{}, refusef(ReasonUnknownKey, "no %s jwt key with kid %q", h.Alg, h.Kid)
	}
	input := []byte(text[:len(parts[0])+1+len(parts[1])])
	var key *JWTKey
	for i := range cands {
		if jwsVerify(cands[i], input, sig) {
			key = &cands[i]
			break
		}
	}
	if key == nil {
		return Claims{}, refusef(ReasonBadSignature, "jwt kid %q", h.Kid)
	}
	if !key.RetiredAt.IsZero() && !now.Before(key.RetiredAt) {
		return Claims{}, refusef(ReasonRetiredKey, "jwt key %s/%s retired at %s", key.Event, key.ID, key.RetiredAt.Format(time.RFC3339))
	}
	pb, err := b64.DecodeString(parts[1])
	if err != nil {
		return Claims{}, refusef(ReasonMalformed, "jwt payload: %v", err)
	}
	var p jwtPayload
	if err := json.Unmarshal(pb, &p); err != nil {
		return Claims{}, refusef(ReasonMalformed, "jwt payload: %v", err)
	}
	return p.claims(*key, h.Kid)
}

func jwsVerify(k JWTKey, input, sig []byte) bool {
	switch key := k.Key.(type) {
	case ed25519.PublicKey:
		return ed25519.Verify(key, input, sig)
	case *ecdsa.PublicKey:
		d := sha256.Sum256(input)
		r := new(big.Int).SetBytes(sig[:32])
		s := new(big.Int).SetBytes(sig[32:])
		return ecdsa.Verify(key, d[:], r, s)
	}
	return false
}

func (p jwtPayload) claims(k JWTKey, kid string) (Claims, error) {
	if k.Issuer != "" && p.Iss != k.Issuer {
		return Claims{}, refusef(ReasonWrongIssuer, "jwt iss %q, want %q", p.Iss, k.Issuer)
	}
	if p.Event != nil && *p.Event != k.Event {
		return Claims{}, refusef(ReasonWrongEvent, "jwt event %q signed by a key of event %q", *p.Event, k.Event)
	}
	c := Claims{ID: p.Jti, Event: k.Event, Type: p.Type, Zones: p.Zones, Seat: p.Seat, KeyID: kid}
	if c.ID == "" {
		c.ID = p.Sub
	}
	if c.Type == "" {
		c.Type = p.Tier
	}
	if p.Policy != "" {
		pol, err := ParsePolicy(p.Policy)
		if err != nil {
			return Claims{}, refuse(ReasonMalformed, err)
		}
		c.Policy = pol
	}
	if p.Exp == nil {
		return Claims{}, refusef(ReasonMalformed, "jwt has no exp")
	}
	var err error
	if c.NotAfter, err = numericDate("exp", *p.Exp); err != nil {
		return Claims{}, err
	}
	switch {
	case p.Nbf != nil:
		c.NotBefore, err = numericDate("nbf", *p.Nbf)
	case p.Iat != nil:
		c.NotBefore, err = numericDate("iat", *p.Iat)
	default:
		c.NotBefore = time.Unix(0, 0).UTC()
	}
	if err != nil {
		return Claims{}, err
	}
	if err := c.Validate(); err != nil {
		return Claims{}, refuse(ReasonMalformed, err)
	}
	return c, nil
}

// numericDate converts a JWT NumericDate to a time, truncating fractions.
func numericDate(name string, v float64) (time.Time, error) {
	if math.IsNaN(v) || v < 0 || v > 1<<40 {
		return time.Time{}, refusef(ReasonMalformed, "jwt %s %v out of range", name, v)
	}
	return time.Unix(int64(v), 0).UTC(), nil
}
