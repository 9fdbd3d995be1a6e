package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"admit/fleet/wire"
)

func venueRow(t *testing.T, kind, id string, v any) wire.VenueRow {
	t.Helper()
	r, err := wire.NewVenueRow(kind, id, v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestVenueScopeNames: a venue scope's name is never an event id (event
// ids contain no '#') and maps back to its event.
func TestVenueScopeNames(t *testing.T) {
	s := wire.VenueScope("gala")
	if !strings.HasPrefix(s, "#") || !wire.IsVenueScope(s) {
		t.Fatalf("VenueScope(gala) = %q", s)
	}
	if ev, ok := wire.VenueEvent(s); !ok || ev != "gala" {
		t.Fatalf("VenueEvent(%q) = %q, %v", s, ev, ok)
	}
	for _, notScope := range []string{"gala", "", wire.VenuePrefix} {
		if _, ok := wire.VenueEvent(notScope); ok {
			t.Errorf("VenueEvent(%q) is a scope", notScope)
		}
	}
}

// venueBatch is a valid batch of gala's venue scope.
func venueBatch(t *testing.T) *wire.Batch {
	dev := venueRow(t, wire.VenueKindDevice, "gate-1", wire.VenueDevice{Name: "Gate A", Gate: "Gate A", PublicKey: make([]byte, 32)})
	staff := venueRow(t, wire.VenueKindStaff, "ada", wire.VenueStaff{Name: "Ada", PINHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$dGFn", Badge: wire.BadgeLookup([]byte{4, 1, 2, 3})})
	return sealed(wire.Batch{Event: wire.VenueScope("gala"), From: 0, To: 4, Changes: []wire.Change{
		{Seq: 1, Kind: wire.KindVenue, Venue: &dev},
		{Seq: 2, Kind: wire.KindVenue, Venue: &staff},
		{Seq: 3, Kind: wire.KindVenue, Venue: &wire.VenueRow{Kind: "future_kind", ID: "floor", Data: []byte(`{"name":"Floor"}`)}}, // a kind of a newer fleet
		{Seq: 4, Kind: wire.KindVenue, Venue: &wire.VenueRow{Kind: wire.VenueKindStaff, ID: "bob", Deleted: true}},
	}})
}

// TestVenueBatch: a venue scope's batch decodes alike from JSON and binary,
// its rows parse into their kinds' types, and venue changes stay out of
// ticket logs (and ticket changes out of venue scopes).
func TestVenueBatch(t *testing.T) {
	b := venueBatch(t)
	js, _ := json.Marshal(&wire.Message{Type: wire.TypeBatch, Batch: b})
	fromJSON, err := wire.Decode(js)
	if err != nil {
		t.Fatal(err)
	}
	fromBinary, err := wire.Decode(wire.MarshalBatch(b))
	if err != nil {
		t.Fatal(err)
	}
	x, _ := json.Marshal(fromJSON)
	y, _ := json.Marshal(fromBinary)
	if !bytes.Equal(x, y) {
		t.Fatalf("JSON and binary decode differently:\n%s\n%s", x, y)
	}
	d, err := fromBinary.Batch.Changes[0].Venue.Device()
	if err != nil || d.Gate != "Gate A" || len(d.PublicKey) != 32 {
		t.Fatalf("device row: %+v, %v", d, err)
	}
	s, err := fromBinary.Batch.Changes[1].Venue.Staff()
	if err != nil || s.Name != "Ada" || s.Badge != wire.BadgeLookup([]byte{4, 1, 2, 3}) {
		t.Fatalf("staff row: %+v, %v", s, err)
	}

	// A venue change in the ticket log, a ticket change in a venue scope.
	row := b.Changes[0].Venue
	for name, bad := range map[string]*wire.Batch{
		"venue in ticket log": sealed(wire.Batch{Event: "gala", From: 0, To: 1, Changes: []wire.Change{{Seq: 1, Kind: wire.KindVenue, Venue: row}}}),
		"ticket in venue scope": sealed(wire.Batch{Event: wire.VenueScope("gala"), From: 0, To: 1, Changes: []wire.Change{
			{Seq: 1, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T1", Type: "GA"}}}}),
		"scope without event": sealed(wire.Batch{Event: wire.VenuePrefix, From: 0, To: 1, Changes: []wire.Change{{Seq: 1, Kind: wire.KindVenue, Venue: row}}}),
		"device without key": sealed(wire.Batch{Event: wire.VenueScope("gala"), From: 0, To: 1, Changes: []wire.Change{
			{Seq: 1, Kind: wire.KindVenue, Venue: &wire.VenueRow{Kind: wire.VenueKindDevice, ID: "g", Data: []byte(`{"name":"x"}`)}}}}),
		"deleted with data": sealed(wire.Batch{Event: wire.VenueScope("gala"), From: 0, To: 1, Changes: []wire.Change{
			{Seq: 1, Kind: wire.KindVenue, Venue: &wire.VenueRow{Kind: "zone", ID: "g", Data: []byte(`{}`), Deleted: true}}}}),
		"kind not a name": sealed(wire.Batch{Event: wire.VenueScope("gala"), From: 0, To: 1, Changes: []wire.Change{
			{Seq: 1, Kind: wire.KindVenue, Venue: &wire.VenueRow{Kind: "Zone/1", ID: "g", Data: []byte(`{}`)}}}}),
		"data not an object": sealed(wire.Batch{Event: wire.VenueScope("gala"), From: 0, To: 1, Changes: []wire.Change{
			{Seq: 1, Kind: wire.KindVenue, Venue: &wire.VenueRow{Kind: "zone", ID: "g", Data: []byte(`[1]`)}}}}),
	} {
		js, _ := json.Marshal(&wire.Message{Type: wire.TypeBatch, Batch: bad})
		if _, err := wire.Decode(js); !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("%s (JSON): %v, want ErrInvalid", name, err)
		}
		if _, err := wire.Decode(wire.MarshalBatch(bad)); !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("%s (binary): %v, want ErrInvalid", name, err)
		}
	}

	// The row is checksummed: a changed PIN hash does not pass.
	tampered := wire.MarshalBatch(b)
	i := bytes.Index(tampered, []byte("argon2id"))
	tampered[i] = 'A'
	if _, err := wire.Decode(tampered); !errors.Is(err, wire.ErrInvalid) {
		t.Fatalf("tampered venue row: %v, want ErrInvalid", err)
	}
}

func venueSnapshot(t *testing.T) *wire.Snapshot {
	dev := venueRow(t, wire.VenueKindDevice, "gate-1", wire.VenueDevice{Gate: "Gate A", PublicKey: make([]byte, 32)})
	old := venueRow(t, wire.VenueKindDevice, "gate-2", wire.VenueDevice{Gate: "Gate B", Revoked: true})
	staff := venueRow(t, wire.VenueKindStaff, "ada", wire.VenueStaff{PINHash: "$argon2id$x"})
	s := &wire.Snapshot{Event: wire.VenueScope("gala"), Seq: 9, Running: 7, After: "", Last: staff.Key(),
		Tickets: []wire.SnapTicket{}, Venue: []wire.VenueRow{dev, old, staff}, Done: true}
	s.Seal()
	return s
}

// TestVenueSnapshot: a venue scope's chunk decodes alike from JSON and
// binary; rows must be in key order within the chunk, none deleted, and
// nothing of a ticket log may ride along.
func TestVenueSnapshot(t *testing.T) {
	s := venueSnapshot(t)
	js, _ := json.Marshal(&wire.Message{Type: wire.TypeSnapshot, Snapshot: s})
	fromJSON, err := wire.Decode(js)
	if err != nil {
		t.Fatal(err)
	}
	frame := wire.MarshalSnapshot(s)
	fromBinary, err := wire.Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := json.Marshal(fromJSON)
	y, _ := json.Marshal(fromBinary)
	if !bytes.Equal(x, y) {
		t.Fatalf("JSON and binary decode differently:\n%s\n%s", x, y)
	}
	for cut := 1; cut < len(frame); cut++ {
		if _, err := wire.Decode(frame[:cut]); !errors.Is(err, wire.ErrInvalid) {
			t.Fatalf("frame cut at %d of %d: %v, want ErrInvalid", cut, len(frame), err)
		}
	}
	bad := func(name string, edit func(s *wire.Snapshot)) {
		c := *venueSnapshot(t)
		c.Venue = append([]wire.VenueRow(nil), c.Venue...)
		edit(&c)
		c.Seal()
		if _, err := wire.Decode(wire.MarshalSnapshot(&c)); !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	bad("out of order", func(s *wire.Snapshot) { s.Venue[0], s.Venue[1] = s.Venue[1], s.Venue[0] })
	bad("after last", func(s *wire.Snapshot) { s.Last = "device/gate-1" })
	bad("deleted row", func(s *wire.Snapshot) {
		s.Venue[2] = wire.VenueRow{Kind: wire.VenueKindStaff, ID: "ada", Deleted: true}
	})
	bad("a ticket too", func(s *wire.Snapshot) { s.Tickets = []wire.SnapTicket{{ID: "T1", Type: "GA"}} })
	bad("venue rows in a ticket log", func(s *wire.Snapshot) { s.Event = "gala" })
}

// TestTicketFramesUnchanged: a ticket log's snapshot chunk and batch carry
// no trace of venue data: a protocol-4 agent parses them as before (no
// venue section, no unknown body bit), and their checksums are as before.
func TestTicketFramesUnchanged(t *testing.T) {
	s := snapshotChunk()
	frame := wire.MarshalSnapshot(s)
	before := s.Checksum
	s.Seal()
	if s.Checksum != before {
		t.Fatal("a ticket chunk's checksum changed")
	}
	// The last bytes of a ticket chunk are its last used mark's: the
	// annulled flag (1) of T3's exit.
	if frame[len(frame)-1] != 1 {
		t.Fatalf("ticket chunk ends with %x: a section was appended", frame[len(frame)-1])
	}
	// A frame with an empty venue section is not canonical.
	if _, err := wire.Decode(append(bytes.Clone(frame), 0)); !errors.Is(err, wire.ErrInvalid) {
		t.Fatalf("empty venue section: %v, want ErrInvalid", err)
	}
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	b := sealed(wire.Batch{Event: "gala", From: 0, To: 1, Changes: []wire.Change{
		{Seq: 1, Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T1", Device: "d", Gate: "A", At: at}}}})
	if bytes.Contains(wire.MarshalBatch(b), []byte(wire.KindVenue)) {
		t.Fatal("a ticket batch mentions venue")
	}
}

// TestStaffSecret: a badge's UID is bound into the hashed secret.
func TestStaffSecret(t *testing.T) {
	if string(wire.StaffSecret(nil, "1234")) != "1234" {
		t.Fatal("a PIN alone is the PIN")
	}
	if bytes.Equal(wire.StaffSecret([]byte{1}, "1234"), wire.StaffSecret([]byte{2}, "1234")) {
		t.Fatal("the badge is not bound")
	}
	if wire.BadgeLookup([]byte{1}) == wire.BadgeLookup([]byte{2}) || len(wire.BadgeLookup(nil)) != 64 {
		t.Fatal("badge lookup")
	}
}

// TestVenueFramesSigned: at protocol 5 a venue scope's batch and chunk are
// signed like every other: the venue body of a batch and the venue
// section of a chunk are inside what the signature covers (a changed PIN
// hash or a dropped staff row is refused even with checksums recomputed),
// and a venue chunk is bound to its device and session like a ticket log's.
func TestVenueFramesSigned(t *testing.T) {
	b := venueBatch(t)
	batch := wire.SignBatchFrame(replicaKey, wire.MarshalBatch(b))
	m, err := trust(sessionA).Decode(batch)
	if err != nil || m.Batch == nil || m.Batch.Changes[1].Venue == nil || m.Batch.Changes[1].Venue.ID != "ada" {
		t.Fatalf("signed venue batch: %+v %v", m, err)
	}
	forged := *b
	forged.Changes = append([]wire.Change(nil), b.Changes...)
	evil := venueRow(t, wire.VenueKindStaff, "ada", wire.VenueStaff{Name: "Ada", PINHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$ZXZl"})
	forged.Changes[1] = wire.Change{Seq: 2, Kind: wire.KindVenue, Venue: &evil}
	forged.Running = wire.RunningChecksum(0, forged.Changes)
	forged.Seal()
	sig := batch[1 : 1+64]
	refusedVenue := func(name string, tr *wire.Trust, data []byte) {
		t.Helper()
		if _, err := tr.Decode(data); !errors.Is(err, wire.ErrUnsigned) {
			t.Errorf("%s: %v, want ErrUnsigned", name, err)
		}
	}
	refusedVenue("venue batch with another PIN hash under the genuine signature", trust(sessionA),
		append(append([]byte{batch[0]}, sig...), wire.MarshalBatch(&forged)...))

	s := venueSnapshot(t)
	chunk := wire.SignSnapshotFrame(replicaKey, sessionA, wire.MarshalSnapshot(s))
	if m, err := trust(sessionA).Decode(chunk); err != nil || m.Snapshot == nil || len(m.Snapshot.Venue) != 3 {
		t.Fatalf("signed venue chunk: %+v %v", m, err)
	}
	refusedVenue("venue chunk of another device", trust(sessionB), chunk)
	refusedVenue("venue chunk of another session of the device", trust(wire.Session{Device: sessionA.Device, Nonce: sessionB.Nonce}), chunk)
	refusedVenue("unsigned venue chunk", trust(sessionA), wire.MarshalSnapshot(s))
	// The staff row dropped from the section, checksum recomputed.
	short := *s
	short.Venue = s.Venue[:2]
	short.Last = s.Venue[1].Key()
	short.Seal()
	refusedVenue("venue chunk without its staff row under the genuine signature", trust(sessionA),
		append(append([]byte{chunk[0]}, chunk[1:1+64]...), wire.MarshalSnapshot(&short)...))
}
