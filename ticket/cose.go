package ticket

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/fxamacker/cbor/v2"
)

// The signed binary form is an untagged COSE_Sign1 message (RFC 9052 §4.2),
// the "AD1:" prefix being the application context that says so:
//
//	COSE_Sign1 = [
//	    protected:   bstr .cbor {1: -8 (EdDSA), 4: kid (bstr)},
//	    unprotected: {} (must be empty),
//	    payload:     bstr .cbor claims map (see wireClaims),
//	    signature:   bstr .size 64 (Ed25519)
//	]
//
// signed over Sig_structure = ["Signature1", protected, h'' (external_aad), payload].
//
// Decoding is strict: after a bounded CBOR decode the message, the protected
// header and the payload are re-encoded deterministically (RFC 8949 §4.2.1)
// and must equal the input byte for byte. So a ticket has exactly one
// accepted encoding, unprotected headers can carry nothing, and any altered
// byte is either malformed or fails the signature.

const (
	coseAlgEdDSA = -8
	// MaxBinaryLen caps the binary (pre-base45) size of a ticket we decode.
	MaxBinaryLen = 400
	// MaxTextLen caps the text size of a ticket we decode (prefix, base45,
	// rotating code). Longer inputs are refused before any decoding.
	MaxTextLen = 8 + 2 + MaxBinaryLen/2*3
)

var (
	decMode cbor.DecMode // strict, bounded
	encMode cbor.EncMode // core deterministic
)

func init() {
	var err error
	decMode, err = cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		MaxNestedLevels:   4,
		MaxArrayElements:  16,
		MaxMapPairs:       16,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		UTF8:              cbor.UTF8RejectInvalid,
	}.DecMode()
	if err != nil {
		panic("ticket: cbor decode mode: " + err.Error())
	}
	encMode, err = cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		panic("ticket: cbor encode mode: " + err.Error())
	}
}

type coseSign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   []byte
	Unprotected cbor.RawMessage
	Payload     []byte
	Signature   []byte
}

type coseProtected struct {
	Alg int    `cbor:"1,keyasint"`
	Kid []byte `cbor:"4,keyasint"`
}

// cborRefusal maps a CBOR decoding error onto a refusal.
func cborRefusal(what string, err error) *Error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return refusef(ReasonTruncated, "%s: %v", what, err)
	}
	return refusef(ReasonMalformed, "%s: %v", what, err)
}

func appendBstrHeader(b []byte, n int) []byte {
	switch {
	case n < 24:
		return append(b, 0x40|byte(n))
	case n < 256:
		return append(b, 0x58, byte(n))
	default:
		return append(b, 0x59, byte(n>>8), byte(n))
	}
}

// encodeProtected returns the canonical protected header for kid.
func encodeProtected(kid string) []byte {
	b := make([]byte, 0, 8+len(kid))
	b = append(b, 0xA2, 0x01, 0x27, 0x04) // {1: -8, 4: ...}
	b = appendBstrHeader(b, len(kid))
	return append(b, kid...)
}

// sigStructure returns the bytes Ed25519 signs.
func sigStructure(protected, payload []byte) []byte {
	b := make([]byte, 0, 16+len(protected)+len(payload))
	b = append(b, 0x84, 0x6A)
	b = append(b, "Signature1"...)
	b = appendBstrHeader(b, len(protected))
	b = append(b, protected...)
	b = append(b, 0x40)
	b = appendBstrHeader(b, len(payload))
	return append(b, payload...)
}

// encodeSign1 returns the canonical COSE_Sign1 bytes.
func encodeSign1(protected, payload, sig []byte) []byte {
	b := make([]byte, 0, 8+len(protected)+len(payload)+len(sig))
	b = append(b, 0x84)
	b = appendBstrHeader(b, len(protected))
	b = append(b, protected...)
	b = append(b, 0xA0)
	b = appendBstrHeader(b, len(payload))
	b = append(b, payload...)
	b = appendBstrHeader(b, len(sig))
	return append(b, sig...)
}

// sign1 is a strictly decoded COSE_Sign1 whose claims are parsed but whose
// signature is not yet checked.
type sign1 struct {
	protected, payload, sig []byte
	kid                     string
	claims                  Claims
}

// decodeSign1 strictly decodes the binary form. It never allocates more than
// a small multiple of len(b), and len(b) is capped at MaxBinaryLen.
func decodeSign1(b []byte) (*sign1, error) {
	if len(b) > MaxBinaryLen {
		return nil, refusef(ReasonTooLarge, "%d bytes, at most %d", len(b), MaxBinaryLen)
	}
	if len(b) == 0 {
		return nil, refusef(ReasonTruncated, "empty")
	}
	var m coseSign1
	if err := decMode.Unmarshal(b, &m); err != nil {
		return nil, cborRefusal("cose_sign1", err)
	}
	if !bytes.Equal(m.Unprotected, []byte{0xA0}) {
		return nil, refusef(ReasonMalformed, "cose_sign1: unprotected header must be empty")
	}
	var ph coseProtected
	if err := decMode.Unmarshal(m.Protected, &ph); err != nil {
		return nil, cborRefusal("cose protected header", err)
	}
	if ph.Alg != coseAlgEdDSA {
		return nil, refusef(ReasonUnsupportedAlg, "cose alg %d, want %d (EdDSA)", ph.Alg, coseAlgEdDSA)
	}
	if len(ph.Kid) == 0 || len(ph.Kid) > MaxFieldLen {
		return nil, refusef(ReasonMalformed, "cose kid length %d", len(ph.Kid))
	}
	kid := string(ph.Kid)
	if !bytes.Equal(m.Protected, encodeProtected(kid)) {
		return nil, refusef(ReasonMalformed, "cose protected header not canonical")
	}
	if len(m.Signature) != 64 {
		return nil, refusef(ReasonMalformed, "signature is %d bytes, want 64", len(m.Signature))
	}
	var w wireClaims
	if err := decMode.Unmarshal(m.Payload, &w); err != nil {
		return nil, cborRefusal("claims", err)
	}
	if v := w.IssuedAt; v != nil && (*v < -MaxIssuedBefore || *v > maxIssuedAfter) {
		return nil, refusef(ReasonMalformed, "claims: issued %d hours after the start of validity", *v)
	}
	canon, err := encMode.Marshal(w)
	if err != nil {
		return nil, refusef(ReasonMalformed, "claims: re-encode: %v", err)
	}
	if !bytes.Equal(canon, m.Payload) {
		return nil, refusef(ReasonMalformed, "claims not in canonical encoding")
	}
	if !bytes.Equal(encodeSign1(m.Protected, m.Payload, m.Signature), b) {
		return nil, refusef(ReasonMalformed, "cose_sign1 not in canonical encoding")
	}
	c := w.claims()
	c.KeyID = kid
	if err := c.Validate(); err != nil {
		return nil, refuse(ReasonMalformed, err)
	}
	return &sign1{protected: m.Protected, payload: m.Payload, sig: m.Signature, kid: kid, claims: c}, nil
}

// marshalClaims returns the canonical CBOR payload for c.
func marshalClaims(c Claims) ([]byte, error) {
	b, err := encMode.Marshal(c.wire())
	if err != nil {
		return nil, fmt.Errorf("ticket: encode claims: %w", err)
	}
	return b, nil
}
