package agent_test

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
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

// The gate's side of issue 12, tested on seeded replicas: readiness,
// tickets newer than the replica, UID badges, partners' JWT tickets, the
// fleet's config applied live, truthful health and mode. The same
// behaviour against a real fleet node is in fleet_e2e_test.go.

// outside signs a ticket of e that is not on its allowlist (issued after
// the snapshot the gate holds, or never), issued at issued (zero: the
// code does not say).
func (e *testEvent) outside(t testing.TB, id string, issued time.Time) string {
	t.Helper()
	code, err := ticket.Encode(ticket.Claims{ID: id, Event: e.event, Type: "GA", NotBefore: e.from, NotAfter: e.to, IssuedAt: issued}, e.key)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// seedWith seeds gate g with e, its ticket log's snapshot saying asOf
// and its venue scope holding rows besides e's devices and staff.
func (e *testEvent) seedWith(t testing.TB, g *testGate, asOf time.Time, rows ...wire.VenueRow) {
	t.Helper()
	s := e.snapshot()
	s.AsOf = asOf
	s.Seal()
	v := e.venue(t)
	v.Venue = append(v.Venue, rows...)
	slices.SortFunc(v.Venue, func(a, b wire.VenueRow) int { return strings.Compare(a.Key(), b.Key()) })
	v.Last = v.Venue[len(v.Venue)-1].Key()
	v.Seal()
	for _, snap := range []*wire.Snapshot{s, v} {
		if _, err := g.DB().ApplySnapshot(context.Background(), snap); err != nil {
			t.Fatal(err)
		}
	}
}

func row(t testing.TB, kind, id string, v any) wire.VenueRow {
	t.Helper()
	r, err := wire.NewVenueRow(kind, id, v)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// recordingDisplay is a display twin that remembers what it showed last.
type recordingDisplay struct {
	mu    sync.Mutex
	lines []string
}

func (r *recordingDisplay) Show(lines ...string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, strings.Join(lines, "\n"))
	return nil
}

func (r *recordingDisplay) last() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.lines) == 0 {
		return ""
	}
	return r.lines[len(r.lines)-1]
}

// pingAuthority is a fleet whose probes fail while down is set.
type pingAuthority struct{ down atomic.Bool }

func (p *pingAuthority) Decide(ctx context.Context, r wire.DecideRequest) (wire.DecideResponse, error) {
	return wire.DecideResponse{Admit: true}, nil
}

func (p *pingAuthority) Ping(ctx context.Context) error {
	if p.down.Load() {
		return errors.New("fleet gone")
	}
	return nil
}

// get returns the body of a GET.
func get(t testing.TB, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// health returns the gate's /healthz status and body.
func health(t testing.TB, g *testGate) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + g.StatusAddr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNotReadyDecidesNothing: a gate whose replica never completed a
// snapshot decides nothing: a valid ticket is neither admitted nor
// journaled as refused; it shows "syncing" (display, amber light), logs
// a gate-log line, counts it, and says not ready and not healthy. Once
// the snapshot lands, the first presentation is decided — admitted.
func TestNotReadyDecidesNothing(t *testing.T) {
	ctx := context.Background()
	ev := newEvent(t, time.Now(), 3, "single")
	ind := &recordingIndicator{}
	disp := &recordingDisplay{}
	g := startGate(t, agent.Config{Device: "gate-1", Event: ev.event, Key: ev.devices["gate-1"], Indicator: ind, Display: disp,
		StatusAddr: "127.0.0.1:0"})
	testwait.For(t, "the amber light of a gate syncing", func() bool { return ind.color() == hal.Amber })
	for _, code := range []string{ev.tickets[0].Code, "AD1:NOT-A-TICKET", "garbage"} {
		d := g.present(t, code)
		if d.Admitted || !d.Syncing || d.Reason != agent.ReasonSyncing || d.Seq != 0 {
			t.Fatalf("%.20s before the first sync: %+v, want nothing decided", code, d)
		}
	}
	if ind.color() != hal.Amber || disp.last() != agent.SentenceSyncing {
		t.Fatalf("syncing shows %s and %q", ind.color(), disp.last())
	}
	if n := g.backlog(t); n != 0 {
		t.Fatalf("%d scans journaled before the first sync, want none", n)
	}
	log, _ := g.DB().GateLog(ctx, 10)
	if len(log) != 3 || log[0].Kind != "syncing" || !strings.Contains(log[0].Detail, "gala") {
		t.Fatalf("gate log %+v", log)
	}
	if st := g.status(t); st.Ready || st.Healthy || len(st.Events) != 1 || st.Events[0].Ready {
		t.Fatalf("status before the first sync: %+v", st)
	}
	if code, body := health(t, g); code != 503 || !strings.Contains(body, "never synced") {
		t.Fatalf("healthz before the first sync: %d %q", code, body)
	}
	metrics := get(t, "http://"+g.StatusAddr()+"/metrics")
	for _, want := range []string{`admit_ready{event="gala"} 0`, "admit_presentations_syncing_total 3", "admit_healthy 0"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}

	ev.seed(t, g)
	testwait.For(t, "the light off once ready", func() bool { return ind.color() == hal.Off })
	if d := g.present(t, ev.tickets[0].Code); !d.Admitted {
		t.Fatalf("the first presentation once ready: %+v, want admitted", d)
	}
	if st := g.status(t); !st.Ready || !st.Healthy {
		t.Fatalf("status once ready: %+v", st)
	}
	if code, _ := health(t, g); code != 200 {
		t.Fatalf("healthz once ready: %d", code)
	}
}

// TestReadyStaysAcrossRestart: readiness is persisted: a gate restarted
// without its fleet decides at once on what it has.
func TestReadyStaysAcrossRestart(t *testing.T) {
	ev := newEvent(t, time.Now(), 2, "single")
	dataDir := t.TempDir()
	g := startGate(t, agent.Config{Device: "gate-1", Event: ev.event, DataDir: dataDir})
	ev.seed(t, g)
	g.stop()
	g = startGate(t, agent.Config{Device: "gate-1", Event: ev.event, DataDir: dataDir})
	if d := g.present(t, ev.tickets[1].Code); !d.Admitted {
		t.Fatalf("after a restart: %+v", d)
	}
}

// TestReadyPerEvent: a gate of two events decides for the one that
// synced; a ticket of the other, or a credential it cannot attribute,
// waits for it.
func TestReadyPerEvent(t *testing.T) {
	ev := newEvent(t, time.Now(), 2, "single")
	cup, err := ticket.GenerateSigningKey("cup", "k1")
	if err != nil {
		t.Fatal(err)
	}
	cupCode, err := ticket.Encode(ticket.Claims{ID: "C1", Event: "cup", NotBefore: ev.from, NotAfter: ev.to}, cup)
	if err != nil {
		t.Fatal(err)
	}
	g := startGate(t, agent.Config{Device: "gate-1", Events: []string{"gala", "cup"}})
	ev.seed(t, g)
	if d := g.present(t, ev.tickets[0].Code); !d.Admitted || d.Event != "gala" {
		t.Fatalf("gala, synced: %+v", d)
	}
	for _, code := range []string{cupCode, "garbage"} {
		if d := g.present(t, code); !d.Syncing {
			t.Fatalf("%.12s while cup syncs: %+v, want nothing decided", code, d)
		}
	}
	st := g.status(t)
	if st.Ready || len(st.Events) != 2 || !st.Events[0].Ready || st.Events[1].Ready {
		t.Fatalf("status: %+v", st.Events)
	}
}

// TestAdmitOnSignature: a ticket not on the replica, validly signed,
// issued after the replica's sync point, is admitted on its signature —
// journaled so, and counted like any passage (the second presentation is
// refused as used); one issued before the sync point, one that does not
// say when it was issued, and any when the event's settings say no, are
// refused as not on the allowlist.
func TestAdmitOnSignature(t *testing.T) {
	now := time.Now().UTC()
	ev := newEvent(t, now, 2, "single")
	asOf := now.Add(-2 * time.Hour)
	g := startGate(t, agent.Config{Device: "gate-1", Event: ev.event})
	ev.seedWith(t, g, asOf)

	newer := ev.outside(t, "NEW1", now)
	d := g.present(t, newer)
	if !d.Admitted || d.Reason != wire.ReasonOnSignature || !strings.Contains(d.Sentence, "admitted on signature: issued after last sync") {
		t.Fatalf("a ticket issued after the sync point: %+v, want admitted on signature", d)
	}
	if d := g.present(t, newer); d.Admitted || d.Reason != decide.ReasonAlreadyUsed {
		t.Fatalf("the same ticket again: %+v, want refused as used", d)
	}
	up := g.upstream(t)
	if len(up) != 2 || up[0].Outcome != wire.Admitted || up[0].Reason != wire.ReasonOnSignature || up[0].TicketID != "NEW1" {
		t.Fatalf("journal upstream: %+v", up)
	}
	if ms := g.marksAt(t, ev.event, "NEW1"); len(ms) != 1 || ms[0].Device != "gate-1" {
		t.Fatalf("marks of the ticket admitted on signature: %+v", ms)
	}
	for name, code := range map[string]string{
		"issued before the sync point": ev.outside(t, "OLD1", asOf.Add(-2*time.Hour)),
		"no issue time":                ev.outside(t, "NOT1", time.Time{}),
	} {
		if d := g.present(t, code); d.Admitted || d.Reason != agent.ReasonUnknownTicket {
			t.Errorf("%s: %+v, want refused as not on the allowlist", name, d)
		}
	}
	// The event's settings turn it off.
	off := false
	g2 := startGate(t, agent.Config{Device: "gate-2", Event: ev.event})
	ev.seedWith(t, g2, asOf, row(t, wire.VenueKindSettings, wire.VenueSettingsID, wire.VenueSettings{AdmitOnSignature: &off}))
	if d := g2.present(t, ev.outside(t, "NEW2", now)); d.Admitted || d.Reason != agent.ReasonUnknownTicket {
		t.Fatalf("with admission on signature off: %+v", d)
	}
}

// TestBadges: a UID on the badge allowlist opens the gate in its window
// and zones (journaled as the badge's passage), under its policy; an
// unknown UID is not an admit ticket, as before.
func TestBadges(t *testing.T) {
	clk := clock.NewFake(time.Now())
	ev := newEvent(t, clk.Now(), 1, "single")
	uid := []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
	old := []byte{0x04, 0x99, 0x88, 0x77}
	vip := []byte{0x04, 0x01, 0x02, 0x03}
	g := startGate(t, agent.Config{Device: "gate-1", Event: ev.event, Zone: "floor", Clock: clk})
	ev.seedWith(t, g, time.Time{},
		row(t, wire.VenueKindZone, "floor", wire.VenueZone{Name: "the Floor"}),
		row(t, wire.VenueKindBadge, "season-7", wire.VenueBadge{UID: wire.BadgeLookup(uid), Name: "Ada", Zones: []string{"floor"}}),
		row(t, wire.VenueKindBadge, "season-1", wire.VenueBadge{UID: wire.BadgeLookup(old), NotAfter: clk.Now().Add(-time.Hour)}),
		row(t, wire.VenueKindBadge, "vip-1", wire.VenueBadge{UID: wire.BadgeLookup(vip), Zones: []string{"vip"}, Policy: wire.PolicySingle}),
	)
	tap := func(uid []byte) agent.Decision {
		t.Helper()
		d, err := g.Present(context.Background(), hal.Credential{Source: "nfc0", Kind: agent.UIDKind, Payload: uid, Assurance: hal.AssuranceLow})
		if err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Second) // past the debounce, and a later passage
		return d
	}
	for i := range 2 { // multi by default: staff come and go
		if d := tap(uid); !d.Admitted || d.Reason != wire.ReasonBadge || d.TicketID != "badge:season-7" || !strings.Contains(d.Sentence, "Ada") {
			t.Fatalf("badge, time %d: %+v", i+1, d)
		}
	}
	if d := tap(old); d.Admitted || d.Reason != string(ticket.ReasonExpired) {
		t.Fatalf("expired badge: %+v", d)
	}
	if d := tap(vip); d.Admitted || d.Reason != decide.ReasonWrongZone || !strings.Contains(d.Sentence, "the Floor") {
		t.Fatalf("a badge of another zone: %+v", d)
	}
	if d := tap([]byte{0x04, 0xde, 0xad, 0xbe}); d.Admitted || d.Reason != string(ticket.ReasonBadPrefix) {
		t.Fatalf("unknown UID: %+v, want not an admit ticket", d)
	}
	if ms := g.marksAt(t, ev.event, "badge:season-7"); len(ms) != 2 {
		t.Fatalf("badge passages: %+v", ms)
	}
}

// TestPartnerJWT: a partner's key in the venue scope goes into the
// keyring: its JWT ticket is admitted on the partner's signature, its
// passages counted; a key the scope deletes verifies nothing more.
func TestPartnerJWT(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	ev := newEvent(t, now, 1, "single")
	pub, priv, _ := ed25519.GenerateKey(nil)
	jwt := func(jti string) string {
		enc := base64.RawURLEncoding
		h := enc.EncodeToString([]byte(`{"alg":"EdDSA","kid":"p1"}`))
		p, _ := json.Marshal(map[string]any{"jti": jti, "iss": "tix", "exp": now.Add(24 * time.Hour).Unix(), "nbf": now.Add(-time.Hour).Unix()})
		in := h + "." + enc.EncodeToString(p)
		return in + "." + enc.EncodeToString(ed25519.Sign(priv, []byte(in)))
	}
	g := startGate(t, agent.Config{Device: "gate-1", Event: ev.event})
	if d := g.present(t, jwt("P0")); !d.Syncing {
		t.Fatalf("before the first sync: %+v", d)
	}
	ev.seedWith(t, g, time.Time{}, row(t, wire.VenueKindJWTKey, "tix", wire.VenueJWTKey{Kid: "p1", Alg: wire.AlgEdDSA, Public: pub, Issuer: "tix"}))
	d := g.present(t, jwt("P1"))
	if !d.Admitted || d.Reason != wire.ReasonPartnerSignature || d.TicketID != "P1" {
		t.Fatalf("partner ticket: %+v", d)
	}
	if d := g.present(t, jwt("P1")); d.Admitted || d.Reason != decide.ReasonAlreadyUsed {
		t.Fatalf("partner ticket again: %+v", d)
	}
	// The partner's key deleted in the venue scope.
	st, _ := g.DB().ReplicaCursors(ctx)
	c := st[wire.VenueScope(ev.event)]
	del := wire.Change{Seq: c.Seq + 1, Kind: wire.KindVenue, Venue: &wire.VenueRow{Kind: wire.VenueKindJWTKey, ID: "tix", Deleted: true}}
	b := &wire.Batch{Event: wire.VenueScope(ev.event), From: c.Seq, To: c.Seq + 1, Changes: []wire.Change{del}, Running: wire.RunningChecksum(c.Running, []wire.Change{del})}
	b.Seal()
	if _, err := g.DB().Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	if d := g.present(t, jwt("P2")); d.Admitted || d.Reason != string(ticket.ReasonUnknownKey) {
		t.Fatalf("after the key was deleted: %+v", d)
	}
}

// TestConfigAppliedLive: a fleet config changes the gate's behaviour at
// once (direction, zone: the venue's name in the refusal) and survives a
// restart; one the gate cannot apply — formats without a camera, a zone
// its venue does not have, a field it does not know — is refused whole,
// changes nothing, and makes the gate unhealthy until one applies.
func TestConfigAppliedLive(t *testing.T) {
	ctx := context.Background()
	ev := newEvent(t, time.Now(), 4, "reentry")
	dataDir := t.TempDir()
	g := startGate(t, agent.Config{Device: "gate-1", Event: ev.event, DataDir: dataDir})
	ev.seedWith(t, g, time.Time{}, row(t, wire.VenueKindZone, "floor", wire.VenueZone{Name: "the Floor"}),
		row(t, wire.VenueKindZone, "vip", wire.VenueZone{Name: "the VIP deck"}))
	if err := g.ApplyConfig(ctx, 1, json.RawMessage(`{"direction":"exit"}`)); err != nil {
		t.Fatal(err)
	}
	if d := g.present(t, ev.tickets[0].Code); !d.Admitted || d.Direction != entry.Out {
		t.Fatalf("after direction exit: %+v", d)
	}
	for body, why := range map[string]string{
		`{"formats":["qr"]}`:  "no camera",
		`{"zone":"lobby"}`:    "not a zone",
		`{"totally":"bogus"}`: `"totally"`,
		`{"direction":"both","reader_sides":{"nfc0":"sideways"}}`: "reader_sides",
	} {
		err := g.ApplyConfig(ctx, 2, json.RawMessage(body))
		if err == nil || !strings.Contains(err.Error(), why) {
			t.Errorf("config %s: %v, want refused (%s)", body, err, why)
		}
		if st := g.status(t); st.Healthy || st.ConfigError == "" || st.Settings.ConfigVersion != 1 || st.Settings.Direction != entry.Out {
			t.Errorf("after refusing %s: healthy %v, config error %q, running %+v", body, st.Healthy, st.ConfigError, st.Settings)
		}
	}
	if err := g.ApplyConfig(ctx, 3, json.RawMessage(`{"zone":"vip"}`)); err != nil {
		t.Fatal(err)
	}
	if err := g.DB().SetConfig(ctx, 3, json.RawMessage(`{"zone":"vip"}`)); err != nil { // what the uplink records
		t.Fatal(err)
	}
	// The zone: GA tickets of this event open every zone; the direction
	// went back to the gate's own (entry) with a config that leaves it out.
	if st := g.status(t); !st.Healthy || st.Settings.Zone != "vip" || st.Settings.Direction != entry.In {
		t.Fatalf("after config 3: %+v", st)
	}
	vipOnly, err := ticket.Encode(ticket.Claims{ID: "Z1", Event: ev.event, Zones: []string{"floor"}, NotBefore: ev.from, NotAfter: ev.to, IssuedAt: time.Now()}, ev.key) // newer than the replica: decided on its signature
	if err != nil {
		t.Fatal(err)
	}
	if d := g.present(t, vipOnly); d.Admitted || d.Reason != decide.ReasonWrongZone || !strings.Contains(d.Sentence, "the VIP deck") {
		t.Fatalf("a floor ticket at the VIP gate: %+v", d)
	}
	// Restarted, the gate runs config 3 from its first presentation.
	g.stop()
	g = startGate(t, agent.Config{Device: "gate-1", Event: ev.event, DataDir: dataDir})
	if st := g.status(t); st.Settings.ConfigVersion != 3 || st.Settings.Zone != "vip" {
		t.Fatalf("after a restart: %+v", st.Settings)
	}
}

// TestModeFollowsTheFleet: a gate in online mode whose fleet stops
// answering says local within MaxFailures probe periods, with nobody
// presenting anything; it says online again once probes are answered.
func TestModeFollowsTheFleet(t *testing.T) {
	clk := clock.NewFake(time.Now())
	ev := newEvent(t, clk.Now(), 1, "single")
	auth := &pingAuthority{}
	auth.down.Store(true)
	g := seededGate(t, ev, agent.Config{Clock: clk, Online: &agent.OnlineConfig{Authority: auth, MaxFailures: 2, ProbeEvery: time.Second, ProbeSuccesses: 1}})
	if g.Mode() != agent.ModeOnline {
		t.Fatalf("mode at start: %s", g.Mode())
	}
	for i := 0; g.Mode() == agent.ModeOnline; i++ {
		if i > 100 {
			t.Fatal("still online with the fleet gone")
		}
		select {
		case <-clk.Armed():
		case <-time.After(20 * time.Millisecond):
		}
		clk.Advance(time.Second)
	}
	auth.down.Store(false) // the fleet answers again
	testwait.For(t, "online again", func() bool {
		clk.Advance(time.Second)
		return g.Mode() == agent.ModeOnline
	})
}

// TestPeersFromConfig: a fleet config gives a gate its peers: it dials
// them at once, and its passages reach them; a config without peers
// drops the links.
func TestPeersFromConfig(t *testing.T) {
	ctx := context.Background()
	ev := newEvent(t, time.Now(), 2, "single")
	// Two gates that know of each other from nobody: no peers given.
	a := seededGate(t, ev, agent.Config{Device: "gate-0", Gate: "Gate A", PeerListener: listen(t)})
	b := seededGate(t, ev, agent.Config{Device: "gate-1", Gate: "Gate B", PeerListener: listen(t)})
	if a.PeersConnected() != 0 {
		t.Fatalf("peers before any config: %d", a.PeersConnected())
	}
	body, _ := json.Marshal(map[string]any{"peers": []string{"ws://" + b.PeerAddr() + "/peer"}})
	if err := a.ApplyConfig(ctx, 1, body); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the link the config named", func() bool { return a.PeersConnected() == 1 })
	if d := a.present(t, ev.tickets[0].Code); !d.Admitted {
		t.Fatalf("at A: %+v", d)
	}
	testwait.For(t, "B to learn the passage", func() bool { return len(b.marksAt(t, ev.event, ev.tickets[0].ID)) == 1 })
	if err := a.ApplyConfig(ctx, 2, json.RawMessage(`{}`)); err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the link dropped", func() bool { return a.PeersConnected() == 0 })
}
