package ticket

import (
	"errors"
	"fmt"
	"sort"
)

// Reason is the machine-readable code of a refusal. Gates journal it and the
// fleet aggregates on it; Error.Sentence is what a gate shows to staff.
type Reason string

// Refusal reasons. Every refusal this package returns carries exactly one.
const (
	ReasonMalformed      Reason = "malformed"        // not decodable: bad base45, bad CBOR, non-canonical, missing claims
	ReasonTruncated      Reason = "truncated"        // input ends before the structure does
	ReasonTooLarge       Reason = "too_large"        // input longer than any ticket we accept
	ReasonBadPrefix      Reason = "bad_prefix"       // not an admit ticket text (no "AD" prefix)
	ReasonBadVersion     Reason = "bad_version"      // "AD" prefix with a version we do not know
	ReasonBadSignature   Reason = "bad_signature"    // signature does not verify: forged or altered
	ReasonUnsupportedAlg Reason = "unsupported_alg"  // signature algorithm not accepted
	ReasonUnknownKey     Reason = "unknown_key"      // no key with this id for this event
	ReasonWrongIssuer    Reason = "wrong_issuer"     // JWT iss is not the configured issuer
	ReasonRetiredKey     Reason = "retired_key"      // key retired before now
	ReasonExpired        Reason = "expired"          // now is after NotAfter
	ReasonNotYetValid    Reason = "not_yet_valid"    // now is before NotBefore
	ReasonRevoked        Reason = "revoked"          // id is on the revocation list
	ReasonWrongEvent     Reason = "wrong_event"      // ticket is for another event than this gate's
	ReasonExpiredCode    Reason = "expired_code"     // rotating code from an older time step (screenshot?)
	ReasonBadCode        Reason = "bad_code"         // rotating code does not match, or cannot be checked
	ReasonMissingCode    Reason = "missing_code"     // rotating ticket shown without its rotating code
	ReasonLegacyLookup   Reason = "legacy_lookup"    // opaque legacy barcode: only an allowlist lookup can admit it
	ReasonNotInAllowlist Reason = "not_in_allowlist" // legacy barcode not found in the allowlist
	ReasonLookupFailed   Reason = "lookup_failed"    // VerifyOptions.State failed: gate fault, not the ticket's
)

// sentences are the default human sentences, one per reason.
var sentences = map[Reason]string{
	ReasonMalformed:      "not a readable ticket",
	ReasonTruncated:      "ticket code is incomplete (truncated)",
	ReasonTooLarge:       "code is too long to be a ticket",
	ReasonBadPrefix:      "not an admit ticket",
	ReasonBadVersion:     "ticket format version not supported",
	ReasonBadSignature:   "forged or altered ticket (signature invalid)",
	ReasonUnsupportedAlg: "ticket signed with an unsupported algorithm",
	ReasonUnknownKey:     "ticket signed with an unknown key",
	ReasonWrongIssuer:    "ticket from an unexpected issuer",
	ReasonRetiredKey:     "ticket signed with a retired key",
	ReasonExpired:        "ticket has expired",
	ReasonNotYetValid:    "ticket is not valid yet",
	ReasonRevoked:        "ticket has been revoked",
	ReasonWrongEvent:     "ticket is for another event",
	ReasonExpiredCode:    "expired code (screenshot?)",
	ReasonBadCode:        "rotating code is wrong",
	ReasonMissingCode:    "rotating code missing (printout or screenshot?)",
	ReasonLegacyLookup:   "legacy barcode: must be looked up in the allowlist (low assurance)",
	ReasonNotInAllowlist: "legacy barcode not in the allowlist",
	ReasonLookupFailed:   "gate error: ask staff",
}

// Error is a refusal: a machine-readable Reason, a Sentence a gate can show,
// and optionally the underlying cause.
//
// errors.Is(err, ErrRevoked) (and the other Err* values) matches on Reason.
type Error struct {
	Reason   Reason
	Sentence string
	Err      error
}

func (e *Error) Error() string {
	s := "ticket: " + string(e.Reason) + ": " + e.Sentence
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is an *Error with the same Reason, so the
// sentinel values below work with errors.Is.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Reason == e.Reason
}

// Sentinels for errors.Is. They are matched by Reason only.
var (
	ErrMalformed      = &Error{Reason: ReasonMalformed, Sentence: sentences[ReasonMalformed]}
	ErrTruncated      = &Error{Reason: ReasonTruncated, Sentence: sentences[ReasonTruncated]}
	ErrTooLarge       = &Error{Reason: ReasonTooLarge, Sentence: sentences[ReasonTooLarge]}
	ErrBadPrefix      = &Error{Reason: ReasonBadPrefix, Sentence: sentences[ReasonBadPrefix]}
	ErrBadVersion     = &Error{Reason: ReasonBadVersion, Sentence: sentences[ReasonBadVersion]}
	ErrBadSignature   = &Error{Reason: ReasonBadSignature, Sentence: sentences[ReasonBadSignature]}
	ErrUnsupportedAlg = &Error{Reason: ReasonUnsupportedAlg, Sentence: sentences[ReasonUnsupportedAlg]}
	ErrUnknownKey     = &Error{Reason: ReasonUnknownKey, Sentence: sentences[ReasonUnknownKey]}
	ErrWrongIssuer    = &Error{Reason: ReasonWrongIssuer, Sentence: sentences[ReasonWrongIssuer]}
	ErrRetiredKey     = &Error{Reason: ReasonRetiredKey, Sentence: sentences[ReasonRetiredKey]}
	ErrExpired        = &Error{Reason: ReasonExpired, Sentence: sentences[ReasonExpired]}
	ErrNotYetValid    = &Error{Reason: ReasonNotYetValid, Sentence: sentences[ReasonNotYetValid]}
	ErrRevoked        = &Error{Reason: ReasonRevoked, Sentence: sentences[ReasonRevoked]}
	ErrWrongEvent     = &Error{Reason: ReasonWrongEvent, Sentence: sentences[ReasonWrongEvent]}
	ErrExpiredCode    = &Error{Reason: ReasonExpiredCode, Sentence: sentences[ReasonExpiredCode]}
	ErrBadCode        = &Error{Reason: ReasonBadCode, Sentence: sentences[ReasonBadCode]}
	ErrMissingCode    = &Error{Reason: ReasonMissingCode, Sentence: sentences[ReasonMissingCode]}
	ErrLegacyLookup   = &Error{Reason: ReasonLegacyLookup, Sentence: sentences[ReasonLegacyLookup]}
	ErrNotInAllowlist = &Error{Reason: ReasonNotInAllowlist, Sentence: sentences[ReasonNotInAllowlist]}
	ErrLookupFailed   = &Error{Reason: ReasonLookupFailed, Sentence: sentences[ReasonLookupFailed]}
)

// refuse builds a refusal with the default sentence for r.
func refuse(r Reason, cause error) *Error {
	return &Error{Reason: r, Sentence: sentences[r], Err: cause}
}

// refusef builds a refusal with the default sentence and a formatted cause.
func refusef(r Reason, format string, args ...any) *Error {
	return refuse(r, fmt.Errorf(format, args...))
}

// Sentence returns the default human sentence for a reason ("" if unknown).
func (r Reason) Sentence() string { return sentences[r] }

// ReasonOf returns the refusal reason carried by err: "" for nil, the Reason
// of a wrapped *Error, and ReasonMalformed for any other error.
func ReasonOf(err error) Reason {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ReasonMalformed
}

// SentenceOf returns the human sentence for err ("" for nil).
func SentenceOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Sentence
	}
	return sentences[ReasonMalformed]
}

// Reasons returns every refusal reason this package can return, sorted.
func Reasons() []Reason {
	out := make([]Reason, 0, len(sentences))
	for r := range sentences {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
