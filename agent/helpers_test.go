package agent_test

import (
	"context"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"admit/agent"
	"admit/fleet"
	"admit/fleet/node"
	"admit/hal"
	"admit/internal/testwait"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testFleet is a real fleet node on loopback with one event.
type testFleet struct {
	node    *node.Node
	event   string
	tickets []fleet.Ticket
}

func startFleet(t testing.TB, dir string, n int, policy string) *testFleet {
	t.Helper()
	return startFleetWith(t, node.Config{DataDir: dir}, n, policy)
}

// startFleetWith starts a node configured by cfg (address and log filled
// in) with one event and n tickets.
func startFleetWith(t testing.TB, cfg node.Config, n int, policy string) *testFleet {
	t.Helper()
	ctx := context.Background()
	cfg.Addr, cfg.Log = "127.0.0.1:0", quiet
	nd, err := node.Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nd.Close(context.Background()) })
	f := &testFleet{node: nd, event: "gala"}
	if _, err := nd.Service.CreateEvent(ctx, fleet.Event{ID: f.event, Name: "Gala"}); err != nil {
		t.Fatal(err)
	}
	if n > 0 {
		if f.tickets, err = nd.Service.Issue(ctx, fleet.IssueRequest{Event: f.event, Type: "GA", Count: n, Policy: policy}); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f *testFleet) wsURL() string { return "ws://" + f.node.Addr() + "/ws" }

// scans returns what the fleet recorded, by device.
func (f *testFleet) scans(t testing.TB) []fleet.ScanRecord {
	t.Helper()
	s, err := f.node.Service.Store.RecentScans(context.Background(), 100000)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// proxy is a TCP relay between gates and the fleet that the test can cut.
type proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex // guards the fields below
	up    bool
	conns map[net.Conn]struct{}
}

func newProxy(t testing.TB, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, up: true, conns: map[net.Conn]struct{}{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done; p.SetUp(false) })
	return p
}

func (p *proxy) wsURL() string { return "ws://" + p.ln.Addr().String() + "/ws" }

func (p *proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.up {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *proxy) serve(c net.Conn) {
	if !p.track(c) {
		c.Close()
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil || !p.track(up) {
		c.Close()
		if up != nil {
			up.Close()
		}
		return
	}
	go func() { io.Copy(up, c); up.Close() }()
	io.Copy(c, up)
	c.Close()
}

// SetUp cuts (false) or restores (true) the link; cutting drops every
// open connection.
func (p *proxy) SetUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]struct{}{}
	}
}

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

// waitReplica waits until the gate has every ticket of the fleet.
func (g *testGate) waitReplica(t testing.TB, f *testFleet) {
	t.Helper()
	last := f.tickets[len(f.tickets)-1]
	testwait.For(t, "the replica", func() bool {
		_, err := g.DB().Ticket(context.Background(), f.event, last.ID)
		return err == nil
	})
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
