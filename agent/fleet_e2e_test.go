package agent_test

// The end-to-end tests of the gate against a real fleet node: the only
// tests of this package that start one (startFleet). Every other test
// seeds its gate's replica directly (seededGate, helpers_test.go). A test
// belongs here when what it asserts is the agent⇄fleet seam itself:
//
//   - TestKill9DuringBurst: every decision a SIGKILLed gate acted on
//     reaches the fleet exactly once — the uplink's resend and the fleet's
//     dedup by (device, seq) together. (Its child gate is in kill_test.go.)
//   - TestUplinkCutThenRestored: a burst journaled while the link is cut
//     drains when it is back, and the fleet records each scan once.
//   - TestPeersWithUplinkDown: gates that learnt of each other's passages
//     by gossip alone, back online, leave the fleet one admission per
//     ticket.
//   - TestExitThroughFleet, TestAnnulThroughFleet: a passage or an
//     annulment at one gate reaches another only through the fleet (scan
//     up, change log, batch down), with its direction and annulment intact.
//   - TestOnlineThroughNode: online decisions, signed with the device key,
//     claimed in a real node's store that requires enrollment.
//   - TestRevocationWipesButKeepsTheBacklog: the fleet revokes a gate; the
//     gate wipes, keeps its unacknowledged scans, and after re-enrollment
//     the fleet records them once each.
//   - TestContestReachesFleet: two gates cut off from the fleet and from
//     each other both admit a ticket; the double admission reaches the
//     fleet as one contest once the links are back.

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"admit/agent"
	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/fleet"
	"admit/fleet/audit"
	"admit/fleet/node"
	"admit/fleet/wire"
	"admit/internal/testwait"
	"admit/ticket/entry"
)

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

// wsURL is the node's agent stream: WSS, with the node's own CA.
func (f *testFleet) wsURL() string { return f.node.AgentURL() }

// linked completes a gate's config as enrollment leaves it: the fleet's
// CA pinned, its replica key held, and its stream unless FleetURL is set
// (a proxy).
func (f *testFleet) linked(cfg agent.Config) agent.Config {
	if cfg.FleetURL == "" {
		cfg.FleetURL = f.wsURL()
	}
	cfg.CAFingerprint, cfg.ReplicaKey = f.node.CAFingerprint, f.node.ReplicaKey
	return cfg
}

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

// wsURL is the fleet's stream through the proxy (TLS passes through it;
// the gate pins the fleet's CA, which names no address).
func (p *proxy) wsURL() string { return "wss://" + p.ln.Addr().String() + "/ws" }

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

// waitReplica waits until the gate has every ticket of the fleet.
func (g *testGate) waitReplica(t testing.TB, f *testFleet) {
	t.Helper()
	last := f.tickets[len(f.tickets)-1]
	testwait.For(t, "the replica", func() bool {
		_, err := g.DB().Ticket(context.Background(), f.event, last.ID)
		return err == nil
	})
}

// TestKill9DuringBurst: a gate is SIGKILLed at random points of a scan
// burst, several times, then left to finish. Every decision it acted on is
// in the journal and reaches the fleet exactly once; no ticket is admitted
// twice; the relay never pulsed for a decision the fleet has not recorded.
func TestKill9DuringBurst(t *testing.T) {
	const burst = 40
	f := startFleet(t, t.TempDir(), burst, "single")
	dir := t.TempDir()
	var codes []string
	for _, tk := range f.tickets {
		codes = append(codes, tk.Code)
	}
	// Each run presents the whole burst again: the already-used ones are
	// refused, which journals more decisions to be killed in the middle of.
	if err := os.WriteFile(filepath.Join(dir, "codes"), []byte(strings.Join(codes, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	decisions := filepath.Join(dir, "decisions")
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", "KILL_DIR="+dir, "KILL_FLEET="+f.wsURL(),
			"KILL_PIN="+hex.EncodeToString(f.node.CAFingerprint), "KILL_REPLICA_KEY="+hex.EncodeToString(f.node.ReplicaKey),
			"KILL_EVENT="+f.event, "KILL_LAST_ID="+f.tickets[burst-1].ID)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	const kills = 5
	for i := range kills {
		before := countLines(decisions)
		cmd := start()
		target := before + 1 + rng.IntN(burst)
		testwait.For(t, "decisions before the kill", func() bool {
			return countLines(decisions) >= target || countLines(filepath.Join(dir, "child-errors")) > 0
		})
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		t.Logf("kill %d after %d decisions", i+1, countLines(decisions)-before)
	}
	cmd := start()
	testwait.For(t, "the last run to finish and drain", func() bool {
		return countLines(filepath.Join(dir, "done")) > 0 || countLines(filepath.Join(dir, "child-errors")) > 0
	})
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if b, err := os.ReadFile(filepath.Join(dir, "child-errors")); err == nil {
		t.Fatalf("child failed: %s", b)
	}

	fleetBySeq := map[int64]wire.Scan{}
	admitted := map[string]int{}
	for _, s := range f.scans(t) {
		if s.Device != "gate-k" {
			continue
		}
		fleetBySeq[s.Seq] = s.Scan
		if s.Outcome == wire.Admitted {
			admitted[s.TicketID]++
		}
	}
	fh, err := os.Open(decisions)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	acted := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			t.Fatalf("torn decision line %q", sc.Text())
		}
		seq, _ := strconv.ParseInt(fields[0], 10, 64)
		s, ok := fleetBySeq[seq]
		if !ok {
			t.Fatalf("decision %q was acted on but never reached the fleet", sc.Text())
		}
		id := ""
		if len(fields) > 2 {
			id = fields[2]
		}
		if s.Outcome != fields[1] || s.TicketID != id {
			t.Fatalf("decision %q recorded by the fleet as %+v", sc.Text(), s)
		}
		acted++
	}
	for id, n := range admitted {
		if n != 1 {
			t.Fatalf("ticket %s admitted %d times", id, n)
		}
	}
	reasons := map[string]int{}
	for _, s := range fleetBySeq {
		reasons[s.Outcome+"/"+s.Reason]++
	}
	t.Logf("fleet: %v", reasons)
	if len(admitted) != burst {
		t.Fatalf("%d tickets admitted at the fleet, want all %d", len(admitted), burst)
	}
	total := 0
	for range admitted {
		total++
	}
	if p := countLines(filepath.Join(dir, "pulses")); p > total {
		t.Fatalf("relay pulsed %d times, fleet recorded %d admissions", p, total)
	}
	// The gate's journal was compacted after the fleet acknowledged it.
	t.Logf("%d decisions acted on, %d scans at the fleet, %d pulses", acted, len(fleetBySeq), countLines(filepath.Join(dir, "pulses")))
}

// TestUplinkCutThenRestored: the uplink is down for a whole burst; every
// decision waits in the journal, then drains once the link is back, and the
// fleet records each exactly once.
func TestUplinkCutThenRestored(t *testing.T) {
	f := startFleet(t, t.TempDir(), 40, "single")
	px := newProxy(t, f.node.Addr())
	g := startGate(t, f.linked(agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, FleetURL: px.wsURL()}))
	g.waitReplica(t, f)
	testwait.For(t, "the uplink", g.Online)

	px.SetUp(false)
	testwait.For(t, "the uplink to drop", func() bool { return !g.Online() })
	const burst = 60 // 40 tickets, then 20 of them again
	for i := range burst {
		g.present(t, f.tickets[i%len(f.tickets)].Code)
	}
	if n := g.backlog(t); n != burst {
		t.Fatalf("backlog %d during the cut, want %d", n, burst)
	}
	if n := len(f.scans(t)); n != 0 {
		t.Fatalf("fleet has %d scans while cut off", n)
	}

	px.SetUp(true)
	testwait.For(t, "the backlog to drain", func() bool { return g.backlog(t) == 0 })
	scans := f.scans(t)
	if len(scans) != burst {
		t.Fatalf("fleet has %d scans, want %d", len(scans), burst)
	}
	seqs := map[int64]bool{}
	admitted := map[string]int{}
	for _, s := range scans {
		if s.Device != "gate-1" || seqs[s.Seq] {
			t.Fatalf("duplicate or foreign scan %+v", s)
		}
		seqs[s.Seq] = true
		if s.Outcome == wire.Admitted {
			admitted[s.TicketID]++
		}
	}
	for seq := int64(1); seq <= burst; seq++ {
		if !seqs[seq] {
			t.Fatalf("seq %d missing at the fleet", seq)
		}
	}
	if len(admitted) != len(f.tickets) {
		t.Fatalf("%d tickets admitted, want %d", len(admitted), len(f.tickets))
	}
	for id, n := range admitted {
		if n != 1 {
			t.Fatalf("ticket %s admitted %d times", id, n)
		}
	}
}

// TestPeersWithUplinkDown: with the fleet unreachable, a ticket admitted at
// gate A is refused at gate B, because A gossiped its passage over the LAN,
// signed with A's key, which B learnt from the fleet (the event's venue
// scope) while the uplink was up.
func TestPeersWithUplinkDown(t *testing.T) {
	ctx := context.Background()
	f := startFleet(t, t.TempDir(), 5, "single")
	px := newProxy(t, f.node.Addr())
	gates := startPeers(t, f.event, 2,
		func(_ int, cfg *agent.Config) {
			cfg.FleetURL, cfg.Key = px.wsURL(), f.enrolled(t, cfg.Device)
			*cfg = f.linked(*cfg)
		},
		func(g *testGate) {
			g.waitReplica(t, f)
			testwait.For(t, "the venue's device keys", func() bool {
				_, a := g.DB().VenueDevice(f.event, "gate-0")
				_, b := g.DB().VenueDevice(f.event, "gate-1")
				return a && b
			})
		})
	a, b := gates[0], gates[1]
	px.SetUp(false)
	testwait.For(t, "both uplinks to drop", func() bool { return !a.Online() && !b.Online() })

	for _, tk := range f.tickets {
		if d := a.present(t, tk.Code); !d.Admitted {
			t.Fatalf("gate A: %+v", d)
		}
		testwait.For(t, "gate B to learn the passage", func() bool {
			ms, _ := b.DB().Marks(ctx, f.event, tk.ID)
			return len(ms) == 1
		})
		d := b.present(t, tk.Code)
		if d.Admitted || d.Reason != agent.ReasonAlreadyUsed || !strings.Contains(d.Sentence, "Gate A") {
			t.Fatalf("gate B: %+v, want refused as used at Gate A", d)
		}
	}
	if a.relay.Pulses() != len(f.tickets) || b.relay.Pulses() != 0 {
		t.Fatalf("pulses A=%d B=%d", a.relay.Pulses(), b.relay.Pulses())
	}
	// Back online, the fleet records one admission per ticket.
	px.SetUp(true)
	for _, g := range gates {
		testwait.For(t, "the backlog to drain", func() bool { return g.backlog(t) == 0 })
	}
	admitted := map[string]int{}
	for _, s := range f.scans(t) {
		if s.Outcome == wire.Admitted {
			admitted[s.TicketID]++
		}
	}
	for _, tk := range f.tickets {
		if admitted[tk.ID] != 1 {
			t.Fatalf("fleet: ticket %s admitted %d times", tk.ID, admitted[tk.ID])
		}
	}
}

// TestExitThroughFleet: a re-entry ticket enters at gate A, exits at gate
// B, and comes back in at gate C, which learnt of both passages only
// through the fleet (no peers). Before protocol 3 the exit travelled as an
// admission, so C counted two entries and refused the holder.
func TestExitThroughFleet(t *testing.T) {
	f := startFleet(t, t.TempDir(), 1, "reentry")
	gate := func(device, name string, dir entry.Direction) *testGate {
		g := startGate(t, f.linked(agent.Config{Device: device, Gate: name, Event: f.event, Direction: dir}))
		g.waitReplica(t, f)
		return g
	}
	a := gate("gate-a", "Gate A", entry.In)
	b := gate("gate-b", "Gate B", entry.Out)
	c := gate("gate-c", "Gate C", entry.In)
	tk := f.tickets[0]

	if d := a.present(t, tk.Code); !d.Admitted {
		t.Fatalf("entry at A: %+v", d)
	}
	testwait.For(t, "C to learn the entry", func() bool { return len(c.marksAt(t, f.event, tk.ID)) == 1 })
	if d := c.present(t, tk.Code); d.Admitted || d.Reason != decide.ReasonNoExit {
		t.Fatalf("at C while inside: %+v, want refused (no exit)", d)
	}
	if d := b.present(t, tk.Code); !d.Admitted || d.Direction != entry.Out {
		t.Fatalf("exit at B: %+v", d)
	}
	var fromB *gatedb.Mark
	testwait.For(t, "C to learn of the passage at B", func() bool {
		for _, m := range c.marksAt(t, f.event, tk.ID) {
			if m.Device == "gate-b" {
				fromB = &m
				return true
			}
		}
		return false
	})
	if fromB.Direction != entry.Out || fromB.Gate != "Gate B" {
		t.Fatalf("C knows the exit at B as %+v", *fromB)
	}
	if d := c.present(t, tk.Code); !d.Admitted || d.Sentence != "Welcome back" {
		t.Fatalf("re-entry at C after the exit at B: %+v", d)
	}
}

// TestAnnulThroughFleet: a single-entry ticket admitted at gate A is
// annulled there by staff ("did not go through"); gate B, which hears of
// both only through the fleet (no peers), then admits it. The fleet
// records who annulled it, in the scan and the audit log.
func TestAnnulThroughFleet(t *testing.T) {
	f := startFleet(t, t.TempDir(), 1, "single")
	a := startGate(t, f.linked(agent.Config{Device: "gate-a", Gate: "Gate A", Event: f.event}))
	b := startGate(t, f.linked(agent.Config{Device: "gate-b", Gate: "Gate B", Event: f.event}))
	a.waitReplica(t, f)
	b.waitReplica(t, f)
	tk := f.tickets[0]

	if d := a.present(t, tk.Code); !d.Admitted {
		t.Fatalf("entry at A: %+v", d)
	}
	testwait.For(t, "B to learn the entry", func() bool { return len(b.marksAt(t, f.event, tk.ID)) == 1 })
	if d := b.present(t, tk.Code); d.Admitted || d.Reason != decide.ReasonAlreadyUsed {
		t.Fatalf("at B before the annulment: %+v", d)
	}
	if _, err := a.AnnulLast(context.Background(), "ada", "did not go through"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "B to learn the annulment", func() bool {
		ms := b.marksAt(t, f.event, tk.ID)
		return len(ms) == 1 && ms[0].Annulled
	})
	if d := b.present(t, tk.Code); !d.Admitted {
		t.Fatalf("at B after the annulment at A: %+v", d)
	}
	// The fleet keeps who annulled it, and audits the staff action.
	testwait.For(t, "the annulment at the fleet, with its staff member", func() bool {
		for _, sc := range f.scans(t) {
			if sc.Reason == decide.ReasonAnnulled && sc.Staff == "ada" {
				return true
			}
		}
		return false
	})
	es, err := f.node.Audit.AuditLog(context.Background(), audit.Filter{Kind: audit.ActorStaff})
	if err != nil || len(es) != 1 || es[0].Actor != "ada" || !strings.Contains(es[0].Target, "device=gate-a") {
		t.Fatalf("audit of the staff annulment: %+v %v", es, err)
	}
	// The new entry counts again, everywhere.
	testwait.For(t, "A to learn the entry at B", func() bool { return len(a.marksAt(t, f.event, tk.ID)) == 2 })
	if d := a.present(t, tk.Code); d.Admitted || !strings.Contains(d.Sentence, "Gate B") {
		t.Fatalf("at A after the entry at B: %+v", d)
	}
}

// enrolled pre-enrolls a device key with the fleet and returns it.
func (f *testFleet) enrolled(t testing.TB, device string) ed25519.PrivateKey {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := f.node.Service.PreEnroll(context.Background(), fleet.Device{ID: device, Events: []string{f.event}, PublicKey: pub}); errors.Is(err, fleet.ErrExists) {
		_, err = f.node.Service.RekeyDevice(context.Background(), device, pub) // enrolled again: the explicit re-key
		if err != nil {
			t.Fatal(err)
		}
	} else if err != nil {
		t.Fatal(err)
	}
	return key
}

// TestOnlineThroughNode: two enrolled gates in online mode against a real
// node that requires enrollment. Gate 2's stream is cut once its replica
// is complete, so only the fleet's online decision (signed with its device
// key, claimed in the node's store) can tell it that gate 1 admitted the
// ticket.
func TestOnlineThroughNode(t *testing.T) {
	f := startFleetWith(t, node.Config{DataDir: t.TempDir(), RequireEnrollment: true}, 2, "single")
	px := newProxy(t, f.node.Addr())
	var gates []*testGate
	for i, name := range []string{"gate-1", "gate-2"} {
		key := f.enrolled(t, name)
		url := f.wsURL()
		if i == 1 {
			url = px.wsURL()
		}
		auth := agent.NewHTTPAuthority(f.wsURL(), key, f.node.CAFingerprint)
		auth.ReplicaKey = func() ed25519.PublicKey { return f.node.ReplicaKey } // answers must be signed
		g := startGate(t, f.linked(agent.Config{Device: name, Gate: name, Event: f.event, FleetURL: url, Key: key,
			Online: &agent.OnlineConfig{Authority: auth, Timeout: 5 * time.Second}}))
		g.waitReplica(t, f)
		gates = append(gates, g)
	}
	px.SetUp(false)
	testwait.For(t, "gate-2's stream to drop", func() bool { return !gates[1].Online() })

	tk := f.tickets[0]
	if d := gates[0].present(t, tk.Code); !d.Admitted || !d.ByFleet {
		t.Fatalf("gate-1: %+v, want admitted by the fleet", d)
	}
	d := gates[1].present(t, tk.Code)
	if d.Admitted || !d.ByFleet || d.Reason != agent.ReasonAlreadyUsed || !strings.Contains(d.Sentence, "gate-1") {
		t.Fatalf("gate-2: %+v, want refused by the fleet as used at gate-1", d)
	}
	if gates[1].Mode() != agent.ModeOnline {
		t.Fatalf("gate-2 fell back to %s", gates[1].Mode())
	}
	// The other ticket is free: gate-2 gets it.
	if d := gates[1].present(t, f.tickets[1].Code); !d.Admitted || !d.ByFleet {
		t.Fatalf("gate-2, a fresh ticket: %+v", d)
	}
}

// TestRevocationWipesButKeepsTheBacklog: a gate admits two tickets while
// its uplink is cut, and is revoked meanwhile. When the link comes back the
// fleet tells it, and the gate wipes what names or opens tickets and
// refuses everything; its two unacknowledged scans survive the wipe and
// reach the fleet, once each, after the operator enrolls it again.
func TestRevocationWipesButKeepsTheBacklog(t *testing.T) {
	ctx := context.Background()
	f := startFleetWith(t, node.Config{DataDir: t.TempDir(), RequireEnrollment: true}, 3, "single")
	px := newProxy(t, f.node.Addr())
	dir := filepath.Join(t.TempDir(), "gate-1")
	cfg := f.linked(agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, FleetURL: px.wsURL(), DataDir: dir, Key: f.enrolled(t, "gate-1")})
	g := startGate(t, cfg)
	g.waitReplica(t, f)
	testwait.For(t, "the uplink", g.Online)

	px.SetUp(false)
	testwait.For(t, "the uplink to drop", func() bool { return !g.Online() })
	for _, tk := range f.tickets[:2] {
		if d := g.present(t, tk.Code); !d.Admitted {
			t.Fatalf("entry: %+v", d)
		}
	}
	if err := f.node.Service.RevokeDevice(ctx, "gate-1"); err != nil {
		t.Fatal(err)
	}
	px.SetUp(true)
	testwait.For(t, "the wipe", func() bool {
		_, err := g.DB().State(ctx, f.event, f.tickets[2].ID)
		return errors.Is(err, gatedb.ErrUnknownTicket)
	})
	if ms := g.marksAt(t, f.event, f.tickets[0].ID); len(ms) != 0 {
		t.Fatalf("marks survived the wipe: %+v", ms)
	}
	testwait.For(t, "the gate to forget its decisions", func() bool { return len(g.LastDecisions(10)) == 0 })
	if d := g.present(t, f.tickets[2].Code); d.Admitted {
		t.Fatalf("a revoked gate admitted: %+v", d)
	}
	if n := g.backlog(t); n != 3 {
		t.Fatalf("backlog after the wipe: %d, want 3 (two entries and the refusal since)", n)
	}
	if n := len(f.scans(t)); n != 0 {
		t.Fatalf("the fleet took %d scans from a revoked device", n)
	}

	// Enrolled again (a new key): the backlog drains, each scan once.
	g.stop()
	cfg.Key = f.enrolled(t, "gate-1")
	g = startGate(t, cfg)
	testwait.For(t, "the backlog to drain", func() bool { return g.backlog(t) == 0 })
	seqs := map[int64]int{}
	for _, s := range f.scans(t) {
		seqs[s.Seq]++
	}
	if len(seqs) != 3 || seqs[1] != 1 || seqs[2] != 1 || seqs[3] != 1 {
		t.Fatalf("fleet scans by seq after re-enrollment: %v", seqs)
	}
}

// TestContestReachesFleet: two enrolled gates lose both their uplink and
// their LAN link; each admits the same ticket alone. Once the LAN is
// back, each notices the double admission; once the uplink is back, the
// fleet records it once (both gates reported it) as a contested entry,
// and acknowledges it: nothing is left queued at either gate.
func TestContestReachesFleet(t *testing.T) {
	ctx := context.Background()
	f := startFleet(t, t.TempDir(), 1, "single")
	up := newProxy(t, f.node.Addr())
	gates, lan := partitionable(t, f.event, func(g *testGate) {
		g.waitReplica(t, f)
		testwait.For(t, "the venue's device keys", func() bool {
			_, a := g.DB().VenueDevice(f.event, "gate-0")
			_, b := g.DB().VenueDevice(f.event, "gate-1")
			return a && b
		})
	}, func(_ int, cfg *agent.Config) {
		cfg.FleetURL, cfg.Key = up.wsURL(), f.enrolled(t, cfg.Device)
		*cfg = f.linked(*cfg)
	})
	up.SetUp(false)
	for _, c := range lan {
		c.SetUp(false)
	}
	for _, g := range gates {
		testwait.For(t, "the gate to be cut off", func() bool { return !g.Online() && g.ClaimPeers() == 0 })
	}
	tk := f.tickets[0]
	for i, g := range gates {
		if d := g.present(t, tk.Code); !d.Admitted {
			t.Fatalf("gate %d alone: %+v", i, d)
		}
	}
	for _, c := range lan {
		c.SetUp(true)
	}
	for _, g := range gates {
		testwait.For(t, "the contest noticed", func() bool {
			cs, err := g.DB().PendingContests(ctx, 0, 10)
			return err == nil && len(cs) == 1
		})
	}
	up.SetUp(true)
	testwait.For(t, "the fleet to record the contest", func() bool {
		cs, err := f.node.Service.Store.Contests(ctx, nil, 10)
		return err == nil && len(cs) == 1
	})
	for _, g := range gates {
		testwait.For(t, "the contest acknowledged", func() bool {
			cs, err := g.DB().PendingContests(ctx, 0, 10)
			return err == nil && len(cs) == 0
		})
	}
	cs, _ := f.node.Service.Store.Contests(ctx, nil, 10)
	if c := cs[0]; c.Kind != wire.ContestEntry || c.TicketID != tk.ID || c.First.Device != "gate-0" || c.Second.Device != "gate-1" {
		t.Fatalf("the fleet recorded %+v", c)
	}
}
