package wire

import (
	"encoding/hex"
	"fmt"
	"net/url"
)

// Enrollment happens over HTTP(S) before the first stream: the agent posts
// an EnrollRequest to EnrollPath with the one-time token an operator gave
// it (typed in, or scanned from the enrollment QR, whose text is an
// EnrollURI) and its freshly generated Ed25519 public key.
const EnrollPath = "/api/enroll"

// EnrollRequest registers a device key against a one-time token.
type EnrollRequest struct {
	Token     string `json:"token"`
	PublicKey []byte `json:"public_key"` // Ed25519, 32 bytes
}

// EnrollResponse tells the agent who it is now.
type EnrollResponse struct {
	Device string `json:"device"`
	Name   string `json:"name,omitempty"`
	Gate   string `json:"gate,omitempty"`
	// CAFingerprint is the SHA-256 of the fleet's CA certificate, to pin
	// (empty when the fleet uses a publicly trusted certificate or no TLS).
	CAFingerprint []byte `json:"ca_fingerprint,omitempty"`
	// ReplicaKey is the fleet's replica signing key (Ed25519 public key):
	// the agent keeps it and refuses replica data not signed with it
	// (protocol 5). When the enrollment code carries one, the two must be
	// the same.
	ReplicaKey []byte `json:"replica_key,omitempty"`
}

// Validate checks the request's shape.
func (r *EnrollRequest) Validate() error {
	if r.Token == "" || len(r.Token) > MaxIDLen || len(r.PublicKey) != 32 {
		return invalid("enroll: token and a 32-byte public key are required")
	}
	return nil
}

// EnrollURI is the text of an enrollment QR: where the fleet is, the
// token, the CA fingerprint to pin (so that even the enrollment call is
// made to the right fleet) and the fleet's replica key (so that a gate
// holds the right one even when it enrolled over a link it could not
// authenticate). The QR comes from the operator's console, out of band.
type EnrollURI struct {
	Fleet         string // base URL, e.g. https://fleet.example:8443
	Token         string
	CAFingerprint []byte
	ReplicaKey    []byte // Ed25519 public key, 32 bytes; optional
}

// String formats u as
// "admit-enroll:?fleet=...&token=...&fp=<hex>&rk=<hex>".
func (u EnrollURI) String() string {
	q := url.Values{}
	q.Set("fleet", u.Fleet)
	q.Set("token", u.Token)
	if len(u.CAFingerprint) > 0 {
		q.Set("fp", hex.EncodeToString(u.CAFingerprint))
	}
	if len(u.ReplicaKey) > 0 {
		q.Set("rk", hex.EncodeToString(u.ReplicaKey))
	}
	return "admit-enroll:?" + q.Encode()
}

// ParseEnrollURI parses the text of an enrollment QR.
func ParseEnrollURI(s string) (EnrollURI, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "admit-enroll" {
		return EnrollURI{}, fmt.Errorf("%w: not an enrollment code", ErrInvalid)
	}
	q := u.Query()
	out := EnrollURI{Fleet: q.Get("fleet"), Token: q.Get("token")}
	if fp := q.Get("fp"); fp != "" {
		if out.CAFingerprint, err = hex.DecodeString(fp); err != nil || len(out.CAFingerprint) != 32 {
			return EnrollURI{}, fmt.Errorf("%w: bad fingerprint in enrollment code", ErrInvalid)
		}
	}
	if rk := q.Get("rk"); rk != "" {
		if out.ReplicaKey, err = hex.DecodeString(rk); err != nil || len(out.ReplicaKey) != 32 {
			return EnrollURI{}, fmt.Errorf("%w: bad replica key in enrollment code", ErrInvalid)
		}
	}
	if out.Fleet == "" || out.Token == "" {
		return EnrollURI{}, fmt.Errorf("%w: enrollment code without fleet or token", ErrInvalid)
	}
	return out, nil
}
