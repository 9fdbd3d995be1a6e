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
//   - TestReadyWhileTheFleetIssues, TestRestartAdmitsNewerOnSignature,
//     TestConfigPushThroughTheFleet, TestBadgeAndPartnerKeyFromTheFleet:
//     issue 12's acceptance — a new gate decides nothing before its first
//     snapshot, a restarted one admits newer tickets on their signature,
//     configs are applied or reported failed, badges and partner keys
//     come from the fleet.
//   - TestContestReachesFleet: two gates cut off from the fleet and from
//     each other both admit a ticket; the double admission reaches the
//     fleet as one contest once the links are back.

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"admit/agent"
	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/agent/uplink"
	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/api/apitest"
	"admit/fleet/audit"
	"admit/fleet/kek"
	"admit/fleet/node"
	"admit/fleet/postgres/pgtest"
	"admit/fleet/wire"
	"admit/hal"
	"admit/internal/testwait"
	"admit/internal/tlspin"
	"admit/ticket"
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
	// Wiped, the gate is not ready any more: it decides nothing (it
	// neither admits nor journals a refusal of a ticket it cannot check)
	// and says it is not healthy, revoked.
	if d := g.present(t, f.tickets[2].Code); d.Admitted || !d.Syncing {
		t.Fatalf("a revoked gate decided: %+v, want nothing decided", d)
	}
	if n := g.backlog(t); n != 2 {
		t.Fatalf("backlog after the wipe: %d, want 2 (the two entries; nothing decided since)", n)
	}
	if st := g.status(t); st.Healthy || st.Ready || !strings.Contains(strings.Join(st.Unhealthy, "\n"), "revoked") {
		t.Fatalf("status of a revoked gate: healthy %v, ready %v, %q", st.Healthy, st.Ready, st.Unhealthy)
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
	if len(seqs) != 2 || seqs[1] != 1 || seqs[2] != 1 {
		t.Fatalf("fleet scans by seq after re-enrollment: %v", seqs)
	}
}

// Issue 12: what a fresh, restarted, reconfigured gate does against a real
// fleet node.

// enrollByQR enrolls a new gate the way an installer does: an operator
// makes a one-time token (the enrollment QR), the gate sends its key with
// it; the gate's config then holds what the enrollment gave it.
func (f *testFleet) enrollByQR(t testing.TB, device string) agent.Config {
	t.Helper()
	ctx := context.Background()
	token, _, err := f.node.Service.CreateEnrollment(ctx, fleet.Enrollment{Device: device, Gate: device, Events: []string{f.event}}, 0)
	if err != nil {
		t.Fatal(err)
	}
	code := wire.EnrollURI{Fleet: f.node.URL(), Token: token, CAFingerprint: f.node.CAFingerprint, ReplicaKey: f.node.ReplicaKey}.String()
	_, key, _ := ed25519.GenerateKey(nil)
	res, err := uplink.Enroll(ctx, code, key, false)
	if err != nil {
		t.Fatal(err)
	}
	return agent.Config{Device: res.Device, Gate: res.Gate, Event: f.event, FleetURL: f.wsURL(), Key: key,
		CAFingerprint: res.CAFingerprint, ReplicaKey: res.ReplicaKey}
}

// decisionLog keeps every decision a gate reports.
type decisionLog struct {
	mu sync.Mutex
	ds []agent.Decision
}

func (l *decisionLog) add(d agent.Decision) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ds = append(l.ds, d)
}

func (l *decisionLog) all() []agent.Decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.ds)
}

// TestReadyWhileTheFleetIssues: a gate enrolled by QR and started while
// the fleet issues 10,000 tickets (on SQLite and on PostgreSQL) decides
// nothing until its first snapshot completed — every presentation before
// is "syncing", none refused — and the first valid ticket it is shown
// once ready is admitted; so are the tickets issued meanwhile, once they
// reached it.
func TestReadyWhileTheFleetIssues(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			ctx := context.Background()
			cfg := node.Config{DataDir: t.TempDir(), RequireEnrollment: true}
			if backend == "postgres" {
				k, _, err := kek.Generate()
				if err != nil {
					t.Fatal(err)
				}
				cfg.Postgres, cfg.KEK = pgtest.DSN(t), k
			}
			f := startFleetWith(t, cfg, 20, "single")
			issued := make(chan []fleet.Ticket, 1)
			go func() {
				var all []fleet.Ticket
				for range 10 {
					ts, err := f.node.Service.Issue(ctx, fleet.IssueRequest{Event: f.event, Type: "GA", Count: 1000})
					if err != nil {
						t.Error(err)
						break
					}
					all = append(all, ts...)
				}
				issued <- all
			}()
			gcfg := f.enrollByQR(t, "gate-new")
			var log decisionLog
			gcfg.OnDecision = log.add
			// Its link held back at first: it is shown a ticket before its
			// first snapshot for sure.
			px := newProxy(t, f.node.Addr())
			px.SetUp(false)
			gcfg.FleetURL = px.wsURL()
			g := startGate(t, gcfg)
			shown := f.tickets[0]
			if d := g.present(t, shown.Code); !d.Syncing || d.Admitted {
				t.Fatalf("before its first snapshot: %+v, want nothing decided", d)
			}
			if st := g.status(t); st.Ready || st.Healthy {
				t.Fatalf("status before the first snapshot: %+v", st)
			}
			px.SetUp(true)
			var first agent.Decision
			testwait.For(t, "the gate's first decision", func() bool {
				ready := g.DB().Ready(f.event)
				d := g.present(t, shown.Code)
				if d.Syncing && ready {
					t.Fatalf("not decided although ready: %+v", d)
				}
				first = d
				return !d.Syncing
			})
			if !first.Admitted || first.TicketID != shown.ID {
				t.Fatalf("the first valid ticket once ready: %+v, want admitted", first)
			}
			for _, d := range log.all() {
				if !d.Syncing && !d.Admitted {
					t.Fatalf("a valid ticket refused: %+v", d)
				}
			}
			all := <-issued
			if len(all) != 10_000 {
				t.Fatalf("issued %d tickets", len(all))
			}
			last := all[len(all)-1]
			testwait.For(t, "the tickets issued meanwhile", func() bool {
				_, err := g.DB().Ticket(ctx, f.event, last.ID)
				return err == nil
			})
			for _, tk := range []fleet.Ticket{all[0], all[4999], last} {
				if d := g.present(t, tk.Code); !d.Admitted || d.Reason != "" {
					t.Fatalf("a ticket issued while the gate started: %+v", d)
				}
			}
			if st := g.status(t); !st.Ready || !st.Healthy {
				t.Fatalf("status: %+v", st)
			}
		})
	}
}

// TestRestartAdmitsNewerOnSignature: a gate stopped, then started again
// after the fleet issued new tickets and before it can reach the fleet,
// admits them on their signature (journaled so) — once each, its mark
// travelling to the fleet and to another gate like any other; a ticket
// signed with the event's key that does not say when it was issued is
// still refused as not on the allowlist.
func TestRestartAdmitsNewerOnSignature(t *testing.T) {
	ctx := context.Background()
	f := startFleetWith(t, node.Config{DataDir: t.TempDir(), RequireEnrollment: true}, 5, "single")
	px := newProxy(t, f.node.Addr())
	cfg := f.linked(agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, FleetURL: px.wsURL(), Key: f.enrolled(t, "gate-1"),
		DataDir: filepath.Join(t.TempDir(), "gate-1")})
	g := startGate(t, cfg)
	g.waitReplica(t, f)
	other := startGate(t, f.linked(agent.Config{Device: "gate-2", Gate: "Gate 2", Event: f.event, Key: f.enrolled(t, "gate-2")}))
	other.waitReplica(t, f)

	g.stop()
	px.SetUp(false)
	fresh, err := f.node.Service.Issue(ctx, fleet.IssueRequest{Event: f.event, Type: "GA", Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	g = startGate(t, cfg)
	if g.Online() {
		t.Fatal("the restarted gate reached the fleet")
	}
	d := g.present(t, fresh[0].Code)
	if !d.Admitted || d.Reason != wire.ReasonOnSignature || !strings.Contains(d.Sentence, "admitted on signature: issued after last sync") {
		t.Fatalf("a ticket issued while the gate was down: %+v, want admitted on signature", d)
	}
	if d := g.present(t, fresh[0].Code); d.Admitted || d.Reason != decide.ReasonAlreadyUsed {
		t.Fatalf("the same ticket again: %+v", d)
	}
	if d := g.present(t, f.tickets[0].Code); !d.Admitted || d.Reason != "" {
		t.Fatalf("a ticket of the replica: %+v", d)
	}
	key, err := f.node.Service.Store.SigningKey(ctx, f.event)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	silent, err := ticket.Encode(ticket.Claims{ID: "SILENT1", Event: f.event, Type: "GA", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, key)
	if err != nil {
		t.Fatal(err)
	}
	if d := g.present(t, silent); d.Admitted || d.Reason != agent.ReasonUnknownTicket {
		t.Fatalf("a ticket that does not say when it was issued: %+v", d)
	}

	// Back online: the passage reaches the fleet, then the other gate.
	px.SetUp(true)
	testwait.For(t, "the backlog to drain", func() bool { return g.backlog(t) == 0 })
	var rec *fleet.ScanRecord
	for _, s := range f.scans(t) {
		if s.TicketID == fresh[0].ID && s.Outcome == wire.Admitted {
			rec = &s
		}
	}
	if rec == nil || rec.Reason != wire.ReasonOnSignature || rec.Device != "gate-1" {
		t.Fatalf("the fleet's record of the admission on signature: %+v", rec)
	}
	testwait.For(t, "the other gate to learn the passage", func() bool { return len(other.marksAt(t, f.event, fresh[0].ID)) == 1 })
	if d := other.present(t, fresh[0].Code); d.Admitted || d.Reason != decide.ReasonAlreadyUsed || !strings.Contains(d.Sentence, "Gate 1") {
		t.Fatalf("at the other gate: %+v, want refused as used at Gate 1", d)
	}
}

// apiClient is an admin's API token over the node's pinned TLS.
func (f *testFleet) apiClient(t testing.TB) *apitest.Client {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspin.Config(f.node.CAFingerprint)}}
	return apitest.NewToken(t, f.node.URL(), hc, f.node.Operators, access.Grant{Role: access.Admin, Event: access.AllEvents})
}

// call sends a JSON request with the token and returns the status and the
// raw answer.
func call(t testing.TB, c *apitest.Client, method, path, body string) (int, string) {
	t.Helper()
	resp, err := c.HTTP.Do(c.Request(method, path, "", strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// deviceState is what the API says of a device's config.
func deviceState(t testing.TB, c *apitest.Client, id string) fleet.DeviceStatus {
	t.Helper()
	var ds []fleet.DeviceStatus
	if st, _, err := c.Do("GET", "/api/devices", nil, &ds); err != nil || st != 200 {
		t.Fatalf("GET /api/devices: %d %v", st, err)
	}
	for _, d := range ds {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("no device %s in the API", id)
	return fleet.DeviceStatus{}
}

// TestConfigPushThroughTheFleet: a config put through the API reaches the
// gate, which applies it at once — its zone (refusing a ticket of another
// zone, by the zone's name the fleet defined), its direction — and the
// API shows it applied; a body that is no gate config is refused with a
// 400 naming the field; a config this gate cannot apply (formats: it has
// no camera) shows failed with the gate's reason in the API, the gate
// still running the config before it and saying it is not healthy.
func TestConfigPushThroughTheFleet(t *testing.T) {
	ctx := context.Background()
	f := startFleetWith(t, node.Config{DataDir: t.TempDir(), RequireEnrollment: true}, 2, "reentry")
	api := f.apiClient(t)
	for _, z := range []string{`/api/events/gala/zones/floor {"name":"The Floor"}`, `/api/events/gala/zones/vip {"name":"VIP deck"}`,
		`/api/events/gala/types/FLOOR {"name":"Floor","zones":["floor"]}`} {
		path, body, _ := strings.Cut(z, " ")
		if st, b := call(t, api, "PUT", path, body); st != 200 {
			t.Fatalf("PUT %s: %d %s", path, st, b)
		}
	}
	floor, err := f.node.Service.Issue(ctx, fleet.IssueRequest{Event: f.event, Type: "FLOOR", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	g := startGate(t, f.linked(agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, Key: f.enrolled(t, "gate-1")}))
	testwait.For(t, "the replica and the venue's zones", func() bool {
		_, err := g.DB().Ticket(ctx, f.event, floor[0].ID)
		return err == nil && g.DB().ZoneName(f.event, "vip") == "VIP deck"
	})
	put := func(body string) int64 {
		t.Helper()
		var c fleet.DesiredConfig
		st, b := call(t, api, "PUT", "/api/configs/device:gate-1", body)
		if st != 200 || json.Unmarshal([]byte(b), &c) != nil {
			t.Fatalf("PUT config %s: %d %s", body, st, b)
		}
		return c.Version
	}
	applied := func(v int64) {
		t.Helper()
		testwait.For(t, fmt.Sprintf("config %d applied, as the API says", v), func() bool {
			d := deviceState(t, api, "gate-1")
			return d.ConfigState == fleet.ConfigApplied && d.ConfigVersion == v && !d.Drift
		})
		if st := g.status(t); st.Settings.ConfigVersion != v || !st.Healthy {
			t.Fatalf("the gate runs config %d (healthy %v, %q), want %d", st.Settings.ConfigVersion, st.Healthy, st.Unhealthy, v)
		}
	}

	applied(put(`{"zone":"vip"}`))
	if d := g.present(t, floor[0].Code); d.Admitted || d.Reason != decide.ReasonWrongZone || d.Sentence != "Ticket is not valid for VIP deck" {
		t.Fatalf("a floor ticket at the VIP gate: %+v", d)
	}
	exit := put(`{"direction":"exit"}`)
	applied(exit)
	if d := g.present(t, f.tickets[0].Code); !d.Admitted || d.Direction != entry.Out {
		t.Fatalf("after direction exit: %+v", d)
	}
	testwait.For(t, "the exit at the fleet", func() bool {
		for _, s := range f.scans(t) {
			if s.TicketID == f.tickets[0].ID && s.Direction == wire.DirOut {
				return true
			}
		}
		return false
	})

	// Refused at the fleet, naming the field; nothing stored.
	for body, field := range map[string]string{`{"totally":"bogus"}`: `\"totally\"`, `{"direction":"sideways"}`: `\"direction\"`} {
		if st, b := call(t, api, "PUT", "/api/configs/device:gate-1", body); st != 400 || !strings.Contains(b, field) {
			t.Errorf("PUT config %s: %d %s, want 400 naming %s", body, st, b, field)
		}
	}
	if d := deviceState(t, api, "gate-1"); d.DesiredVersion != exit {
		t.Fatalf("a refused config changed the desired one: %+v", d)
	}

	// Valid, but not for this gate: it has no camera.
	formats := put(`{"formats":["qr","pdf417"]}`)
	testwait.For(t, "the failure in the API", func() bool {
		d := deviceState(t, api, "gate-1")
		return d.ConfigState == fleet.ConfigFailed && d.ConfigFailed == formats
	})
	d := deviceState(t, api, "gate-1")
	if d.ConfigVersion != exit || !d.Drift || !strings.Contains(d.ConfigError, "no camera") {
		t.Fatalf("a config the gate cannot apply: %+v", d)
	}
	st := g.status(t)
	if st.Healthy || st.Settings.ConfigVersion != exit || st.Settings.Direction != entry.Out || !strings.Contains(st.ConfigError, "no camera") {
		t.Fatalf("the gate after refusing it: %+v", st)
	}
	applied(put(`{}`)) // back to its own settings
	if st := g.status(t); st.Settings.Direction != entry.In || st.Settings.Zone != "" {
		t.Fatalf("an empty config: %+v", st.Settings)
	}
}

// TestBadgeAndPartnerKeyFromTheFleet: a UID badge and a partner's JWT key
// set through the API reach the gate in its venue scope: the badge opens
// it, the partner's ticket is admitted, and both passages reach the fleet
// with their reasons.
func TestBadgeAndPartnerKeyFromTheFleet(t *testing.T) {
	ctx := context.Background()
	f := startFleetWith(t, node.Config{DataDir: t.TempDir(), RequireEnrollment: true}, 1, "single")
	api := f.apiClient(t)
	uid := []byte{0x04, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6}
	pub, priv, _ := ed25519.GenerateKey(nil)
	pubJSON, _ := json.Marshal([]byte(pub))
	for path, body := range map[string]string{
		"/api/events/gala/badges/season-7":  `{"uid":"04A1B2C3D4E5F6","name":"Ada","policy":"reentry"}`,
		"/api/events/gala/partner-keys/tix": `{"kid":"p1","alg":"EdDSA","public":` + string(pubJSON) + `,"issuer":"tix"}`,
	} {
		if st, b := call(t, api, "PUT", path, body); st != 200 || strings.Contains(b, "04A1B2C3") {
			t.Fatalf("PUT %s: %d %s", path, st, b)
		}
	}
	g := startGate(t, f.linked(agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, Key: f.enrolled(t, "gate-1")}))
	testwait.For(t, "the badge and the key at the gate", func() bool {
		_, err := g.DB().BadgeByUID(ctx, []string{f.event}, wire.BadgeLookup(uid))
		return err == nil && len(g.DB().JWTKeys()) == 1 && g.DB().Ready(f.event)
	})
	d, err := g.Present(ctx, hal.Credential{Source: "nfc0", Kind: agent.UIDKind, Payload: uid, Assurance: hal.AssuranceLow})
	if err != nil || !d.Admitted || d.Reason != wire.ReasonBadge || d.TicketID != "badge:season-7" {
		t.Fatalf("the badge: %+v %v", d, err)
	}
	enc := base64.RawURLEncoding
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"jti": "TIX-1", "iss": "tix", "nbf": now.Add(-time.Hour).Unix(), "exp": now.Add(time.Hour).Unix()})
	in := enc.EncodeToString([]byte(`{"alg":"EdDSA","kid":"p1"}`)) + "." + enc.EncodeToString(payload)
	jwt := in + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(in)))
	if d := g.present(t, jwt); !d.Admitted || d.Reason != wire.ReasonPartnerSignature || d.TicketID != "TIX-1" {
		t.Fatalf("the partner's ticket: %+v", d)
	}
	testwait.For(t, "both passages at the fleet", func() bool {
		reasons := map[string]string{}
		for _, s := range f.scans(t) {
			reasons[s.TicketID] = s.Reason
		}
		return reasons["badge:season-7"] == wire.ReasonBadge && reasons["TIX-1"] == wire.ReasonPartnerSignature
	})
}

// TestEventsFromConfig: a config that adds an event the device serves in
// the fleet makes the gate sync it (a new session naming it, its first
// snapshot) and admit its tickets, besides the first event's.
func TestEventsFromConfig(t *testing.T) {
	ctx := context.Background()
	f := startFleetWith(t, node.Config{DataDir: t.TempDir(), RequireEnrollment: true}, 1, "single")
	if _, err := f.node.Service.CreateEvent(ctx, fleet.Event{ID: "cup"}); err != nil {
		t.Fatal(err)
	}
	cup, err := f.node.Service.Issue(ctx, fleet.IssueRequest{Event: "cup", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := f.node.Service.PreEnroll(ctx, fleet.Device{ID: "gate-1", Events: []string{f.event, "cup"}, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	g := startGate(t, f.linked(agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, Key: key}))
	g.waitReplica(t, f)
	if d := g.present(t, cup[0].Code); d.Admitted || d.Reason != string(ticket.ReasonWrongEvent) {
		t.Fatalf("a cup ticket at a gala gate: %+v", d)
	}
	if _, err := f.node.Service.PutConfig(ctx, "device:gate-1", json.RawMessage(`{"events":["gala","cup"]}`)); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "cup synced", func() bool { return g.DB().Ready("cup") })
	if d := g.present(t, cup[0].Code); !d.Admitted || d.Event != "cup" {
		t.Fatalf("a cup ticket once the gate serves cup: %+v", d)
	}
	if d := g.present(t, f.tickets[0].Code); !d.Admitted || d.Event != f.event {
		t.Fatalf("a gala ticket: %+v", d)
	}
	if st := g.status(t); len(st.Events) != 2 || !st.Ready || !st.Healthy {
		t.Fatalf("status: %+v", st)
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
