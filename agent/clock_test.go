package agent_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"admit/agent"
	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/clock"
	"admit/fleet/wire"
	"admit/hal"
	"admit/internal/testwait"
)

// These tests run a gate on a clock.Fake and show that what it times —
// the passage timeout, the indicator, checkpoints, online mode — follows
// that clock: the test moves time, nothing sleeps.

// clockTestStart is the fake clock's start: far from the wall clock, so a
// timer on the wall clock would show.
var clockTestStart = time.Date(2031, 5, 17, 19, 0, 0, 0, time.UTC)

// TestPassageTimeoutFollowsClock: an entry nobody walks through is
// annulled exactly PassageTimeout after it, on the gate's clock.
func TestPassageTimeoutFollowsClock(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(clockTestStart)
	annulled := make(chan agent.Decision, 1)
	ev := newEvent(t, clk.Now(), 1, "single")
	g := seededGate(t, ev, agent.Config{Clock: clk, Passage: newPassageTwin(), PassageTimeout: 10 * time.Second,
		OnDecision: func(d agent.Decision) {
			if d.Reason == decide.ReasonNoPassage {
				annulled <- d
			}
		}})
	entry := g.present(t, ev.tickets[0].Code)
	if !entry.Admitted || !entry.At.Equal(clockTestStart) {
		t.Fatalf("entry: %+v", entry)
	}
	// Two timers on the gate's clock: the checkpoint loop's and the
	// passage watcher's deadline for this entry.
	testwait.For(t, "the passage watcher to wait", func() bool { return clk.Pending() == 2 })
	clk.Advance(10*time.Second - time.Millisecond)
	if p, err := g.DB().PendingPassages(ctx); err != nil || len(p) != 1 || len(annulled) != 0 {
		t.Fatalf("1 ms before the timeout: pending %v (%v), annulled %d", p, err, len(annulled))
	}
	clk.Advance(time.Millisecond)
	var a agent.Decision
	select {
	case a = <-annulled:
	case <-time.After(testwait.Deadline):
		t.Fatal("no annulment at the timeout")
	}
	if a.TicketID != entry.TicketID || a.At.Sub(entry.At) != 10*time.Second {
		t.Fatalf("annulment %+v, %s after the entry", a, a.At.Sub(entry.At))
	}
	if d := g.present(t, ev.tickets[0].Code); !d.Admitted {
		t.Fatalf("retry after the annulment: %+v", d)
	}
}

// recordingIndicator is an indicator twin that remembers its color.
type recordingIndicator struct {
	mu sync.Mutex
	c  hal.Color
}

func (r *recordingIndicator) Set(c hal.Color) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.c = c
	return nil
}

func (r *recordingIndicator) color() hal.Color {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.c
}

// TestIndicatorHoldFollowsClock: the indicator shows a decision for 2 s of
// the gate's clock, and a new decision starts its own 2 s.
func TestIndicatorHoldFollowsClock(t *testing.T) {
	clk := clock.NewFake(clockTestStart)
	ind := &recordingIndicator{}
	g := seededGate(t, newEvent(t, clk.Now(), 1, "single"), agent.Config{Clock: clk, Indicator: ind})
	if d := g.present(t, "not a ticket"); d.Admitted {
		t.Fatalf("decision %+v", d)
	}
	clk.Advance(2*time.Second - time.Millisecond)
	if c := ind.color(); c != hal.Red {
		t.Fatalf("1 ms before the end of the hold: %v", c)
	}
	clk.Advance(time.Millisecond) // the timer runs within Advance
	if c := ind.color(); c != hal.Off {
		t.Fatalf("after the hold: %v", c)
	}
	g.present(t, "not a ticket")
	clk.Advance(time.Second)
	g.present(t, "still not a ticket")
	clk.Advance(1500 * time.Millisecond)
	if c := ind.color(); c != hal.Red {
		t.Fatalf("1.5 s into the second decision's hold: %v (the first one's timer ran)", c)
	}
	clk.Advance(500 * time.Millisecond)
	if c := ind.color(); c != hal.Off {
		t.Fatalf("after the second decision's hold: %v", c)
	}
}

// TestCheckpointFollowsClock: decisions reach the database file at the
// next checkpoint, 2 s of the gate's clock after the last one.
func TestCheckpointFollowsClock(t *testing.T) {
	clk := clock.NewFake(clockTestStart)
	dir := t.TempDir()
	g := seededGate(t, newEvent(t, clk.Now(), 1, "single"), agent.Config{Clock: clk, DataDir: dir})
	hash := func() [32]byte {
		b, err := os.ReadFile(filepath.Join(dir, "gate.db"))
		if err != nil {
			t.Fatal(err)
		}
		return sha256.Sum256(b)
	}
	testwait.For(t, "the checkpoint loop to wait", func() bool { return clk.Pending() == 1 })
	before := hash()
	g.present(t, "not a ticket")
	clk.Advance(2*time.Second - time.Millisecond)
	if hash() != before {
		t.Fatal("the decision reached the database file before the checkpoint")
	}
	clk.Advance(time.Millisecond)
	testwait.For(t, "the checkpoint to copy the decision into the database file", func() bool { return hash() != before })
}

// lateAuthority answers every online request with an admission, after
// lateBy on the gate's clock; it counts probes.
type lateAuthority struct {
	clk    *clock.Fake
	lateBy time.Duration
	pings  atomic.Int32
}

func (l *lateAuthority) Decide(ctx context.Context, r wire.DecideRequest) (wire.DecideResponse, error) {
	l.clk.Advance(l.lateBy)
	return wire.DecideResponse{Admit: true}, nil
}

func (l *lateAuthority) Ping(ctx context.Context) error {
	l.pings.Add(1)
	return nil
}

// TestOnlineTimingFollowsClock: a fleet answer that comes after Timeout on
// the gate's clock is a failure (the gate decides locally, and falls back
// to local mode); the decision's Took is measured on the same clock; and
// the probes that bring the gate back online run on it.
func TestOnlineTimingFollowsClock(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(clockTestStart)
	auth := &lateAuthority{clk: clk, lateBy: 301 * time.Millisecond}
	ev := newEvent(t, clk.Now(), 1, "single")
	g := seededGate(t, ev, agent.Config{Clock: clk,
		Online: &agent.OnlineConfig{Authority: auth, Timeout: 300 * time.Millisecond, MaxFailures: 1, ProbeEvery: 5 * time.Second, ProbeSuccesses: 2}})
	d := g.present(t, ev.tickets[0].Code)
	if !d.Admitted || d.ByFleet || d.Took != 301*time.Millisecond {
		t.Fatalf("late fleet answer: %+v, want a local admission that took 301ms", d)
	}
	if g.Mode() != agent.ModeLocal {
		t.Fatalf("mode after a late answer with MaxFailures 1: %s", g.Mode())
	}
	testwait.For(t, "the gate back online", func() bool {
		clk.Advance(100 * time.Millisecond)
		return g.Mode() == agent.ModeOnline
	})
	if n := auth.pings.Load(); n != 2 {
		t.Fatalf("%d probes, want ProbeSuccesses (2)", n)
	}
	var log []gatedb.LogEntry
	testwait.For(t, "the switch back to be journaled", func() bool {
		log, _ = g.DB().GateLog(ctx, 10)
		return len(log) == 2
	})
	if log[0].Kind != "mode_online" || log[1].Kind != "mode_local" {
		t.Fatalf("gate log %+v", log)
	}
	if back := log[0].At.Sub(log[1].At); back < 5*time.Second || back > 11*time.Second {
		t.Fatalf("back online %s after the fall back: want two 5 s probe periods of the gate's clock", back)
	}
}
