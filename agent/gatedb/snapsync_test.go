package gatedb

import (
	"context"
	"path/filepath"
	"testing"

	"admit/fleet/wire"
	"admit/internal/sqlitedb"
)

// TestSnapshotChunkKeepsPoolDurability: chunks before the last commit
// without an fsync on their own connection; afterwards every connection of
// the pool must still commit with the durability the database was opened
// with (FULL), or a journal write could lose its fsync.
func TestSnapshotChunkKeepsPoolDurability(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "gate.db"), sqlitedb.SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.db.SetMaxOpenConns(1) // the chunk's connection is the one checked below
	if err := d.Serve(ctx, "gala"); err != nil {
		t.Fatal(err)
	}
	chunk := func(after, last string, done bool, ids ...string) *wire.Snapshot {
		s := &wire.Snapshot{Event: "gala", Seq: 1, After: after, Last: last, Done: done}
		for _, id := range ids {
			s.Tickets = append(s.Tickets, wire.SnapTicket{ID: id, Type: "GA"})
		}
		s.Seal()
		return s
	}
	synchronous := func() int {
		var v int
		if err := d.db.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	const full = 2
	if _, err := d.ApplySnapshot(ctx, chunk("", "B", false, "A", "B")); err != nil {
		t.Fatal(err)
	}
	if got := synchronous(); got != full {
		t.Fatalf("after a relaxed chunk the pool commits with synchronous=%d, want %d", got, full)
	}
	if _, err := d.ApplySnapshot(ctx, chunk("B", "C", true, "C")); err != nil {
		t.Fatal(err)
	}
	if got := synchronous(); got != full {
		t.Fatalf("after the last chunk synchronous=%d, want %d", got, full)
	}
	cur, err := d.ReplicaCursors(ctx)
	if err != nil || cur["gala"].Seq != 1 || cur["gala"].Snapshot != nil {
		t.Fatalf("cursor after the snapshot: %+v %v", cur, err)
	}
	for _, id := range []string{"A", "B", "C"} {
		if _, err := d.Ticket(ctx, "gala", id); err != nil {
			t.Fatalf("ticket %s: %v", id, err)
		}
	}
}
