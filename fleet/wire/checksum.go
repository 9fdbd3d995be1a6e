package wire

import (
	"encoding/binary"
	"hash/crc64"
	"time"
)

// Checksums are CRC-64 (ECMA) over a canonical binary encoding of the
// replicated rows: length-prefixed strings, varint integers, times in Unix
// milliseconds. JSON is not canonical (field order, escaping, time
// precision), so both sides hash this encoding instead.
//
// The running checksum of an event's replica after change n is
// crc64.Update(running(n-1), canonical(change n)): the CRC of the whole log
// up to n. The fleet stores it with every change; the agent keeps it with
// its cursor and compares after every batch, so a replica that skipped,
// repeated or altered a change is detected, not assumed away.

var crcTable = crc64.MakeTable(crc64.ECMA)

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBytes(b []byte, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

func appendTime(b []byte, t time.Time) []byte {
	var ms int64
	if !t.IsZero() {
		ms = t.UnixMilli()
	}
	return binary.AppendVarint(b, ms)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

func (k *Key) appendCanonical(b []byte) []byte {
	b = appendString(b, k.ID)
	b = appendBytes(b, k.Public)
	return appendTime(b, k.RetiredAt)
}

// appendCanonical of a ticket: one without a rotating-code secret encodes
// as before protocol 3.
func (t *Ticket) appendCanonical(b []byte) []byte {
	b = appendString(b, t.ID)
	b = appendString(b, t.Type)
	b = appendString(b, t.Holder)
	if len(t.CodeSecret) > 0 {
		b = appendBytes(b, t.CodeSecret)
	}
	return b
}

func (r *Revoke) appendCanonical(b []byte) []byte {
	b = appendString(b, r.TicketID)
	return appendString(b, r.Reason)
}

// appendCanonical of a used mark: an entry encodes as it did before
// protocol 3 (logs written then keep their checksums); an exit appends its
// direction.
func (u *Used) appendCanonical(b []byte) []byte {
	b = appendString(b, u.TicketID)
	b = appendString(b, u.Device)
	b = appendString(b, u.Gate)
	b = appendTime(b, u.At)
	if u.Exit() {
		b = appendString(b, DirOut)
	}
	if u.Annulled {
		b = appendString(b, KindAnnul)
	}
	return b
}

func (a *Annul) appendCanonical(b []byte) []byte {
	b = appendString(b, a.TicketID)
	b = appendString(b, a.Device)
	b = appendString(b, a.Gate)
	b = appendTime(b, a.At)
	b = appendString(b, a.Direction)
	return appendString(b, a.Reason)
}

func (t *SnapTicket) appendCanonical(b []byte) []byte {
	b = appendString(b, t.ID)
	b = appendString(b, t.Type)
	b = appendString(b, t.Holder)
	b = appendBool(b, t.Revoked)
	if len(t.CodeSecret) > 0 {
		b = appendBytes(b, t.CodeSecret)
	}
	return b
}

// AppendCanonical appends the canonical encoding of c to b.
func (c *Change) AppendCanonical(b []byte) []byte {
	b = binary.AppendVarint(b, c.Seq)
	b = appendString(b, c.Kind)
	switch {
	case c.Key != nil:
		b = c.Key.appendCanonical(append(b, 'k'))
	case c.Ticket != nil:
		b = c.Ticket.appendCanonical(append(b, 't'))
	case c.Revoke != nil:
		b = c.Revoke.appendCanonical(append(b, 'r'))
	case c.Used != nil:
		b = c.Used.appendCanonical(append(b, 'u'))
	case c.Annul != nil:
		b = c.Annul.appendCanonical(append(b, 'a'))
	case c.Venue != nil:
		b = c.Venue.appendCanonical(append(b, 'v'))
	}
	return b
}

// Running returns the running checksum after applying c to a replica whose
// running checksum was prev.
func (c *Change) Running(prev uint64, scratch []byte) (uint64, []byte) {
	scratch = c.AppendCanonical(scratch[:0])
	return crc64.Update(prev, crcTable, scratch), scratch
}

// RunningChecksum folds changes into the running checksum prev.
func RunningChecksum(prev uint64, changes []Change) uint64 {
	var scratch []byte
	for i := range changes {
		prev, scratch = changes[i].Running(prev, scratch)
	}
	return prev
}

// BatchChecksum is the checksum a Batch carries: over its header (event,
// from, to, running) and its changes.
func BatchChecksum(b *Batch) uint64 {
	buf := appendString(nil, b.Event)
	buf = binary.AppendVarint(buf, b.From)
	buf = binary.AppendVarint(buf, b.To)
	buf = binary.AppendUvarint(buf, b.Running)
	sum := crc64.Update(0, crcTable, buf)
	for i := range b.Changes {
		buf = b.Changes[i].AppendCanonical(buf[:0])
		sum = crc64.Update(sum, crcTable, buf)
	}
	return sum
}

// SnapshotChecksum is the checksum a Snapshot chunk carries.
func SnapshotChecksum(s *Snapshot) uint64 {
	buf := appendString(nil, s.Event)
	buf = binary.AppendVarint(buf, s.Seq)
	buf = binary.AppendUvarint(buf, s.Running)
	buf = appendString(buf, s.After)
	buf = appendString(buf, s.Last)
	buf = appendBool(buf, s.Done)
	sum := crc64.Update(0, crcTable, buf)
	for i := range s.Keys {
		buf = s.Keys[i].appendCanonical(buf[:0])
		sum = crc64.Update(sum, crcTable, buf)
	}
	for i := range s.Tickets {
		buf = s.Tickets[i].appendCanonical(buf[:0])
		sum = crc64.Update(sum, crcTable, buf)
	}
	for i := range s.Used {
		buf = s.Used[i].appendCanonical(buf[:0])
		sum = crc64.Update(sum, crcTable, buf)
	}
	for i := range s.Venue { // none in a ticket log's chunk: its sum is as before
		buf = s.Venue[i].appendCanonical(buf[:0])
		sum = crc64.Update(sum, crcTable, buf)
	}
	return sum
}

// Seal fills in b.Checksum.
func (b *Batch) Seal() { b.Checksum = BatchChecksum(b) }

// Seal fills in s.Checksum.
func (s *Snapshot) Seal() { s.Checksum = SnapshotChecksum(s) }

// handledFields lists, for every struct of this package, the fields that
// Validate and the canonical encoder handle. TestEveryFieldHandled fails
// when a struct gains a field that is not listed here: whoever adds one
// must decide how it is validated and whether it is checksummed, then list
// it.
var handledFields = map[string][]string{
	"Message":          {"Type", "Challenge", "Hello", "Batch", "Snapshot", "Ack", "Scans", "ScanAck", "Config", "ConfigAck", "Revoked", "Error"},
	"Challenge":        {"Nonce", "Fleet", "ReplicaKey"},
	"Hello":            {"Protocol", "Device", "Firmware", "ConfigVersion", "Cursors", "Nonce", "Signature"},
	"Cursor":           {"Seq", "Running", "Snapshot"},
	"SnapshotProgress": {"Seq", "After"},
	"Change":           {"Seq", "Kind", "Key", "Ticket", "Revoke", "Used", "Annul", "Venue"},
	"Key":              {"ID", "Public", "RetiredAt"},
	"Ticket":           {"ID", "Type", "Holder", "CodeSecret"},
	"Revoke":           {"TicketID", "Reason"},
	"Used":             {"TicketID", "Device", "Gate", "At", "Direction", "Annulled"},
	"Annul":            {"TicketID", "Device", "Gate", "At", "Direction", "Reason"},
	"Batch":            {"Event", "From", "To", "Changes", "Checksum", "Running", "AsOf"},
	"SnapTicket":       {"ID", "Type", "Holder", "Revoked", "CodeSecret"},
	"Snapshot":         {"Event", "Seq", "Running", "After", "Last", "Keys", "Tickets", "Used", "Venue", "AsOf", "Done", "Checksum"},
	"Ack":              {"Event", "Cursor"},
	"Scan":             {"Seq", "Event", "TicketID", "Gate", "At", "Outcome", "Reason", "Sentence", "Direction", "Annuls", "Staff"},
	"Scans":            {"Scans"},
	"ScanAck":          {"UpTo", "Signature"},
	"Config":           {"Version", "Body", "Signature"},
	"ConfigAck":        {"Version", "Failed", "Error"},
	"Revoked":          {"Reason", "Signature"},
	"Error":            {"Code", "Message"},
	"EnrollRequest":    {"Token", "PublicKey"},
	"EnrollResponse":   {"Device", "Name", "Gate", "CAFingerprint", "ReplicaKey"},
	"EnrollURI":        {"Fleet", "Token", "CAFingerprint", "ReplicaKey"},
	// sign.go (protocol 5): a session's binding, and what an agent checks
	// its fleet's frames against.
	"Session": {"Device", "Nonce"},
	"Trust":   {"ReplicaKey", "Session"},
	// venue.go (protocol 5).
	"VenueRow":    {"Kind", "ID", "Data", "Deleted"},
	"VenueDevice": {"Name", "Gate", "PublicKey", "Revoked"},
	"VenueStaff":  {"Name", "PINHash", "Badge"},
	// issue 12 (protocol 5): the venue model, typed gate config.
	"VenueZone":       {"Name"},
	"VenueGate":       {"Name", "Zones"},
	"VenueTicketType": {"Name", "Zones", "Policy"},
	"VenueSettings":   {"AdmitOnSignature"},
	"VenueBadge":      {"UID", "Name", "Zones", "NotBefore", "NotAfter", "Policy"},
	"VenueJWTKey":     {"Kid", "Alg", "Public", "Issuer", "RetiredAt"},
	"GateConfig": {"Version", "Events", "Direction", "Zone", "Types", "ReaderSides", "Online", "PassageTimeout", "Debounce",
		"Formats", "Peers", "IdleText", "Buzzer"},
	"OnlineSettings": {"Enabled", "Timeout", "MaxFailures", "ProbeEvery", "ProbeSuccesses"},
	// decide.go (online decisions, owned by the agent side).
	"DecideRequest":  {"Device", "Gate", "Event", "TicketID", "Direction", "Policy", "At"},
	"DecideResponse": {"Admit", "Reason", "Sentence"},
}

// HandledFields returns the fields Validate and the canonical encoder
// declare they handle, by struct name.
func HandledFields() map[string][]string { return handledFields }
