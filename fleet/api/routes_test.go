package api_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/api"
	"admit/fleet/api/apitest"
	"admit/fleet/audit"
	"admit/fleet/operator"
	"admit/fleet/wire"
)

// walkEntry is how the walk calls one route: the path with its wildcards
// filled in, a body a permitted caller may send, and which test roles are
// permitted: A admin, M event manager of gala, S gate staff of gala, V
// viewer of gala, O event manager of cup (another event). The letters are
// written here by hand, not derived from the policy, so a change of the
// policy shows up as a failing route.
type walkEntry struct {
	path    string
	body    string
	allowed string
}

var walkRoutes = map[string]walkEntry{
	"GET /api/me":                                       {"/api/me", "", "AMSVO"},
	"POST /api/logout":                                  {"/api/logout", "", "AMSVO"},
	"GET /api/me/sessions":                              {"/api/me/sessions", "", "AMSVO"},
	"POST /api/me/sessions/{id}/revoke":                 {"/api/me/sessions/0000/revoke", "", "AMSVO"},
	"GET /api/events":                                   {"/api/events", "", "AMSVO"},
	"POST /api/events":                                  {"/api/events", `{"id":"walk"}`, "A"},
	"GET /api/events/{event}":                           {"/api/events/gala", "", "AMSV"},
	"GET /api/events/{event}/log":                       {"/api/events/gala/log", "", "AMSV"},
	"POST /api/events/{event}/compact":                  {"/api/events/gala/compact", `{"up_to":1}`, "AM"},
	"GET /api/events/{event}/types":                     {"/api/events/gala/types", "", "AMSV"},
	"PUT /api/events/{event}/types/{id}":                {"/api/events/gala/types/VIP", `{"name":"VIP"}`, "AM"},
	"GET /api/events/{event}/zones":                     {"/api/events/gala/zones", "", "AMSV"},
	"PUT /api/events/{event}/zones/{id}":                {"/api/events/gala/zones/floor", `{"name":"Floor"}`, "AM"},
	"GET /api/events/{event}/gates":                     {"/api/events/gala/gates", "", "AMSV"},
	"PUT /api/events/{event}/gates/{id}":                {"/api/events/gala/gates/A", `{"name":"Gate A"}`, "AM"},
	"GET /api/events/{event}/settings":                  {"/api/events/gala/settings", "", "AMSV"},
	"PUT /api/events/{event}/settings":                  {"/api/events/gala/settings", `{"admit_on_signature":false}`, "AM"},
	"GET /api/events/{event}/badges":                    {"/api/events/gala/badges", "", "AM"},
	"PUT /api/events/{event}/badges/{id}":               {"/api/events/gala/badges/season-1", `{"uid":"04A1B2C3","name":"Ada","zones":["floor"]}`, "AM"},
	"POST /api/events/{event}/badges/{id}/delete":       {"/api/events/gala/badges/season-0/delete", "", "AM"},
	"GET /api/events/{event}/partner-keys":              {"/api/events/gala/partner-keys", "", "AMSV"},
	"PUT /api/events/{event}/partner-keys/{id}":         {"/api/events/gala/partner-keys/tix", `{"alg":"EdDSA","public":"` + newKey() + `","issuer":"tix"}`, "AM"},
	"POST /api/events/{event}/partner-keys/{id}/delete": {"/api/events/gala/partner-keys/old/delete", "", "AM"},
	"GET /api/events/{event}/staff":                     {"/api/events/gala/staff", "", "AM"},
	"PUT /api/events/{event}/staff/{name}":              {"/api/events/gala/staff/role-s", `{"pin":"` + walkPIN + `","badge":"04A1B2C3"}`, "AM"},
	"POST /api/events/{event}/staff/{name}/clear":       {"/api/events/gala/staff/role-s/clear", "", "AM"},
	"POST /api/events/{event}/tickets":                  {"/api/events/gala/tickets", `{"count":1}`, "AM"},
	"POST /api/events/{event}/tickets/import":           {"/api/events/gala/tickets/import", "id\nWALK1\n", "AM"},
	"GET /api/events/{event}/tickets":                   {"/api/events/gala/tickets", "", "AMV"},
	"GET /api/events/{event}/tickets/{id}":              {"/api/events/gala/tickets/T1", "", "AMSV"},
	"POST /api/events/{event}/tickets/{id}/revoke":      {"/api/events/gala/tickets/T2/revoke", `{"reason":"walk"}`, "AM"},
	"POST /api/events/{event}/tickets/{id}/reissue":     {"/api/events/gala/tickets/T3/reissue", "", "AM"},
	"GET /api/events/{event}/tickets/{id}/qr.png":       {"/api/events/gala/tickets/T1/qr.png", "", "AM"},
	"GET /api/devices":                                  {"/api/devices", "", "AMVO"},
	"GET /api/devices/{id}":                             {"/api/devices/gate-1", "", "AMV"},
	"PUT /api/devices/{id}":                             {"/api/devices/gate-1", `{"gate":"Gate A","events":["gala"]}`, "AM"},
	"POST /api/devices/{id}/revoke":                     {"/api/devices/gate-1/revoke", "", "AM"},
	"POST /api/devices/{id}/rekey":                      {"/api/devices/gate-1/rekey", `{"public_key":"` + newKey() + `"}`, "A"},
	"POST /api/devices/{id}/unrevoke":                   {"/api/devices/gate-1/unrevoke", "", "A"},
	"POST /api/enrollments":                             {"/api/enrollments", `{"device":"gate-9","events":["gala"]}`, "AM"},
	"GET /api/configs":                                  {"/api/configs", "", "AMVO"},
	"PUT /api/configs/{scope}":                          {"/api/configs/device:gate-1", `{"buzzer":true}`, "AM"},
	"GET /api/scans":                                    {"/api/scans", "", "AMSVO"},
	"GET /api/contests":                                 {"/api/contests", "", "AMSVO"},
	"GET /api/operators":                                {"/api/operators", "", "A"},
	"POST /api/operators":                               {"/api/operators", `{"name":"newcomer","grants":[{"role":"viewer","event":"gala"}]}`, "A"},
	"PUT /api/operators/{name}/grants":                  {"/api/operators/victim/grants", `{"grants":[{"role":"viewer","event":"cup"}]}`, "A"},
	"POST /api/operators/{name}/unlock":                 {"/api/operators/victim/unlock", "", "A"},
	"POST /api/operators/{name}/reset":                  {"/api/operators/victim/reset", "", "A"},
	"GET /api/operators/{name}/sessions":                {"/api/operators/victim/sessions", "", "A"},
	"POST /api/operators/{name}/sessions/{id}/revoke":   {"/api/operators/victim/sessions/0000/revoke", "", "A"},
	"GET /api/tokens":                                   {"/api/tokens", "", "A"},
	"POST /api/tokens":                                  {"/api/tokens", `{"name":"walk","grant":{"role":"viewer","event":"gala"}}`, "A"},
	"POST /api/tokens/{id}/revoke":                      {"/api/tokens/VICTIM/revoke", "", "A"},
	"GET /api/audit":                                    {"/api/audit?limit=5", "", "A"},
}

// walkPIN is the gate staff PIN the walk sets: it must reach no response
// and no audit entry.
const walkPIN = "947153"

// walkPublic are the routes that need no operator, and who calls them.
var walkPublic = map[string]string{
	"GET /ws":                 api.CallerDevice,
	"GET " + wire.DecidePath:  api.CallerDevice,
	"POST " + wire.DecidePath: api.CallerDevice,
	"POST " + wire.EnrollPath: api.CallerDevice,
	"GET /":                   api.CallerBrowser,
	"GET /api/node":           api.CallerBrowser,
	"POST /api/login":         api.CallerBrowser,
	"POST /api/login/code":    api.CallerBrowser,
	"POST /api/setup/begin":   api.CallerBrowser,
	"POST /api/setup/finish":  api.CallerBrowser,
}

func newKey() string {
	pub, _, _ := ed25519.GenerateKey(nil)
	b, _ := json.Marshal([]byte(pub))
	return strings.Trim(string(b), `"`)
}

// TestEveryRoute walks every route the handler registers (from the route
// table itself: a route without an entry above fails) and checks who gets
// through: 401 without credentials; 403 for each role without the right
// and not 401/403 for each with it, by session and by API token; 403 for a
// foreign Host; for a state change, 403 for a cross-origin request (Origin
// or Sec-Fetch-Site), 403 without the CSRF header, 403 for a text/plain
// body without it (a form's CSRF) and 415 with it.
func TestEveryRoute(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	for _, ev := range []string{"gala", "cup"} {
		if _, err := f.svc.CreateEvent(ctx, fleet.Event{ID: ev}); err != nil {
			t.Fatal(err)
		}
	}
	var ts []fleet.Ticket
	if err := f.svc.Store.AddTickets(ctx, nil); err == nil {
		// ids T1..T3, through the importer so they are signed
		if ts, err = f.svc.ImportCSV(ctx, "gala", strings.NewReader("id\nT1\nT2\nT3\n")); err != nil || len(ts) != 3 {
			t.Fatalf("import: %v", err)
		}
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := f.svc.PreEnroll(ctx, fleet.Device{ID: "gate-1", Events: []string{"gala"}, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	apitest.NewOperator(t, f.ops, "victim", access.Grant{Role: access.Viewer, Event: "gala"})
	_, victimToken, err := f.ops.CreateToken(ctx, "victim", access.Grant{Role: access.Viewer, Event: "gala"}, 0, "test")
	if err != nil {
		t.Fatal(err)
	}

	roles := map[byte]access.Grant{
		'A': {Role: access.Admin, Event: access.AllEvents},
		'M': {Role: access.EventManager, Event: "gala"},
		'S': {Role: access.GateStaff, Event: "gala"},
		'V': {Role: access.Viewer, Event: "gala"},
		'O': {Role: access.EventManager, Event: "cup"},
	}
	for r, g := range roles {
		if _, _, err := f.ops.CreateOperator(ctx, "role-"+strings.ToLower(string(r)), []access.Grant{g}, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// A fresh session per call, so a sign-out or a reset cannot end the
	// next call's (SignIn is what a finished setup link does).
	session := func(r byte) *apitest.Client {
		secret, _, err := f.ops.SignIn(ctx, "role-"+strings.ToLower(string(r)), "127.0.0.1", "walk")
		if err != nil {
			t.Fatal(err)
		}
		return &apitest.Client{Base: f.url, HTTP: http.DefaultClient, Session: secret, CSRF: operator.CSRFToken(secret)}
	}
	tokens := map[byte]*apitest.Client{}
	for r, g := range roles {
		tokens[r] = apitest.NewToken(t, f.url, nil, f.ops, g)
	}
	anonymous := &apitest.Client{Base: f.url, HTTP: http.DefaultClient}

	send := func(c *apitest.Client, method, path, ct, body string, edit func(*http.Request)) int {
		t.Helper()
		req := c.Request(method, path, ct, strings.NewReader(body))
		if edit != nil {
			edit(req)
		}
		st, _, err := c.Send(req, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}

	seen := map[string]bool{}
	for _, rt := range api.Routes() {
		seen[rt.Pattern] = true
		method, _, _ := strings.Cut(rt.Pattern, " ")
		if rt.Public != "" {
			caller, ok := walkPublic[rt.Pattern]
			if !ok || caller != rt.Caller {
				t.Errorf("%s is public (%q, called by %s): list it in walkPublic if that is intended", rt.Pattern, rt.Public, rt.Caller)
				continue
			}
			path := strings.TrimPrefix(rt.Pattern, method+" ")
			if caller == api.CallerBrowser {
				if st := send(anonymous, method, path, "", "{}", func(r *http.Request) { r.Host = "evil.example" }); st != 403 {
					t.Errorf("%s with a foreign Host: %d, want 403", rt.Pattern, st)
				}
				if method == "POST" {
					if st := send(anonymous, method, path, "", "{}", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") }); st != 403 {
						t.Errorf("%s from another origin: %d, want 403", rt.Pattern, st)
					}
					if st := send(anonymous, method, path, "text/plain", "{}", nil); st != 415 {
						t.Errorf("%s with text/plain: %d, want 415", rt.Pattern, st)
					}
				}
			}
			continue
		}
		e, ok := walkRoutes[rt.Pattern]
		if !ok {
			t.Errorf("%s (needs %q) has no entry in walkRoutes: add one with the roles that may call it", rt.Pattern, rt.Perm)
			continue
		}
		if rt.Perm == "" && !rt.Self {
			t.Errorf("%s states no permission", rt.Pattern)
		}
		path := strings.Replace(e.path, "VICTIM", victimToken.ID, 1)
		ct := rt.Body
		change := method != "GET"

		if st := send(anonymous, method, path, ct, e.body, nil); st != 401 {
			t.Errorf("%s without credentials: %d, want 401", rt.Pattern, st)
		}
		for _, r := range []byte("AMSVO") {
			want := strings.IndexByte(e.allowed, r) >= 0
			for kind, c := range map[string]*apitest.Client{"session": session(r), "token": tokens[r]} {
				st := send(c, method, path, ct, e.body, nil)
				switch {
				case want && (st == 401 || st == 403 || st >= 500):
					t.Errorf("%s as %c (%s): %d, want allowed", rt.Pattern, r, kind, st)
				case !want && st != 403:
					t.Errorf("%s as %c (%s): %d, want 403", rt.Pattern, r, kind, st)
				}
			}
		}
		if st := send(session('A'), method, path, ct, e.body, func(r *http.Request) { r.Host = "evil.example" }); st != 403 {
			t.Errorf("%s with a foreign Host: %d, want 403", rt.Pattern, st)
		}
		if st := send(tokens['A'], method, path, ct, e.body, func(r *http.Request) { r.Host = "evil.example:8080" }); st != 403 {
			t.Errorf("%s by token with a foreign Host: %d, want 403", rt.Pattern, st)
		}
		if !change {
			continue
		}
		for name, edit := range map[string]func(*http.Request){
			"from another origin":      func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
			"from a cross-site page":   func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") },
			"without the CSRF header":  func(r *http.Request) { r.Header.Del(api.CSRFHeader) },
			"with a wrong CSRF header": func(r *http.Request) { r.Header.Set(api.CSRFHeader, "x") },
			"as a text/plain form": func(r *http.Request) {
				r.Header.Set("Content-Type", "text/plain")
				r.Header.Del(api.CSRFHeader)
			},
		} {
			if st := send(session('A'), method, path, ct, e.body, edit); st != 403 {
				t.Errorf("%s %s: %d, want 403", rt.Pattern, name, st)
			}
		}
		if st := send(session('A'), method, path, "text/plain", e.body, nil); st != 415 {
			t.Errorf("%s with text/plain and the CSRF header: %d, want 415", rt.Pattern, st)
		}
	}
	for p := range walkRoutes {
		if !seen[p] {
			t.Errorf("walkRoutes lists %s, which is not a route", p)
		}
	}
	for p := range walkPublic {
		if !seen[p] {
			t.Errorf("walkPublic lists %s, which is not a route", p)
		}
	}

	// Every change was audited, refusals too, and no secret was written.
	es, err := f.audit.AuditLog(ctx, audit.Filter{Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	statuses := map[int]int{}
	for _, e := range es {
		statuses[e.Status]++
		text := fmt.Sprintf("%+v", e)
		if strings.Contains(text, operator.TokenPrefix) || strings.Contains(text, apitest.Password) || strings.Contains(text, walkPIN) {
			t.Errorf("a secret in the audit log: %s", text)
		}
	}
	if statuses[401] == 0 || statuses[403] == 0 || statuses[415] == 0 || statuses[200]+statuses[201]+statuses[204] == 0 {
		t.Errorf("audit statuses %v: want refusals and successes", statuses)
	}
}
