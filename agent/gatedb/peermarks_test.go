package gatedb_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/ticket/entry"
)

// TestPeerMarkCountsAtOnce: a peer's mark counts for every lookup (the
// decision path's, State, Marks) from AddPeerMark on, before anything is
// written; persistence writes it once and empties the index; an annulment
// is sticky whether it is held, stored, or both.
func TestPeerMarkCountsAtOnce(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	apply(t, db, wire.Change{Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T", Type: "GA"}})
	hot, err := db.Hot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hot.Close()
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	// This gate's own entry, later than the peer's.
	if _, err := hot.Journal(ctx, "me", gatedb.Entry{Scan: wire.Scan{Event: "gala", TicketID: "T", Gate: "Gate B",
		At: at.Add(time.Second), Outcome: wire.Admitted}, Mark: true}); err != nil {
		t.Fatal(err)
	}
	peer := gatedb.Mark{Event: "gala", TicketID: "T", Passage: entry.Passage{Device: "gate-a", Gate: "Gate A", At: at.Add(123456 * time.Nanosecond), Direction: entry.In}}
	check := func(when string, annulled bool, held, stored int) {
		t.Helper()
		st, err := hot.State(ctx, "gala", "T")
		if err != nil {
			t.Fatal(err)
		}
		// Oldest first: the peer's passage, then this gate's.
		if len(st.Marks) != 2 || st.Marks[0].Device != "gate-a" || st.Marks[0].Gate != "Gate A" ||
			!st.Marks[0].At.Equal(at) || st.Marks[0].Annulled != annulled || st.Marks[1].Device != "me" {
			t.Fatalf("%s: decision path sees %+v", when, st.Marks)
		}
		if ms, _ := db.Marks(ctx, "gala", "T"); len(ms) != 2 || ms[0].Annulled != annulled {
			t.Fatalf("%s: Marks %+v", when, ms)
		}
		if st, _ := db.State(ctx, "gala", "T"); len(st.Marks) != 2 {
			t.Fatalf("%s: State %+v", when, st.Marks)
		}
		if n := db.PeerMarksHeld(); n != held {
			t.Fatalf("%s: %d held, want %d", when, n, held)
		}
		ms, err := db.StoredMarks(ctx, "gala", "T")
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != stored {
			t.Fatalf("%s: stored %+v, want %d", when, ms, stored)
		}
	}
	persist := func(want int) {
		t.Helper()
		if n, err := db.PersistPeerMarks(ctx); err != nil || n != want {
			t.Fatalf("persisted %d (%v), want %d", n, err, want)
		}
	}

	if err := db.AddPeerMark(peer); err != nil {
		t.Fatal(err)
	}
	check("held", false, 1, 1)
	if err := db.AddPeerMark(peer); err != nil { // a replay (catch-up)
		t.Fatal(err)
	}
	check("replayed", false, 1, 1)
	select {
	case <-db.PeerMarksArrived():
	default:
		t.Fatal("no signal for the persister")
	}
	persist(1)
	check("persisted", false, 0, 2)
	persist(0)

	// The peer annuls its passage: it counts at once, over the stored row.
	peer.Annulled = true
	if err := db.AddPeerMark(peer); err != nil {
		t.Fatal(err)
	}
	check("annul held", true, 1, 2)
	persist(1)
	check("annul persisted", true, 0, 2)
	// A late replay of the passage does not take the annulment back.
	peer.Annulled = false
	if err := db.AddPeerMark(peer); err != nil {
		t.Fatal(err)
	}
	check("late replay held", true, 1, 2)
	persist(1)
	check("late replay persisted", true, 0, 2)

	if err := db.AddPeerMark(gatedb.Mark{Event: "gala", TicketID: "T", Passage: entry.Passage{Device: "gate-a", At: at, Direction: "sideways"}}); err == nil {
		t.Fatal("a mark without a direction was taken")
	}
}

// TestPeerMarkNeverUnseen: whatever persistence does meanwhile, every
// lookup that starts after AddPeerMark returned sees the mark (a lookup
// reads the index before the database; persistence drops a mark from the
// index only after it committed).
func TestPeerMarkNeverUnseen(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := openReplica(t)
	apply(t, db, wire.Change{Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T", Type: "GA"}})
	hot, err := db.Hot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer hot.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case <-db.PeerMarksArrived():
			}
			if _, err := db.PersistPeerMarks(ctx); err != nil && ctx.Err() == nil {
				t.Error(err)
				return
			}
		}
	}()
	at := time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)
	const n = 300
	for i := range n {
		m := gatedb.Mark{Event: "gala", TicketID: "T", Passage: entry.Passage{Device: "gate-a", Gate: "Gate A", At: at.Add(time.Duration(i) * time.Second), Direction: entry.In}}
		if err := db.AddPeerMark(m); err != nil {
			t.Fatal(err)
		}
		st, err := hot.State(ctx, "gala", "T")
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Marks) != i+1 {
			t.Fatalf("after %d marks the decision path sees %d", i+1, len(st.Marks))
		}
	}
	cancel()
	wg.Wait()
	if _, err := db.PersistPeerMarks(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ms, _ := db.StoredMarks(context.Background(), "gala", "T"); len(ms) != n || db.PeerMarksHeld() != 0 {
		t.Fatalf("stored %d, held %d; want %d, 0", len(ms), db.PeerMarksHeld(), n)
	}
}

// TestRevokeForgetsHeldPeerMarks: a revoked gate forgets the peers' marks
// it held in memory too, and none is written after the wipe.
func TestRevokeForgetsHeldPeerMarks(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	m := gatedb.Mark{Event: "gala", TicketID: "T", Passage: entry.Passage{Device: "gate-a", Gate: "Gate A", At: at, Direction: entry.In}}
	if err := db.AddPeerMark(m); err != nil {
		t.Fatal(err)
	}
	if err := db.Revoke(ctx, at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ms, _ := db.Marks(ctx, "gala", "T"); len(ms) != 0 || db.PeerMarksHeld() != 0 {
		t.Fatalf("after the wipe: %+v held %d", ms, db.PeerMarksHeld())
	}
	if n, err := db.PersistPeerMarks(ctx); err != nil || n != 0 {
		t.Fatalf("persisted %d after the wipe (%v)", n, err)
	}
	if log, _ := db.GateLog(ctx, 1); len(log) != 1 || log[0].Kind != "wiped" {
		t.Fatalf("gate log: %+v", log)
	}
}

// TestPersistRecoversFromAFailedOne: a persistence that fails (here its
// context was cancelled) keeps the marks counting and held, and the next
// one writes them.
func TestPersistRecoversFromAFailedOne(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	add := func(i int) {
		t.Helper()
		m := gatedb.Mark{Event: "gala", TicketID: "T", Passage: entry.Passage{Device: "gate-a", Gate: "Gate A", At: at.Add(time.Duration(i) * time.Second), Direction: entry.In}}
		if err := db.AddPeerMark(m); err != nil {
			t.Fatal(err)
		}
	}
	add(0)
	if n, err := db.PersistPeerMarks(ctx); err != nil || n != 1 {
		t.Fatalf("persisted %d (%v)", n, err)
	}
	add(1)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := db.PersistPeerMarks(cancelled); err == nil {
		t.Fatal("persisted with a cancelled context")
	}
	if ms, _ := db.Marks(ctx, "gala", "T"); len(ms) != 2 || db.PeerMarksHeld() != 1 {
		t.Fatalf("after the failure: %+v, held %d", ms, db.PeerMarksHeld())
	}
	if n, err := db.PersistPeerMarks(ctx); err != nil || n != 1 {
		t.Fatalf("persisted %d (%v) after the failure", n, err)
	}
	if ms, _ := db.StoredMarks(ctx, "gala", "T"); len(ms) != 2 || db.PeerMarksHeld() != 0 {
		t.Fatalf("stored %+v, held %d", ms, db.PeerMarksHeld())
	}
}
