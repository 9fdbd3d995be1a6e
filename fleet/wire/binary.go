package wire

import (
	"encoding/binary"
	"math"
	"time"
	"unicode/utf8"
)

// Binary frames (protocol 4). A Batch is the frame the fleet sends most:
// one per change to every connected gate of the event; a Snapshot chunk is
// the biggest (20,000 tickets). JSON costs a gate more to decode than the
// rest of applying a small batch, and a second of CPU per million
// snapshot tickets, so both travel as WebSocket binary messages in a
// compact encoding; every other message stays JSON. Decode tells them
// apart by the first byte: a JSON frame starts with '{' (or white space),
// a binary one with frameBatch or frameSnapshot.
//
// Layout (varint and uvarint as in encoding/binary; str and bytes are a
// uvarint length then the bytes; time is 0 for the zero time, else 1, a
// varint of Unix seconds and a uvarint of nanoseconds):
//
//	frameBatch
//	event str, from varint, to varint
//	checksum, running: 8 bytes each, little endian
//	count uvarint, then per change:
//	  seq varint (minus the previous change's seq, From for the first)
//	  kind str
//	  bodies byte: bit 0 key, 1 ticket, 2 revoke, 3 used, 4 annul,
//	  5 venue (protocol 5, venue scopes only);
//	  then each present body in that order:
//	    key:    id str, public bytes, retired_at time
//	    ticket: id str, type str, holder str, code_secret bytes
//	    revoke: ticket_id str, reason str
//	    used:   ticket_id str, device str, gate str, at time, direction str, annulled byte
//	    annul:  ticket_id str, device str, gate str, at time, direction str, reason str
//	    venue:  kind str, id str, data bytes, deleted byte
//	then, in a protocol-5 frame only, trailing sections (absent, not
//	empty, when there is nothing to say: a protocol-4 agent's frames are
//	as before), each a tag byte then its body, in this order:
//	  'a' as_of time (never the zero time)
//
// Strings must be UTF-8, as in JSON. The decoder only parses; Decode then
// validates the batch (bounds, order, checksum) exactly as it validates a
// JSON one.
const frameBatch = 0x01

// frameSnapshot starts a binary snapshot chunk (protocol 4):
//
//	frameSnapshot
//	event str, seq varint, running 8 bytes, after str, last str,
//	done byte, checksum 8 bytes
//	keys uvarint, then per key: id str, public bytes, retired_at time
//	tickets uvarint, then per ticket: id str, type str, holder str,
//	  revoked byte, code_secret bytes
//	used uvarint, then per mark: ticket_id str, device str, gate str,
//	  at time, direction str, annulled byte
//	then, at protocol 5 only, trailing sections (absent, not empty, when
//	  there is nothing to say, so the chunk a protocol-4 agent gets is
//	  the protocol-4 frame), each a tag byte then its body, in this order:
//	  'v' venue rows (a venue scope's chunk): uvarint, at least 1, then
//	      per row: kind str, id str, data bytes, deleted byte
//	  'a' as_of time (never the zero time)
const frameSnapshot = 0x02

// Tags of the trailing sections of a frame (protocol 5).
const (
	sectionVenue = 'v'
	sectionAsOf  = 'a'
)

// MarshalSnapshot returns s as a binary frame (a WebSocket binary message).
func MarshalSnapshot(s *Snapshot) []byte {
	out := make([]byte, 0, 64+len(s.Event)+48*len(s.Tickets)+64*len(s.Used))
	out = append(out, frameSnapshot)
	out = appendString(out, s.Event)
	out = binary.AppendVarint(out, s.Seq)
	out = binary.LittleEndian.AppendUint64(out, s.Running)
	out = appendString(out, s.After)
	out = appendString(out, s.Last)
	out = appendBool(out, s.Done)
	out = binary.LittleEndian.AppendUint64(out, s.Checksum)
	out = binary.AppendUvarint(out, uint64(len(s.Keys)))
	for i := range s.Keys {
		k := &s.Keys[i]
		out = appendString(out, k.ID)
		out = appendBytes(out, k.Public)
		out = appendFrameTime(out, k.RetiredAt)
	}
	out = binary.AppendUvarint(out, uint64(len(s.Tickets)))
	for i := range s.Tickets {
		t := &s.Tickets[i]
		out = appendString(out, t.ID)
		out = appendString(out, t.Type)
		out = appendString(out, t.Holder)
		out = appendBool(out, t.Revoked)
		out = appendBytes(out, t.CodeSecret)
	}
	out = binary.AppendUvarint(out, uint64(len(s.Used)))
	for i := range s.Used {
		out = appendFrameUsed(out, &s.Used[i])
	}
	if len(s.Venue) > 0 {
		out = append(out, sectionVenue)
		out = binary.AppendUvarint(out, uint64(len(s.Venue)))
		for i := range s.Venue {
			out = appendFrameVenue(out, &s.Venue[i])
		}
	}
	if !s.AsOf.IsZero() {
		out = appendFrameTime(append(out, sectionAsOf), s.AsOf)
	}
	return out
}

func appendFrameUsed(out []byte, u *Used) []byte {
	out = appendString(out, u.TicketID)
	out = appendString(out, u.Device)
	out = appendString(out, u.Gate)
	out = appendFrameTime(out, u.At)
	out = appendString(out, u.Direction)
	return appendBool(out, u.Annulled)
}

// MarshalBatch returns b as a binary frame (a WebSocket binary message).
func MarshalBatch(b *Batch) []byte {
	out := make([]byte, 0, 64+len(b.Event)+64*len(b.Changes))
	out = append(out, frameBatch)
	out = appendString(out, b.Event)
	out = binary.AppendVarint(out, b.From)
	out = binary.AppendVarint(out, b.To)
	out = binary.LittleEndian.AppendUint64(out, b.Checksum)
	out = binary.LittleEndian.AppendUint64(out, b.Running)
	out = binary.AppendUvarint(out, uint64(len(b.Changes)))
	prev := b.From
	for i := range b.Changes {
		c := &b.Changes[i]
		out = binary.AppendVarint(out, c.Seq-prev)
		prev = c.Seq
		out = appendString(out, c.Kind)
		var bodies byte
		for bit, present := range [...]bool{c.Key != nil, c.Ticket != nil, c.Revoke != nil, c.Used != nil, c.Annul != nil, c.Venue != nil} {
			if present {
				bodies |= 1 << bit
			}
		}
		out = append(out, bodies)
		if k := c.Key; k != nil {
			out = appendString(out, k.ID)
			out = appendBytes(out, k.Public)
			out = appendFrameTime(out, k.RetiredAt)
		}
		if t := c.Ticket; t != nil {
			out = appendString(out, t.ID)
			out = appendString(out, t.Type)
			out = appendString(out, t.Holder)
			out = appendBytes(out, t.CodeSecret)
		}
		if r := c.Revoke; r != nil {
			out = appendString(out, r.TicketID)
			out = appendString(out, r.Reason)
		}
		if u := c.Used; u != nil {
			out = appendFrameUsed(out, u)
		}
		if a := c.Annul; a != nil {
			out = appendString(out, a.TicketID)
			out = appendString(out, a.Device)
			out = appendString(out, a.Gate)
			out = appendFrameTime(out, a.At)
			out = appendString(out, a.Direction)
			out = appendString(out, a.Reason)
		}
		if v := c.Venue; v != nil {
			out = appendFrameVenue(out, v)
		}
	}
	if !b.AsOf.IsZero() {
		out = appendFrameTime(append(out, sectionAsOf), b.AsOf)
	}
	return out
}

func appendFrameTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, 0)
	}
	b = append(b, 1)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// frameReader parses a binary frame. Strings are slices of one string
// holding the whole frame (one allocation per frame, not one per field).
type frameReader struct {
	s   string
	off int
	bad bool
}

func (r *frameReader) byte() byte {
	if r.off >= len(r.s) {
		r.bad = true
		return 0
	}
	c := r.s[r.off]
	r.off++
	return c
}

func (r *frameReader) uvarint() uint64 {
	var x uint64
	for shift := 0; shift < 70; shift += 7 {
		c := r.byte()
		if r.bad {
			return 0
		}
		if shift == 63 && c > 1 {
			r.bad = true // overflows 64 bits
			return 0
		}
		x |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return x
		}
	}
	r.bad = true
	return 0
}

func (r *frameReader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *frameReader) uint64() uint64 {
	if len(r.s)-r.off < 8 {
		r.bad = true
		return 0
	}
	v := uint64(r.s[r.off]) | uint64(r.s[r.off+1])<<8 | uint64(r.s[r.off+2])<<16 | uint64(r.s[r.off+3])<<24 |
		uint64(r.s[r.off+4])<<32 | uint64(r.s[r.off+5])<<40 | uint64(r.s[r.off+6])<<48 | uint64(r.s[r.off+7])<<56
	r.off += 8
	return v
}

func (r *frameReader) str() string {
	s := r.raw()
	if !utf8.ValidString(s) {
		r.bad = true // JSON could not carry it either
		return ""
	}
	return s
}

// raw returns a length-prefixed run of bytes, as a slice of the frame.
func (r *frameReader) raw() string {
	n := r.uvarint()
	if r.bad || n > uint64(len(r.s)-r.off) {
		r.bad = true
		return ""
	}
	s := r.s[r.off : r.off+int(n)]
	r.off += int(n)
	return s
}

// kind returns the change kind, the package's constant for known kinds.
func (r *frameReader) kind() string {
	switch k := r.str(); k {
	case KindKey:
		return KindKey
	case KindTicket:
		return KindTicket
	case KindRevoke:
		return KindRevoke
	case KindUsed:
		return KindUsed
	case KindAnnul:
		return KindAnnul
	case KindVenue:
		return KindVenue
	default:
		return k
	}
}

func (r *frameReader) direction() string {
	switch d := r.str(); d {
	case DirIn:
		return DirIn
	case DirOut:
		return DirOut
	default:
		return d
	}
}

// bytes returns a copy (byte slices are mutable; the frame's string is not).
func (r *frameReader) bytes() []byte {
	s := r.raw()
	if s == "" {
		return nil
	}
	return []byte(s)
}

func (r *frameReader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.bad = true
	return false
}

func (r *frameReader) time() time.Time {
	switch r.byte() {
	case 0:
		return time.Time{}
	case 1:
	default:
		r.bad = true
		return time.Time{}
	}
	sec, nsec := r.varint(), r.uvarint()
	if nsec >= 1e9 || sec < math.MinInt64/2 || sec > math.MaxInt64/2 {
		r.bad = true
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// minChangeBytes is the fewest bytes a change takes (seq, kind, bodies),
// which bounds the count a frame may claim before anything is allocated.
const minChangeBytes = 3

// decodeBatchFrame parses a binary batch frame (without validating it).
func decodeBatchFrame(data []byte) (*Batch, error) {
	r := frameReader{s: string(data), off: 1}
	b := &Batch{Event: r.str(), From: r.varint(), To: r.varint()}
	b.Checksum, b.Running = r.uint64(), r.uint64()
	n := r.uvarint()
	if r.bad {
		return nil, invalid("binary batch: truncated header")
	}
	if n > MaxChangesPerBatch || n > uint64(len(r.s)-r.off)/minChangeBytes {
		return nil, invalid("binary batch: %d changes", n)
	}
	b.Changes = make([]Change, n)
	// One allocation per body kind for the whole batch.
	var keys []Key
	var tickets []Ticket
	var revokes []Revoke
	var used []Used
	var annuls []Annul
	var venue []VenueRow
	prev := b.From
	for i := range b.Changes {
		c := &b.Changes[i]
		c.Seq = prev + r.varint()
		prev = c.Seq
		c.Kind = r.kind()
		bodies := r.byte()
		if r.bad || bodies >= 1<<6 {
			return nil, invalid("binary batch: change %d: bad header", i)
		}
		if bodies&1 != 0 {
			if keys == nil {
				keys = make([]Key, 0, n-uint64(i))
			}
			keys = append(keys, Key{ID: r.str(), Public: r.bytes(), RetiredAt: r.time()})
			c.Key = &keys[len(keys)-1]
		}
		if bodies&2 != 0 {
			if tickets == nil {
				tickets = make([]Ticket, 0, n-uint64(i))
			}
			tickets = append(tickets, Ticket{ID: r.str(), Type: r.str(), Holder: r.str(), CodeSecret: r.bytes()})
			c.Ticket = &tickets[len(tickets)-1]
		}
		if bodies&4 != 0 {
			if revokes == nil {
				revokes = make([]Revoke, 0, n-uint64(i))
			}
			revokes = append(revokes, Revoke{TicketID: r.str(), Reason: r.str()})
			c.Revoke = &revokes[len(revokes)-1]
		}
		if bodies&8 != 0 {
			if used == nil {
				used = make([]Used, 0, n-uint64(i))
			}
			used = append(used, r.used())
			c.Used = &used[len(used)-1]
		}
		if bodies&16 != 0 {
			if annuls == nil {
				annuls = make([]Annul, 0, n-uint64(i))
			}
			annuls = append(annuls, Annul{TicketID: r.str(), Device: r.str(), Gate: r.str(), At: r.time(), Direction: r.direction(), Reason: r.str()})
			c.Annul = &annuls[len(annuls)-1]
		}
		if bodies&32 != 0 {
			if venue == nil {
				venue = make([]VenueRow, 0, n-uint64(i))
			}
			venue = append(venue, r.venue())
			c.Venue = &venue[len(venue)-1]
		}
		if r.bad {
			return nil, invalid("binary batch: change %d truncated or bad", i)
		}
	}
	if r.off < len(r.s) && r.s[r.off] == sectionAsOf {
		r.off++
		if b.AsOf = r.time(); r.bad || b.AsOf.IsZero() {
			return nil, invalid("binary batch: bad as-of section")
		}
	}
	if r.off != len(r.s) {
		return nil, invalid("binary batch: %d trailing bytes", len(r.s)-r.off)
	}
	return b, nil
}

func (r *frameReader) used() Used {
	return Used{TicketID: r.str(), Device: r.str(), Gate: r.str(), At: r.time(), Direction: r.direction(), Annulled: r.bool()}
}

// count reads a row count, bounded by max and by the bytes left (each row
// takes at least minBytes), so a frame cannot make the decoder allocate
// more than its own size warrants.
func (r *frameReader) count(max, minBytes int) (int, bool) {
	n := r.uvarint()
	if r.bad || n > uint64(max) || n > uint64(len(r.s)-r.off)/uint64(minBytes) {
		r.bad = true
		return 0, false
	}
	return int(n), true
}

// decodeSnapshotFrame parses a binary snapshot chunk (without validating
// it).
func decodeSnapshotFrame(data []byte) (*Snapshot, error) {
	r := frameReader{s: string(data), off: 1}
	s := &Snapshot{Event: r.str(), Seq: r.varint(), Running: r.uint64(), After: r.str(), Last: r.str(), Done: r.bool(), Checksum: r.uint64()}
	n, ok := r.count(MaxCursors, 3)
	if !ok {
		return nil, invalid("binary snapshot: bad header or key count")
	}
	if n > 0 {
		s.Keys = make([]Key, n)
		for i := range s.Keys {
			s.Keys[i] = Key{ID: r.str(), Public: r.bytes(), RetiredAt: r.time()}
		}
	}
	if n, ok = r.count(MaxSnapshotRows, 5); !ok {
		return nil, invalid("binary snapshot: bad keys or ticket count")
	}
	s.Tickets = make([]SnapTicket, n)
	for i := range s.Tickets {
		s.Tickets[i] = SnapTicket{ID: r.str(), Type: r.str(), Holder: r.str(), Revoked: r.bool(), CodeSecret: r.bytes()}
	}
	if n, ok = r.count(MaxSnapshotRows, 6); !ok {
		return nil, invalid("binary snapshot: bad tickets or used count")
	}
	if n > 0 {
		s.Used = make([]Used, n)
		for i := range s.Used {
			s.Used[i] = r.used()
		}
	}
	if r.bad {
		return nil, invalid("binary snapshot: truncated or bad used marks")
	}
	if r.off < len(r.s) && r.s[r.off] == sectionVenue { // a venue scope's rows (protocol 5)
		r.off++
		if n, ok = r.count(MaxSnapshotRows, 4); !ok || n == 0 {
			return nil, invalid("binary snapshot: bad venue row count")
		}
		s.Venue = make([]VenueRow, n)
		for i := range s.Venue {
			s.Venue[i] = r.venue()
		}
		if r.bad {
			return nil, invalid("binary snapshot: truncated or bad venue rows")
		}
	}
	if r.off < len(r.s) && r.s[r.off] == sectionAsOf {
		r.off++
		if s.AsOf = r.time(); r.bad || s.AsOf.IsZero() {
			return nil, invalid("binary snapshot: bad as-of section")
		}
	}
	if r.off != len(r.s) {
		return nil, invalid("binary snapshot: %d trailing bytes", len(r.s)-r.off)
	}
	return s, nil
}
