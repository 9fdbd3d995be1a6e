package gatedb_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
)

func openReplica(t *testing.T) *gatedb.DB {
	t.Helper()
	db, err := gatedb.Open(context.Background(), filepath.Join(t.TempDir(), "gate.db"), sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Serve(context.Background(), "gala"); err != nil {
		t.Fatal(err)
	}
	return db
}

func batch(from, to int64, prev uint64) *wire.Batch {
	b := &wire.Batch{Event: "gala", From: from, To: to}
	for s := from + 1; s <= to; s++ {
		b.Changes = append(b.Changes, wire.Change{Seq: s, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: fmt.Sprintf("T%03d", s), Type: "GA"}})
	}
	b.Running = wire.RunningChecksum(prev, b.Changes)
	b.Seal()
	return b
}

func TestApplyTwiceIsNoOp(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	b1 := batch(0, 3, 0)
	if _, err := db.Apply(ctx, b1); err != nil {
		t.Fatal(err)
	}
	revoke := wire.Change{Seq: 4, Kind: wire.KindRevoke, Revoke: &wire.Revoke{TicketID: "T002"}}
	b2 := &wire.Batch{Event: "gala", From: 3, To: 4, Changes: []wire.Change{revoke}, Running: wire.RunningChecksum(b1.Running, []wire.Change{revoke})}
	b2.Seal()
	if _, err := db.Apply(ctx, b2); err != nil {
		t.Fatal(err)
	}
	// Replaying b1 (whose ticket change would otherwise be re-upserted) and
	// b2 changes nothing.
	for _, b := range []*wire.Batch{b1, b2, b1} {
		if _, err := db.Apply(ctx, b); err != nil {
			t.Fatalf("replay: %v", err)
		}
	}
	tk, err := db.Ticket(ctx, "gala", "T002")
	if err != nil || !tk.Revoked {
		t.Fatalf("replayed batch touched the replica: %+v %v", tk, err)
	}
	cur, _ := db.ReplicaCursors(ctx)
	if cur["gala"].Seq != 4 || cur["gala"].Running != b2.Running {
		t.Fatalf("cursor %+v, want 4/%x", cur["gala"], b2.Running)
	}
	// An overlapping batch applies only what is new.
	c5 := wire.Change{Seq: 5, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T005", Type: "GA"}}
	b3 := &wire.Batch{Event: "gala", From: 3, To: 5, Changes: []wire.Change{revoke, c5}, Running: wire.RunningChecksum(b2.Running, []wire.Change{c5})}
	b3.Seal()
	if _, err := db.Apply(ctx, b3); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ticket(ctx, "gala", "T005"); err != nil {
		t.Fatal(err)
	}
	// A gap is refused.
	if _, err := db.Apply(ctx, batch(7, 8, 0)); !errors.Is(err, gatedb.ErrCursorMismatch) {
		t.Fatalf("gap: %v", err)
	}
}

func TestDivergenceMarksResync(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	if _, err := db.Apply(ctx, batch(0, 3, 0)); err != nil {
		t.Fatal(err)
	}
	bad := batch(3, 4, 12345) // the fleet's running checksum disagrees with ours
	if _, err := db.Apply(ctx, bad); !errors.Is(err, gatedb.ErrDiverged) {
		t.Fatalf("Apply: %v, want ErrDiverged", err)
	}
	if _, err := db.Ticket(ctx, "gala", "T004"); !errors.Is(err, gatedb.ErrUnknownTicket) {
		t.Fatal("diverged batch was applied")
	}
	cur, _ := db.ReplicaCursors(ctx)
	if c := cur["gala"]; c.Snapshot == nil || c.Snapshot.Seq != 0 {
		t.Fatalf("cursor after divergence %+v, want a snapshot request", c)
	}
}

func chunk(seq int64, after, last string, done bool, ids ...string) *wire.Snapshot {
	s := &wire.Snapshot{Event: "gala", Seq: seq, Running: 99, After: after, Last: last, Done: done}
	if after == "" {
		s.Keys = []wire.Key{{ID: "k1", Public: make([]byte, 32)}}
	}
	for _, id := range ids {
		s.Tickets = append(s.Tickets, wire.SnapTicket{ID: id, Type: "GA", Revoked: id == "B"})
	}
	s.Seal()
	return s
}

func TestSnapshotResumeAndReplace(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	// An old replica row the snapshot will not contain.
	if _, err := db.Apply(ctx, batch(0, 1, 0)); err != nil {
		t.Fatal(err)
	}
	c1 := chunk(40, "", "B", false, "A", "B")
	if _, err := db.ApplySnapshot(ctx, c1); err != nil {
		t.Fatal(err)
	}
	// Mid-snapshot, the old row still answers (a resync keeps the gate working).
	if _, err := db.Ticket(ctx, "gala", "T001"); err != nil {
		t.Fatalf("old row gone mid-snapshot: %v", err)
	}
	cur, _ := db.ReplicaCursors(ctx)
	if p := cur["gala"].Snapshot; p == nil || p.Seq != 40 || p.After != "B" {
		t.Fatalf("progress %+v", p)
	}
	// The chunk again (a resent chunk after a reconnect): no-op.
	if _, err := db.ApplySnapshot(ctx, chunk(40, "", "B", false, "A", "B")); err != nil {
		t.Fatal(err)
	}
	cur, _ = db.ReplicaCursors(ctx)
	if p := cur["gala"].Snapshot; p == nil || p.After != "" {
		// a first chunk restarts the snapshot; that is fine too
		if p == nil {
			t.Fatal("snapshot lost")
		}
	}
	if _, err := db.ApplySnapshot(ctx, chunk(40, "B", "D", false, "C", "D")); err != nil {
		t.Fatal(err)
	}
	// A chunk out of order is refused.
	if _, err := db.ApplySnapshot(ctx, chunk(40, "X", "Z", true, "Y")); !errors.Is(err, gatedb.ErrCursorMismatch) {
		t.Fatalf("gap chunk: %v", err)
	}
	if _, err := db.ApplySnapshot(ctx, chunk(40, "D", "E", true, "E")); err != nil {
		t.Fatal(err)
	}
	cur, _ = db.ReplicaCursors(ctx)
	if c := cur["gala"]; c.Seq != 40 || c.Running != 99 || c.Snapshot != nil {
		t.Fatalf("cursor after snapshot %+v", c)
	}
	if _, err := db.Ticket(ctx, "gala", "T001"); !errors.Is(err, gatedb.ErrUnknownTicket) {
		t.Fatal("row of the old generation survived the snapshot")
	}
	for _, id := range []string{"A", "B", "C", "D", "E"} {
		tk, err := db.Ticket(ctx, "gala", id)
		if err != nil || tk.Revoked != (id == "B") {
			t.Fatalf("ticket %s: %+v %v", id, tk, err)
		}
	}
	// The last chunk again: no-op.
	if _, err := db.ApplySnapshot(ctx, chunk(40, "D", "E", true, "E")); err != nil {
		t.Fatalf("replayed last chunk: %v", err)
	}
}

func TestWipe(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	if _, err := db.Apply(ctx, batch(0, 2, 0)); err != nil {
		t.Fatal(err)
	}
	if err := db.Wipe(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Ticket(ctx, "gala", "T001"); !errors.Is(err, gatedb.ErrUnknownTicket) {
		t.Fatal("ticket survived the wipe")
	}
	cur, _ := db.ReplicaCursors(ctx)
	if cur["gala"].Seq != 0 {
		t.Fatalf("cursor after wipe %+v", cur["gala"])
	}
}
