package gatedb_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/ticket/entry"
)

// apply seals changes into the batch that follows the replica's cursor.
func apply(t *testing.T, db *gatedb.DB, changes ...wire.Change) {
	t.Helper()
	ctx := context.Background()
	cur, err := db.ReplicaCursors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := cur["gala"]
	for i := range changes {
		changes[i].Seq = c.Seq + int64(i) + 1
	}
	b := &wire.Batch{Event: "gala", From: c.Seq, To: c.Seq + int64(len(changes)), Changes: changes,
		Running: wire.RunningChecksum(c.Running, changes)}
	b.Seal()
	if _, err := db.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
}

// TestFleetPassages: passages fanned out by the fleet land in the marks
// with their direction; an annulment is sticky whichever arrives first.
func TestFleetPassages(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	apply(t, db,
		wire.Change{Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T", Type: "GA"}},
		wire.Change{Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T", Device: "a", Gate: "A", At: at}},
		wire.Change{Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T", Device: "b", Gate: "B", At: at.Add(time.Minute), Direction: wire.DirOut}},
		// Annulment of c's passage before the passage itself.
		wire.Change{Kind: wire.KindAnnul, Annul: &wire.Annul{TicketID: "T", Device: "c", Gate: "C", At: at.Add(2 * time.Minute)}},
		wire.Change{Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T", Device: "c", Gate: "C", At: at.Add(2 * time.Minute)}},
	)
	ms, err := db.Marks(ctx, "gala", "T")
	if err != nil || len(ms) != 3 {
		t.Fatalf("marks %+v %v", ms, err)
	}
	if ms[0].Direction != entry.In || ms[1].Direction != entry.Out || ms[0].Annulled || ms[1].Annulled || !ms[2].Annulled {
		t.Fatalf("marks %+v", ms)
	}
	// Annulling a's entry later.
	apply(t, db, wire.Change{Kind: wire.KindAnnul, Annul: &wire.Annul{TicketID: "T", Device: "a", Gate: "A", At: at}})
	if ms, _ := db.Marks(ctx, "gala", "T"); !ms[0].Annulled {
		t.Fatalf("annulment not applied: %+v", ms)
	}
}

// TestCodeSecretReplicated: a ticket's rotating-code secret arrives with
// its row, in a batch or a snapshot.
func TestCodeSecretReplicated(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	secret := []byte("0123456789abcdefghij")
	apply(t, db, wire.Change{Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "B", Type: "GA", CodeSecret: secret}})
	if st, err := db.State(ctx, "gala", "B"); err != nil || string(st.CodeSecret) != string(secret) {
		t.Fatalf("secret from a batch: %x %v", st.CodeSecret, err)
	}
	snap := &wire.Snapshot{Event: "gala", Seq: 5, Last: "S", Done: true,
		Tickets: []wire.SnapTicket{{ID: "P", Type: "GA"}, {ID: "S", Type: "GA", CodeSecret: secret}}}
	snap.Seal()
	if _, err := db.ApplySnapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if st, err := db.State(ctx, "gala", "S"); err != nil || string(st.CodeSecret) != string(secret) {
		t.Fatalf("secret from a snapshot: %x %v", st.CodeSecret, err)
	}
	if st, err := db.State(ctx, "gala", "P"); err != nil || st.CodeSecret != nil {
		t.Fatalf("ticket without a secret: %x %v", st.CodeSecret, err)
	}
}

// TestWipeKeepsOnlyTheBacklog: a revoked device's wipe leaves nothing that
// names an admission or opens a gate — replica, secrets, every mark, the
// admissions waiting for the turnstile — but keeps the journal rows the
// fleet has not acknowledged, with their sequence, so they still reach the
// fleet once the device is enrolled again.
func TestWipeKeepsOnlyTheBacklog(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	apply(t, db,
		wire.Change{Kind: wire.KindKey, Key: &wire.Key{ID: "k1", Public: make([]byte, 32)}},
		wire.Change{Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T", Type: "GA", CodeSecret: []byte("s")}},
		wire.Change{Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "U", Type: "GA"}},
		wire.Change{Kind: wire.KindUsed, Used: &wire.Used{TicketID: "U", Device: "other", Gate: "B", At: at}},
	)
	// Two decisions of this gate: the first acknowledged, the second not
	// (and waiting for its passage); a mark gossiped by a peer.
	for i, id := range []string{"T", "U"} {
		e := gatedb.Entry{Scan: wire.Scan{Event: "gala", TicketID: id, Gate: "A", At: at.Add(time.Duration(i+1) * time.Second), Outcome: wire.Admitted},
			Mark: true, PassageDeadline: at.Add(time.Minute)}
		if _, err := db.Journal(ctx, "me", e); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Acked(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := db.PutMark(ctx, gatedb.Mark{Event: "gala", TicketID: "T", Passage: entry.Passage{Device: "peer", Gate: "C", At: at, Direction: entry.Out}}); err != nil {
		t.Fatal(err)
	}

	if err := db.Wipe(ctx, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if keys, _ := db.Keys(ctx); len(keys) != 0 {
		t.Fatalf("keys survived: %+v", keys)
	}
	for _, id := range []string{"T", "U"} {
		if _, err := db.State(ctx, "gala", id); !errors.Is(err, gatedb.ErrUnknownTicket) {
			t.Fatalf("ticket %s survived: %v", id, err)
		}
		if ms, _ := db.Marks(ctx, "gala", id); len(ms) != 0 {
			t.Fatalf("marks of %s survived: %+v", id, ms)
		}
		if uses, _ := db.Uses(ctx, "gala", id); len(uses) != 0 {
			t.Fatalf("used marks of %s survived: %+v", id, uses)
		}
	}
	for _, dev := range []string{"me", "peer"} {
		if ms, _ := db.MarksOf(ctx, dev, time.Time{}, 10); len(ms) != 0 {
			t.Fatalf("marks of %s survived: %+v", dev, ms)
		}
	}
	if _, err := db.LastMark(ctx, "me"); !errors.Is(err, gatedb.ErrNoMark) {
		t.Fatalf("last mark survived: %v", err)
	}
	if ps, _ := db.PendingPassages(ctx); len(ps) != 0 {
		t.Fatalf("pending passages survived: %+v", ps)
	}
	backlog, err := db.Pending(ctx, 0, 10)
	if err != nil || len(backlog) != 1 || backlog[0].Seq != 2 || backlog[0].TicketID != "U" {
		t.Fatalf("unacknowledged journal after the wipe: %+v %v", backlog, err)
	}
	if seq, _ := db.LastSeq(ctx); seq != 2 {
		t.Fatalf("journal sequence after the wipe: %d", seq)
	}
	if log, _ := db.GateLog(ctx, 1); len(log) != 1 || log[0].Kind != "wiped" {
		t.Fatalf("gate log: %+v", log)
	}
}
