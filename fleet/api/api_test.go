package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"admit/clock"
	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/api"
	"admit/fleet/api/apitest"
	"admit/fleet/audit"
	"admit/fleet/operator"
	"admit/fleet/replicate"
	"admit/fleet/sqlite"
	"admit/fleet/wire"
)

type client struct {
	t *testing.T
	*apitest.Client
}

// do sends a request (a JSON body, or CSV for an import path) and decodes
// the JSON answer into out; it returns the status and the error code, if
// any.
func (c *client) do(method, path, body string, out any) (int, string) {
	c.t.Helper()
	ct := ""
	if strings.HasSuffix(strings.SplitN(path, "?", 2)[0], "/import") {
		ct = "text/csv"
	}
	st, code, err := c.Send(c.Request(method, path, ct, strings.NewReader(body)), out)
	if err != nil {
		c.t.Fatal(err)
	}
	return st, code
}

// message sends a JSON request and returns the status and the error
// message of the answer.
func (c *client) message(method, path, body string) (int, string) {
	c.t.Helper()
	resp, err := c.HTTP.Do(c.Request(method, path, "", strings.NewReader(body)))
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct{ Message string }
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Message
}

func (c *client) must(method, path, body string, want int, out any) {
	c.t.Helper()
	if st, code := c.do(method, path, body, out); st != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, st, code, want)
	}
}

// fixture is a fleet API over a real SQLite store, on a fake clock.
type fixture struct {
	url   string
	svc   *fleet.Service
	ops   *operator.Service
	audit audit.Store
	clk   *clock.Fake
}

func newFixture(t *testing.T) *fixture {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clk := clock.NewFake(time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC))
	hub := replicate.NewHub(replicate.Options{Store: st, Log: log, Clock: clk})
	svc := &fleet.Service{Store: st, Wake: hub.Wake, Clock: clk}
	ops := &operator.Service{Store: st, Clock: clk, Argon2: apitest.FastArgon2}
	srv := httptest.NewServer(api.Handler(svc, hub, log, api.Options{Operators: ops, Audit: st, Clock: clk}))
	t.Cleanup(func() { hub.Close(); srv.Close(); st.Close() })
	return &fixture{url: srv.URL, svc: svc, ops: ops, audit: st, clk: clk}
}

// signIn creates an operator with grants and signs it in through the API.
func (f *fixture) signIn(t *testing.T, name string, grants ...access.Grant) *client {
	t.Helper()
	return &client{t: t, Client: apitest.SignIn(t, f.url, nil, f.ops, f.clk.Now(), name, grants...)}
}

// start is a fixture and its admin, signed in.
func start(t *testing.T) *client {
	f := newFixture(t)
	return f.signIn(t, "root", access.Grant{Role: access.Admin, Event: access.AllEvents})
}

func TestTicketsThroughTheAPI(t *testing.T) {
	c := start(t)
	c.must("POST", "/api/events", `{"id":"gala","name":"Gala"}`, 201, nil)
	if st, code := c.do("POST", "/api/events", `{"id":"gala"}`, nil); st != 409 || code != "exists" {
		t.Fatalf("duplicate event: %d %s", st, code)
	}
	if st, _ := c.do("POST", "/api/events", `{"id":"bad id"}`, nil); st != 400 {
		t.Fatalf("bad id: %d", st)
	}
	if st, _ := c.do("POST", "/api/events", `{"id":"x","nope":1}`, nil); st != 400 {
		t.Fatalf("unknown field: %d", st)
	}
	c.must("PUT", "/api/events/gala/zones/floor", `{"name":"Floor"}`, 200, nil)
	c.must("PUT", "/api/events/gala/gates/A", `{"name":"Gate A","zones":["floor"]}`, 200, nil)
	c.must("PUT", "/api/events/gala/types/VIP", `{"name":"VIP","zones":["floor"],"policy":"reentry"}`, 200, nil)
	var zones []fleet.Zone
	var gates []fleet.Gate
	var types []fleet.TicketType
	c.must("GET", "/api/events/gala/zones", "", 200, &zones)
	c.must("GET", "/api/events/gala/gates", "", 200, &gates)
	c.must("GET", "/api/events/gala/types", "", 200, &types)
	if len(zones) != 1 || len(gates) != 1 || len(types) != 1 || types[0].Policy != "reentry" {
		t.Fatalf("layout %+v %+v %+v", zones, gates, types)
	}

	var issued []fleet.Ticket
	c.must("POST", "/api/events/gala/tickets", `{"type":"VIP","count":3}`, 201, &issued)
	if len(issued) != 3 || issued[0].Type != "VIP" {
		t.Fatalf("issued %+v", issued)
	}
	if st, _ := c.do("POST", "/api/events/gala/tickets", `{"count":0}`, nil); st != 400 {
		t.Fatalf("count 0: %d", st)
	}
	if st, _ := c.do("POST", "/api/events/nope/tickets", `{"count":1}`, nil); st != 404 {
		t.Fatalf("unknown event: %d", st)
	}

	var imp struct {
		Imported int
		Tickets  []fleet.Ticket
	}
	c.must("POST", "/api/events/gala/tickets/import", "id,type,holder\nIMP1,GA,Ada\nIMP2,VIP,Bob\n,GA,Cy\n", 201, &imp)
	if imp.Imported != 3 || imp.Tickets[0].ID != "IMP1" || imp.Tickets[1].Holder != "Bob" || imp.Tickets[2].ID == "" {
		t.Fatalf("import %+v", imp)
	}
	if st, code := c.do("POST", "/api/events/gala/tickets/import", "id\nIMP1\n", nil); st != 409 {
		t.Fatalf("re-import: %d %s", st, code)
	}
	if st, _ := c.do("POST", "/api/events/gala/tickets/import", "id\nA\nA\n", nil); st != 400 {
		t.Fatalf("duplicate in one import: %d", st)
	}

	var tk fleet.Ticket
	c.must("POST", "/api/events/gala/tickets/IMP1/revoke", `{"reason":"chargeback"}`, 200, &tk)
	if tk.RevokedAt.IsZero() || tk.RevokeReason != "chargeback" {
		t.Fatalf("revoked %+v", tk)
	}
	var repl fleet.Ticket
	c.must("POST", "/api/events/gala/tickets/IMP2/reissue", "", 201, &repl)
	c.must("GET", "/api/events/gala/tickets/IMP2", "", 200, &tk)
	if tk.ReplacedBy != repl.ID || repl.Holder != "Bob" || repl.Code == "" {
		t.Fatalf("reissue: old %+v new %+v", tk, repl)
	}
	if st, code := c.do("POST", "/api/events/gala/tickets/IMP2/reissue", "", nil); st != 410 || code != "revoked" {
		t.Fatalf("reissue twice: %d %s", st, code)
	}
	if st, _ := c.do("GET", "/api/events/gala/tickets/NOPE", "", nil); st != 404 {
		t.Fatalf("unknown ticket: %d", st)
	}
	var page []fleet.Ticket
	c.must("GET", "/api/events/gala/tickets?after=&limit=4", "", 200, &page)
	if len(page) != 4 || page[0].ID > page[1].ID {
		t.Fatalf("page %+v", page)
	}
	var log fleet.LogState
	c.must("GET", "/api/events/gala/log", "", 200, &log)
	if log.Last != 1+3+3+2+1 { // key, 3 issued, 3 imported, revoke x2 (revoke + reissue's revoke), new ticket
		t.Fatalf("log %+v", log)
	}
	c.must("POST", "/api/events/gala/compact", `{"up_to":5}`, 200, &log)
	if log.Compacted != 5 {
		t.Fatalf("compact %+v", log)
	}
}

func TestDevicesThroughTheAPI(t *testing.T) {
	c := start(t)
	var tok api.EnrollmentToken
	c.must("POST", "/api/enrollments", `{"device":"gate-1","group":"north"}`, 201, &tok)
	u, err := wire.ParseEnrollURI(tok.URI)
	if err != nil || u.Token != tok.Token || tok.QRPNG == "" {
		t.Fatalf("enrollment %+v %v", tok, err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	req, _ := json.Marshal(wire.EnrollRequest{Token: tok.Token, PublicKey: pub})
	var res wire.EnrollResponse
	c.must("POST", wire.EnrollPath, string(req), 200, &res)
	if res.Device != "gate-1" {
		t.Fatalf("enroll %+v", res)
	}
	if st, code := c.do("POST", wire.EnrollPath, string(req), nil); st != 410 || code != "bad_token" {
		t.Fatalf("token reused: %d %s", st, code)
	}
	var es []audit.Entry
	c.must("GET", "/api/audit?route="+wire.EnrollPath, "", 200, &es)
	if len(es) != 2 || es[1].ActorKind != audit.ActorDevice || es[1].Actor != "gate-1" || es[1].Status != 200 || es[0].ActorKind != audit.ActorAnonymous || es[0].Status != 410 {
		t.Fatalf("enrollment audit %+v", es)
	}
	var cfg fleet.DesiredConfig
	c.must("PUT", "/api/configs/group:north", `{"passage_timeout":"7s","direction":"exit"}`, 200, &cfg)
	if st, _ := c.do("PUT", "/api/configs/group:north", `[1]`, nil); st != 400 {
		t.Fatalf("non-object config: %d", st)
	}
	// A body that is not a gate config is refused, naming the field, and
	// stores nothing.
	for body, field := range map[string]string{`{"pulse_ms":700}`: `"pulse_ms"`, `{"totally":"bogus"}`: `"totally"`,
		`{"direction":"sideways"}`: `"direction"`, `{"debounce":"forever"}`: `"debounce"`} {
		if st, msg := c.message("PUT", "/api/configs/group:north", body); st != 400 || !strings.Contains(msg, field) {
			t.Errorf("config %s: %d %s, want 400 naming %s", body, st, msg, field)
		}
	}
	// A device's config may name only events it serves.
	if st, msg := c.message("PUT", "/api/configs/device:gate-1", `{"events":["cup"]}`); st != 400 || !strings.Contains(msg, `"events"`) {
		t.Errorf("config naming an event the device does not serve: %d %s, want 400 naming events", st, msg)
	}
	var stored []fleet.DesiredConfig
	c.must("GET", "/api/configs", "", 200, &stored)
	if len(stored) != 1 || stored[0].Version != cfg.Version {
		t.Fatalf("a refused config changed the stored ones: %+v", stored)
	}
	if st, _ := c.do("PUT", "/api/configs/nope", `{}`, nil); st != 400 {
		t.Fatalf("bad scope: %d", st)
	}
	var ds []fleet.DeviceStatus
	c.must("GET", "/api/devices", "", 200, &ds)
	if len(ds) != 1 || !ds[0].Drift || ds[0].DesiredVersion != cfg.Version {
		t.Fatalf("devices %+v", ds)
	}
	var d fleet.Device
	c.must("POST", "/api/devices/gate-1/revoke", "", 200, &d)
	if !d.Revoked() {
		t.Fatalf("revoke %+v", d)
	}
	if st, _ := c.do("POST", "/api/devices/nope/revoke", "", nil); st != 404 {
		t.Fatalf("revoke unknown: %d", st)
	}
	pub2, _, _ := ed25519.GenerateKey(nil)
	body, _ := json.Marshal(fleet.Device{PublicKey: pub2, Gate: "B"})
	c.must("PUT", "/api/devices/gate-2", string(body), 200, &d)
	if d.ID != "gate-2" || d.Gate != "B" {
		t.Fatalf("pre-enroll %+v", d)
	}
}
