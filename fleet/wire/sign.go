package wire

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
)

// Replica data signed by the fleet (protocol 5).
//
// A fleet has one replica key (Ed25519), shared by every node of the fleet
// and given to a gate at enrollment (EnrollResponse.ReplicaKey, and the
// enrollment QR). Whatever changes a gate's replica or journal is signed
// with it, each kind under its own domain string, so that no signature of
// one kind verifies as another:
//
//   - a batch: the signed frame is frameSignedBatch, the signature, then
//     the batch's binary frame (frameBatch…) exactly as MarshalBatch wrote
//     it. The signature covers "admit-batch-v5\x00" and that frame: event,
//     range, checksums and every change. It binds no device or session:
//     one encoding serves every gate of the event, and a batch replayed
//     anywhere is what the log holds at those seqs anyway (gates apply
//     from their cursor, idempotently).
//   - a snapshot chunk: frameSignedSnapshot, the signature, then the
//     chunk's frame (frameSnapshot…); the signature covers
//     "admit-snapshot-v5\x00", the device, the session nonce and the
//     frame. A snapshot replaces a replica, so one from an older session
//     (an older state of the log) must not verify: it would roll revoked
//     tickets and used marks back.
//   - Config, Revoked and ScanAck: their Signature field, over the domain,
//     the device, the session nonce and the message's fields (see each
//     Sign). A replayed "revoked" wipes no other device, and no gate in
//     another session; a replayed acknowledgement deletes no journal rows
//     the fleet has not recorded.
//
// The session nonce is the agent's (Hello.Nonce), fresh for every
// connection: a fake fleet cannot choose it, so it cannot replay what the
// real fleet signed for another session. Strings in signed bytes are
// length-prefixed, so no two different messages sign the same bytes.

// Signed frame types (the first byte of a binary frame).
const (
	frameSignedBatch    = 0x03
	frameSignedSnapshot = 0x04
)

// ErrUnsigned wraps every refusal of data that is not signed, or not
// signed for this session, by the fleet's replica key.
var ErrUnsigned = errors.New("wire: not signed by the fleet's replica key")

func unsigned(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsigned, fmt.Sprintf(format, args...))
}

// Session is one agent's stream as protocol 5 binds the fleet's messages
// to it: the device and the nonce of its hello.
type Session struct {
	Device string
	Nonce  []byte
}

// appendSession appends the session binding of a signed message.
func (s Session) append(b []byte) []byte {
	b = appendString(b, s.Device)
	return appendBytes(b, s.Nonce)
}

const (
	domainBatch    = "admit-batch-v5\x00"
	domainSnapshot = "admit-snapshot-v5\x00"
	domainConfig   = "admit-config-v5\x00"
	domainRevoked  = "admit-revoked-v5\x00"
	domainScanAck  = "admit-scan-ack-v5\x00"
	domainDecide   = "admit-decide-response-v5\x00"
)

func batchSigningBytes(frame []byte) []byte {
	return append([]byte(domainBatch), frame...)
}

func snapshotSigningBytes(s Session, frame []byte) []byte {
	return append(s.append([]byte(domainSnapshot)), frame...)
}

// SignBatchFrame returns the signed form of a binary batch frame
// (MarshalBatch's output).
func SignBatchFrame(key ed25519.PrivateKey, frame []byte) []byte {
	return signFrame(frameSignedBatch, ed25519.Sign(key, batchSigningBytes(frame)), frame)
}

// SignSnapshotFrame returns the signed form of a binary snapshot chunk
// (MarshalSnapshot's output) for session s.
func SignSnapshotFrame(key ed25519.PrivateKey, s Session, frame []byte) []byte {
	return signFrame(frameSignedSnapshot, ed25519.Sign(key, snapshotSigningBytes(s, frame)), frame)
}

func signFrame(kind byte, sig, frame []byte) []byte {
	out := make([]byte, 0, 1+len(sig)+len(frame))
	out = append(out, kind)
	out = append(out, sig...)
	return append(out, frame...)
}

// ConfigSigningBytes is what Config.Sign signs.
func ConfigSigningBytes(s Session, version int64, body []byte) []byte {
	b := s.append([]byte(domainConfig))
	b = binary.AppendVarint(b, version)
	return appendBytes(b, body)
}

// Sign signs c for session s. It first puts Body in the form JSON encoding
// sends it (compact, HTML characters escaped, as encoding/json writes a
// RawMessage), so that the agent verifies the very bytes it receives.
func (c *Config) Sign(key ed25519.PrivateKey, s Session) error {
	var compact, escaped bytes.Buffer
	if err := json.Compact(&compact, c.Body); err != nil {
		return fmt.Errorf("wire: sign config: %w", err)
	}
	json.HTMLEscape(&escaped, compact.Bytes())
	c.Body = escaped.Bytes()
	c.Signature = ed25519.Sign(key, ConfigSigningBytes(s, c.Version, c.Body))
	return nil
}

// RevokedSigningBytes is what Revoked.Sign signs.
func RevokedSigningBytes(s Session, reason string) []byte {
	return appendString(s.append([]byte(domainRevoked)), reason)
}

// Sign signs r for session s.
func (r *Revoked) Sign(key ed25519.PrivateKey, s Session) {
	r.Signature = ed25519.Sign(key, RevokedSigningBytes(s, r.Reason))
}

// ScanAckSigningBytes is what ScanAck.Sign signs.
func ScanAckSigningBytes(s Session, upTo int64) []byte {
	return binary.AppendVarint(s.append([]byte(domainScanAck)), upTo)
}

// Sign signs a for session s.
func (a *ScanAck) Sign(key ed25519.PrivateKey, s Session) {
	a.Signature = ed25519.Sign(key, ScanAckSigningBytes(s, a.UpTo))
}

// DecideResponseSigningBytes is what the fleet signs to answer an online
// decision (DecideResponseSignatureHeader): the SHA-256 of the exact
// request body (so an answer is bound to its question: device, ticket,
// time) and the exact response body.
func DecideResponseSigningBytes(requestBody, responseBody []byte) []byte {
	h := sha256.Sum256(requestBody)
	b := append([]byte(domainDecide), h[:]...)
	return append(b, responseBody...)
}

// Trust is what a protocol-5 agent checks its fleet's messages against:
// the fleet's replica key and this session.
type Trust struct {
	ReplicaKey ed25519.PublicKey
	Session    Session
}

// Decode parses and validates one frame from the fleet, like Decode, and
// refuses (ErrUnsigned) a batch, snapshot chunk, config, revocation, scan
// or contest acknowledgement that is not signed by t.ReplicaKey for this
// session. A signed frame's signature is checked before its contents are
// parsed.
func (t *Trust) Decode(data []byte) (*Message, error) {
	if len(t.ReplicaKey) != ed25519.PublicKeySize {
		return nil, unsigned("no replica key to check against")
	}
	if len(data) > MaxMessageBytes {
		return nil, invalid("frame of %d bytes exceeds %d", len(data), MaxMessageBytes)
	}
	if len(data) > 0 && (data[0] == frameBatch || data[0] == frameSnapshot) {
		return nil, unsigned("an unsigned binary frame")
	}
	if len(data) > 0 && (data[0] == frameSignedBatch || data[0] == frameSignedSnapshot) {
		if len(data) < 1+ed25519.SignatureSize+1 {
			return nil, invalid("signed frame of %d bytes", len(data))
		}
		sig, frame := data[1:1+ed25519.SignatureSize], data[1+ed25519.SignatureSize:]
		var signed []byte
		switch {
		case data[0] == frameSignedBatch && frame[0] == frameBatch:
			signed = batchSigningBytes(frame)
		case data[0] == frameSignedSnapshot && frame[0] == frameSnapshot:
			signed = snapshotSigningBytes(t.Session, frame)
		default:
			return nil, invalid("signed frame %#x around a frame %#x", data[0], frame[0])
		}
		if !ed25519.Verify(t.ReplicaKey, signed, sig) {
			return nil, unsigned("a %s frame with a bad signature", frameName(frame[0]))
		}
		return decodeFrame(frame)
	}
	m, err := decodeJSON(data)
	if err != nil {
		return nil, err
	}
	var ok bool
	switch m.Type {
	case TypeBatch, TypeSnapshot:
		return nil, unsigned("a %s as JSON (protocol 5 signs binary frames only)", m.Type)
	case TypeConfig:
		ok = ed25519.Verify(t.ReplicaKey, ConfigSigningBytes(t.Session, m.Config.Version, m.Config.Body), m.Config.Signature)
	case TypeRevoked:
		ok = ed25519.Verify(t.ReplicaKey, RevokedSigningBytes(t.Session, m.Revoked.Reason), m.Revoked.Signature)
	case TypeScanAck:
		ok = ed25519.Verify(t.ReplicaKey, ScanAckSigningBytes(t.Session, m.ScanAck.UpTo), m.ScanAck.Signature)
	case TypeContestAck:
		ok = ed25519.Verify(t.ReplicaKey, ContestAckSigningBytes(t.Session, m.ContestAck.UpTo), m.ContestAck.Signature)
	default:
		return m, nil // changes nothing at the gate: challenge, error
	}
	if !ok {
		return nil, unsigned("a %s without a valid signature for this session", m.Type)
	}
	return m, nil
}

func frameName(b byte) string {
	if b == frameBatch {
		return TypeBatch
	}
	return TypeSnapshot
}
