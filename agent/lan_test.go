package agent_test

// The venue LAN's findings of issue 11, reproduced against real gates on
// real sockets, and shown not to get through any more:
//
//   - TestForgedAnnulmentRefused: a host claiming to be gate B sends a
//     forged annulled copy of a real passage; it is refused and the
//     ticket stays used at every gate.
//   - TestFutureMarkRefused: a mark dated 2099 does not block a ticket.
//   - TestReplayUnderAnotherName: a genuine mark captured from gate A and
//     sent again as another device's is refused.
//   - TestPeerFloodBounded: 300,000 marks in 2 s from a peer hold a
//     bounded amount of memory, and the gate keeps deciding.
//   - TestForceAdmitNeedsStaff, TestCrossOriginForceAdmit: the staff
//     endpoints need a signed-in staff member, and refuse another site's
//     page.
//   - TestEveryStaffRoute: a walk of the gate's whole HTTP surface.

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent"
	"admit/agent/peer"
	"admit/clock"
	"admit/internal/testwait"
)

// rawPeer is a host on the venue LAN speaking the gossip protocol by hand:
// whatever it claims, with whatever key it has (nil: none).
type rawPeer struct {
	t         testing.TB
	ws        *websocket.Conn
	challenge peer.Message
}

// dialPeer connects to a gate's peer endpoint and reads its challenge.
func dialPeer(t testing.TB, g *testGate) *rawPeer {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+g.PeerAddr()+"/peer", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	p := &rawPeer{t: t, ws: ws}
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := ws.ReadJSON(&p.challenge); err != nil || p.challenge.Type != "challenge" {
		t.Fatalf("the gate opened with %+v (%v), not a challenge", p.challenge, err)
	}
	return p
}

// hello sends a hello of version v claiming device, signed with key.
func (p *rawPeer) hello(v int, device string, key ed25519.PrivateKey) {
	p.t.Helper()
	m := &peer.Message{Type: "hello", Version: v, Device: device}
	if key != nil {
		m.Signature = ed25519.Sign(key, peer.HelloSigningBytes(p.challenge.Nonce, p.challenge.Device, device))
	}
	if err := p.ws.WriteJSON(m); err != nil {
		p.t.Fatal(err)
	}
}

// accepted sends a hello and fails unless the gate answers ready.
func (p *rawPeer) accepted(device string, key ed25519.PrivateKey) {
	p.t.Helper()
	p.hello(peer.Version, device, key)
	if why := p.refused(); why != "" {
		p.t.Fatalf("hello as %s refused: %s", device, why)
	}
}

// refused reads the answer to the hello: "" when the gate is ready, else
// the error frame's text ("closed" when the link closed without one).
func (p *rawPeer) refused() string {
	p.t.Helper()
	p.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var m peer.Message
	if err := p.ws.ReadJSON(&m); err != nil {
		return "closed"
	}
	if m.Type == "ready" {
		return ""
	}
	return m.Error
}

// send sends marks in one frame.
func (p *rawPeer) send(ms ...peer.Mark) error {
	p.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return p.ws.WriteJSON(&peer.Message{Type: "marks", Marks: ms})
}

// metric reads a gate's metric (name with its labels, as exposed).
func metric(t testing.TB, g *testGate, series string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + g.StatusAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

func refusedMarks(t testing.TB, g *testGate, reason string) float64 {
	return metric(t, g, `admit_peer_marks_refused_total{reason="`+reason+`"}`)
}

// lanPeers are three gates of ev gossiping (gate-0 "Gate A", gate-1 "Gate
// B", gate-2 "Gate C") with their staff and status listeners up.
func lanPeers(t *testing.T, ev *testEvent, adjust func(i int, cfg *agent.Config)) []*testGate {
	return seededPeers(t, ev, 3, func(i int, cfg *agent.Config) {
		cfg.StatusAddr = "127.0.0.1:0"
		if adjust != nil {
			adjust(i, cfg)
		}
	})
}

// usedEverywhere presents tk at every gate and fails unless each refuses
// it as already used at Gate A.
func usedEverywhere(t *testing.T, gates []*testGate, tk testTicket) {
	t.Helper()
	for i, g := range gates[1:] {
		if d := g.present(t, tk.Code); d.Admitted || d.Reason != agent.ReasonAlreadyUsed || !strings.Contains(d.Sentence, "Gate A") {
			t.Fatalf("gate %d: %+v, want refused as used at Gate A", i+1, d)
		}
	}
}

// TestForgedAnnulmentRefused: gate A admits a ticket and every gate
// learns it. Then a host on the LAN tries to take the passage back: as
// "gate-1" without gate B's key (unsigned, protocol 1, or signed with its
// own key), its link is refused; with gate B's own key (a stolen gate), an
// annulled copy of A's passage is refused, however it names the device:
// only the device that made a passage may annul it. The ticket stays used
// at every gate.
func TestForgedAnnulmentRefused(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	gates := lanPeers(t, ev, nil)
	a, c := gates[0], gates[2]
	tk := ev.tickets[0]
	d := a.present(t, tk.Code)
	if !d.Admitted {
		t.Fatalf("gate A: %+v", d)
	}
	for _, g := range gates[1:] {
		testwait.For(t, "the passage at every gate", func() bool { return len(g.marksAt(t, ev.event, tk.ID)) == 1 })
	}
	real := g0Mark(t, a, ev, tk.ID)
	forged := real
	forged.Annulled = true

	_, stranger, _ := ed25519.GenerateKey(nil)
	for name, c := range map[string]struct {
		version int
		key     ed25519.PrivateKey
		reason  string
	}{
		"protocol 1, unsigned":       {1, nil, peer.RefusedOldProtocol},
		"unsigned hello":             {peer.Version, nil, peer.RefusedBadSignature},
		"signed with a stranger key": {peer.Version, stranger, peer.RefusedBadSignature},
	} {
		p := dialPeer(t, gates[2])
		p.hello(c.version, "gate-1", c.key)
		p.send(forged) // whatever it sends is never read
		if why := p.refused(); !strings.HasPrefix(why, c.reason) {
			t.Errorf("%s: the gate answered %q, want a refusal %q", name, why, c.reason)
		}
	}
	if n := metric(t, c, `admit_peer_links_refused_total{reason="bad_signature"}`); n != 2 {
		t.Errorf("links refused for a bad signature: %v, want 2", n)
	}

	// With gate B's key: a session as gate-1 is accepted, its forgeries
	// are not.
	p := dialPeer(t, c)
	p.accepted("gate-1", ev.devices["gate-1"])
	asB := forged
	asB.Sign(ev.devices["gate-1"]) // B signs A's passage, annulled
	if err := p.send(forged, asB); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "both forgeries refused", func() bool { return refusedMarks(t, c, peer.RefusedNotSender) == 2 })
	usedEverywhere(t, gates, tk)
	if c.relay.Pulses() != 0 || gates[1].relay.Pulses() != 0 {
		t.Fatal("a gate let the ticket in again")
	}
}

// g0Mark is gate A's passage of ticket id as A signs it: what a host on
// the LAN could have captured.
func g0Mark(t *testing.T, a *testGate, ev *testEvent, id string) peer.Mark {
	t.Helper()
	for _, m := range a.marksAt(t, ev.event, id) {
		if m.Device == "gate-0" {
			pm := peer.Mark{Event: m.Event, TicketID: m.TicketID, Device: m.Device, Gate: m.Gate, At: m.At, Direction: string(m.Direction)}
			pm.Sign(ev.devices["gate-0"])
			return pm
		}
	}
	t.Fatalf("gate A has no passage of %s", id)
	return peer.Mark{}
}

// TestFutureMarkRefused: a peer (with a real key) sends an entry dated
// 2099 for a ticket nobody used; it would block the ticket until then.
// It is refused, and the ticket is admitted.
func TestFutureMarkRefused(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	gates := lanPeers(t, ev, nil)
	c := gates[2]
	tk := ev.tickets[0]
	p := dialPeer(t, c)
	p.accepted("gate-1", ev.devices["gate-1"])
	future := peer.Mark{Event: ev.event, TicketID: tk.ID, Device: "gate-1", Gate: "Gate B", At: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), Direction: "in"}
	future.Sign(ev.devices["gate-1"])
	// Within the skew a gate's clock may have, a mark is taken.
	soon := peer.Mark{Event: ev.event, TicketID: "T-soon", Device: "gate-1", Gate: "Gate B", At: time.Now().Add(peer.MaxFutureSkew / 2), Direction: "in"}
	soon.Sign(ev.devices["gate-1"])
	if err := p.send(future, soon); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the mark from 2099 refused", func() bool { return refusedMarks(t, c, peer.RefusedFuture) == 1 })
	testwait.For(t, "the mark within the skew taken", func() bool { return len(c.marksAt(t, ev.event, "T-soon")) == 1 })
	if ms := c.marksAt(t, ev.event, tk.ID); len(ms) != 0 {
		t.Fatalf("gate C holds %+v", ms)
	}
	if d := c.present(t, tk.Code); !d.Admitted {
		t.Fatalf("gate C: %+v, want admitted", d)
	}
}

// captor is a fake peer endpoint a gate dials: it challenges, takes any
// hello, and keeps the marks the gate pushes — what a host on the LAN
// sees of a gate's gossip.
type captor struct {
	marks chan peer.Mark
}

func (c *captor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var up websocket.Upgrader
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	ws.WriteJSON(&peer.Message{Type: "challenge", Version: peer.Version, Device: "captor", Event: "gala", Nonce: make([]byte, 32)})
	var hello peer.Message
	if ws.ReadJSON(&hello) != nil || ws.WriteJSON(&peer.Message{Type: "ready", Version: peer.Version}) != nil {
		return
	}
	for {
		var m peer.Message
		if err := ws.ReadJSON(&m); err != nil {
			return
		}
		for _, mk := range m.Marks {
			select {
			case c.marks <- mk:
			default:
			}
		}
	}
}

// TestReplayUnderAnotherName: a host captures gate A's genuine signed mark
// off the LAN and replays it to gate C over gate B's session, as A's and
// renamed as B's: both refused (not the sender's; not B's signature).
func TestReplayUnderAnotherName(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	cap := &captor{marks: make(chan peer.Mark, 16)}
	ln := listen(t)
	srv := &http.Server{Handler: cap}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	gates := lanPeers(t, ev, func(i int, cfg *agent.Config) {
		if i == 0 {
			cfg.Peers = append(cfg.Peers, "ws://"+ln.Addr().String()+"/peer")
		}
	})
	a, c := gates[0], gates[2]
	tk := ev.tickets[0]
	if d := a.present(t, tk.Code); !d.Admitted {
		t.Fatalf("gate A: %+v", d)
	}
	var captured peer.Mark
	select {
	case captured = <-cap.marks:
	case <-time.After(10 * time.Second):
		t.Fatal("gate A's passage never reached the captor")
	}
	if captured.Device != "gate-0" || len(captured.Signature) != ed25519.SignatureSize {
		t.Fatalf("captured %+v: want A's signed mark", captured)
	}
	// A second ticket C has not seen: a replay that passed would mark it.
	other := captured
	other.Device = "gate-1"
	p := dialPeer(t, c)
	p.accepted("gate-1", ev.devices["gate-1"])
	if err := p.send(captured, other); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the replays refused", func() bool {
		return refusedMarks(t, c, peer.RefusedNotSender) == 1 && refusedMarks(t, c, peer.RefusedBadSignature) == 1
	})
	for _, m := range c.marksAt(t, ev.event, tk.ID) {
		if m.Device == "gate-1" {
			t.Fatalf("gate C took the replay as gate B's passage: %+v", m)
		}
	}
}

// TestPeerFloodBounded: a peer with a real device key (a stolen gate)
// sends 300,000 signed marks as fast as it can for 2 s. The gate under
// attack reads at its link's rate and stops at its cap of held marks (its
// persistence held back here, as if the disk were slow): its heap grows by
// a bounded amount, the held marks stay under the cap, and it keeps
// deciding, quickly.
func TestPeerFloodBounded(t *testing.T) {
	const (
		flood   = 300_000
		unique  = 30_000 // signed ones, sent again and again
		maxHeld = 5_000
	)
	ev := newEvent(t, time.Now(), 1, "single")
	hook := &heldPeerMarks{}
	hook.hold.Store(true)
	v := seededGate(t, ev, agent.Config{Device: "gate-0", Gate: "Gate A", PeerListener: listen(t), StatusAddr: "127.0.0.1:0",
		PeerMaxHeld: maxHeld, TestHookPersistPeerMarks: hook.persist})
	key := ev.devices["gate-2"]
	at := time.Now().UTC().Truncate(time.Millisecond)
	frames := make([][]byte, 0, unique/peer.MaxMarksPerFrame)
	for f := range unique / peer.MaxMarksPerFrame {
		ms := make([]peer.Mark, peer.MaxMarksPerFrame)
		for i := range ms {
			n := f*peer.MaxMarksPerFrame + i
			ms[i] = peer.Mark{Event: ev.event, TicketID: fmt.Sprintf("F%06d", n), Device: "gate-2", Gate: "Gate C", At: at.Add(-time.Duration(n) * time.Millisecond), Direction: "in"}
			ms[i].Sign(key)
		}
		b, _ := json.Marshal(&peer.Message{Type: "marks", Marks: ms})
		frames = append(frames, b)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	p := dialPeer(t, v)
	p.accepted("gate-2", key)
	var sent atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		deadline := time.Now().Add(2 * time.Second)
		for i := 0; sent.Load() < flood && time.Now().Before(deadline); i++ {
			p.ws.SetWriteDeadline(deadline)
			if err := p.ws.WriteMessage(websocket.TextMessage, frames[i%len(frames)]); err != nil {
				return // the deadline: the gate read no faster
			}
			sent.Add(peer.MaxMarksPerFrame)
		}
	}()
	// The gate decides while it is flooded.
	for i := 0; ; i++ {
		select {
		case <-done:
		default:
			t0 := time.Now()
			d := v.present(t, ev.tickets[0].Code)
			if took := time.Since(t0); took > time.Second {
				t.Fatalf("a decision under the flood took %s", took)
			}
			if (i == 0) != d.Admitted {
				t.Fatalf("decision %d under the flood: %+v", i, d)
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		break
	}
	held := v.DB().PeerMarksHeld()
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	growth := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("flood: %d marks written in 2 s, %d held, %v received, heap %+d KiB", sent.Load(), held, metric(t, v, "admit_peer_marks_received"), growth>>10)
	if held > maxHeld {
		t.Errorf("%d peer marks held in memory, cap %d", held, maxHeld)
	}
	if sent.Load() >= flood {
		t.Errorf("the gate took all %d marks in 2 s: no rate limit", flood)
	}
	if growth > 40<<20 {
		t.Errorf("heap grew by %d MiB under the flood", growth>>20)
	}
}

// TestForceAdmitNeedsStaff: POST /staff/force-admit without a staff
// session (the finding: it pulsed the relay for any id) is a 401 and
// moves nothing; with a wrong PIN there is no session either.
func TestForceAdmitNeedsStaff(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	g := seededGate(t, ev, agent.Config{StatusAddr: "127.0.0.1:0"})
	anon := &staffClient{t: t, base: "http://" + g.StatusAddr()}
	resp, body := anon.do("POST", "/staff/force-admit", "application/json", `{"ticket":"`+ev.tickets[0].ID+`","reason":"let me in"}`, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("force-admit without a session: %d %s, want 401", resp.StatusCode, body)
	}
	if resp, _ := anon.do("POST", "/staff/sign-in", "application/json", `{"staff":"ada","pin":"0000"}`, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a wrong PIN: %d, want 401", resp.StatusCode)
	}
	if g.relay.Pulses() != 0 || g.backlog(t) != 0 {
		t.Fatalf("relay pulsed %d times, %d decisions journaled", g.relay.Pulses(), g.backlog(t))
	}
}

// TestCrossOriginForceAdmit: a page of another site, in the browser of a
// signed-in staff member, posts a force-admit (a text/plain "simple"
// request, the cookie attached as if SameSite did not hold it back): 403,
// no pulse.
func TestCrossOriginForceAdmit(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	g := seededGate(t, ev, agent.Config{StatusAddr: "127.0.0.1:0"})
	c := signIn(t, g, `{"staff":"ada","pin":"2718"}`)
	body := `{"ticket":"` + ev.tickets[0].ID + `","reason":"evil"}`
	for name, edit := range map[string]func(*http.Request){
		"Origin of another site": func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
		"cross-site fetch":       func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
		"a text/plain form": func(r *http.Request) {
			r.Header.Set("Content-Type", "text/plain")
			r.Header.Del("X-CSRF-Token")
		},
		"a rebound DNS name": func(r *http.Request) { r.Host = "evil.example" },
	} {
		if resp, b := c.do("POST", "/staff/force-admit", "application/json", body, edit); resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", name, resp.StatusCode, b)
		}
	}
	if g.relay.Pulses() != 0 || g.backlog(t) != 0 {
		t.Fatalf("relay pulsed %d times, %d decisions journaled", g.relay.Pulses(), g.backlog(t))
	}
}

// staffWalk is how the walk calls each route of the staff listener: a
// path and a body a signed-in staff member may send.
var staffWalk = map[string]struct{ path, body string }{
	"GET /healthz":            {"/healthz", ""},
	"GET /metrics":            {"/metrics", ""},
	"GET /status":             {"/status", ""},
	"POST /staff/sign-in":     {"/staff/sign-in", `{"staff":"ada","pin":"2718"}`},
	"GET /staff/session":      {"/staff/session", ""},
	"POST /staff/sign-out":    {"/staff/sign-out", `{}`},
	"GET /staff/ticket":       {"/staff/ticket?q=T0000", ""},
	"POST /staff/annul-last":  {"/staff/annul-last", `{"reason":"walk"}`},
	"POST /staff/force-admit": {"/staff/force-admit", `{"ticket":"T0000","reason":"walk"}`},
}

// TestEveryStaffRoute walks every route of the gate's staff and status
// listener (from its route table: a route without an entry above fails)
// and checks: a foreign Host is refused (403); a change from another
// origin or a cross-site page (403), or as a text/plain form (403); a
// staff route is a 401 without a session, a change 403 without its CSRF
// token and 415 with it as text/plain, and goes through for signed-in
// staff. Public routes say why. The peer listener serves /peer only, and
// refuses unsigned and unknown peers; the staff listener has no /peer.
func TestEveryStaffRoute(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	g := seededGate(t, ev, agent.Config{StatusAddr: "127.0.0.1:0", PeerListener: listen(t)})
	anon := &staffClient{t: t, base: "http://" + g.StatusAddr()}
	seen := map[string]bool{}
	for _, rt := range agent.StaffRoutes() {
		seen[rt.Pattern] = true
		e, ok := staffWalk[rt.Pattern]
		if !ok {
			t.Errorf("%s has no entry in staffWalk", rt.Pattern)
			continue
		}
		if rt.Staff == (rt.Public != "") {
			t.Errorf("%s: staff %v, public %q: a route is one or the other", rt.Pattern, rt.Staff, rt.Public)
		}
		method, _, _ := strings.Cut(rt.Pattern, " ")
		change := method != "GET"
		ct := ""
		if change {
			ct = "application/json"
		}
		status := func(c *staffClient, contentType string, edit func(*http.Request)) int {
			resp, _ := c.do(method, e.path, contentType, e.body, edit)
			return resp.StatusCode
		}
		if st := status(anon, ct, func(r *http.Request) { r.Host = "evil.example" }); st != 403 {
			t.Errorf("%s with a foreign Host: %d, want 403", rt.Pattern, st)
		}
		if change {
			for name, edit := range map[string]func(*http.Request){
				"from another origin":    func(r *http.Request) { r.Header.Set("Origin", "http://evil.example") },
				"from a cross-site page": func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
				"as a text/plain form":   func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") },
			} {
				if st := status(signIn(t, g, `{"staff":"ada","pin":"2718"}`), ct, func(r *http.Request) {
					edit(r)
					if name == "as a text/plain form" {
						r.Header.Del("X-CSRF-Token")
					}
				}); st != 403 {
					t.Errorf("%s %s: %d, want 403", rt.Pattern, name, st)
				}
			}
		}
		if rt.Public != "" {
			if st := status(anon, ct, nil); st == 401 || st == 403 || st >= 500 {
				t.Errorf("public %s: %d", rt.Pattern, st)
			}
			continue
		}
		if st := status(anon, ct, nil); st != 401 {
			t.Errorf("%s without a staff session: %d, want 401", rt.Pattern, st)
		}
		if change {
			if st := status(signIn(t, g, `{"staff":"ada","pin":"2718"}`), ct, func(r *http.Request) { r.Header.Del("X-CSRF-Token") }); st != 403 {
				t.Errorf("%s without the CSRF token: %d, want 403", rt.Pattern, st)
			}
			if st := status(signIn(t, g, `{"staff":"ada","pin":"2718"}`), "text/plain", nil); st != 415 {
				t.Errorf("%s as text/plain with the CSRF token: %d, want 415", rt.Pattern, st)
			}
		}
		if st := status(signIn(t, g, `{"staff":"ada","pin":"2718"}`), ct, nil); st == 401 || st == 403 || st >= 500 {
			t.Errorf("%s for signed-in staff: %d", rt.Pattern, st)
		}
	}
	for p := range staffWalk {
		if !seen[p] {
			t.Errorf("staffWalk lists %s, which is not a route", p)
		}
	}
	// Listeners apart: no staff route on the peer listener, no peer
	// endpoint on the staff one.
	if resp, err := http.Get("http://" + g.PeerAddr() + "/status"); err != nil || resp.StatusCode != 404 {
		t.Errorf("the peer listener serves /status: %v %v", resp, err)
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws://"+g.StatusAddr()+"/peer", nil); err == nil {
		t.Error("the staff listener serves /peer")
	}
	// The peer endpoint refuses an unsigned and an unknown peer.
	p := dialPeer(t, g)
	p.hello(peer.Version, "gate-2", nil)
	if why := p.refused(); !strings.HasPrefix(why, peer.RefusedBadSignature) {
		t.Errorf("an unsigned peer: %q", why)
	}
	_, k, _ := ed25519.GenerateKey(nil)
	p = dialPeer(t, g)
	p.hello(peer.Version, "gate-99", k)
	if why := p.refused(); !strings.HasPrefix(why, peer.RefusedUnknownDevice) {
		t.Errorf("an unknown peer: %q", why)
	}
}

// TestStaffSignInLockOut: five wrong PINs lock a staff member out at the
// gate (429 with Retry-After, the right PIN too, until the lock ends on
// the gate's clock); a badge-and-PIN account does not open with its PIN
// alone; the badge and the PIN do.
func TestStaffSignInLockOut(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	clk := clock.NewFake(time.Now())
	g := seededGate(t, ev, agent.Config{StatusAddr: "127.0.0.1:0", Clock: clk})
	anon := &staffClient{t: t, base: "http://" + g.StatusAddr()}
	try := func(creds string) (int, string) {
		resp, _ := anon.do("POST", "/staff/sign-in", "application/json", creds, nil)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	for range agent.StaffFailures - 1 {
		if st, _ := try(`{"staff":"ada","pin":"0000"}`); st != 401 {
			t.Fatalf("a wrong PIN: %d", st)
		}
	}
	if st, ra := try(`{"staff":"ada","pin":"0000"}`); st != 429 || ra == "" {
		t.Fatalf("the last wrong PIN before the lock: %d, Retry-After %q", st, ra)
	}
	if st, _ := try(`{"staff":"ada","pin":"2718"}`); st != 429 {
		t.Fatalf("the right PIN while locked: %d, want 429", st)
	}
	if st, _ := try(`{"staff":"bob","pin":"3141"}`); st != 401 {
		t.Fatalf("bob's PIN without his badge: %d, want 401", st)
	}
	if st, _ := try(`{"badge":"04A1B2C3","pin":"3141"}`); st != 200 {
		t.Fatalf("bob's badge and PIN: %d, want 200", st)
	}
	clk.Advance(agent.StaffLockFor)
	if st, _ := try(`{"staff":"ada","pin":"2718"}`); st != 200 {
		t.Fatalf("the right PIN once the lock ended: %d, want 200", st)
	}
}
