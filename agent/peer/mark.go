package peer

import (
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"time"

	"admit/agent/gatedb"
	"admit/ticket/entry"
)

// Version is the gossip protocol version carried in every hello.
//
//   - 1 (2026-11-27): hello, marks; JSON frames.
//   - 2 (2026-11-29): the receiving gate opens with a challenge (a nonce,
//     its device id and event); the sending gate's hello signs it with
//     its device key (HelloSigningBytes), and the receiver answers
//     "ready" (or an error frame saying why not); every mark carries the Ed25519
//     signature of the device that made the passage (MarkSigningBytes),
//     which the receiver checks against the keys of its event's venue
//     scope. A gate of version 2 refuses a version-1 peer (unsigned) with
//     an error frame and a warning in its log, and a version-1 gate never
//     gets a challenge answered: a venue upgrades its gates together.
//   - 3 (2026-12-01): claims (claim.go). A gate claims a single-entry or
//     re-entry ticket from its peers before it admits it: a "claim" frame
//     (a signed Claim) on a link it dialed, answered on the same link by
//     an "answer" frame (a signed Answer), taken back by a "release"
//     frame. A gate of version 3 still speaks version 2 with a gate of
//     version 2 (marks only, in either direction: such a peer takes no
//     claims and is counted as unreachable for them), so a venue can
//     upgrade gate by gate.
const Version = 3

// MinVersion is the oldest gossip protocol a gate still speaks.
const MinVersion = 2

// Limits of what a peer may send.
const (
	// MaxFrameBytes bounds one frame once the hello verified.
	MaxFrameBytes = 256 << 10
	// MaxHelloBytes bounds what is read before it has.
	MaxHelloBytes = 4 << 10
	// MaxAnswerBytes bounds a frame a dialing gate reads once its hello
	// was taken (answers to its claims: ids and a gate name, well under).
	MaxAnswerBytes = 16 << 10
	// MaxMarksPerFrame bounds the marks of one frame (a catch-up sends
	// 500 at a time, about 150 KiB of JSON).
	MaxMarksPerFrame = 500
	// MaxFutureSkew: a mark dated further than this ahead of the
	// receiving gate's clock is refused (it would block the ticket until
	// then). Gates of a venue agree on the time within seconds (NTP);
	// two minutes leave room for a gate that lost it for a while.
	MaxFutureSkew = 2 * time.Minute
)

// Message is one frame: JSON.
type Message struct {
	// Type is "challenge", "hello", "ready", "marks", "claim", "release",
	// "answer" or "error".
	Type    string `json:"type"`
	Version int    `json:"version,omitempty"`
	// Device is the sender of a hello or marks, and the receiving gate in
	// a challenge.
	Device string `json:"device,omitempty"`
	// Event (challenge) is the event whose venue keys the receiver checks
	// against.
	Event string `json:"event,omitempty"`
	// Nonce (challenge) is 32 random bytes the hello signs.
	Nonce []byte `json:"nonce,omitempty"`
	// Signature (hello) is the sender's Ed25519 signature over
	// HelloSigningBytes.
	Signature []byte `json:"signature,omitempty"`
	Marks     []Mark `json:"marks,omitempty"`
	// Claim (claim, release) and Answer (answer): protocol 3, claim.go.
	Claim  *Claim  `json:"claim,omitempty"`
	Answer *Answer `json:"answer,omitempty"`
	// Error (error) says why the receiver closes the link.
	Error string `json:"error,omitempty"`
}

// Mark is a passage (entry.Passage) of a ticket on the gossip wire, its
// direction the text of entry.In or entry.Out, signed by the device that
// made it.
type Mark struct {
	Event     string    `json:"event"`
	TicketID  string    `json:"ticket_id"`
	Device    string    `json:"device"`
	Gate      string    `json:"gate"`
	At        time.Time `json:"at"`
	Direction string    `json:"direction"`
	Annulled  bool      `json:"annulled,omitempty"`
	// Signature is Device's Ed25519 signature over MarkSigningBytes.
	Signature []byte `json:"sig,omitempty"`
}

// HelloSigningBytes is what a sending gate signs in its hello: the
// receiver's challenge nonce and device id, and its own id.
func HelloSigningBytes(nonce []byte, receiver, sender string) []byte {
	b := append([]byte("admit-peer-hello-v2\x00"), nonce...)
	b = appendStr(b, receiver)
	return appendStr(b, sender)
}

// MarkSigningBytes is what the device that made a passage signs: every
// field of the mark but the signature, at the millisecond precision the
// gates store. An annulment is its own statement (Annulled is covered):
// only the device that made the passage can take it back.
func MarkSigningBytes(m *Mark) []byte {
	b := make([]byte, 0, 64+len(m.Event)+len(m.TicketID)+len(m.Device)+len(m.Gate))
	b = append(b, "admit-mark-v1\x00"...)
	b = appendStr(b, m.Event)
	b = appendStr(b, m.TicketID)
	b = appendStr(b, m.Device)
	b = appendStr(b, m.Gate)
	b = binary.BigEndian.AppendUint64(b, uint64(m.At.UnixMilli()))
	b = appendStr(b, m.Direction)
	if m.Annulled {
		return append(b, 1)
	}
	return append(b, 0)
}

func appendStr(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// Sign signs m with key, the key of m.Device.
func (m *Mark) Sign(key ed25519.PrivateKey) {
	m.At = m.At.UTC().Truncate(time.Millisecond)
	m.Signature = ed25519.Sign(key, MarkSigningBytes(m))
}

func toWire(m gatedb.Mark) Mark {
	return Mark{Event: m.Event, TicketID: m.TicketID, Device: m.Device, Gate: m.Gate, At: m.At.UTC().Truncate(time.Millisecond),
		Direction: string(m.Direction), Annulled: m.Annulled}
}

func (m Mark) db() gatedb.Mark {
	return gatedb.Mark{Event: m.Event, TicketID: m.TicketID, Passage: entry.Passage{Device: m.Device, Gate: m.Gate, At: m.At,
		Direction: entry.Direction(m.Direction), Annulled: m.Annulled}}
}

// maxField bounds the ids and names of a mark (wire.MaxIDLen and
// MaxTextLen of the fleet's protocol).
const maxField = 1024

func (m Mark) validate() error {
	if d := entry.Direction(m.Direction); m.Event == "" || m.TicketID == "" || m.Device == "" || m.At.IsZero() || (d != entry.In && d != entry.Out) ||
		len(m.Event) > maxField || len(m.TicketID) > maxField || len(m.Device) > maxField || len(m.Gate) > maxField {
		return fmt.Errorf("peer: bad mark of %.64q", m.TicketID)
	}
	return nil
}
