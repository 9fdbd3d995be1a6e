package gatedb_test

import (
	"context"
	"testing"
	"time"

	"admit/agent/gatedb"
	"admit/fleet/wire"
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
	if ms[0].Direction != gatedb.In || ms[1].Direction != gatedb.Out || ms[0].Annulled || ms[1].Annulled || !ms[2].Annulled {
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
