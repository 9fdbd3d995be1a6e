package ticket

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Text forms of an admit ticket. Both use only QR alphanumeric characters.
const (
	// Prefix starts a static ticket: "AD1:" + base45(COSE_Sign1).
	Prefix = "AD1:"
	// RotatingPrefix starts a rotating ticket: "AD1R:" + 6-digit TOTP code
	// + base45(COSE_Sign1) of the same static ticket.
	RotatingPrefix = "AD1R:"
)

// Revocations is the replicated revocation list as the verifier sees it.
type Revocations interface {
	Revoked(event, id string) bool
}

// CodeSecrets gives the per-ticket TOTP secret held in the allowlist. ok is
// false when the ticket has none (it is not a rotating ticket).
type CodeSecrets interface {
	CodeSecret(event, id string) (secret []byte, ok bool)
}

// VerifyOptions carries the verifier state beyond the keyring. The zero
// value (apart from Now) checks signature, key and validity window only.
type VerifyOptions struct {
	Now time.Time
	// Event, if set, refuses tickets of any other event (ReasonWrongEvent).
	Event string
	// Events, if set, refuses tickets of any event it does not list (a
	// gate serving several events); with Event, either admits.
	Events []string
	// Revocations, if set, refuses listed tickets (ReasonRevoked).
	Revocations Revocations
	// Codes, if set, supplies rotating-code secrets. Without it a rotating
	// text is refused (ReasonBadCode: it cannot be checked).
	Codes CodeSecrets
	// Legacy, if set, lets Check admit opaque legacy barcodes found in the
	// allowlist (low assurance).
	Legacy LegacyLookup
	// State, if set, is called once per credential after its signature
	// (and key) verified and its event matched, to fetch the allowlist's
	// view of it: revoked flag and rotating-code secret. An error that is
	// an *Error (e.g. the agent's "not on the allowlist") is returned as
	// is; any other error becomes ReasonLookupFailed. It may be combined
	// with Revocations and Codes (either one revoking refuses).
	State func(c Claims) (GateState, error)
}

// servesEvent reports whether opts admit tickets of event (Event, Events).
func (opts *VerifyOptions) servesEvent(event string) bool {
	if opts.Event == "" && len(opts.Events) == 0 {
		return true
	}
	return event == opts.Event || slices.Contains(opts.Events, event)
}

// events names the events opts admit, for refusals.
func (opts *VerifyOptions) events() string {
	all := opts.Events
	if opts.Event != "" {
		all = append([]string{opts.Event}, all...)
	}
	return fmt.Sprintf("%q", all)
}

// GateState is the allowlist's view of one ticket (see VerifyOptions.State).
type GateState struct {
	Revoked    bool
	CodeSecret []byte // per-ticket TOTP secret; empty = no rotating code known
}

// Encode signs c with k and returns the ticket text "AD1:" + base45(COSE_Sign1).
// c.Event may be empty (it is taken from k) but must otherwise equal k.Event;
// c.KeyID is set from k. Times are truncated to the second.
func Encode(c Claims, k SigningKey) (string, error) {
	b, err := EncodeBinary(c, k)
	if err != nil {
		return "", err
	}
	out := make([]byte, 0, len(Prefix)+Base45EncodedLen(len(b)))
	out = append(out, Prefix...)
	return string(AppendBase45(out, b)), nil
}

// EncodeBinary is Encode without the text layer: the COSE_Sign1 bytes (for
// NFC/NDEF records, where binary is cheaper than base45).
func EncodeBinary(c Claims, k SigningKey) ([]byte, error) {
	if len(k.Private) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("ticket: encode: signing key %s/%s has no Ed25519 private key", k.Event, k.ID)
	}
	if c.Event == "" {
		c.Event = k.Event
	}
	if c.Event != k.Event {
		return nil, fmt.Errorf("ticket: encode: claims for event %q, key for event %q", c.Event, k.Event)
	}
	if k.ID == "" {
		return nil, fmt.Errorf("ticket: encode: signing key has no id")
	}
	c.KeyID = k.ID
	c.NotBefore = c.NotBefore.UTC().Truncate(time.Second)
	c.NotAfter = c.NotAfter.UTC().Truncate(time.Second)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("ticket: encode: %w", err)
	}
	payload, err := marshalClaims(c)
	if err != nil {
		return nil, err
	}
	protected := encodeProtected(k.ID)
	sig := ed25519.Sign(k.Private, sigStructure(protected, payload))
	b := encodeSign1(protected, payload, sig)
	if len(b) > MaxBinaryLen {
		return nil, fmt.Errorf("ticket: encode: %d bytes, at most %d", len(b), MaxBinaryLen)
	}
	return b, nil
}

// Verify parses an "AD1:" ticket text and checks signature, key (known,
// not retired at now) and validity window. It is
// VerifyWith(text, kr, VerifyOptions{Now: now}).
func Verify(text string, kr *Keyring, now time.Time) (Claims, error) {
	return VerifyWith(text, kr, VerifyOptions{Now: now})
}

// VerifyWith parses and verifies a signed ticket text: static ("AD1:"),
// rotating ("AD1R:") or a foreign JWT (see VerifyJWT). Checks, in order:
// format, key known, signature, key not retired, event, gate state lookup
// (opts.State), not revoked, validity window, rotating code. The first failing check is returned as an
// *Error. An opaque legacy barcode is refused with ReasonLegacyLookup: only
// Check, with VerifyOptions.Legacy, admits those.
func VerifyWith(text string, kr *Keyring, opts VerifyOptions) (Claims, error) {
	switch Classify(text) {
	case FormatJWT:
		return VerifyJWT(text, kr, opts)
	case FormatLegacy:
		return Claims{}, refusef(ReasonLegacyLookup, "%d-digit code", len(text))
	}
	s, code, err := parseText(text)
	if err != nil {
		return Claims{}, err
	}
	return verifySign1(s, code, kr, opts)
}

// VerifyBinary verifies the binary COSE_Sign1 form (as EncodeBinary made it).
func VerifyBinary(b []byte, kr *Keyring, opts VerifyOptions) (Claims, error) {
	s, err := decodeSign1(b)
	if err != nil {
		return Claims{}, err
	}
	return verifySign1(s, noCode, kr, opts)
}

// noCode marks a static ticket (no rotating code presented).
const noCode = ""

func verifySign1(s *sign1, code string, kr *Keyring, opts VerifyOptions) (Claims, error) {
	c := s.claims
	if kr == nil {
		return Claims{}, refusef(ReasonUnknownKey, "no keyring")
	}
	key, ok := kr.Lookup(c.Event, s.kid)
	if !ok || len(key.Key) != ed25519.PublicKeySize {
		if !opts.servesEvent(c.Event) {
			return Claims{}, refusef(ReasonWrongEvent, "ticket for event %q, gate for %s", c.Event, opts.events())
		}
		return Claims{}, refusef(ReasonUnknownKey, "event %q key %q", c.Event, s.kid)
	}
	if !ed25519.Verify(key.Key, sigStructure(s.protected, s.payload), s.sig) {
		return Claims{}, refusef(ReasonBadSignature, "event %q key %q", c.Event, s.kid)
	}
	if key.Retired(opts.Now) {
		return Claims{}, refusef(ReasonRetiredKey, "key %s/%s retired at %s", c.Event, s.kid, key.RetiredAt.Format(time.RFC3339))
	}
	if err := gateChecks(c, code, opts); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// gateChecks applies the checks common to every format once the
// credential is authentic: event, gate-state lookup, revocation, validity
// window, rotating code.
func gateChecks(c Claims, code string, opts VerifyOptions) error {
	if !opts.servesEvent(c.Event) {
		return refusef(ReasonWrongEvent, "ticket for event %q, gate for %s", c.Event, opts.events())
	}
	var st GateState
	if opts.State != nil {
		var err error
		st, err = opts.State(c)
		if err != nil {
			var e *Error
			if errors.As(err, &e) {
				return err
			}
			return refuse(ReasonLookupFailed, err)
		}
	}
	if st.Revoked || (opts.Revocations != nil && opts.Revocations.Revoked(c.Event, c.ID)) {
		return refusef(ReasonRevoked, "ticket %s/%s", c.Event, c.ID)
	}
	if err := c.checkWindow(opts.Now); err != nil {
		return err
	}
	secret, have := st.CodeSecret, len(st.CodeSecret) > 0
	if !have && opts.Codes != nil {
		secret, have = opts.Codes.CodeSecret(c.Event, c.ID)
	}
	if code == noCode {
		if c.Rotating || have {
			return refusef(ReasonMissingCode, "ticket %s/%s requires a rotating code", c.Event, c.ID)
		}
		return nil
	}
	if !have {
		return refusef(ReasonBadCode, "rotating code cannot be checked: no secret for ticket %s/%s", c.Event, c.ID)
	}
	return CheckCode(secret, code, opts.Now)
}

// ParseUnverified decodes a ticket text without checking anything but its
// format. For display (admitctl ticket show), or to read a code that comes
// from a source trusted already (the fleet reads the policy of a code it
// issued and keeps); never admit on it.
func ParseUnverified(text string) (Claims, error) {
	s, _, err := parseText(text)
	if err != nil {
		return Claims{}, err
	}
	return s.claims, nil
}

// parseText splits prefix, optional rotating code and base45 and decodes
// the COSE_Sign1. It refuses oversized input before any decoding.
func parseText(text string) (*sign1, string, error) {
	if len(text) > MaxTextLen {
		return nil, "", refusef(ReasonTooLarge, "%d characters, at most %d", len(text), MaxTextLen)
	}
	body, code, err := splitPrefix(text)
	if err != nil {
		return nil, "", err
	}
	b, err := DecodeBase45(body)
	if err == errBase45Length {
		return nil, "", refuse(ReasonTruncated, err)
	}
	if err != nil {
		return nil, "", refuse(ReasonMalformed, err)
	}
	s, err := decodeSign1(b)
	if err != nil {
		return nil, "", err
	}
	return s, code, nil
}

// splitPrefix checks the "AD<version>:" prefix and returns the base45 body
// and, for the rotating form, the code.
func splitPrefix(text string) (body, code string, err error) {
	if !strings.HasPrefix(text, "AD") {
		if len(text) < 2 && strings.HasPrefix("AD", text) {
			return "", "", refusef(ReasonTruncated, "%q", text)
		}
		return "", "", refusef(ReasonBadPrefix, "want %q", Prefix)
	}
	colon := strings.IndexByte(text[:min(len(text), 8)], ':')
	if colon < 0 {
		if len(text) < 4 {
			return "", "", refusef(ReasonTruncated, "%q", text)
		}
		return "", "", refusef(ReasonBadPrefix, "want %q", Prefix)
	}
	switch v := text[2:colon]; v {
	case "1":
		body = text[colon+1:]
	case "1R":
		rest := text[colon+1:]
		if len(rest) < CodeDigits {
			return "", "", refusef(ReasonTruncated, "rotating code cut short")
		}
		code, body = rest[:CodeDigits], rest[CodeDigits:]
		if !allDigits(code) {
			return "", "", refusef(ReasonMalformed, "rotating code %q is not %d digits", code, CodeDigits)
		}
	default:
		return "", "", refusef(ReasonBadVersion, "version %q, want 1", v)
	}
	if body == "" {
		return "", "", refusef(ReasonTruncated, "nothing after the prefix")
	}
	return body, code, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
