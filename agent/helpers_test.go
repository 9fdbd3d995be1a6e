package agent_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"admit/agent"
	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/hal"
	"admit/internal/argon2id"
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
// and its tickets, and its venue data: the keys of the devices that serve
// it, its gate staff — made by the test, without a fleet.
type testEvent struct {
	event   string
	key     ticket.SigningKey
	from    time.Time // the tickets' validity window
	to      time.Time
	tickets []testTicket
	// devices are the keys of the devices its venue scope names: gate-0
	// to gate-9 (seededGate gives a gate its own).
	devices map[string]ed25519.PrivateKey
	// staff are its gate staff, by name: their PIN and badge UID.
	staff map[string]testStaff
}

// testStaff is a gate staff member of a testEvent.
type testStaff struct {
	PIN   string
	Badge []byte // nil: PIN alone
}

// fastPIN hashes the tests' staff PINs cheaply; gates check any
// parameters a hash records.
var fastPIN = argon2id.Params{Time: 1, Memory: 64, Threads: 1, KeyLen: 32}

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
	e := &testEvent{event: "gala", key: key, from: now.Add(-6 * time.Hour), to: now.Add(72 * time.Hour), devices: map[string]ed25519.PrivateKey{},
		staff: map[string]testStaff{"ada": {PIN: "2718"}, "bob": {PIN: "3141", Badge: []byte{0x04, 0xa1, 0xb2, 0xc3}}}}
	for i := range 10 {
		_, k, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		e.devices[fmt.Sprintf("gate-%d", i)] = k
	}
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

// venue is the event's venue scope as one snapshot chunk at log
// position 1: its devices (keys) and its staff (hashed PINs).
func (e *testEvent) venue(t testing.TB) *wire.Snapshot {
	t.Helper()
	s := &wire.Snapshot{Event: wire.VenueScope(e.event), Seq: 1, Done: true}
	for id, k := range e.devices {
		r, err := wire.NewVenueRow(wire.VenueKindDevice, id, wire.VenueDevice{Gate: id, PublicKey: k.Public().(ed25519.PublicKey)})
		if err != nil {
			t.Fatal(err)
		}
		s.Venue = append(s.Venue, r)
	}
	for name, st := range e.staff {
		phc, err := argon2id.Hash(wire.StaffSecret(st.Badge, st.PIN), fastPIN)
		if err != nil {
			t.Fatal(err)
		}
		row := wire.VenueStaff{Name: strings.ToUpper(name[:1]) + name[1:], PINHash: phc}
		if st.Badge != nil {
			row.Badge = wire.BadgeLookup(st.Badge)
		}
		r, err := wire.NewVenueRow(wire.VenueKindStaff, name, row)
		if err != nil {
			t.Fatal(err)
		}
		s.Venue = append(s.Venue, r)
	}
	slices.SortFunc(s.Venue, func(a, b wire.VenueRow) int { return strings.Compare(a.Key(), b.Key()) })
	s.Last = s.Venue[len(s.Venue)-1].Key()
	s.Seal()
	return s
}

// seed puts the event and its venue data into the replica of gate g, as
// snapshots from the fleet would.
func (e *testEvent) seed(t testing.TB, g *testGate) {
	t.Helper()
	for _, s := range []*wire.Snapshot{e.snapshot(), e.venue(t)} {
		if _, err := g.DB().ApplySnapshot(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
}

// seededGate starts a gate without a fleet on cfg (Event set to e's;
// Device and Gate "gate-1" and "Gate 1" unless set; its device key e's for
// the device unless set) and seeds its replica with e.
func seededGate(t testing.TB, e *testEvent, cfg agent.Config) *testGate {
	t.Helper()
	cfg.Event = e.event
	if cfg.Device == "" {
		cfg.Device = "gate-1"
	}
	if cfg.Gate == "" {
		cfg.Gate = "Gate 1"
	}
	if cfg.Key == nil {
		cfg.Key = e.devices[cfg.Device]
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

// staffClient is a browser of gate staff signed in at a gate's staff
// listener: it sends the session cookie, and the CSRF token with changes.
type staffClient struct {
	t      testing.TB
	base   string
	cookie *http.Cookie
	csrf   string
}

// signIn signs staff in at gate g with creds ({"staff":…,"pin":…} or
// {"badge":…,"pin":…}) and returns the signed-in client.
func signIn(t testing.TB, g *testGate, creds string) *staffClient {
	t.Helper()
	c := &staffClient{t: t, base: "http://" + g.StatusAddr()}
	resp, body := c.do("POST", "/staff/sign-in", "application/json", creds, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sign-in %s: %d %s", creds, resp.StatusCode, body)
	}
	var s agent.StaffSession
	if err := json.Unmarshal(body, &s); err != nil || s.CSRF == "" {
		t.Fatalf("sign-in answer %s: %v", body, err)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "admit-staff" {
			c.cookie = ck
		}
	}
	if c.cookie == nil || !c.cookie.HttpOnly || c.cookie.SameSite != http.SameSiteStrictMode {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict", c.cookie)
	}
	c.csrf = s.CSRF
	return c
}

// do sends a request; edit, when set, changes it last (headers an attack
// would send). It returns the response (body read) and its body.
func (c *staffClient) do(method, path, contentType, body string, edit func(*http.Request)) (*http.Response, []byte) {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.cookie != nil {
		req.AddCookie(c.cookie)
		if method != "GET" {
			req.Header.Set("X-CSRF-Token", c.csrf)
		}
	}
	if edit != nil {
		edit(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// post sends a JSON change and decodes the answer into out (when not nil).
func (c *staffClient) post(path, body string, out any) int {
	c.t.Helper()
	resp, b := c.do("POST", path, "application/json", body, nil)
	if out != nil {
		json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

// status is what the gate's status page says (without staff).
func (g *testGate) status(t testing.TB) agent.Status {
	t.Helper()
	return g.Status(httptest.NewRequest("GET", "/status", nil), false)
}
