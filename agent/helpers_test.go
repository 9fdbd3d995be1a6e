package agent_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"admit/agent"
	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/hal"
	"admit/ticket"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// countRelay is a relay twin that counts pulses.
type countRelay struct {
	mu     sync.Mutex
	pulses int
}

func (r *countRelay) Pulse(ctx context.Context, d time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pulses++
	return nil
}

func (r *countRelay) Pulses() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pulses
}

// passageTwin is a passage sensor the test triggers.
type passageTwin struct{ ch chan struct{} }

func newPassageTwin() *passageTwin { return &passageTwin{ch: make(chan struct{})} }

func (p *passageTwin) WaitPassage(ctx context.Context) error {
	select {
	case <-p.ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pass reports one passage (blocks until the agent listens).
func (p *passageTwin) Pass() { p.ch <- struct{}{} }

// testGate is a running agent.
type testGate struct {
	*agent.Agent
	relay *countRelay
	stop  func()
}

// startGate opens and runs an agent; cfg.DataDir defaults to a temp dir.
func startGate(t testing.TB, cfg agent.Config) *testGate {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(t.TempDir(), cfg.Device)
	}
	if cfg.Log == nil {
		cfg.Log = quiet
	}
	g := &testGate{relay: &countRelay{}}
	if cfg.Relay == nil {
		cfg.Relay = g.relay
	}
	a, err := agent.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	g.Agent = a
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	var once sync.Once
	g.stop = func() {
		once.Do(func() {
			cancel()
			<-done
			a.Close()
		})
	}
	t.Cleanup(g.stop)
	return g
}

func (g *testGate) present(t testing.TB, code string) agent.Decision {
	t.Helper()
	d, err := g.Present(context.Background(), hal.Credential{Source: "nfc0", Payload: []byte(code)})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (g *testGate) backlog(t testing.TB) int {
	t.Helper()
	n, err := g.DB().Backlog(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// Most tests here give a gate its replica directly: seedGate applies a
// snapshot the test made (testEvent) through gatedb's ApplySnapshot, the
// call the uplink makes for a snapshot from the fleet, and the gate runs
// without a fleet. Only the tests in fleet_e2e_test.go start a fleet node.

// testTicket is a ticket a testEvent issued.
type testTicket struct {
	ID, Code string
	// CodeSecret is the rotating-code secret of a ticket issued as
	// rotating; nil otherwise.
	CodeSecret []byte
}

// testEvent is an event as the fleet would replicate it — one signing key
// and its tickets — made by the test, without a fleet.
type testEvent struct {
	event   string
	key     ticket.SigningKey
	from    time.Time // the tickets' validity window
	to      time.Time
	tickets []testTicket
}

// newEvent returns event "gala" with n tickets of type GA under policy
// ("single", "multi" or "reentry"), valid from 6 hours before now to 3
// days after it, as the fleet issues them.
func newEvent(t testing.TB, now time.Time, n int, policy string) *testEvent {
	t.Helper()
	key, err := ticket.GenerateSigningKey("gala", "k1")
	if err != nil {
		t.Fatal(err)
	}
	now = now.UTC().Truncate(time.Second)
	e := &testEvent{event: "gala", key: key, from: now.Add(-6 * time.Hour), to: now.Add(72 * time.Hour)}
	e.issue(t, n, policy, false)
	return e
}

// issue adds n tickets of type GA under policy, rotating ones (each with
// its own code secret) when rotating is set, and returns them. Ticket ids
// are T0000, T0001, … in issue order, so they sort as a snapshot needs.
func (e *testEvent) issue(t testing.TB, n int, policy string, rotating bool) []testTicket {
	t.Helper()
	p, err := ticket.ParsePolicy(policy)
	if err != nil {
		t.Fatal(err)
	}
	first := len(e.tickets)
	for i := range n {
		id := fmt.Sprintf("T%04d", first+i)
		code, err := ticket.Encode(ticket.Claims{ID: id, Event: e.event, Type: "GA", NotBefore: e.from, NotAfter: e.to,
			Policy: p, Rotating: rotating}, e.key)
		if err != nil {
			t.Fatal(err)
		}
		tk := testTicket{ID: id, Code: code}
		if rotating {
			if tk.CodeSecret, err = ticket.GenerateCodeSecret(); err != nil {
				t.Fatal(err)
			}
		}
		e.tickets = append(e.tickets, tk)
	}
	return e.tickets[first:]
}

// snapshot is the event's replica as one snapshot chunk at log position 1.
func (e *testEvent) snapshot() *wire.Snapshot {
	s := &wire.Snapshot{Event: e.event, Seq: 1, Done: true, Keys: []wire.Key{{ID: e.key.ID, Public: e.key.Public().Key}}}
	for _, tk := range e.tickets {
		s.Tickets = append(s.Tickets, wire.SnapTicket{ID: tk.ID, Type: "GA", CodeSecret: tk.CodeSecret})
		s.Last = tk.ID
	}
	s.Seal()
	return s
}

// seed puts the event into the replica of gate g, as a snapshot from the
// fleet would.
func (e *testEvent) seed(t testing.TB, g *testGate) {
	t.Helper()
	if _, err := g.DB().ApplySnapshot(context.Background(), e.snapshot()); err != nil {
		t.Fatal(err)
	}
}

// seededGate starts a gate without a fleet on cfg (Event set to e's;
// Device and Gate "gate-1" and "Gate 1" unless set) and seeds its replica
// with e.
func seededGate(t testing.TB, e *testEvent, cfg agent.Config) *testGate {
	t.Helper()
	cfg.Event = e.event
	if cfg.Device == "" {
		cfg.Device = "gate-1"
	}
	if cfg.Gate == "" {
		cfg.Gate = "Gate 1"
	}
	if cfg.FleetURL != "" {
		t.Fatal("seededGate: a seeded gate has no fleet (FleetURL set)")
	}
	g := startGate(t, cfg)
	e.seed(t, g)
	return g
}

// upstream returns what gate g's uplink would send the fleet: its
// journaled scans not yet acknowledged, oldest first.
func (g *testGate) upstream(t testing.TB) []wire.Scan {
	t.Helper()
	s, err := g.DB().Pending(context.Background(), 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// marksAt returns the passages gate g knows of a ticket.
func (g *testGate) marksAt(t testing.TB, event, id string) []gatedb.Mark {
	t.Helper()
	ms, err := g.DB().Marks(context.Background(), event, id)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}
