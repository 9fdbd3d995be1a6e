package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/api"
	"admit/fleet/api/apitest"
	"admit/fleet/kek"
	"admit/fleet/node"
	"admit/fleet/postgres/pgtest"
	"admit/fleet/replicate/replicatetest"
	"admit/fleet/wire"
	"admit/internal/testwait"
	"admit/internal/tlspin"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// pinned is an HTTP client that trusts n's own CA, as admitctl -pin does.
func pinned(n *node.Node) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlspin.Config(n.CAFingerprint)}}
}

// dialer dials n's agent stream pinned to its CA, as an enrolled gate does.
func dialer(n *node.Node) *websocket.Dialer {
	return &websocket.Dialer{TLSClientConfig: tlspin.Config(n.CAFingerprint)}
}

// gated creates event ev with a gate, and pre-enrolls device at it (the
// fleet's record of what it serves); it returns the device's key.
func gated(t *testing.T, n *node.Node, ev, device string) ed25519.PrivateKey {
	t.Helper()
	ctx := context.Background()
	if _, err := n.Service.CreateEvent(ctx, fleet.Event{ID: ev}); err != nil && !errors.Is(err, fleet.ErrExists) {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := n.Service.PreEnroll(ctx, fleet.Device{ID: device, Gate: "Gate 1", Events: []string{ev}, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	return key
}

func open(t *testing.T, cfg node.Config) *node.Node {
	t.Helper()
	cfg.Addr, cfg.Log = "127.0.0.1:0", quiet
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	n, err := node.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close(context.Background()) })
	return n
}

// enroll posts key's public half with the one-time token of an
// enrollment code (the enrollment QR's text) to the fleet it names, over
// TLS pinned to the CA the code carries, as a gate does; it returns the
// HTTP status and, on 200, the fleet's answer.
func enroll(t *testing.T, code string, key ed25519.PrivateKey) (int, wire.EnrollResponse) {
	t.Helper()
	u, err := wire.ParseEnrollURI(code)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(&wire.EnrollRequest{Token: u.Token, PublicKey: key.Public().(ed25519.PublicKey)})
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspin.Config(u.CAFingerprint)}}
	resp, err := client.Post(strings.TrimSuffix(u.Fleet, "/")+wire.EnrollPath, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out wire.EnrollResponse
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, out
}

// syncTo applies frames until a's replica of "gala" reaches the log of
// node n's store.
func syncTo(t *testing.T, a *replicatetest.Agent, n *node.Node) {
	t.Helper()
	st, err := n.Service.Store.LogState(context.Background(), "gala")
	if err != nil {
		t.Fatal(err)
	}
	a.SyncTo("gala", st.Last, st.Running)
}

// TestEnrollOverPinnedTLS: a node with its own CA; the operator creates an
// enrollment token through the API; a device enrolls with the QR's text
// (once: the token is then spent), pins the CA, and replicates over WSS. A
// gate pinning another CA cannot connect. (The real gate doing the same is
// cmd/admit-agent's TestEnrollThenRestart.)
func TestEnrollOverPinnedTLS(t *testing.T) {
	n := open(t, node.Config{RequireEnrollment: true, TLS: node.TLSConfig{AutoCA: true}})
	if len(n.CAFingerprint) != 32 {
		t.Fatal("no CA fingerprint")
	}
	ctx := context.Background()
	if _, err := n.Service.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		t.Fatal(err)
	}
	ts, err := n.Service.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 3})
	if err != nil {
		t.Fatal(err)
	}
	client := pinned(n)
	admin := apitest.NewToken(t, n.URL(), client, n.Operators, access.Grant{Role: access.Admin, Event: access.AllEvents})
	body, _ := json.Marshal(api.EnrollmentRequest{Device: "gate-1", Gate: "Gate 1", Events: []string{"gala"}})
	resp, err := client.Do(admin.Request(http.MethodPost, "/api/enrollments", "", bytes.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	var tok api.EnrollmentToken
	json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || tok.QRPNG == "" {
		t.Fatalf("create enrollment: %s %+v", resp.Status, tok)
	}
	if u, err := wire.ParseEnrollURI(tok.URI); err != nil || !bytes.Equal(u.ReplicaKey, n.ReplicaKey) || !bytes.Equal(u.CAFingerprint, n.CAFingerprint) {
		t.Fatalf("enrollment code %q: %+v %v, want the CA pin and the replica key", tok.URI, u, err)
	}
	_, key, _ := ed25519.GenerateKey(nil)
	code, res := enroll(t, tok.URI, key)
	if code != http.StatusOK || res.Device != "gate-1" || !bytes.Equal(res.CAFingerprint, n.CAFingerprint) || !bytes.Equal(res.ReplicaKey, n.ReplicaKey) {
		t.Fatalf("enroll: %d %+v", code, res)
	}
	if code, _ := enroll(t, tok.URI, key); code == http.StatusOK {
		t.Fatal("a token enrolled twice")
	}
	r := replicatetest.NewReplica("gala")
	a := replicatetest.Dial(t, n.AgentURL(), res.Device, key, r,
		replicatetest.Options{Dialer: &websocket.Dialer{TLSClientConfig: tlspin.Config(res.CAFingerprint)}, ReplicaKey: res.ReplicaKey})
	syncTo(t, a, n)
	if _, ok := r.Ticket("gala", ts[2].ID); !ok {
		t.Fatal("replication over WSS: the last ticket is missing")
	}

	// Another CA's fingerprint: the TLS handshake fails.
	d := websocket.Dialer{TLSClientConfig: tlspin.Config(make([]byte, 32))}
	if ws, _, err := d.Dial(n.AgentURL(), nil); err == nil || !strings.Contains(err.Error(), "pinned") {
		if ws != nil {
			ws.Close()
		}
		t.Fatalf("dial with the wrong pin: %v", err)
	}
}

// TestTwoNodesOnPostgres: two nodes share one PostgreSQL; a gate connected
// to node B gets a ticket issued through node A, and node B tells it it is
// revoked and drops it when node A revokes it. (That a gate told so wipes
// its replica is agent/uplink's TestRevokedWipesAndStops.)
func TestTwoNodesOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	if _, err := node.Open(context.Background(), node.Config{Postgres: dsn, DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: quiet}); err == nil {
		t.Fatal("a node on PostgreSQL started without the fleet's key-encryption key")
	}
	k, _, _ := kek.Generate()
	a := open(t, node.Config{Postgres: dsn, RequireEnrollment: true, KEK: k})
	b := open(t, node.Config{Postgres: dsn, RequireEnrollment: true, KEK: k})
	if !bytes.Equal(a.ReplicaKey, b.ReplicaKey) {
		t.Fatal("two nodes of one fleet sign with different replica keys")
	}
	ctx := context.Background()
	key := gated(t, a, "gala", "gate-1")
	r := replicatetest.NewReplica("gala")
	g := replicatetest.Dial(t, b.AgentURL(), "gate-1", key, r, replicatetest.Options{Dialer: dialer(b), ReplicaKey: a.ReplicaKey})
	syncTo(t, g, b)
	testwait.For(t, "the gate on node B", func() bool { return b.Hub.ConnectedDevice("gate-1") })
	ts, err := a.Service.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	syncTo(t, g, a) // node B is woken through PostgreSQL, or the read times out
	if _, ok := r.Ticket("gala", ts[0].ID); !ok {
		t.Fatal("the ticket issued on A did not reach the gate on B")
	}

	if err := a.Service.RevokeDevice(ctx, "gate-1"); err != nil {
		t.Fatal(err)
	}
	if code := g.ExpectClosed(); code != "revoked" {
		t.Fatalf("revocation through A: the gate on B was closed with %q, want a revoked message", code)
	}
	testwait.For(t, "node B to drop the gate", func() bool { return !b.Hub.ConnectedDevice("gate-1") })
}

// TestDecideAuthenticated: the node's online-decision endpoint takes only
// requests signed by the device's enrolled key, for an event it serves,
// dated near the fleet's clock; refuses revoked devices; admits a ticket
// once, whatever policy the gate claims; and signs its answers with the
// replica key, bound to the request.
func TestDecideAuthenticated(t *testing.T) {
	n := open(t, node.Config{RequireEnrollment: true})
	ctx := context.Background()
	key := gated(t, n, "gala", "gate-1")
	if _, err := n.Service.CreateEvent(ctx, fleet.Event{ID: "other"}); err != nil {
		t.Fatal(err)
	}
	ts, err := n.Service.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	elsewhere, err := n.Service.Issue(ctx, fleet.IssueRequest{Event: "other", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	ask := func(device string, key ed25519.PrivateKey, r wire.DecideRequest) (int, wire.DecideResponse) {
		t.Helper()
		body, _ := json.Marshal(r)
		req, _ := http.NewRequest(http.MethodPost, n.URL()+wire.DecidePath, bytes.NewReader(body))
		req.Header.Set(wire.DecideDeviceHeader, device)
		if key != nil {
			req.Header.Set(wire.DecideSignatureHeader, base64.StdEncoding.EncodeToString(ed25519.Sign(key, wire.DecideSigningBytes(body))))
		}
		resp, err := pinned(n).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, _ := io.ReadAll(resp.Body)
		var out wire.DecideResponse
		if resp.StatusCode == http.StatusOK {
			sig, _ := base64.StdEncoding.DecodeString(resp.Header.Get(wire.DecideResponseSignatureHeader))
			if !ed25519.Verify(n.ReplicaKey, wire.DecideResponseSigningBytes(body, data), sig) {
				t.Fatalf("answer %s not signed with the replica key for its request", data)
			}
			json.Unmarshal(data, &out)
		}
		return resp.StatusCode, out
	}
	post := func(device string, key ed25519.PrivateKey, at time.Time) (int, wire.DecideResponse) {
		t.Helper()
		return ask(device, key, wire.DecideRequest{Device: device, Gate: "Gate 1", Event: "gala", TicketID: ts[0].ID,
			Direction: "in", Policy: "multi", At: at})
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
	if code, _ := ask("gate-1", key, wire.DecideRequest{Device: "gate-1", Gate: "Gate 1", Event: "other", TicketID: elsewhere[0].ID,
		Direction: "in", Policy: "single", At: at}); code != http.StatusForbidden {
		t.Fatalf("a claim for an event the device does not serve: %d, want 403", code)
	}
	for _, far := range []time.Duration{time.Hour, -time.Hour} {
		if code, _ := post("gate-1", key, at.Add(far)); code != http.StatusBadRequest {
			t.Fatalf("a claim dated %s from now: %d, want 400", far, code)
		}
	}
	for _, tc := range []struct {
		name   string
		device string
		key    ed25519.PrivateKey
	}{{"unsigned", "gate-1", nil}, {"another key", "gate-1", other}, {"unknown device", "gate-9", other}} {
		if code, _ := post(tc.device, tc.key, at); code != http.StatusUnauthorized {
			t.Fatalf("%s: %d, want 401", tc.name, code)
		}
	}
	if code, resp := post("gate-1", key, at); code != http.StatusOK || !resp.Admit {
		t.Fatalf("signed: %d %+v", code, resp)
	}
	if code, resp := post("gate-1", key, at.Add(time.Minute)); code != http.StatusOK || resp.Admit || resp.Reason != "already_used" {
		t.Fatalf("second entry: %d %+v", code, resp)
	}
	if err := n.Service.RevokeDevice(ctx, "gate-1"); err != nil {
		t.Fatal(err)
	}
	if code, _ := post("gate-1", key, at.Add(2*time.Minute)); code != http.StatusForbidden {
		t.Fatalf("revoked: %d, want 403", code)
	}
}
