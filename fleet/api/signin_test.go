package api_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/api"
	"admit/fleet/api/apitest"
	"admit/fleet/operator"
)

func postJSON(t *testing.T, url string, in any, cookies ...*http.Cookie) (*http.Response, []byte) {
	t.Helper()
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest("POST", url, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for _, c := range cookies {
		req.AddCookie(c)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func findCookie(resp *http.Response, name string) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// TestSignInThroughTheAPI: an admin creates an operator; its setup link
// sets a password and enrols TOTP and signs it in; it signs out and in
// again (password, then code) with cookies that are HttpOnly, Secure and
// SameSite=Strict; wrong codes are refused with a message until the
// account locks (429, Retry-After); the admin unlocks it.
func TestSignInThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	admin := f.signIn(t, "root", access.Grant{Role: access.Admin, Event: access.AllEvents})
	var link api.SetupLink
	admin.must("POST", "/api/operators", `{"name":"ada","grants":[{"role":"viewer","event":"gala"}]}`, 201, &link)
	if !strings.HasPrefix(link.URL, f.url+"/setup.html#token=") || link.Token == "" {
		t.Fatalf("setup link %+v", link)
	}
	resp, data := postJSON(t, f.url+"/api/setup/begin", api.SetupRequest{Token: link.Token})
	var info api.SetupInfo
	json.Unmarshal(data, &info)
	if resp.StatusCode != 200 || info.Operator != "ada" || !strings.HasPrefix(info.URI, "otpauth://totp/admit:ada?") || info.QRPNG == "" {
		t.Fatalf("setup begin: %s %s", resp.Status, data)
	}
	seed, _ := operator.ParseSecret(info.Secret)
	resp, data = postJSON(t, f.url+"/api/setup/finish", api.SetupRequest{Token: link.Token, Password: apitest.Password, Code: operator.TOTP(seed, f.clk.Now())})
	var done api.SetupDone
	json.Unmarshal(data, &done)
	if resp.StatusCode != 200 || len(done.RecoveryCodes) != 10 || done.CSRF == "" || findCookie(resp, api.SessionCookie) == nil {
		t.Fatalf("setup finish: %s %s", resp.Status, data)
	}
	if resp, _ := postJSON(t, f.url+"/api/setup/finish", api.SetupRequest{Token: link.Token, Password: apitest.Password, Code: "123456"}); resp.StatusCode != 410 {
		t.Fatalf("setup link used twice: %s", resp.Status)
	}

	// Sign in: password, then code.
	f.clk.Advance(operator.TOTPStep)
	resp, _ = postJSON(t, f.url+"/api/login", api.LoginRequest{Name: "ada", Password: apitest.Password})
	pending := findCookie(resp, api.PendingCookie)
	if resp.StatusCode != 200 || pending == nil {
		t.Fatalf("password step: %s", resp.Status)
	}
	resp, data = postJSON(t, f.url+"/api/login/code", api.CodeRequest{Code: wrong(operator.TOTP(seed, f.clk.Now()))}, pending)
	if resp.StatusCode != 401 || !strings.Contains(string(data), "wrong code") {
		t.Fatalf("wrong code: %s %s", resp.Status, data)
	}
	resp, data = postJSON(t, f.url+"/api/login/code", api.CodeRequest{Code: operator.TOTP(seed, f.clk.Now())}, pending)
	sess := findCookie(resp, api.SessionCookie)
	if resp.StatusCode != 200 || sess == nil {
		t.Fatalf("code step: %s %s", resp.Status, data)
	}
	if !sess.HttpOnly || !sess.Secure || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.Domain != "" {
		t.Fatalf("session cookie %+v", sess)
	}
	var me api.Me
	json.Unmarshal(data, &me)
	ada := &client{t: t, Client: &apitest.Client{Base: f.url, HTTP: http.DefaultClient, Session: sess.Value, CSRF: me.CSRF}}
	ada.must("GET", "/api/me", "", 200, &me)
	if me.Name != "ada" || *me.RecoveryCodesLeft != 10 || me.Perms[access.ListTickets].Events[0] != "gala" || me.Perms[access.ManageTickets].All {
		t.Fatalf("me %+v", me)
	}
	ada.must("POST", "/api/logout", "", 204, nil)
	if st, _ := ada.do("GET", "/api/me", "", nil); st != 401 {
		t.Fatalf("after logout: %d", st)
	}

	// Wrong codes lock the account.
	f.clk.Advance(operator.TOTPStep)
	resp, _ = postJSON(t, f.url+"/api/login", api.LoginRequest{Name: "ada", Password: apitest.Password})
	pending = findCookie(resp, api.PendingCookie)
	for i := 1; i <= operator.AccountFailures; i++ {
		resp, data = postJSON(t, f.url+"/api/login/code", api.CodeRequest{Code: wrong(operator.TOTP(seed, f.clk.Now()))}, pending)
	}
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != fmt.Sprint(int(operator.LockFor.Seconds())) || !strings.Contains(string(data), "locked") {
		t.Fatalf("lock-out: %s %q %s", resp.Status, resp.Header.Get("Retry-After"), data)
	}
	if resp, _ := postJSON(t, f.url+"/api/login", api.LoginRequest{Name: "ada", Password: apitest.Password}); resp.StatusCode != 429 {
		t.Fatalf("locked account, password step: %s", resp.Status)
	}
	var ops []operator.Operator
	admin.must("GET", "/api/operators", "", 200, &ops)
	if len(ops) != 2 || ops[0].Name != "ada" || ops[0].LockedUntil.IsZero() {
		t.Fatalf("operators %+v", ops)
	}
	admin.must("POST", "/api/operators/ada/unlock", "", 204, nil)
	if _, err := apitest.Login(f.url, nil, "ada", apitest.Password, operator.TOTP(seed, f.clk.Now())); err != nil {
		t.Fatalf("after unlock: %v", err)
	}

	// Unknown operator and wrong password: the same answer.
	r1, d1 := postJSON(t, f.url+"/api/login", api.LoginRequest{Name: "nobody", Password: apitest.Password})
	r2, d2 := postJSON(t, f.url+"/api/login", api.LoginRequest{Name: "ada", Password: "wrong password!"})
	if r1.StatusCode != 401 || r2.StatusCode != 401 || string(d1) != string(d2) {
		t.Fatalf("unknown %s %s, wrong password %s %s", r1.Status, d1, r2.Status, d2)
	}
}

// wrong returns a 6-digit code other than code.
func wrong(code string) string {
	if code == "000000" {
		return "000001"
	}
	return "000000"
}

// TestLeastExposure: codes and secrets only to those who may read them;
// a device's key and revocation change only by the admins' explicit
// actions; limits are named.
func TestLeastExposure(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	admin := f.signIn(t, "root", access.Grant{Role: access.Admin, Event: access.AllEvents})
	manager := f.signIn(t, "mgr", access.Grant{Role: access.EventManager, Event: "gala"})
	viewer := f.signIn(t, "view", access.Grant{Role: access.Viewer, Event: "gala"})
	staff := f.signIn(t, "staff", access.Grant{Role: access.GateStaff, Event: "gala"})
	admin.must("POST", "/api/events", `{"id":"gala"}`, 201, nil)
	admin.must("POST", "/api/events", `{"id":"cup"}`, 201, nil)
	var ts []fleet.Ticket
	manager.must("POST", "/api/events/gala/tickets", `{"count":2,"rotating":true,"holder":"Ada"}`, 201, &ts)
	if ts[0].Code == "" || ts[0].CodeSecret == nil {
		t.Fatalf("issued %+v", ts[0])
	}
	var list []fleet.Ticket
	viewer.must("GET", "/api/events/gala/tickets", "", 200, &list)
	var one fleet.Ticket
	staff.must("GET", "/api/events/gala/tickets/"+ts[0].ID, "", 200, &one)
	if len(list) != 2 || list[0].Code != "" || list[0].CodeSecret != nil || list[0].Holder != "Ada" || one.Code != "" || one.CodeSecret != nil {
		t.Fatalf("viewer/staff see codes: %+v / %+v", list, one)
	}
	manager.must("GET", "/api/events/gala/tickets/"+ts[0].ID, "", 200, &one)
	if one.Code != ts[0].Code || one.CodeSecret == nil {
		t.Fatalf("manager lacks the code: %+v", one)
	}
	var evs []fleet.Event
	viewer.must("GET", "/api/events", "", 200, &evs)
	if len(evs) != 1 || evs[0].ID != "gala" {
		t.Fatalf("viewer of gala lists %+v", evs)
	}

	// Devices: PUT never re-keys or un-revokes an enrolled device; an
	// enrollment token for its id needs replace, which only admins may ask.
	pub, _, _ := ed25519.GenerateKey(nil)
	body, _ := json.Marshal(fleet.Device{PublicKey: pub, Events: []string{"gala"}})
	manager.must("PUT", "/api/devices/gate-1", string(body), 200, nil)
	admin.must("POST", "/api/devices/gate-1/revoke", "", 200, nil)
	pub2, _, _ := ed25519.GenerateKey(nil)
	body, _ = json.Marshal(fleet.Device{PublicKey: pub2, Events: []string{"gala"}})
	if st, code := admin.do("PUT", "/api/devices/gate-1", string(body), nil); st != 409 || code != "exists" {
		t.Fatalf("PUT with a new key: %d %s", st, code)
	}
	manager.must("PUT", "/api/devices/gate-1", `{"gate":"North","events":["gala"]}`, 200, nil)
	d, _ := f.svc.Store.Device(ctx, "gate-1")
	if !bytes.Equal(d.PublicKey, pub) || !d.Revoked() || d.Gate != "North" {
		t.Fatalf("PUT changed key or revocation: %+v", d)
	}
	if st, _ := manager.do("PUT", "/api/devices/gate-1", `{"events":["cup"]}`, nil); st != 403 {
		t.Fatalf("manager moved a device to another event: %d", st)
	}
	if st, code := manager.do("POST", "/api/enrollments", `{"device":"gate-1","events":["gala"]}`, nil); st != 409 || code != "exists" {
		t.Fatalf("token for an enrolled id: %d %s", st, code)
	}
	if st, _ := manager.do("POST", "/api/enrollments", `{"device":"gate-1","events":["gala"],"replace":true}`, nil); st != 403 {
		t.Fatalf("manager asked for a replacing token: %d", st)
	}
	admin.must("POST", "/api/enrollments", `{"device":"gate-1","events":["gala"],"replace":true}`, 201, nil)
	if st, _ := manager.do("POST", "/api/devices/gate-1/unrevoke", "", nil); st != 403 {
		t.Fatalf("manager un-revoked: %d", st)
	}
	admin.must("POST", "/api/devices/gate-1/rekey", string(must(json.Marshal(api.RekeyRequest{PublicKey: pub2}))), 200, nil)
	if d, _ = f.svc.Store.Device(ctx, "gate-1"); !bytes.Equal(d.PublicKey, pub2) || d.Revoked() {
		t.Fatalf("rekey: %+v", d)
	}

	// Limits are named.
	for _, c := range []struct{ path, want string }{
		{"/api/events/gala/tickets?limit=100001", "maximum page size of 10000"},
		{"/api/scans?limit=20000", "maximum page size of 10000"},
		{"/api/audit?limit=20000", "maximum page size of 10000"},
	} {
		req := admin.Request("GET", c.path, "", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(data), c.want) {
			t.Errorf("GET %s: %s %s", c.path, resp.Status, data)
		}
	}
	huge := `{"id":"x","name":"` + strings.Repeat("a", api.MaxBody) + `"}`
	resp, err := http.DefaultClient.Do(admin.Request("POST", "/api/events", "", strings.NewReader(huge)))
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 413 || !strings.Contains(string(data), fmt.Sprint(api.MaxBody)) {
		t.Fatalf("a body over the limit: %s %s", resp.Status, data)
	}
	if st, _ := admin.do("POST", "/api/events", `{"id":"long","name":"`+strings.Repeat("a", fleet.MaxText+1)+`"}`, nil); st != 400 {
		t.Fatalf("a name over the limit: %d", st)
	}
	if st, _ := admin.do("POST", "/api/events", `{"id":"`+strings.Repeat("a", fleet.MaxIDLen+1)+`"}`, nil); st != 400 {
		t.Fatalf("an id over the limit: %d", st)
	}

	// The audit log: queried and exported.
	resp, err = http.DefaultClient.Do(admin.Request("GET", "/api/audit?format=csv&route=/api/devices/{id}/rekey", "", nil))
	if err != nil {
		t.Fatal(err)
	}
	data, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if resp.StatusCode != 200 || len(lines) != 2 || !strings.HasPrefix(lines[0], "id,at,actor_kind,actor") || !strings.Contains(lines[1], "operator,root,POST,/api/devices/{id}/rekey,id=gate-1") {
		t.Fatalf("audit CSV: %s\n%s", resp.Status, data)
	}
	if st, _ := manager.do("GET", "/api/audit", "", nil); st != 403 {
		t.Fatalf("manager read the audit log: %d", st)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
