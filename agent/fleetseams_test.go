package agent_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"admit/agent"
	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/fleet"
	"admit/fleet/node"
	"admit/internal/testwait"
	"admit/ticket"
	"admit/ticket/entry"
)

// marksAt returns the passages gate g knows of a ticket.
func (g *testGate) marksAt(t testing.TB, event, id string) []gatedb.Mark {
	t.Helper()
	ms, err := g.DB().Marks(context.Background(), event, id)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestExitThroughFleet: a re-entry ticket enters at gate A, exits at gate
// B, and comes back in at gate C, which learnt of both passages only
// through the fleet (no peers). Before protocol 3 the exit travelled as an
// admission, so C counted two entries and refused the holder.
func TestExitThroughFleet(t *testing.T) {
	f := startFleet(t, t.TempDir(), 1, "reentry")
	gate := func(device, name string, dir entry.Direction) *testGate {
		g := startGate(t, agent.Config{Device: device, Gate: name, Event: f.event, FleetURL: f.wsURL(), Direction: dir})
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
// both only through the fleet (no peers), then admits it.
func TestAnnulThroughFleet(t *testing.T) {
	f := startFleet(t, t.TempDir(), 1, "single")
	a := startGate(t, agent.Config{Device: "gate-a", Gate: "Gate A", Event: f.event, FleetURL: f.wsURL()})
	b := startGate(t, agent.Config{Device: "gate-b", Gate: "Gate B", Event: f.event, FleetURL: f.wsURL()})
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
	if _, err := a.AnnulLast(context.Background(), "did not go through"); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "B to learn the annulment", func() bool {
		ms := b.marksAt(t, f.event, tk.ID)
		return len(ms) == 1 && ms[0].Annulled
	})
	if d := b.present(t, tk.Code); !d.Admitted {
		t.Fatalf("at B after the annulment at A: %+v", d)
	}
	// The new entry counts again, everywhere.
	testwait.For(t, "A to learn the entry at B", func() bool { return len(a.marksAt(t, f.event, tk.ID)) == 2 })
	if d := a.present(t, tk.Code); d.Admitted || !strings.Contains(d.Sentence, "Gate B") {
		t.Fatalf("at A after the entry at B: %+v", d)
	}
}

// TestRotatingTicketFromFleet: a ticket the fleet issues as rotating
// carries its TOTP secret to the gate through the replica (never in the
// code): the current rotating code admits, an old one is refused as a
// screenshot, and the static code alone is refused.
func TestRotatingTicketFromFleet(t *testing.T) {
	ctx := context.Background()
	f := startFleet(t, t.TempDir(), 0, "")
	ts, err := f.node.Service.Issue(ctx, fleet.IssueRequest{Event: f.event, Type: "GA", Count: 2, Rotating: true})
	if err != nil {
		t.Fatal(err)
	}
	f.tickets = ts
	tk := ts[0]
	if len(tk.CodeSecret) == 0 {
		t.Fatal("rotating ticket issued without a secret")
	}
	if c, err := ticket.ParseUnverified(tk.Code); err != nil || !c.Rotating {
		t.Fatalf("static code of a rotating ticket: %+v %v", c, err)
	}
	g := startGate(t, agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, FleetURL: f.wsURL()})
	g.waitReplica(t, f)

	if d := g.present(t, tk.Code); d.Admitted || d.Reason != string(ticket.ReasonMissingCode) {
		t.Fatalf("static code: %+v", d)
	}
	old, _ := ticket.Rotate(tk.Code, tk.CodeSecret, time.Now().Add(-2*time.Minute))
	if d := g.present(t, old); d.Admitted || d.Reason != string(ticket.ReasonExpiredCode) || d.Sentence != "expired code (screenshot?)" {
		t.Fatalf("old rotating code: %+v", d)
	}
	cur, _ := ticket.Rotate(tk.Code, tk.CodeSecret, time.Now())
	if d := g.present(t, cur); !d.Admitted || d.TicketID != tk.ID {
		t.Fatalf("current rotating code: %+v", d)
	}
	// Another ticket's secret does not open this one.
	wrong, _ := ticket.Rotate(ts[1].Code, tk.CodeSecret, time.Now())
	if d := g.present(t, wrong); d.Admitted {
		t.Fatalf("rotating code made with another ticket's secret: %+v", d)
	}
}

// enrolled pre-enrolls a device key with the fleet and returns it.
func (f *testFleet) enrolled(t testing.TB, device string) ed25519.PrivateKey {
	t.Helper()
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := f.node.Service.PreEnroll(context.Background(), fleet.Device{ID: device, PublicKey: pub}); errors.Is(err, fleet.ErrExists) {
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
		g := startGate(t, agent.Config{Device: name, Gate: name, Event: f.event, FleetURL: url, Key: key,
			Online: &agent.OnlineConfig{Authority: agent.NewHTTPAuthority(f.wsURL(), key, nil), Timeout: 5 * time.Second}})
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
	cfg := agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, FleetURL: px.wsURL(), DataDir: dir, Key: f.enrolled(t, "gate-1")}
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
