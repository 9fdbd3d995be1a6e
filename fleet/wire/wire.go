// Package wire holds the messages that agents and the fleet exchange over
// their WebSocket stream. Both sides import it; it is the one contract
// between them.
//
// Every frame is one JSON Message. A message has a Type and exactly the one
// body field that type names; Validate enforces that before anything acts on
// a message.
package wire

import (
	"errors"
	"fmt"
	"time"
)

// ProtocolVersion is the version an agent announces in its Hello. Bump it,
// with a dated line below, whenever a message changes meaning.
//
//   - 1 (2026-11-27): hello, batch, scans, scan ack; JSON frames.
const ProtocolVersion = 1

// MaxMessageBytes bounds one frame in either direction.
const MaxMessageBytes = 4 << 20

// Message types.
const (
	TypeHello   = "hello"    // agent → fleet, first frame
	TypeBatch   = "batch"    // fleet → agent: replica changes
	TypeAck     = "ack"      // agent → fleet: batch applied up to a cursor
	TypeScans   = "scans"    // agent → fleet: journaled scans
	TypeScanAck = "scan_ack" // fleet → agent: scans recorded
	TypeError   = "error"    // either way, before closing
)

// Message is one frame. Exactly the field named by Type is set.
type Message struct {
	Type    string   `json:"type"`
	Hello   *Hello   `json:"hello,omitempty"`
	Batch   *Batch   `json:"batch,omitempty"`
	Ack     *Ack     `json:"ack,omitempty"`
	Scans   *Scans   `json:"scans,omitempty"`
	ScanAck *ScanAck `json:"scan_ack,omitempty"`
	Error   *Error   `json:"error,omitempty"`
}

// Hello opens a session.
type Hello struct {
	Protocol int    `json:"protocol"`
	Device   string `json:"device"`
	Firmware string `json:"firmware,omitempty"`
	// Cursors maps each event the device serves to the last change
	// sequence it has applied (0: nothing yet).
	Cursors map[string]int64 `json:"cursors"`
}

// Change kinds.
const (
	KindKey    = "key"    // an event signing key (public part)
	KindTicket = "ticket" // a ticket on the allowlist
	KindRevoke = "revoke" // a ticket revoked
	KindUsed   = "used"   // a ticket used at a gate
)

// Change is one entry of an event's change log.
type Change struct {
	Seq    int64   `json:"seq"`
	Kind   string  `json:"kind"`
	Key    *Key    `json:"key,omitempty"`
	Ticket *Ticket `json:"ticket,omitempty"`
	Revoke *Revoke `json:"revoke,omitempty"`
	Used   *Used   `json:"used,omitempty"`
}

// Key is an event's public signing key.
type Key struct {
	ID        string    `json:"id"`
	Public    []byte    `json:"public"` // Ed25519, 32 bytes
	RetiredAt time.Time `json:"retired_at,omitzero"`
}

// Ticket is an allowlist row.
type Ticket struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Holder string `json:"holder,omitempty"`
}

// Revoke marks a ticket revoked.
type Revoke struct {
	TicketID string `json:"ticket_id"`
	Reason   string `json:"reason,omitempty"`
}

// Used records an admission somewhere in the venue.
type Used struct {
	TicketID string    `json:"ticket_id"`
	Device   string    `json:"device"`
	Gate     string    `json:"gate"`
	At       time.Time `json:"at"`
}

// Batch carries consecutive changes of one event, after From and up to To.
type Batch struct {
	Event   string   `json:"event"`
	From    int64    `json:"from"`
	To      int64    `json:"to"`
	Changes []Change `json:"changes"`
}

// Ack confirms that the agent applied an event's changes up to Cursor.
type Ack struct {
	Event  string `json:"event"`
	Cursor int64  `json:"cursor"`
}

// Scan outcomes.
const (
	Admitted = "admitted"
	Refused  = "refused"
)

// Scan is one journaled decision.
type Scan struct {
	Seq      int64     `json:"seq"` // per device, strictly increasing
	Event    string    `json:"event"`
	TicketID string    `json:"ticket_id,omitempty"`
	Gate     string    `json:"gate"`
	At       time.Time `json:"at"`
	Outcome  string    `json:"outcome"`
	Reason   string    `json:"reason,omitempty"`   // machine-readable, empty when admitted
	Sentence string    `json:"sentence,omitempty"` // what the gate showed
}

// Scans carries journaled scans upstream.
type Scans struct {
	Scans []Scan `json:"scans"`
}

// ScanAck says the fleet has durably recorded every scan of this device up
// to and including UpTo.
type ScanAck struct {
	UpTo int64 `json:"up_to"`
}

// Error explains why a peer is about to close the connection.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("wire: invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Validate checks that m is well formed: a known type with exactly its body.
func (m *Message) Validate() error {
	set := 0
	for _, present := range []bool{m.Hello != nil, m.Batch != nil, m.Ack != nil, m.Scans != nil, m.ScanAck != nil, m.Error != nil} {
		if present {
			set++
		}
	}
	if set != 1 {
		return invalid("%q message with %d bodies", m.Type, set)
	}
	switch m.Type {
	case TypeHello:
		return m.Hello.validate()
	case TypeBatch:
		return m.Batch.validate()
	case TypeAck:
		if m.Ack == nil || m.Ack.Event == "" || m.Ack.Cursor < 0 {
			return invalid("bad ack")
		}
	case TypeScans:
		return m.Scans.validate()
	case TypeScanAck:
		if m.ScanAck == nil || m.ScanAck.UpTo < 0 {
			return invalid("bad scan ack")
		}
	case TypeError:
		if m.Error == nil {
			return invalid("error without body")
		}
	default:
		return invalid("unknown type %q", m.Type)
	}
	return nil
}

func (h *Hello) validate() error {
	if h == nil {
		return invalid("hello without body")
	}
	if h.Protocol != ProtocolVersion {
		return invalid("protocol %d, want %d", h.Protocol, ProtocolVersion)
	}
	if h.Device == "" || len(h.Device) > 128 {
		return invalid("hello: bad device id")
	}
	for ev, c := range h.Cursors {
		if ev == "" || c < 0 {
			return invalid("hello: bad cursor %q=%d", ev, c)
		}
	}
	return nil
}

func (b *Batch) validate() error {
	if b == nil {
		return invalid("batch without body")
	}
	if b.Event == "" || b.From < 0 || b.To < b.From {
		return invalid("batch %q from %d to %d", b.Event, b.From, b.To)
	}
	prev := b.From
	for i := range b.Changes {
		c := &b.Changes[i]
		if c.Seq <= prev || c.Seq > b.To {
			return invalid("batch %q: change seq %d out of order (after %d, to %d)", b.Event, c.Seq, prev, b.To)
		}
		prev = c.Seq
		if err := c.validate(); err != nil {
			return err
		}
	}
	return nil
}

func (c *Change) validate() error {
	bodies := 0
	for _, present := range []bool{c.Key != nil, c.Ticket != nil, c.Revoke != nil, c.Used != nil} {
		if present {
			bodies++
		}
	}
	if bodies != 1 {
		return invalid("change %d: %d bodies", c.Seq, bodies)
	}
	switch {
	case c.Kind == KindKey && c.Key != nil:
		if c.Key.ID == "" || len(c.Key.Public) != 32 {
			return invalid("change %d: bad key", c.Seq)
		}
	case c.Kind == KindTicket && c.Ticket != nil:
		if c.Ticket.ID == "" {
			return invalid("change %d: ticket without id", c.Seq)
		}
	case c.Kind == KindRevoke && c.Revoke != nil:
		if c.Revoke.TicketID == "" {
			return invalid("change %d: revoke without ticket", c.Seq)
		}
	case c.Kind == KindUsed && c.Used != nil:
		if c.Used.TicketID == "" || c.Used.Device == "" {
			return invalid("change %d: bad used mark", c.Seq)
		}
	default:
		return invalid("change %d: kind %q does not match its body", c.Seq, c.Kind)
	}
	return nil
}

func (s *Scans) validate() error {
	if s == nil {
		return invalid("scans without body")
	}
	var prev int64
	for _, sc := range s.Scans {
		if sc.Seq <= prev {
			return invalid("scan seq %d not increasing", sc.Seq)
		}
		prev = sc.Seq
		if sc.Event == "" || (sc.Outcome != Admitted && sc.Outcome != Refused) {
			return invalid("scan %d: bad event or outcome", sc.Seq)
		}
		if sc.Outcome == Admitted && sc.TicketID == "" {
			return invalid("scan %d: admitted without ticket", sc.Seq)
		}
	}
	return nil
}
