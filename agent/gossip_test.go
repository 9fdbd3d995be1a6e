package agent_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"admit/agent"
	"admit/agent/gatedb"
	"admit/internal/sqlitedb"
	"admit/internal/testwait"
)

// listen reserves a loopback listener for a gate's status endpoint.
func listen(t testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startPeers starts n gates of event (gate-0 "Gate A", gate-1 "Gate B",
// …) that gossip with each other over their peer listeners. Each gate's
// config (i from 0) passes through adjust first, when it is not nil; once
// all are started, replica gives each its replica (seeds it, or waits for
// it from a fleet: the venue data with its peers' keys included), and
// startPeers returns when every peer link is up.
func startPeers(t testing.TB, event string, n int, adjust func(i int, cfg *agent.Config), replica func(g *testGate)) []*testGate {
	var lns []net.Listener
	for range n {
		lns = append(lns, listen(t))
	}
	var gates []*testGate
	for i := range n {
		var peers []string
		for j, ln := range lns {
			if j != i {
				peers = append(peers, "ws://"+ln.Addr().String()+"/peer")
			}
		}
		name := fmt.Sprintf("Gate %c", 'A'+i)
		cfg := agent.Config{Device: fmt.Sprintf("gate-%d", i), Gate: name, Event: event, PeerListener: lns[i], Peers: peers}
		if adjust != nil {
			adjust(i, &cfg)
		}
		gates = append(gates, startGate(t, cfg))
	}
	for _, g := range gates {
		replica(g)
	}
	for _, g := range gates {
		testwait.For(t, "peer links", func() bool { return g.PeersConnected() >= n-1 })
	}
	return gates
}

// seededPeers is startPeers for gates without a fleet, seeded with e (and
// holding e's keys for their devices).
func seededPeers(t testing.TB, e *testEvent, n int, adjust func(i int, cfg *agent.Config)) []*testGate {
	return startPeers(t, e.event, n, func(i int, cfg *agent.Config) {
		cfg.Key = e.devices[cfg.Device]
		if adjust != nil {
			adjust(i, cfg)
		}
	}, func(g *testGate) { e.seed(t, g) })
}

// heldPeerMarks is a TestHookPersistPeerMarks that persists nothing while
// hold is set, as if the background persistence had not run yet (or the
// gate crashed before it did), and counts how often it was asked.
type heldPeerMarks struct {
	hold  atomic.Bool
	asked atomic.Int64
}

func (h *heldPeerMarks) persist(ctx context.Context, db *gatedb.DB) error {
	h.asked.Add(1)
	if h.hold.Load() {
		return nil
	}
	_, err := db.PersistPeerMarks(ctx)
	return err
}

// arrivals is a Config.OnPeerMark that reports each mark's ticket.
func arrivals() (chan string, func(gatedb.Mark)) {
	ch := make(chan string, 64)
	return ch, func(m gatedb.Mark) {
		select {
		case ch <- m.TicketID:
		default:
		}
	}
}

// waitArrival waits until a mark of ticket id arrived.
func waitArrival(t *testing.T, ch chan string, id string) {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case got := <-ch:
			if got == id {
				return
			}
		case <-timeout:
			t.Fatalf("no mark of %s arrived", id)
		}
	}
}

// TestPeerMarkRefusesBeforePersisted: with no fleet, gate B refuses a
// ticket gate A just admitted as soon as A's mark arrived, while B's
// background persistence has not written it yet; once persistence runs,
// the mark is in B's database and B still refuses.
func TestPeerMarkRefusesBeforePersisted(t *testing.T) {
	ctx := context.Background()
	ev := newEvent(t, time.Now(), 2, "single")
	hook := &heldPeerMarks{}
	hook.hold.Store(true)
	arrived, onMark := arrivals()
	gates := seededPeers(t, ev, 2, func(i int, cfg *agent.Config) {
		if i == 1 {
			cfg.TestHookPersistPeerMarks, cfg.OnPeerMark = hook.persist, onMark
		}
	})
	a, b := gates[0], gates[1]

	tk := ev.tickets[0]
	if d := a.present(t, tk.Code); !d.Admitted {
		t.Fatalf("gate A: %+v", d)
	}
	waitArrival(t, arrived, tk.ID)
	if stored, err := b.DB().StoredMarks(ctx, ev.event, tk.ID); err != nil || len(stored) != 0 {
		t.Fatalf("gate B's database already has %+v (%v): the test proves nothing", stored, err)
	}
	if n := b.DB().PeerMarksHeld(); n != 1 {
		t.Fatalf("gate B holds %d peer marks, want 1", n)
	}
	d := b.present(t, tk.Code)
	if d.Admitted || d.Reason != agent.ReasonAlreadyUsed || !strings.Contains(d.Sentence, "Gate A") {
		t.Fatalf("gate B: %+v, want refused as used at Gate A", d)
	}
	if b.relay.Pulses() != 0 {
		t.Fatalf("gate B pulsed its relay %d times", b.relay.Pulses())
	}
	// The background persistence is woken by the arrival; on a loaded
	// machine it may not have run yet.
	testwait.For(t, "gate B to try to persist the mark", func() bool { return hook.asked.Load() > 0 })

	// Persistence runs: the mark moves to the database, nothing changes
	// for the decisions.
	hook.hold.Store(false)
	if _, err := b.DB().PersistPeerMarks(ctx); err != nil {
		t.Fatal(err)
	}
	if stored, _ := b.DB().StoredMarks(ctx, ev.event, tk.ID); len(stored) != 1 || stored[0].Gate != "Gate A" || b.DB().PeerMarksHeld() != 0 {
		t.Fatalf("after persistence gate B stores %+v and holds %d", stored, b.DB().PeerMarksHeld())
	}
	if d := b.present(t, tk.Code); d.Admitted || d.Reason != agent.ReasonAlreadyUsed {
		t.Fatalf("gate B after persistence: %+v", d)
	}
	// The background persistence, no longer held, writes the next mark.
	tk2 := ev.tickets[1]
	if d := a.present(t, tk2.Code); !d.Admitted {
		t.Fatalf("gate A: %+v", d)
	}
	testwait.For(t, "gate B to persist the next mark", func() bool {
		stored, _ := b.DB().StoredMarks(ctx, ev.event, tk2.ID)
		return len(stored) == 1
	})
}

// TestUnpersistedPeerMarkRecoveredAfterRestart: gate B learns A's passage
// but stops before persisting it (as a kill -9 would); restarted, with no
// fleet to hear from, B learns it again from A's catch-up and refuses the
// ticket.
func TestUnpersistedPeerMarkRecoveredAfterRestart(t *testing.T) {
	ctx := context.Background()
	ev := newEvent(t, time.Now(), 1, "single")
	lnB := listen(t)
	addrB := lnB.Addr().String()
	a := seededGate(t, ev, agent.Config{Device: "gate-0", Gate: "Gate A", Peers: []string{"ws://" + addrB + "/peer"}})
	hook := &heldPeerMarks{}
	hook.hold.Store(true)
	arrived, onMark := arrivals()
	dirB := filepath.Join(t.TempDir(), "gate-1")
	cfgB := agent.Config{Device: "gate-1", Gate: "Gate B", Event: ev.event, DataDir: dirB,
		TestHookPersistPeerMarks: hook.persist, OnPeerMark: onMark}
	cfgB.PeerListener = lnB
	b := seededGate(t, ev, cfgB)
	testwait.For(t, "the peer link", func() bool { return a.PeersConnected() == 1 })

	tk := ev.tickets[0]
	if d := a.present(t, tk.Code); !d.Admitted {
		t.Fatalf("gate A: %+v", d)
	}
	waitArrival(t, arrived, tk.ID)
	b.stop() // the mark is only in B's memory: lost with the process

	db, err := gatedb.Open(ctx, filepath.Join(dirB, "gate.db"), sqlitedb.SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := db.Marks(ctx, ev.event, tk.ID)
	db.Close()
	if err != nil || len(ms) != 0 {
		t.Fatalf("gate B's database kept %+v (%v): the test proves nothing", ms, err)
	}

	lnB2, err := net.Listen("tcp", addrB) // A dials this address
	if err != nil {
		t.Fatal(err)
	}
	cfgB.PeerListener = lnB2
	cfgB.TestHookPersistPeerMarks = nil
	b2 := startGate(t, cfgB)       // its replica is on disk from the first run
	waitArrival(t, arrived, tk.ID) // A's catch-up after it redialed
	d := b2.present(t, tk.Code)
	if d.Admitted || d.Reason != agent.ReasonAlreadyUsed || !strings.Contains(d.Sentence, "Gate A") {
		t.Fatalf("restarted gate B: %+v, want refused as used at Gate A", d)
	}
	if b2.Online() {
		t.Fatal("gate B has an uplink: the mark may not have come from the catch-up")
	}
	testwait.For(t, "gate B to persist the recovered mark", func() bool {
		stored, _ := b2.DB().StoredMarks(ctx, ev.event, tk.ID)
		return len(stored) == 1
	})
}
