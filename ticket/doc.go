// Package ticket turns ticket claims into the text printed on a ticket or
// shown on a phone, and back, with no network: everything a gate trusts
// starts here. It does no I/O.
//
// # Format "AD1"
//
// A static ticket is
//
//	"AD1:" + base45(COSE_Sign1(CBOR claims))
//
// where base45 is RFC 9285 (the QR alphanumeric alphabet, so the whole text
// encodes in alphanumeric mode), COSE_Sign1 is RFC 9052 §4.2, untagged, with
// protected header {1 (alg): -8 (EdDSA), 4 (kid): key id}, an empty
// unprotected header, and an Ed25519 signature; the payload is a CBOR map
// with small integer keys (see wireClaims). Everything is in RFC 8949 core
// deterministic encoding and the decoder accepts nothing else, so each
// ticket has exactly one valid encoding.
//
// A rotating ticket (anti-screenshot) is the same static part shown as
//
//	"AD1R:" + TOTP(6 digits) + base45(COSE_Sign1(...))
//
// with an RFC 6238 TOTP (15 s step) over a per-ticket secret held in the
// allowlist, never in the code. See CheckCode and VerifyOptions.Codes.
//
// # Verifying
//
// Verify checks signature, key and validity window; VerifyWith adds the gate
// state the agent holds: revocation list, the gate's event, rotating-code
// secrets. Every refusal is an *Error with a machine-readable Reason and a
// Sentence a gate can show; ReasonOf extracts the reason from any error.
package ticket
