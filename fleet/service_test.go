package fleet_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"admit/clock"
	"admit/fleet"
	"admit/fleet/sqlite"
	"admit/fleet/wire"
	"admit/ticket"
)

// The fleet's domain through fleet.Service, on the real SQLite store (a
// temp file, as the embedded fleet runs) and a clock.Fake.

// serviceStart is the fake clock's start.
var serviceStart = time.Date(2031, 5, 17, 17, 0, 0, 0, time.UTC)

// wakes records the Service's Wake payloads.
type wakes struct {
	mu  sync.Mutex
	got []string
}

func (w *wakes) wake(p string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = append(w.got, p)
}

// forget drops what was seen so far.
func (w *wakes) forget() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.got = nil
}

// saw reports whether payload p was woken, and forgets what was seen.
func (w *wakes) saw(p string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	ok := slices.Contains(w.got, p)
	w.got = nil
	return ok
}

// newService returns a Service on a fresh SQLite store, with event "gala"
// created (starting now, the default 72 hours long).
func newService(t *testing.T) (*fleet.Service, *clock.Fake, *wakes) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := clock.NewFake(serviceStart)
	w := &wakes{}
	svc := &fleet.Service{Store: st, Clock: clk, Wake: w.wake, Location: time.UTC}
	if _, err := svc.CreateEvent(ctx, fleet.Event{ID: "gala", Name: "Gala"}); err != nil {
		t.Fatal(err)
	}
	if !w.saw("e:gala") {
		t.Fatal("creating an event woke no gate")
	}
	return svc, clk, w
}

// changes returns the event's change log after seq after.
func changes(t *testing.T, svc *fleet.Service, after int64) []wire.Change {
	t.Helper()
	p, err := svc.Store.Changes(context.Background(), "gala", after, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	return p.Changes
}

// logLast returns the last seq of the event's change log.
func logLast(t *testing.T, svc *fleet.Service) int64 {
	t.Helper()
	st, err := svc.Store.LogState(context.Background(), "gala")
	if err != nil {
		t.Fatal(err)
	}
	return st.Last
}

// replicatedKeyring is what a gate verifies with: the event's public keys
// as the change log publishes them.
func replicatedKeyring(t *testing.T, svc *fleet.Service) *ticket.Keyring {
	t.Helper()
	kr := ticket.NewKeyring()
	for _, c := range changes(t, svc, 0) {
		if c.Kind == wire.KindKey {
			kr.Add(ticket.PublicKey{Event: "gala", ID: c.Key.ID, Key: c.Key.Public, RetiredAt: c.Key.RetiredAt})
		}
	}
	if len(kr.Keys()) == 0 {
		t.Fatal("the change log publishes no key")
	}
	return kr
}

// loggedSecrets gives ticket.VerifyWith the code secrets the change log
// carries, as a gate's replica holds them.
type loggedSecrets map[string][]byte

func (s loggedSecrets) CodeSecret(event, id string) ([]byte, bool) {
	b, ok := s[id]
	return b, ok && len(b) > 0
}

func secretsOf(t *testing.T, svc *fleet.Service) loggedSecrets {
	out := loggedSecrets{}
	for _, c := range changes(t, svc, 0) {
		if c.Kind == wire.KindTicket {
			out[c.Ticket.ID] = c.Ticket.CodeSecret
		}
	}
	return out
}

// TestIssueSignsWithTheEventKey: issued tickets carry their claims (type
// GA by default, single entry, valid from six hours before the event to
// its end), are stored and logged for the gates, and their codes verify
// with the public key the change log publishes — and with no other key.
func TestIssueSignsWithTheEventKey(t *testing.T) {
	ctx := context.Background()
	svc, clk, w := newService(t)
	ev, err := svc.Store.Event(ctx, "gala")
	if err != nil {
		t.Fatal(err)
	}
	before := logLast(t, svc)
	clk.Advance(time.Minute)
	ts, err := svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 3, Holder: "Ada"})
	if err != nil || len(ts) != 3 {
		t.Fatalf("Issue: %d tickets, %v", len(ts), err)
	}
	if !w.saw("e:gala") {
		t.Fatal("issuing woke no gate")
	}
	kr := replicatedKeyring(t, svc)
	ids := map[string]bool{}
	for _, tk := range ts {
		c, err := ticket.VerifyWith(tk.Code, kr, ticket.VerifyOptions{Now: clk.Now(), Event: "gala"})
		if err != nil {
			t.Fatalf("ticket %s does not verify with the replicated key: %v", tk.ID, err)
		}
		if c.ID != tk.ID || c.Event != "gala" || c.Type != "GA" || c.Policy != ticket.SingleEntry || c.Rotating ||
			!c.NotBefore.Equal(ev.StartsAt.Add(-6*time.Hour)) || !c.NotAfter.Equal(ev.EndsAt) {
			t.Fatalf("claims of %s: %+v (event %+v)", tk.ID, c, ev)
		}
		if tk.Type != "GA" || tk.Holder != "Ada" || !tk.IssuedAt.Equal(clk.Now()) || len(tk.ID) != 10 || tk.CodeSecret != nil {
			t.Fatalf("ticket %+v", tk)
		}
		stored, err := svc.Store.Ticket(ctx, "gala", tk.ID)
		if err != nil || stored.Code != tk.Code {
			t.Fatalf("stored ticket %s: %+v %v", tk.ID, stored, err)
		}
		ids[tk.ID] = true
	}
	if len(ids) != 3 {
		t.Fatalf("ticket ids %v are not distinct", ids)
	}
	logged := changes(t, svc, before)
	if len(logged) != 3 {
		t.Fatalf("issuing 3 tickets logged %d changes", len(logged))
	}
	for _, c := range logged {
		if c.Kind != wire.KindTicket || !ids[c.Ticket.ID] || c.Ticket.Holder != "Ada" {
			t.Fatalf("logged %+v", c)
		}
	}

	// Another key under the event's key id: the signature does not verify.
	other, err := ticket.GenerateSigningKey("gala", "k1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = ticket.VerifyWith(ts[0].Code, ticket.NewKeyring(other.Public()), ticket.VerifyOptions{Now: clk.Now()})
	if ticket.ReasonOf(err) != ticket.ReasonBadSignature {
		t.Fatalf("a code checked against another key: %v, want %s", err, ticket.ReasonBadSignature)
	}
}

// TestIssuePolicyAndTicketTypes: a ticket type gives its zones and default
// policy; the request's policy wins over the type's; bad requests are
// refused as invalid, and store nothing.
func TestIssuePolicyAndTicketTypes(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := newService(t)
	if err := svc.PutTicketType(ctx, fleet.TicketType{Event: "gala", ID: "VIP", Zones: []string{"floor"}, Policy: "reentry"}); err != nil {
		t.Fatal(err)
	}
	kr := replicatedKeyring(t, svc)
	for _, tc := range []struct {
		req    fleet.IssueRequest
		policy ticket.Policy
		zones  []string
	}{
		{fleet.IssueRequest{Event: "gala", Type: "VIP", Count: 1}, ticket.ReEntry, []string{"floor"}},
		{fleet.IssueRequest{Event: "gala", Type: "VIP", Count: 1, Policy: "multi"}, ticket.MultiEntry, []string{"floor"}},
		{fleet.IssueRequest{Event: "gala", Type: "Student", Count: 1, Policy: "reentry"}, ticket.ReEntry, nil},
	} {
		ts, err := svc.Issue(ctx, tc.req)
		if err != nil {
			t.Fatalf("%+v: %v", tc.req, err)
		}
		c, err := ticket.Verify(ts[0].Code, kr, clk.Now())
		if err != nil || c.Type != tc.req.Type || c.Policy != tc.policy || !slices.Equal(c.Zones, tc.zones) {
			t.Fatalf("%+v: claims %+v %v, want policy %s, zones %v", tc.req, c, err, tc.policy, tc.zones)
		}
	}
	stored := logLast(t, svc)
	for _, req := range []fleet.IssueRequest{
		{Event: "gala", Count: 0},
		{Event: "gala", Count: fleet.MaxIssue + 1},
		{Event: "gala", Count: 1, Policy: "twice"},
	} {
		if _, err := svc.Issue(ctx, req); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", req, err)
		}
	}
	if _, err := svc.Issue(ctx, fleet.IssueRequest{Event: "nope", Count: 1}); !errors.Is(err, fleet.ErrNotFound) {
		t.Errorf("unknown event: %v, want ErrNotFound", err)
	}
	if n := logLast(t, svc); n != stored {
		t.Fatalf("refused requests logged %d changes", n-stored)
	}
}

// TestIssueRotatingTickets: a rotating ticket gets its own code secret,
// logged with it for the gates and never in the code: its static code
// says it is rotating and is refused alone; the current rotating code
// made with its secret verifies, one made with another ticket's does not.
func TestIssueRotatingTickets(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := newService(t)
	ts, err := svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 2, Rotating: true})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	a, b := ts[0], ts[1]
	if len(a.CodeSecret) == 0 || len(b.CodeSecret) == 0 || bytes.Equal(a.CodeSecret, b.CodeSecret) || plain[0].CodeSecret != nil {
		t.Fatalf("secrets: %x, %x; a plain ticket's %x", a.CodeSecret, b.CodeSecret, plain[0].CodeSecret)
	}
	if bytes.Contains([]byte(a.Code), a.CodeSecret) {
		t.Fatal("the secret is in the code")
	}
	logged := secretsOf(t, svc)
	if !bytes.Equal(logged[a.ID], a.CodeSecret) || !bytes.Equal(logged[b.ID], b.CodeSecret) || logged[plain[0].ID] != nil {
		t.Fatalf("logged secrets %x", logged)
	}
	kr := replicatedKeyring(t, svc)
	now := clk.Now()
	opts := ticket.VerifyOptions{Now: now, Event: "gala", Codes: logged}
	if c, err := ticket.ParseUnverified(a.Code); err != nil || !c.Rotating {
		t.Fatalf("static code of a rotating ticket: %+v %v", c, err)
	}
	if _, err := ticket.VerifyWith(a.Code, kr, opts); ticket.ReasonOf(err) != ticket.ReasonMissingCode {
		t.Fatalf("static code alone: %v, want %s", err, ticket.ReasonMissingCode)
	}
	cur, err := ticket.Rotate(a.Code, a.CodeSecret, now)
	if err != nil {
		t.Fatal(err)
	}
	if c, err := ticket.VerifyWith(cur, kr, opts); err != nil || c.ID != a.ID {
		t.Fatalf("current rotating code: %+v %v", c, err)
	}
	wrong, _ := ticket.Rotate(a.Code, b.CodeSecret, now)
	if _, err := ticket.VerifyWith(wrong, kr, opts); err == nil {
		t.Fatal("a rotating code made with another ticket's secret verified")
	}
}

// TestRevokeAndReissue: a revocation is stamped, logged for the gates and
// makes online claims fail; reissuing revokes the old ticket ("reissued",
// pointing at its replacement) and issues a new id and code to the same
// holder and type, rotating again when the old one was; a revoked ticket
// cannot be reissued.
func TestRevokeAndReissue(t *testing.T) {
	ctx := context.Background()
	svc, clk, w := newService(t)
	ts, err := svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Type: "VIP", Count: 2, Holder: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	rot, err := svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 1, Holder: "Bob", Rotating: true})
	if err != nil {
		t.Fatal(err)
	}
	w.forget()

	clk.Advance(time.Hour)
	before := logLast(t, svc)
	rev, err := svc.Revoke(ctx, "gala", ts[0].ID, "lost")
	if err != nil || !rev.RevokedAt.Equal(clk.Now()) || rev.RevokeReason != "lost" {
		t.Fatalf("Revoke: %+v %v", rev, err)
	}
	if !w.saw("e:gala") {
		t.Fatal("a revocation woke no gate")
	}
	if cs := changes(t, svc, before); len(cs) != 1 || cs[0].Kind != wire.KindRevoke || cs[0].Revoke.TicketID != ts[0].ID || cs[0].Revoke.Reason != "lost" {
		t.Fatalf("logged %+v", cs)
	}
	resp, err := svc.Claim(ctx, wire.DecideRequest{Device: "gate-1", Gate: "Gate 1", Event: "gala", TicketID: ts[0].ID, Direction: wire.DirIn, Policy: "single", At: clk.Now()})
	if err != nil || resp.Admit || resp.Reason != string(ticket.ReasonRevoked) {
		t.Fatalf("online claim of a revoked ticket: %+v %v", resp, err)
	}
	if _, err := svc.Reissue(ctx, "gala", ts[0].ID); !errors.Is(err, fleet.ErrRevoked) {
		t.Fatalf("reissuing a revoked ticket: %v, want ErrRevoked", err)
	}
	if _, err := svc.Reissue(ctx, "gala", "NOPE"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("reissuing an unknown ticket: %v, want ErrNotFound", err)
	}

	kr := replicatedKeyring(t, svc)
	clk.Advance(time.Minute)
	for _, old := range []fleet.Ticket{ts[1], rot[0]} {
		before := logLast(t, svc)
		repl, err := svc.Reissue(ctx, "gala", old.ID)
		if err != nil {
			t.Fatal(err)
		}
		if repl.ID == old.ID || repl.Code == old.Code || repl.Holder != old.Holder || repl.Type != old.Type || !repl.IssuedAt.Equal(clk.Now()) {
			t.Fatalf("reissue of %+v: %+v", old, repl)
		}
		if (len(old.CodeSecret) > 0) != (len(repl.CodeSecret) > 0) || (len(repl.CodeSecret) > 0 && bytes.Equal(repl.CodeSecret, old.CodeSecret)) {
			t.Fatalf("reissue of a ticket with secret %x has secret %x", old.CodeSecret, repl.CodeSecret)
		}
		code := repl.Code
		if len(repl.CodeSecret) > 0 {
			if code, err = ticket.Rotate(repl.Code, repl.CodeSecret, clk.Now()); err != nil {
				t.Fatal(err)
			}
		}
		c, err := ticket.VerifyWith(code, kr, ticket.VerifyOptions{Now: clk.Now(), Event: "gala", Codes: secretsOf(t, svc)})
		if err != nil || c.ID != repl.ID || c.Rotating != (len(old.CodeSecret) > 0) {
			t.Fatalf("code of the replacement: %+v %v", c, err)
		}
		gone, err := svc.Store.Ticket(ctx, "gala", old.ID)
		if err != nil || !gone.RevokedAt.Equal(clk.Now()) || gone.RevokeReason != "reissued" || gone.ReplacedBy != repl.ID {
			t.Fatalf("the old ticket after reissue: %+v %v", gone, err)
		}
		var revoked, added bool
		for _, c := range changes(t, svc, before) {
			revoked = revoked || (c.Kind == wire.KindRevoke && c.Revoke.TicketID == old.ID)
			added = added || (c.Kind == wire.KindTicket && c.Ticket.ID == repl.ID)
		}
		if !revoked || !added {
			t.Fatalf("reissue logged revoke %v, new ticket %v", revoked, added)
		}
	}
}

// TestImportCSV: rows become signed tickets (id kept, or generated when
// empty; type GA and single entry by default); a file with a bad row
// stores none of its rows.
func TestImportCSV(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := newService(t)
	ts, err := svc.ImportCSV(ctx, "gala", strings.NewReader("id,type,holder,policy\nA1,VIP,Ada,multi\n,,Bob,\n"))
	if err != nil || len(ts) != 2 {
		t.Fatalf("ImportCSV: %d %v", len(ts), err)
	}
	kr := replicatedKeyring(t, svc)
	for i, want := range []struct {
		typ, holder string
		policy      ticket.Policy
	}{{"VIP", "Ada", ticket.MultiEntry}, {"GA", "Bob", ticket.SingleEntry}} {
		c, err := ticket.Verify(ts[i].Code, kr, clk.Now())
		if err != nil || c.Type != want.typ || c.Policy != want.policy || ts[i].Holder != want.holder {
			t.Fatalf("row %d: %+v %+v %v", i, ts[i], c, err)
		}
	}
	if ts[0].ID != "A1" || len(ts[1].ID) != 10 {
		t.Fatalf("ids %q %q", ts[0].ID, ts[1].ID)
	}
	stored := logLast(t, svc)
	for name, csv := range map[string]string{
		"a duplicate id":         "id,holder\nB1,Ada\nB1,Bob\n",
		"a bad policy on line 3": "id,policy\nB2,single\nB3,twice\n",
		"an id already issued":   "id\nB4\nA1\n",
		"no known column":        "name\nAda\n",
		"no rows":                "id,holder\n",
	} {
		if _, err := svc.ImportCSV(ctx, "gala", strings.NewReader(csv)); err == nil {
			t.Errorf("%s: imported", name)
		}
	}
	if n := logLast(t, svc); n != stored {
		t.Fatalf("refused imports logged %d changes", n-stored)
	}
	for _, id := range []string{"B1", "B2", "B4"} {
		if _, err := svc.Store.Ticket(ctx, "gala", id); !errors.Is(err, fleet.ErrNotFound) {
			t.Fatalf("ticket %s of a refused import: %v", id, err)
		}
	}
}

// TestEnrollmentToken: a token enrolls its device once, before it
// expires, with the name, group and gate the operator gave; only its hash
// is kept; a request with a bad key does not spend it; enrolling again
// after a revocation (a replacing token, the explicit re-key) brings the
// device back with its new key.
func TestEnrollmentToken(t *testing.T) {
	ctx := context.Background()
	svc, clk, w := newService(t)
	token, e, err := svc.CreateEnrollment(ctx, fleet.Enrollment{Device: "gate-1", Name: "North 1", Group: "north", Gate: "Gate 1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.TokenHash, fleet.HashToken(token)) || !e.CreatedAt.Equal(clk.Now()) || !e.ExpiresAt.Equal(clk.Now().Add(time.Hour)) {
		t.Fatalf("enrollment %+v", e)
	}
	_, def, err := svc.CreateEnrollment(ctx, fleet.Enrollment{Device: "gate-2"}, 0)
	if err != nil || !def.ExpiresAt.Equal(clk.Now().Add(fleet.EnrollTTL)) {
		t.Fatalf("default lifetime: %+v %v", def, err)
	}
	for _, bad := range []string{"", "gate 1", "gate/1", "gate:1"} {
		if _, _, err := svc.CreateEnrollment(ctx, fleet.Enrollment{Device: bad}, time.Hour); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("device id %q: %v, want ErrInvalid", bad, err)
		}
	}

	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := svc.Enroll(ctx, token, pub[:16]); !errors.Is(err, fleet.ErrInvalid) {
		t.Fatalf("a 16-byte key: %v, want ErrInvalid", err)
	}
	clk.Advance(time.Hour - time.Millisecond)
	// The token as a person might type it: lower case, with spaces.
	d, err := svc.Enroll(ctx, "  "+strings.ToLower(token)+" ", pub)
	if err != nil {
		t.Fatalf("Enroll 1 ms before the token expires: %v", err)
	}
	if d.ID != "gate-1" || d.Name != "North 1" || d.Group != "north" || d.Gate != "Gate 1" || !bytes.Equal(d.PublicKey, pub) || d.Revoked() {
		t.Fatalf("enrolled device %+v", d)
	}
	if !w.saw("d:gate-1") {
		t.Fatal("enrolling woke no connection")
	}
	if _, err := svc.Enroll(ctx, token, pub); !errors.Is(err, fleet.ErrBadToken) {
		t.Fatalf("the token a second time: %v, want ErrBadToken", err)
	}
	if _, err := svc.Enroll(ctx, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", pub); !errors.Is(err, fleet.ErrBadToken) {
		t.Fatalf("a token never issued: %v, want ErrBadToken", err)
	}

	late, _, err := svc.CreateEnrollment(ctx, fleet.Enrollment{Device: "gate-3"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)
	if _, err := svc.Enroll(ctx, late, pub); !errors.Is(err, fleet.ErrBadToken) {
		t.Fatalf("a token at its expiry: %v, want ErrBadToken", err)
	}
	if _, err := svc.Store.Device(ctx, "gate-3"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("an expired token registered its device: %v", err)
	}

	if err := svc.RevokeDevice(ctx, "gate-1"); err != nil {
		t.Fatal(err)
	}
	// A token for an enrolled id would lock the real gate out: only a
	// replacing token (an admin's explicit re-key) is made.
	if _, _, err := svc.CreateEnrollment(ctx, fleet.Enrollment{Device: "gate-1", Name: "North 1", Group: "north", Gate: "Gate 1"}, time.Hour); !errors.Is(err, fleet.ErrExists) {
		t.Fatalf("a token for an enrolled device: %v, want ErrExists", err)
	}
	again, _, err := svc.CreateEnrollment(ctx, fleet.Enrollment{Device: "gate-1", Name: "North 1", Group: "north", Gate: "Gate 1", Replace: true}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	pub2, _, _ := ed25519.GenerateKey(nil)
	if d, err := svc.Enroll(ctx, again, pub2); err != nil || d.Revoked() || !bytes.Equal(d.PublicKey, pub2) {
		t.Fatalf("enrolled again after the revocation: %+v %v", d, err)
	}
}

// TestDeviceRevoke: a pre-enrolled device is registered with its key; a
// revocation is stamped and wakes its connection; an unknown device or a
// malformed registration is refused.
func TestDeviceRevoke(t *testing.T) {
	ctx := context.Background()
	svc, clk, w := newService(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	for _, bad := range []fleet.Device{{ID: "gate-1", PublicKey: pub[:31]}, {ID: "gate 1", PublicKey: pub}, {PublicKey: pub}} {
		if _, err := svc.PreEnroll(ctx, bad); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("PreEnroll %q with a %d-byte key: %v, want ErrInvalid", bad.ID, len(bad.PublicKey), err)
		}
	}
	d, err := svc.PreEnroll(ctx, fleet.Device{ID: "gate-1", Gate: "Gate 1", PublicKey: pub})
	if err != nil || !d.CreatedAt.Equal(clk.Now()) || !bytes.Equal(d.PublicKey, pub) || d.Revoked() {
		t.Fatalf("PreEnroll: %+v %v", d, err)
	}
	if !w.saw("d:gate-1") {
		t.Fatal("registering a device woke no connection")
	}
	clk.Advance(time.Hour)
	if err := svc.RevokeDevice(ctx, "gate-1"); err != nil {
		t.Fatal(err)
	}
	if !w.saw("d:gate-1") {
		t.Fatal("a revocation woke no connection: the gate would stay connected")
	}
	ds, err := svc.Devices(ctx)
	if err != nil || len(ds) != 1 || !ds[0].Revoked() || !ds[0].RevokedAt.Equal(clk.Now()) {
		t.Fatalf("devices after the revocation: %+v %v", ds, err)
	}
	if err := svc.RevokeDevice(ctx, "gate-9"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("revoking an unknown device: %v, want ErrNotFound", err)
	}
}

// TestConfigVersionsAndDrift: configs are JSON objects for a device or a
// group; every change takes a new version from one counter; a device runs
// its own config, else its group's; drift is the desired version against
// the one the device reported applied.
func TestConfigVersionsAndDrift(t *testing.T) {
	ctx := context.Background()
	svc, clk, w := newService(t)
	body := json.RawMessage(`{"passage_timeout":"7s"}`)
	for _, scope := range []string{"gate-1", "site:x", "device:", "group:a b", "group:a:b"} {
		if _, err := svc.PutConfig(ctx, scope, body); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("scope %q: %v, want ErrInvalid", scope, err)
		}
	}
	big := json.RawMessage(`{"x":"` + strings.Repeat("x", 64<<10) + `"}`)
	for _, b := range []json.RawMessage{json.RawMessage(`[1]`), json.RawMessage(`null`), json.RawMessage(`{"a":`), big} {
		if _, err := svc.PutConfig(ctx, "group:north", b); !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("body %.20s: %v, want ErrInvalid", b, err)
		}
	}
	for _, d := range []fleet.Device{{ID: "gate-1", Group: "north"}, {ID: "gate-2", Group: "north"}, {ID: "gate-3"}} {
		d.PublicKey, _, _ = ed25519.GenerateKey(nil)
		if _, err := svc.PreEnroll(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	desired := func(id string) fleet.DesiredConfig {
		t.Helper()
		d, err := svc.Store.Device(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		c, err := fleet.DesiredFor(ctx, svc.Store, d)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	w.forget()
	clk.Advance(time.Minute)
	north, err := svc.PutConfig(ctx, "group:north", body)
	if err != nil || !north.UpdatedAt.Equal(clk.Now()) {
		t.Fatalf("PutConfig: %+v %v", north, err)
	}
	if !w.saw("c:group:north") {
		t.Fatal("a group config woke no connection")
	}
	own, err := svc.PutConfig(ctx, "device:gate-2", json.RawMessage(`{"passage_timeout":"5s"}`))
	if err != nil || own.Version <= north.Version {
		t.Fatalf("device config: %+v %v (group at %d)", own, err, north.Version)
	}
	north2, err := svc.PutConfig(ctx, "group:north", json.RawMessage(`{"passage_timeout":"9s"}`))
	if err != nil || north2.Version <= own.Version {
		t.Fatalf("group config again: %+v %v (device at %d)", north2, err, own.Version)
	}
	for id, want := range map[string]fleet.DesiredConfig{"gate-1": north2, "gate-2": own, "gate-3": {}} {
		if got := desired(id); got.Version != want.Version || got.Scope != want.Scope || string(got.Body) != string(want.Body) {
			t.Errorf("%s runs %+v, want %+v", id, got, want)
		}
	}
	drift := func() map[string]bool {
		t.Helper()
		ds, err := svc.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]bool{}
		for _, d := range ds {
			out[d.ID] = d.Drift
		}
		return out
	}
	if got := drift(); !got["gate-1"] || !got["gate-2"] || got["gate-3"] {
		t.Fatalf("drift before any report: %v", got)
	}
	if err := svc.Store.ReportDevice(ctx, "gate-1", "", north2.Version, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if err := svc.Store.ReportDevice(ctx, "gate-2", "", north2.Version, clk.Now()); err != nil {
		t.Fatal(err)
	}
	if got := drift(); got["gate-1"] || !got["gate-2"] {
		t.Fatalf("drift after the reports (gate-2 reported its group's version, not its own): %v", got)
	}
	// The console's state: gate-1 applied, gate-2 pending its own
	// version, then failed with the reason; gate-3 has none.
	states := func() map[string]fleet.DeviceStatus {
		ds, err := svc.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]fleet.DeviceStatus{}
		for _, d := range ds {
			out[d.ID] = d
		}
		return out
	}
	if st := states(); st["gate-1"].ConfigState != fleet.ConfigApplied || st["gate-2"].ConfigState != fleet.ConfigPending || st["gate-3"].ConfigState != fleet.ConfigNone {
		t.Fatalf("config states: %+v", st)
	}
	if err := svc.Store.ReportConfig(ctx, "gate-2", north2.Version, own.Version, "no camera on this gate", clk.Now()); err != nil {
		t.Fatal(err)
	}
	if d := states()["gate-2"]; d.ConfigState != fleet.ConfigFailed || d.ConfigError != "no camera on this gate" || d.ConfigVersion != north2.Version || !d.Drift {
		t.Fatalf("gate-2 after its failure: %+v", d)
	}
}

// TestConfigMustBeAGateConfig: a config body is a wire.GateConfig — a
// field it does not have, or a value out of bounds, is refused naming
// the field, and nothing is stored; a device's config names only events
// the device serves.
func TestConfigMustBeAGateConfig(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := newService(t)
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := svc.PreEnroll(ctx, fleet.Device{ID: "gate-1", Events: []string{"gala"}, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	for body, field := range map[string]string{
		`{"totally":"bogus"}`:             `"totally"`,
		`{"direction":"exit","online":1}`: `"online"`,
		`{"debounce":"2h"}`:               `"debounce"`,
		`{"events":["cup"]}`:              `"events"`,
	} {
		_, err := svc.PutConfig(ctx, "device:gate-1", json.RawMessage(body))
		if !errors.Is(err, fleet.ErrInvalid) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want ErrInvalid naming %s", body, err, field)
		}
	}
	if cs, err := svc.Store.Configs(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("refused configs were stored: %+v %v", cs, err)
	}
	// The issue's own example is a valid config.
	if _, err := svc.PutConfig(ctx, "device:gate-1", json.RawMessage(`{"direction":"exit","online":true}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.PutConfig(ctx, "device:gate-1", json.RawMessage(`{"events":["gala"]}`)); err != nil {
		t.Fatal(err)
	}
}

// TestScansFanOutAndClaims: scans a gate sends are recorded once; each
// passage becomes a used change every gate replicates (an exit as an
// exit) and an annulment an annul change; and online claims rule on what
// was recorded: a used ticket is refused at another gate until its
// passage is annulled; a re-entry ticket that went out may come back in.
func TestScansFanOutAndClaims(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := newService(t)
	single, err := svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	reentry, err := svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 1, Policy: "reentry"})
	if err != nil {
		t.Fatal(err)
	}
	s, r := single[0].ID, reentry[0].ID
	t1 := clk.Now().Add(2 * time.Hour)
	claim := func(device, id, dir, policy string, at time.Time) wire.DecideResponse {
		t.Helper()
		clk.Advance(at.Sub(clk.Now())) // the gate asks as it decides: now
		resp, err := svc.Claim(ctx, wire.DecideRequest{Device: device, Gate: "Gate " + device, Event: "gala", TicketID: id, Direction: dir, Policy: policy, At: at})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	record := func(device string, scans ...wire.Scan) []wire.Change {
		t.Helper()
		before := logLast(t, svc)
		if _, err := svc.Store.RecordScans(ctx, device, scans, clk.Now()); err != nil {
			t.Fatal(err)
		}
		return changes(t, svc, before)
	}

	entry := wire.Scan{Seq: 1, Event: "gala", TicketID: s, Gate: "Gate A", At: t1, Outcome: wire.Admitted, Direction: wire.DirIn}
	refusal := wire.Scan{Seq: 2, Event: "gala", TicketID: s, Gate: "Gate A", At: t1.Add(time.Second), Outcome: wire.Refused, Reason: "already_used"}
	cs := record("a", entry, refusal)
	if len(cs) != 1 || cs[0].Kind != wire.KindUsed {
		t.Fatalf("an entry and a refusal logged %+v, want one used mark", cs)
	}
	if u := cs[0].Used; u.TicketID != s || u.Device != "a" || u.Gate != "Gate A" || !u.At.Equal(t1) || u.Exit() {
		t.Fatalf("used mark %+v", u)
	}
	if cs := record("a", entry, refusal); len(cs) != 0 {
		t.Fatalf("the same scans again logged %+v", cs)
	}
	recent, err := svc.Store.RecentScans(ctx, 10)
	if err != nil || len(recent) != 2 || !recent[0].ReceivedAt.Equal(clk.Now()) {
		t.Fatalf("recorded scans: %+v %v", recent, err)
	}
	if resp := claim("b", s, wire.DirIn, "single", t1.Add(time.Minute)); resp.Admit || resp.Reason != "already_used" || !strings.Contains(resp.Sentence, "Gate A") {
		t.Fatalf("online claim of a ticket used at Gate A: %+v", resp)
	}

	annul := wire.Scan{Seq: 3, Event: "gala", TicketID: s, Gate: "Gate A", At: t1.Add(time.Minute), Outcome: wire.Refused, Reason: "no_passage",
		Direction: wire.DirIn, Annuls: t1}
	cs = record("a", annul)
	if len(cs) != 1 || cs[0].Kind != wire.KindAnnul || cs[0].Annul.TicketID != s || cs[0].Annul.Device != "a" || !cs[0].Annul.At.Equal(t1) {
		t.Fatalf("an annulment logged %+v", cs)
	}
	if resp := claim("b", s, wire.DirIn, "single", t1.Add(2*time.Minute)); !resp.Admit {
		t.Fatalf("online claim after the passage was annulled: %+v", resp)
	}

	cs = record("a",
		wire.Scan{Seq: 4, Event: "gala", TicketID: r, Gate: "Gate A", At: t1, Outcome: wire.Admitted, Direction: wire.DirIn},
		wire.Scan{Seq: 5, Event: "gala", TicketID: r, Gate: "Gate A", At: t1.Add(time.Hour), Outcome: wire.Admitted, Direction: wire.DirOut})
	if len(cs) != 2 || cs[0].Used.Exit() || !cs[1].Used.Exit() {
		t.Fatalf("an entry and an exit logged %+v", cs)
	}
	if resp := claim("c", r, wire.DirIn, "reentry", t1.Add(2*time.Hour)); !resp.Admit {
		t.Fatalf("re-entry after the exit: %+v", resp)
	}
	if resp := claim("d", r, wire.DirIn, "reentry", t1.Add(3*time.Hour)); resp.Admit || resp.Reason != "no_exit" {
		t.Fatalf("re-entry while inside: %+v", resp)
	}
}

// TestClaimTrustsTheFleetsRecords: an online claim takes from the request
// only what the fleet cannot know better. Its time must be within
// MaxClockSkew of the fleet's clock; an enrolled device must serve the
// event (its record names it); a ticket is ruled with the policy it was issued
// with, whatever the gate claims. Nothing refused is recorded.
func TestClaimTrustsTheFleetsRecords(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := newService(t)
	if _, err := svc.CreateEvent(ctx, fleet.Event{ID: "other", Name: "Other"}); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := svc.PreEnroll(ctx, fleet.Device{ID: "gate-a", Gate: "Gate A", Events: []string{"gala"}, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	single, err := svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	others, err := svc.Issue(ctx, fleet.IssueRequest{Event: "other", Count: 1, Policy: "multi"})
	if err != nil {
		t.Fatal(err)
	}
	req := func(event, id, policy string, at time.Time) wire.DecideRequest {
		return wire.DecideRequest{Device: "gate-a", Gate: "Gate A", Event: event, TicketID: id, Direction: wire.DirIn, Policy: policy, At: at}
	}
	now := clk.Now()
	for _, skew := range []time.Duration{fleet.MaxClockSkew + time.Second, -fleet.MaxClockSkew - time.Second, 24 * time.Hour, -365 * 24 * time.Hour} {
		if _, err := svc.Claim(ctx, req("gala", single[0].ID, "single", now.Add(skew))); !errors.Is(err, fleet.ErrClockSkew) || !errors.Is(err, fleet.ErrInvalid) {
			t.Errorf("a request %s off the fleet's clock: %v, want ErrClockSkew", skew, err)
		}
	}
	if _, err := svc.Claim(ctx, req("other", others[0].ID, "multi", now)); !errors.Is(err, fleet.ErrNotServed) {
		t.Errorf("a claim for an event the device does not serve: %v, want ErrNotServed", err)
	}
	var used int
	for _, id := range []string{single[0].ID, others[0].ID} {
		ev := "gala"
		if id == others[0].ID {
			ev = "other"
		}
		resp, err := svc.Store.Claim(ctx, req(ev, id, "single", now), func(st fleet.ClaimState) wire.DecideResponse {
			used += len(st.Passages)
			return wire.DecideResponse{Reason: "looked"}
		})
		if err != nil || resp.Admit {
			t.Fatal(resp, err)
		}
	}
	if used != 0 {
		t.Fatalf("refused claims recorded %d passages", used)
	}

	// Within the skew, for its event: ruled with the issued policy.
	if resp, err := svc.Claim(ctx, req("gala", single[0].ID, "multi", now.Add(fleet.MaxClockSkew-time.Second))); err != nil || !resp.Admit {
		t.Fatalf("first entry: %+v %v", resp, err)
	}
	clk.Advance(time.Minute)
	resp, err := svc.Claim(ctx, req("gala", single[0].ID, "multi", clk.Now()))
	if err != nil || resp.Admit || resp.Reason != "already_used" {
		t.Fatalf("a single-entry ticket claimed as multi-entry: %+v %v, want already_used", resp, err)
	}
}
