package agent_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"admit/agent"
	"admit/agent/decide"
	"admit/clock"
	"admit/fleet/wire"
	"admit/hal"
	"admit/internal/testwait"
	"admit/ticket"
	"admit/ticket/entry"
)

// TestRules: single entry, re-entry through an exit on a two-sided gate,
// multi-entry, rotating codes with the per-ticket secret from the
// allowlist, unknown and forged tickets.
func TestRules(t *testing.T) {
	ctx := context.Background()
	ev := newEvent(t, time.Now(), 3, "single")
	g := seededGate(t, ev, agent.Config{Device: "gate-1", Gate: "Gate 1",
		Direction: entry.Both, ReaderSides: map[string]entry.Direction{"exit-reader": entry.Out}, Location: time.UTC})

	tk := ev.tickets[0]
	if d := g.present(t, tk.Code); !d.Admitted || d.TicketID != tk.ID || d.Direction != entry.In {
		t.Fatalf("first entry: %+v", d)
	}
	d := g.present(t, tk.Code)
	if d.Admitted || d.Reason != agent.ReasonAlreadyUsed || !strings.HasPrefix(d.Sentence, "Already used at Gate 1 at ") {
		t.Fatalf("second entry: %+v", d)
	}
	// An exit is always allowed; a single-entry ticket still cannot come back.
	d, err := g.Present(ctx, hal.Credential{Source: "exit-reader", Payload: []byte(tk.Code)})
	if err != nil || !d.Admitted || d.Direction != entry.Out {
		t.Fatalf("exit: %+v %v", d, err)
	}
	if d := g.present(t, tk.Code); d.Admitted {
		t.Fatalf("single entry after exit admitted: %+v", d)
	}

	// Rotating code: with a secret on the allowlist, the static code is
	// refused and the current rotating code admits.
	rot := ev.tickets[1]
	secret, _ := ticket.GenerateCodeSecret()
	if err := g.DB().SetCodeSecret(ctx, ev.event, rot.ID, secret); err != nil {
		t.Fatal(err)
	}
	if d := g.present(t, rot.Code); d.Admitted || d.Reason != string(ticket.ReasonMissingCode) {
		t.Fatalf("static code of a rotating ticket: %+v", d)
	}
	old, _ := ticket.Rotate(rot.Code, secret, time.Now().Add(-5*time.Minute))
	if d := g.present(t, old); d.Admitted || d.Reason != string(ticket.ReasonExpiredCode) {
		t.Fatalf("old rotating code: %+v", d)
	}
	cur, _ := ticket.Rotate(rot.Code, secret, time.Now())
	if d := g.present(t, cur); !d.Admitted {
		t.Fatalf("current rotating code: %+v", d)
	}

	if d := g.present(t, "AD1:NOTATICKET"); d.Admitted || d.TicketID != "" {
		t.Fatalf("garbage: %+v", d)
	}
	if g.relay.Pulses() != 3 {
		t.Fatalf("relay pulsed %d times, want 3 (entry, exit, rotating entry)", g.relay.Pulses())
	}
}

// TestRotatingTicketFromReplica: a rotating ticket's TOTP secret reaches
// the gate through the replica (never in the code): the current rotating
// code admits, an old one is refused as a screenshot, and the static code
// alone is refused. (That the fleet issues rotating tickets with a secret
// and replicates it is fleet's TestIssueRotatingTickets and replicate's
// TestIssuedTicketsReplicate.)
func TestRotatingTicketFromReplica(t *testing.T) {
	ev := newEvent(t, time.Now(), 0, "single")
	ts := ev.issue(t, 2, "single", true)
	tk := ts[0]
	g := seededGate(t, ev, agent.Config{})

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

func TestReEntryAndMulti(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "reentry")
	g := seededGate(t, ev, agent.Config{Device: "gate-1", Gate: "Gate 1",
		Direction: entry.Both, ReaderSides: map[string]entry.Direction{"out": entry.Out}})
	tk := ev.tickets[0]
	exit := func() {
		t.Helper()
		d, err := g.Present(context.Background(), hal.Credential{Source: "out", Payload: []byte(tk.Code)})
		if err != nil || !d.Admitted {
			t.Fatalf("exit: %+v %v", d, err)
		}
	}
	for i, want := range []bool{true, false} {
		if d := g.present(t, tk.Code); d.Admitted != want {
			t.Fatalf("entry %d: %+v, want admitted=%v", i, d, want)
		}
	}
	exit()
	if d := g.present(t, tk.Code); !d.Admitted || d.Sentence != "Welcome back" {
		t.Fatalf("re-entry after exit: %+v", d)
	}
	if d := g.present(t, tk.Code); d.Admitted || d.Reason != decide.ReasonNoExit {
		t.Fatalf("re-entry without exit: %+v", d)
	}
}

// TestPassageTimeoutAnnuls: an entry with no passage within the timeout is
// annulled (journaled, for the fleet) and the holder may present again; an
// entry followed by a passage stands.
func TestPassageTimeoutAnnuls(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Now())
	ev := newEvent(t, clk.Now(), 2, "single")
	sensor := newPassageTwin()
	annulled := make(chan agent.Decision, 4)
	g := seededGate(t, ev, agent.Config{Device: "gate-1", Gate: "Gate 1",
		Clock: clk, Passage: sensor, PassageTimeout: 10 * time.Second,
		OnDecision: func(d agent.Decision) {
			if d.Reason == decide.ReasonNoPassage {
				annulled <- d
			}
		}})
	tk := ev.tickets[0]

	armed := clk.Armed()
	if d := g.present(t, tk.Code); !d.Admitted {
		t.Fatalf("entry: %+v", d)
	}
	<-armed // the watcher waits for the passage
	clk.Advance(10 * time.Second)
	var a agent.Decision
	select {
	case a = <-annulled:
	case <-time.After(20 * time.Second):
		t.Fatal("no annulment")
	}
	if a.TicketID != tk.ID || a.Admitted || a.Seq == 0 {
		t.Fatalf("annulment: %+v", a)
	}
	// The annulment is journaled, to go upstream as a scan.
	testwait.For(t, "the annulment in the journal for the fleet", func() bool {
		for _, s := range g.upstream(t) {
			if s.Seq == a.Seq && s.TicketID == tk.ID && s.Reason == decide.ReasonNoPassage && s.Outcome == wire.Refused {
				return true
			}
		}
		return false
	})
	// The holder tries again; this time the turnstile turns.
	armed = clk.Armed()
	if d := g.present(t, tk.Code); !d.Admitted {
		t.Fatalf("retry after annulment: %+v", d)
	}
	<-armed
	sensor.Pass()
	testwait.For(t, "the passage to be confirmed", func() bool {
		p, _ := g.DB().PendingPassages(ctx)
		return len(p) == 0
	})
	clk.Advance(time.Minute)
	if d := g.present(t, tk.Code); d.Admitted || d.Reason != agent.ReasonAlreadyUsed {
		t.Fatalf("after a confirmed passage: %+v", d)
	}
	if len(annulled) != 0 {
		t.Fatalf("confirmed entry annulled: %+v", <-annulled)
	}
}

// TestRestartAnnulsUnconfirmedEntry: an entry still waiting for its
// passage when the gate stops is annulled at the next start.
func TestRestartAnnulsUnconfirmedEntry(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	dir := t.TempDir()
	cfg := agent.Config{Device: "gate-1", Gate: "Gate 1", Event: ev.event, DataDir: dir,
		Clock: clock.NewFake(time.Now()), Passage: newPassageTwin()}
	g := seededGate(t, ev, cfg)
	if d := g.present(t, ev.tickets[0].Code); !d.Admitted {
		t.Fatalf("entry: %+v", d)
	}
	g.stop()
	g = startGate(t, cfg) // its replica is on disk from the first run
	if d := g.present(t, ev.tickets[0].Code); !d.Admitted {
		t.Fatalf("after restart, the unconfirmed entry should be annulled: %+v", d)
	}
}

// TestStaffActions: signed-in staff annul the last entry and force-admit
// with a reason, over the gate's staff listener; both are journaled with
// the staff member, to go upstream, and the lookup shows the marks.
func TestStaffActions(t *testing.T) {
	ev := newEvent(t, time.Now(), 2, "single")
	g := seededGate(t, ev, agent.Config{Device: "gate-1", Gate: "Gate 1", StatusAddr: "127.0.0.1:0"})
	c := signIn(t, g, `{"staff":"ada","pin":"2718"}`)
	tk := ev.tickets[0]
	if code := c.post("/staff/annul-last", `{"reason":"test"}`, nil); code != http.StatusNotFound {
		t.Fatalf("annul with nothing to annul: %d", code)
	}
	g.present(t, tk.Code)
	var out map[string]any
	if code := c.post("/staff/annul-last", `{"reason":"did not go through"}`, &out); code != 200 || out["Reason"] != decide.ReasonAnnulled || out["Staff"] != "ada" {
		t.Fatalf("annul last: %d %v", code, out)
	}
	if d := g.present(t, tk.Code); !d.Admitted {
		t.Fatalf("after staff annulment: %+v", d)
	}
	// Force-admit needs a reason, is journaled as forced and counts as an entry.
	if code := c.post("/staff/force-admit", `{"ticket":"`+tk.Code+`"}`, nil); code != http.StatusBadRequest {
		t.Fatalf("force-admit without reason: %d", code)
	}
	if code := c.post("/staff/force-admit", `{"ticket":"`+tk.Code+`","reason":"wristband checked"}`, &out); code != 200 || out["Admitted"] != true || out["Reason"] != decide.ReasonForced {
		t.Fatalf("force-admit: %d %v", code, out)
	}
	testwait.For(t, "the forced entry in the journal for the fleet", func() bool {
		for _, s := range g.upstream(t) {
			if s.Reason == decide.ReasonForced && s.Outcome == wire.Admitted && strings.Contains(s.Sentence, "wristband checked") && s.Staff == "ada" {
				return true
			}
		}
		return false
	})
	resp, body := c.do("GET", "/staff/ticket?q="+tk.ID, "", "", nil)
	var l agent.Lookup
	json.Unmarshal(body, &l)
	if resp.StatusCode != 200 || !l.Known || len(l.Marks) != 3 || !l.Marks[0].Annulled || l.Marks[1].Annulled {
		t.Fatalf("lookup: %d %+v", resp.StatusCode, l)
	}
	if g.relay.Pulses() != 3 {
		t.Fatalf("relay pulses %d, want 3", g.relay.Pulses())
	}
	// Everything goes upstream: 2 entries, 1 annulment, 1 forced entry;
	// the staff actions name ada.
	reasons := map[string]int{}
	for _, s := range g.upstream(t) {
		reasons[s.Outcome+"/"+s.Reason+"/"+s.Staff]++
	}
	want := map[string]int{"admitted//": 2, "refused/annulled/ada": 1, "admitted/forced/ada": 1}
	for k, n := range want {
		if reasons[k] != n {
			t.Fatalf("journaled scans %v, want %v", reasons, want)
		}
	}
	// Signed out, nothing more.
	if code := c.post("/staff/sign-out", `{}`, nil); code != http.StatusNoContent {
		t.Fatalf("sign-out: %d", code)
	}
	if code := c.post("/staff/force-admit", `{"ticket":"`+tk.ID+`","reason":"again"}`, nil); code != http.StatusUnauthorized {
		t.Fatalf("force-admit after sign-out: %d, want 401", code)
	}
}

func TestStatusEndpoint(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	g := seededGate(t, ev, agent.Config{Device: "gate-1", Gate: "Gate 1", StatusAddr: "127.0.0.1:0"})
	g.present(t, ev.tickets[0].Code)
	g.present(t, ev.tickets[0].Code)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + g.StatusAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz: %d %q", code, body)
	}
	code, body := get("/status")
	var st agent.Status
	if err := json.Unmarshal([]byte(body), &st); code != 200 || err != nil {
		t.Fatalf("status: %d %v", code, err)
	}
	if !st.Healthy || st.Device != "gate-1" || st.Mode != agent.ModeLocal || st.Cursor == 0 || st.LastSeq != 2 || !st.VenueSynced ||
		len(st.LastDecisions) != 0 || st.GateLog != nil {
		t.Fatalf("status without a staff session (no decisions, no gate log): %+v", st)
	}
	// Signed-in staff see the decisions (ticket ids, what the gate showed).
	resp, b := signIn(t, g, `{"staff":"ada","pin":"2718"}`).do("GET", "/status", "", "", nil)
	st = agent.Status{}
	if err := json.Unmarshal(b, &st); resp.StatusCode != 200 || err != nil || len(st.LastDecisions) != 2 || st.LastDecisions[0].Reason != agent.ReasonAlreadyUsed ||
		len(st.GateLog) == 0 || st.GateLog[0].Kind != "staff_sign_in" {
		t.Fatalf("status for staff: %d %+v", resp.StatusCode, st)
	}
	_, metrics := get("/metrics")
	for _, want := range []string{
		`admit_decisions_total{outcome="admitted",direction="in",reason=""} 1`,
		`admit_decisions_total{outcome="refused",direction="in",reason="already_used"} 1`,
		"admit_decision_seconds_count 2",
		"admit_journal_backlog ",
		"admit_replica_cursor ",
		"admit_online_mode 0",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q:\n%s", want, metrics)
		}
	}
}

// fakeAuthority is a fleet that answers, fails or refuses as told.
type fakeAuthority struct {
	fail  chan bool // per call: fail?
	calls chan wire.DecideRequest
	ping  error
}

func (f *fakeAuthority) Decide(ctx context.Context, r wire.DecideRequest) (wire.DecideResponse, error) {
	f.calls <- r
	if <-f.fail {
		return wire.DecideResponse{}, errors.New("fleet unreachable")
	}
	return wire.DecideResponse{Reason: "already_used", Sentence: "Already used at Gate 9 at 19:04"}, nil
}

func (f *fakeAuthority) Ping(ctx context.Context) error { return f.ping }

// TestOnlineFallback: in online mode the fleet's refusal stands; after
// MaxFailures failed requests the gate switches to local (journaled,
// reported) and decides alone; probes bring it back online.
func TestOnlineFallback(t *testing.T) {
	ctx := context.Background()
	clk := clock.NewFake(time.Now())
	ev := newEvent(t, clk.Now(), 6, "single")
	auth := &fakeAuthority{fail: make(chan bool, 1), calls: make(chan wire.DecideRequest, 1)}
	g := seededGate(t, ev, agent.Config{Device: "gate-1", Gate: "Gate 1", Clock: clk,
		Online: &agent.OnlineConfig{Authority: auth, MaxFailures: 2, ProbeEvery: time.Second, ProbeSuccesses: 2}})
	if g.Mode() != agent.ModeOnline {
		t.Fatalf("mode %s", g.Mode())
	}
	auth.fail <- false
	if d := g.present(t, ev.tickets[0].Code); d.Admitted || !d.ByFleet || !strings.Contains(d.Sentence, "Gate 9") {
		t.Fatalf("fleet refusal: %+v", d)
	}
	if r := <-auth.calls; r.TicketID != ev.tickets[0].ID || r.Direction != "in" || r.Policy != "single" {
		t.Fatalf("request %+v", r)
	}
	for i := 1; i <= 2; i++ {
		auth.fail <- true
		if d := g.present(t, ev.tickets[i].Code); !d.Admitted || d.ByFleet {
			t.Fatalf("failed fleet call %d: %+v, want a local admission", i, d)
		}
		<-auth.calls
	}
	if g.Mode() != agent.ModeLocal {
		t.Fatalf("mode after 2 failures: %s", g.Mode())
	}
	if d := g.present(t, ev.tickets[3].Code); !d.Admitted || d.ByFleet || len(auth.calls) != 0 {
		t.Fatalf("local mode asked the fleet: %+v", d)
	}
	log, _ := g.DB().GateLog(ctx, 10)
	if len(log) != 1 || log[0].Kind != "mode_local" {
		t.Fatalf("gate log %+v", log)
	}
	// Two probes answered: back online.
	for g.Mode() != agent.ModeOnline {
		select {
		case <-clk.Armed():
		case <-time.After(20 * time.Millisecond):
		}
		clk.Advance(time.Second)
	}
	testwait.For(t, "the switch back to be journaled", func() bool {
		log, _ = g.DB().GateLog(ctx, 10)
		return len(log) == 2
	})
	if log[0].Kind != "mode_online" {
		t.Fatalf("gate log %+v", log)
	}
}

// TestOnlineOverHTTP: the real wire path, against the fleet's handler:
// the first gate to ask gets the ticket, the second is refused even though
// its replica has not heard of the first admission.
func TestOnlineOverHTTP(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	srv := newDecideServer(t)
	var gates []*testGate
	for _, name := range []string{"gate-1", "gate-2"} {
		g := seededGate(t, ev, agent.Config{Device: name, Gate: name,
			Online: &agent.OnlineConfig{Authority: agent.NewHTTPAuthority(srv.URL, nil, nil), Timeout: 5 * time.Second}})
		gates = append(gates, g)
	}
	// Neither gate has a fleet stream (nor peers): gate-2's replica never
	// hears of gate-1's scan, only the online decision can refuse it.
	if d := gates[0].present(t, ev.tickets[0].Code); !d.Admitted || !d.ByFleet {
		t.Fatalf("gate-1: %+v", d)
	}
	if d := gates[1].present(t, ev.tickets[0].Code); d.Admitted || !d.ByFleet || d.Reason != agent.ReasonAlreadyUsed {
		t.Fatalf("gate-2: %+v, want refused by the fleet", d)
	}
}
