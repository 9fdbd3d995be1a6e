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
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent/gatedb"
	"admit/agent/uplink"
	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/api"
	"admit/fleet/api/apitest"
	"admit/fleet/node"
	"admit/fleet/postgres/pgtest"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
	"admit/internal/testwait"
	"admit/internal/tlspin"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

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

type gate struct {
	db   *gatedb.DB
	done chan error
}

func runGate(t *testing.T, opts uplink.Options) *gate {
	t.Helper()
	db, err := gatedb.Open(context.Background(), filepath.Join(t.TempDir(), "gate.db"), sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Serve(context.Background(), "gala"); err != nil {
		t.Fatal(err)
	}
	opts.DB, opts.Log = db, quiet
	ctx, cancel := context.WithCancel(context.Background())
	g := &gate{db: db, done: make(chan error, 1)}
	go func() { g.done <- uplink.New(opts).Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-g.done
		db.Close()
	})
	return g
}

func (g *gate) has(ticket string) bool {
	_, err := g.db.Ticket(context.Background(), "gala", ticket)
	return err == nil
}

// TestEnrollOverPinnedTLS: a node with its own CA; the operator creates an
// enrollment token through the API; the agent enrolls with the QR's text,
// pins the CA, and replicates over WSS. A gate pinning another CA cannot
// connect.
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
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspin.Config(n.CAFingerprint)}}
	admin := apitest.NewToken(t, n.URL(), client, n.Operators, access.Grant{Role: access.Admin, Event: access.AllEvents})
	body, _ := json.Marshal(api.EnrollmentRequest{Device: "gate-1", Gate: "Gate 1"})
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
	_, key, _ := ed25519.GenerateKey(nil)
	res, err := uplink.Enroll(ctx, tok.URI, key)
	if err != nil || res.Device != "gate-1" {
		t.Fatalf("Enroll: %+v %v", res, err)
	}
	if _, err := uplink.Enroll(ctx, tok.URI, key); err == nil {
		t.Fatal("a token enrolled twice")
	}
	g := runGate(t, uplink.Options{URL: n.AgentURL(), Device: res.Device, Key: key, CAFingerprint: res.CAFingerprint})
	testwait.For(t, "replication over WSS", func() bool { return g.has(ts[2].ID) })

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
// to node B gets a ticket issued through node A, and is dropped and wiped
// when node A revokes it.
func TestTwoNodesOnPostgres(t *testing.T) {
	dsn := pgtest.DSN(t)
	a := open(t, node.Config{Postgres: dsn, RequireEnrollment: true})
	b := open(t, node.Config{Postgres: dsn, RequireEnrollment: true})
	ctx := context.Background()
	if _, err := a.Service.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := a.Service.PreEnroll(ctx, fleet.Device{ID: "gate-1", PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	g := runGate(t, uplink.Options{URL: b.AgentURL(), Device: "gate-1", Key: key})
	testwait.For(t, "the gate on node B", func() bool { return b.Hub.ConnectedDevice("gate-1") })
	ts, err := a.Service.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the ticket issued on A to reach the gate on B", func() bool { return g.has(ts[0].ID) })

	if err := a.Service.RevokeDevice(ctx, "gate-1"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-g.done:
		if !errors.Is(err, uplink.ErrRevoked) {
			t.Fatalf("gate: %v, want ErrRevoked", err)
		}
		g.done <- err // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatal("revocation through A did not reach the gate on B")
	}
	if g.has(ts[0].ID) {
		t.Fatal("revoked gate kept its replica")
	}
}

// TestDecideAuthenticated: the node's online-decision endpoint takes only
// requests signed by the device's enrolled key, refuses revoked devices,
// and admits a ticket once.
func TestDecideAuthenticated(t *testing.T) {
	n := open(t, node.Config{RequireEnrollment: true})
	ctx := context.Background()
	if _, err := n.Service.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		t.Fatal(err)
	}
	ts, err := n.Service.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := n.Service.PreEnroll(ctx, fleet.Device{ID: "gate-1", PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	_, other, _ := ed25519.GenerateKey(nil)
	post := func(device string, key ed25519.PrivateKey, at time.Time) (int, wire.DecideResponse) {
		t.Helper()
		body, _ := json.Marshal(wire.DecideRequest{Device: device, Gate: "Gate 1", Event: "gala", TicketID: ts[0].ID,
			Direction: "in", Policy: "single", At: at})
		req, _ := http.NewRequest(http.MethodPost, n.URL()+wire.DecidePath, bytes.NewReader(body))
		req.Header.Set(wire.DecideDeviceHeader, device)
		if key != nil {
			req.Header.Set(wire.DecideSignatureHeader, base64.StdEncoding.EncodeToString(ed25519.Sign(key, wire.DecideSigningBytes(body))))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out wire.DecideResponse
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	at := time.Now().UTC().Truncate(time.Millisecond)
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
