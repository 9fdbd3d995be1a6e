package wire

import (
	"encoding/json"
	"errors"
	"fmt"
)

// ErrInvalid wraps every validation failure.
var ErrInvalid = errors.New("wire: invalid message")

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Decode parses and validates one frame: a JSON message, or an unsigned
// binary batch or snapshot chunk (protocol 4). It checks no signature:
// the fleet reads the agents' frames with it, and a protocol-4 agent its
// fleet's; a protocol-5 agent reads its fleet's frames with Trust.Decode,
// and Decode refuses the signed frames only that one reads.
func Decode(data []byte) (*Message, error) {
	if len(data) > MaxMessageBytes {
		return nil, invalid("frame of %d bytes exceeds %d", len(data), MaxMessageBytes)
	}
	if len(data) > 0 && (data[0] == frameBatch || data[0] == frameSnapshot) {
		return decodeFrame(data)
	}
	if len(data) > 0 && (data[0] == frameSignedBatch || data[0] == frameSignedSnapshot) {
		return nil, invalid("a signed frame (protocol 5: Trust.Decode reads it)")
	}
	return decodeJSON(data)
}

// decodeFrame parses and validates a binary batch or snapshot frame.
func decodeFrame(data []byte) (*Message, error) {
	m := &Message{Type: TypeBatch}
	var err error
	if data[0] == frameBatch {
		m.Batch, err = decodeBatchFrame(data)
	} else {
		m.Type = TypeSnapshot
		m.Snapshot, err = decodeSnapshotFrame(data)
	}
	if err != nil {
		return nil, err
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

func decodeJSON(data []byte) (*Message, error) {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, invalid("%v", err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// okSignature: absent (protocol 4, or a message the fleet has not signed,
// which Trust.Decode refuses) or an Ed25519 signature.
func okSignature(sig []byte) bool { return sig == nil || len(sig) == 64 }

// Validate checks that m is well formed: a known type with exactly its
// body, every field within bounds.
func (m *Message) Validate() error {
	set := 0
	for _, present := range []bool{m.Challenge != nil, m.Hello != nil, m.Batch != nil, m.Snapshot != nil, m.Ack != nil,
		m.Scans != nil, m.ScanAck != nil, m.Config != nil, m.ConfigAck != nil, m.Revoked != nil, m.Error != nil,
		m.Contests != nil, m.ContestAck != nil} {
		if present {
			set++
		}
	}
	if set != 1 {
		return invalid("%.32q message with %d bodies", m.Type, set)
	}
	switch m.Type {
	case TypeChallenge:
		if m.Challenge == nil || len(m.Challenge.Nonce) != 32 || len(m.Challenge.Fleet) > MaxIDLen ||
			(m.Challenge.ReplicaKey != nil && len(m.Challenge.ReplicaKey) != 32) {
			return invalid("bad challenge")
		}
	case TypeHello:
		return m.Hello.validate()
	case TypeBatch:
		return m.Batch.validate()
	case TypeSnapshot:
		return m.Snapshot.validate()
	case TypeAck:
		if m.Ack == nil || !okID(m.Ack.Event) || m.Ack.Cursor < 0 {
			return invalid("bad ack")
		}
	case TypeScans:
		return m.Scans.validate()
	case TypeScanAck:
		if m.ScanAck == nil || m.ScanAck.UpTo < 0 || !okSignature(m.ScanAck.Signature) {
			return invalid("bad scan ack")
		}
	case TypeConfig:
		if m.Config == nil || m.Config.Version <= 0 || len(m.Config.Body) > MaxConfigBytes || !isObject(m.Config.Body) ||
			!okSignature(m.Config.Signature) {
			return invalid("bad config")
		}
	case TypeConfigAck:
		a := m.ConfigAck
		if a == nil || a.Version < 0 || a.Failed < 0 || len(a.Error) > MaxTextLen ||
			(a.Failed > 0 && (a.Error == "" || a.Failed == a.Version)) {
			return invalid("bad config ack")
		}
	case TypeRevoked:
		if m.Revoked == nil || len(m.Revoked.Reason) > MaxTextLen || !okSignature(m.Revoked.Signature) {
			return invalid("bad revoked")
		}
	case TypeContests:
		return m.Contests.validate()
	case TypeContestAck:
		return m.ContestAck.validate()
	case TypeError:
		if m.Error == nil || len(m.Error.Code) > MaxIDLen || len(m.Error.Message) > MaxTextLen {
			return invalid("bad error")
		}
	default:
		return invalid("unknown type %.32q", m.Type)
	}
	return nil
}

// isObject reports whether body is one JSON object.
func isObject(body json.RawMessage) bool {
	var v map[string]json.RawMessage
	return len(body) > 0 && json.Unmarshal(body, &v) == nil && v != nil
}

func okID(s string) bool { return s != "" && len(s) <= MaxIDLen }

// maxSnapshotKey bounds a snapshot position: a ticket id, or a venue row's
// key (kind, "/", id).
const maxSnapshotKey = MaxVenueKindLen + 1 + MaxIDLen

func okText(s string) bool { return len(s) <= MaxTextLen }

func (h *Hello) validate() error {
	if h == nil {
		return invalid("hello without body")
	}
	if h.Protocol < MinProtocolVersion || h.Protocol > ProtocolVersion {
		return invalid("protocol %d, want %d to %d", h.Protocol, MinProtocolVersion, ProtocolVersion)
	}
	if (h.Protocol >= 5) != (h.Nonce != nil) || (h.Nonce != nil && len(h.Nonce) != 32) {
		return invalid("hello: protocol %d with a nonce of %d bytes (protocol 5 needs 32, 4 none)", h.Protocol, len(h.Nonce))
	}
	if !okID(h.Device) || !okText(h.Firmware) || h.ConfigVersion < 0 {
		return invalid("hello: bad device, firmware or config version")
	}
	if h.Signature != nil && len(h.Signature) != 64 {
		return invalid("hello: signature of %d bytes", len(h.Signature))
	}
	if len(h.Cursors) > MaxCursors {
		return invalid("hello: %d cursors", len(h.Cursors))
	}
	for ev, c := range h.Cursors {
		if !okID(ev) || c.Seq < 0 {
			return invalid("hello: bad cursor %.32q=%d", ev, c.Seq)
		}
		if IsVenueScope(ev) {
			// A venue scope is protocol 5's: its data travels signed, and a
			// protocol-4 agent's frames stay as they were.
			if _, ok := VenueEvent(ev); !ok || h.Protocol < 5 {
				return invalid("hello: venue scope cursor %.32q (protocol %d; venue scopes are protocol 5's and name an event)", ev, h.Protocol)
			}
		}
		if p := c.Snapshot; p != nil && (p.Seq < 0 || len(p.After) > maxSnapshotKey) {
			return invalid("hello: bad snapshot progress for %.32q", ev)
		}
	}
	return nil
}

func (b *Batch) validate() error {
	if b == nil {
		return invalid("batch without body")
	}
	if !okID(b.Event) || b.From < 0 || b.To < b.From || len(b.Changes) > MaxChangesPerBatch {
		return invalid("batch %.32q from %d to %d with %d changes", b.Event, b.From, b.To, len(b.Changes))
	}
	venue := IsVenueScope(b.Event)
	if _, ok := VenueEvent(b.Event); venue && !ok {
		return invalid("batch of venue scope %.32q names no event", b.Event)
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
		if (c.Kind == KindVenue) != venue {
			return invalid("batch %q: change %d of kind %q in the wrong log (venue data goes in venue scopes only)", b.Event, c.Seq, c.Kind)
		}
	}
	if sum := BatchChecksum(b); sum != b.Checksum {
		return invalid("batch %q %d..%d: checksum %x, computed %x", b.Event, b.From, b.To, b.Checksum, sum)
	}
	return nil
}

func (k *Key) validate() bool { return okID(k.ID) && len(k.Public) == 32 }

func okDirection(d string) bool { return d == "" || d == DirIn || d == DirOut }

func (u *Used) validate() bool {
	return okID(u.TicketID) && okID(u.Device) && okText(u.Gate) && okDirection(u.Direction)
}

func (c *Change) validate() error {
	bodies := 0
	for _, present := range []bool{c.Key != nil, c.Ticket != nil, c.Revoke != nil, c.Used != nil, c.Annul != nil, c.Venue != nil} {
		if present {
			bodies++
		}
	}
	if bodies != 1 {
		return invalid("change %d: %d bodies", c.Seq, bodies)
	}
	switch {
	case c.Kind == KindKey && c.Key != nil:
		if !c.Key.validate() {
			return invalid("change %d: bad key", c.Seq)
		}
	case c.Kind == KindTicket && c.Ticket != nil:
		if !okID(c.Ticket.ID) || !okText(c.Ticket.Type) || !okText(c.Ticket.Holder) || len(c.Ticket.CodeSecret) > MaxCodeSecret {
			return invalid("change %d: bad ticket", c.Seq)
		}
	case c.Kind == KindRevoke && c.Revoke != nil:
		if !okID(c.Revoke.TicketID) || !okText(c.Revoke.Reason) {
			return invalid("change %d: bad revoke", c.Seq)
		}
	case c.Kind == KindUsed && c.Used != nil:
		if !c.Used.validate() || c.Used.Annulled {
			return invalid("change %d: bad used mark", c.Seq)
		}
	case c.Kind == KindAnnul && c.Annul != nil:
		a := c.Annul
		if !okID(a.TicketID) || !okID(a.Device) || !okText(a.Gate) || !okDirection(a.Direction) || !okText(a.Reason) {
			return invalid("change %d: bad annulment", c.Seq)
		}
	case c.Kind == KindVenue && c.Venue != nil:
		if err := c.Venue.validate(); err != nil {
			return fmt.Errorf("change %d: %w", c.Seq, err)
		}
	default:
		return invalid("change %d: kind %.16q does not match its body", c.Seq, c.Kind)
	}
	return nil
}

func (s *Snapshot) validate() error {
	if s == nil {
		return invalid("snapshot without body")
	}
	if !okID(s.Event) || s.Seq < 0 || len(s.After) > maxSnapshotKey || len(s.Last) > maxSnapshotKey ||
		len(s.Tickets) > MaxSnapshotRows || len(s.Used) > MaxSnapshotRows || len(s.Keys) > MaxCursors || len(s.Venue) > MaxSnapshotRows {
		return invalid("snapshot of %.32q: bad header or too many rows", s.Event)
	}
	if IsVenueScope(s.Event) {
		if _, ok := VenueEvent(s.Event); !ok {
			return invalid("snapshot of venue scope %.32q names no event", s.Event)
		}
		if s.Last != "" && s.Last < s.After {
			return invalid("snapshot of %q: last before after", s.Event)
		}
		if err := s.validateVenueSnapshot(); err != nil {
			return err
		}
		if sum := SnapshotChecksum(s); sum != s.Checksum {
			return invalid("snapshot of %q after %q: checksum %x, computed %x", s.Event, s.After, s.Checksum, sum)
		}
		return nil
	}
	if len(s.Venue) > 0 || len(s.After) > MaxIDLen || len(s.Last) > MaxIDLen {
		return invalid("snapshot of %.32q: venue rows or a long position in a ticket log", s.Event)
	}
	if s.After != "" && len(s.Keys) > 0 {
		return invalid("snapshot of %q: keys in a later chunk", s.Event)
	}
	for i := range s.Keys {
		if !s.Keys[i].validate() {
			return invalid("snapshot of %q: bad key", s.Event)
		}
	}
	prev := s.After
	for _, t := range s.Tickets {
		if !okID(t.ID) || t.ID <= prev || t.ID > s.Last || !okText(t.Type) || !okText(t.Holder) || len(t.CodeSecret) > MaxCodeSecret {
			return invalid("snapshot of %q: ticket %.32q out of order or bad", s.Event, t.ID)
		}
		prev = t.ID
	}
	if s.Last != "" && s.Last < s.After {
		return invalid("snapshot of %q: last before after", s.Event)
	}
	for i := range s.Used {
		u := &s.Used[i]
		if !u.validate() || u.TicketID <= s.After || u.TicketID > s.Last {
			return invalid("snapshot of %q: used mark out of range", s.Event)
		}
	}
	if sum := SnapshotChecksum(s); sum != s.Checksum {
		return invalid("snapshot of %q after %q: checksum %x, computed %x", s.Event, s.After, s.Checksum, sum)
	}
	return nil
}

func (s *Scans) validate() error {
	if s == nil {
		return invalid("scans without body")
	}
	if len(s.Scans) > MaxScansPerMessage {
		return invalid("%d scans in one message", len(s.Scans))
	}
	var prev int64
	for _, sc := range s.Scans {
		if sc.Seq <= prev {
			return invalid("scan seq %d not increasing", sc.Seq)
		}
		prev = sc.Seq
		if !okID(sc.Event) || (sc.Outcome != Admitted && sc.Outcome != Refused) {
			return invalid("scan %d: bad event or outcome", sc.Seq)
		}
		if len(sc.TicketID) > MaxIDLen || !okText(sc.Gate) || !okText(sc.Reason) || !okText(sc.Sentence) {
			return invalid("scan %d: field too long", sc.Seq)
		}
		if !okDirection(sc.Direction) {
			return invalid("scan %d: direction %.8q", sc.Seq, sc.Direction)
		}
		if len(sc.Staff) > MaxIDLen {
			return invalid("scan %d: staff name too long", sc.Seq)
		}
		if !sc.Annuls.IsZero() && (sc.TicketID == "" || sc.Outcome != Refused) {
			return invalid("scan %d: an annulment needs a ticket and is not an admission", sc.Seq)
		}
		if sc.Outcome == Admitted && sc.TicketID == "" {
			return invalid("scan %d: admitted without ticket", sc.Seq)
		}
	}
	return nil
}
