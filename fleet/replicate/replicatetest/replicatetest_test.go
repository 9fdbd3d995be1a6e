package replicatetest

import (
	"strings"
	"testing"
	"time"

	"admit/fleet/wire"
)

// batch returns a sealed batch of changes after seq from, with the running
// checksum they give after prev.
func batch(from int64, prev uint64, changes ...wire.Change) *wire.Batch {
	for i := range changes {
		changes[i].Seq = from + int64(i) + 1
	}
	b := &wire.Batch{Event: "gala", From: from, To: from + int64(len(changes)), Changes: changes, Running: wire.RunningChecksum(prev, changes)}
	b.Seal()
	return b
}

func ticketChange(id string) wire.Change {
	return wire.Change{Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: id, Type: "GA"}}
}

// TestBatchesChecked: a batch that follows the replica's cursor with the
// right checksums applies; one whose checksum, start or running checksum
// is wrong is refused and changes nothing.
func TestBatchesChecked(t *testing.T) {
	r := NewReplica("gala")
	first := batch(0, 0, ticketChange("A"), ticketChange("B"))
	if err := r.applyBatch(first); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)
	next := func() *wire.Batch {
		return batch(2, first.Running,
			wire.Change{Kind: wire.KindRevoke, Revoke: &wire.Revoke{TicketID: "A"}},
			wire.Change{Kind: wire.KindUsed, Used: &wire.Used{TicketID: "B", Device: "g1", Gate: "Gate 1", At: at}},
			wire.Change{Kind: wire.KindAnnul, Annul: &wire.Annul{TicketID: "B", Device: "g1", Gate: "Gate 1", At: at}})
	}
	for _, tc := range []struct {
		name   string
		mangle func(b *wire.Batch)
		want   string
	}{
		{"checksum", func(b *wire.Batch) { b.Checksum ^= 1 }, "checksum"},
		{"a gap", func(b *wire.Batch) { *b = *batch(3, first.Running, ticketChange("C")) }, "the replica is at 2"},
		{"a repeat", func(b *wire.Batch) { *b = *first }, "the replica is at 2"},
		{"running checksum", func(b *wire.Batch) { b.Running ^= 1; b.Seal() }, "running checksum"},
	} {
		b := next()
		tc.mangle(b)
		if err := r.applyBatch(b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error about %q", tc.name, err, tc.want)
		}
	}
	if c := r.Cursor("gala"); c.Seq != 2 || c.Running != first.Running {
		t.Fatalf("refused batches moved the cursor: %+v", c)
	}
	if err := r.applyBatch(next()); err != nil {
		t.Fatal(err)
	}
	if a, _ := r.Ticket("gala", "A"); !a.Revoked {
		t.Fatalf("ticket A after its revocation: %+v", a)
	}
	if ms := r.Marks("gala", "B"); len(ms) != 1 || !ms[0].Annulled || ms[0].Gate != "Gate 1" {
		t.Fatalf("marks of B: %+v", ms)
	}
}

// snapshot returns a sealed snapshot chunk.
func snapshot(after, last string, done bool, ids ...string) *wire.Snapshot {
	s := &wire.Snapshot{Event: "gala", Seq: 9, Running: 99, After: after, Last: last, Done: done}
	for _, id := range ids {
		s.Tickets = append(s.Tickets, wire.SnapTicket{ID: id, Type: "GA"})
	}
	if after == "" {
		s.Keys = []wire.Key{{ID: "k1", Public: make([]byte, 32)}}
	}
	s.Seal()
	return s
}

// TestSnapshotChecked: chunks apply in order and the last one replaces the
// replica; a chunk that does not continue where the replica stands, or
// whose tickets are out of order, is refused; the cursor reports the
// snapshot in progress, for the hello to resume it.
func TestSnapshotChecked(t *testing.T) {
	r := NewReplica("gala")
	if err := r.applyBatch(batch(0, 0, ticketChange("OLD"))); err != nil {
		t.Fatal(err)
	}
	if err := r.applySnapshot(snapshot("", "B", false, "A", "B")); err != nil {
		t.Fatal(err)
	}
	if c := r.Cursor("gala"); c.Seq != 1 || c.Snapshot == nil || *c.Snapshot != (wire.SnapshotProgress{Seq: 9, After: "B"}) {
		t.Fatalf("cursor during the snapshot: %+v", c)
	}
	bad := snapshot("B", "D", true, "C", "D")
	bad.Running = 98
	bad.Seal()
	for name, s := range map[string]*wire.Snapshot{
		"skips a chunk":        snapshot("C", "D", true, "D"),
		"tickets out of order": snapshot("B", "D", true, "D", "C"),
		"another running":      bad,
		"checksum":             func() *wire.Snapshot { s := snapshot("B", "D", true, "C", "D"); s.Checksum ^= 1; return s }(),
		"keys after the first": func() *wire.Snapshot {
			s := snapshot("B", "D", true, "C", "D")
			s.Keys = []wire.Key{{ID: "k2"}}
			s.Seal()
			return s
		}(),
		"a ticket past its chunk": snapshot("B", "C", true, "C", "D"),
	} {
		if err := r.applySnapshot(s); err == nil {
			t.Errorf("%s: applied", name)
		}
	}
	if err := r.applyBatch(batch(1, 0, ticketChange("X"))); err == nil {
		t.Error("a batch in the middle of a snapshot: applied")
	}
	if err := r.applySnapshot(snapshot("B", "D", true, "C", "D")); err != nil {
		t.Fatal(err)
	}
	if c := r.Cursor("gala"); c != (wire.Cursor{Seq: 9, Running: 99}) {
		t.Fatalf("cursor after the snapshot: %+v", c)
	}
	if _, ok := r.Ticket("gala", "OLD"); ok || r.Tickets("gala") != 4 || len(r.Keys("gala")) != 1 {
		t.Fatalf("replica after the snapshot: %d tickets, OLD kept %v, keys %v", r.Tickets("gala"), ok, r.Keys("gala"))
	}
}
