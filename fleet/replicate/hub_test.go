package replicate_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent/gatedb"
	"admit/agent/uplink"
	"admit/fleet"
	"admit/fleet/replicate"
	"admit/fleet/sqlite"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
	"admit/internal/testwait"
)

// logBuffer collects the hub's log so tests can check logged reasons.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type fleetUnderTest struct {
	svc *fleet.Service
	hub *replicate.Hub
	srv *httptest.Server
	url string
	log *logBuffer
}

func startFleet(t *testing.T, opts replicate.Options) *fleetUnderTest {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	lb := &logBuffer{}
	opts.Store = st
	opts.Log = slog.New(slog.NewTextHandler(lb, nil))
	hub := replicate.NewHub(opts)
	svc := &fleet.Service{Store: st, Wake: hub.Wake}
	srv := httptest.NewServer(hub)
	t.Cleanup(func() {
		hub.Close()
		srv.Close()
		st.Close()
	})
	if _, err := svc.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		t.Fatal(err)
	}
	return &fleetUnderTest{svc: svc, hub: hub, srv: srv, url: "ws" + strings.TrimPrefix(srv.URL, "http"), log: lb}
}

func (f *fleetUnderTest) enroll(t *testing.T, id string) ed25519.PrivateKey {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(nil)
	if _, err := f.svc.PreEnroll(context.Background(), fleet.Device{ID: id, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	return priv
}

// rawAgent speaks the wire protocol by hand, applying to a real gatedb.
type rawAgent struct {
	t      *testing.T
	ws     *websocket.Conn
	db     *gatedb.DB
	device string
	key    ed25519.PrivateKey
}

func openDB(t *testing.T) *gatedb.DB {
	db, err := gatedb.Open(context.Background(), filepath.Join(t.TempDir(), "gate.db"), sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Serve(context.Background(), "gala"); err != nil {
		t.Fatal(err)
	}
	return db
}

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func readMsg(t *testing.T, ws *websocket.Conn) (*wire.Message, error) {
	t.Helper()
	ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, data, err := ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	return wire.Decode(data)
}

// connect dials, answers the challenge with a hello signed by signer (nil:
// unsigned) and returns the agent.
func connect(t *testing.T, f *fleetUnderTest, device string, signer ed25519.PrivateKey, db *gatedb.DB) *rawAgent {
	t.Helper()
	ws := dial(t, f.url)
	m, err := readMsg(t, ws)
	if err != nil || m.Type != wire.TypeChallenge {
		t.Fatalf("first frame %+v %v, want a challenge", m, err)
	}
	cursors, err := db.ReplicaCursors(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	h := &wire.Hello{Protocol: wire.ProtocolVersion, Device: device, Cursors: cursors}
	if signer != nil {
		h.Signature = ed25519.Sign(signer, wire.HelloSigningBytes(m.Challenge.Nonce, device))
	}
	if err := ws.WriteJSON(&wire.Message{Type: wire.TypeHello, Hello: h}); err != nil {
		t.Fatal(err)
	}
	return &rawAgent{t: t, ws: ws, db: db, device: device, key: signer}
}

// next reads and applies one frame; it returns the message.
func (a *rawAgent) next() *wire.Message {
	a.t.Helper()
	m, err := readMsg(a.t, a.ws)
	if err != nil {
		a.t.Fatalf("read: %v", err)
	}
	ctx := context.Background()
	switch m.Type {
	case wire.TypeBatch:
		if _, err := a.db.Apply(ctx, m.Batch); err != nil {
			a.t.Fatal(err)
		}
	case wire.TypeSnapshot:
		if _, err := a.db.ApplySnapshot(ctx, m.Snapshot); err != nil {
			a.t.Fatal(err)
		}
	}
	return m
}

// syncTo applies frames until the replica's cursor reaches the fleet's log.
func (a *rawAgent) syncTo(f *fleetUnderTest) {
	a.t.Helper()
	ctx := context.Background()
	st, _ := f.svc.Store.LogState(ctx, "gala")
	for i := 0; ; i++ {
		cur, _ := a.db.ReplicaCursors(ctx)
		if c := cur["gala"]; c.Seq == st.Last && c.Snapshot == nil {
			if c.Running != st.Running {
				a.t.Fatalf("replica at %d has running %x, fleet %x", c.Seq, c.Running, st.Running)
			}
			return
		}
		if i > 1000 {
			a.t.Fatal("replica does not catch up")
		}
		a.next()
	}
}

// expectClosed reads until the fleet closes the connection and returns the
// code of the error frame it sent first ("" if none).
func expectClosed(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	code := ""
	for range 100 {
		ws.SetReadDeadline(time.Now().Add(20 * time.Second))
		_, data, err := ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) || errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "closed") || strings.Contains(err.Error(), "reset") || strings.Contains(err.Error(), "EOF") {
				return code
			}
			t.Fatalf("read: %v", err)
		}
		var m wire.Message
		if json.Unmarshal(data, &m) == nil && m.Type == wire.TypeError {
			code = m.Error.Code
		}
		if m.Type == wire.TypeRevoked {
			code = "revoked"
		}
	}
	t.Fatal("connection not closed")
	return ""
}

func TestEnrolledDeviceMustSign(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	key := f.enroll(t, "gate-1")
	_, forged, _ := ed25519.GenerateKey(nil)

	a := connect(t, f, "gate-1", forged, openDB(t))
	if code := expectClosed(t, a.ws); code != "unauthenticated" {
		t.Fatalf("forged key: closed with %q, want unauthenticated", code)
	}
	a = connect(t, f, "gate-1", nil, openDB(t))
	if code := expectClosed(t, a.ws); code != "unauthenticated" {
		t.Fatalf("unsigned hello of an enrolled device: closed with %q", code)
	}
	a = connect(t, f, "stranger", key, openDB(t))
	if code := expectClosed(t, a.ws); code != "unauthenticated" {
		t.Fatalf("unknown device: closed with %q", code)
	}
	if !strings.Contains(f.log.String(), "not signed by its enrolled key") {
		t.Fatalf("reason not logged:\n%s", f.log.String())
	}
	// The real key gets the replica.
	a = connect(t, f, "gate-1", key, openDB(t))
	a.syncTo(f)
}

func TestUnenrolledAllowedOnlyWhenConfigured(t *testing.T) {
	f := startFleet(t, replicate.Options{AllowUnenrolled: true})
	a := connect(t, f, "legacy", nil, openDB(t))
	a.syncTo(f)
	// Enrolled devices must still sign.
	f.enroll(t, "gate-1")
	a = connect(t, f, "gate-1", nil, openDB(t))
	if code := expectClosed(t, a.ws); code != "unauthenticated" {
		t.Fatalf("unsigned enrolled device with AllowUnenrolled: %q", code)
	}
}

func issue(t *testing.T, f *fleetUnderTest, n int) []fleet.Ticket {
	t.Helper()
	var out []fleet.Ticket
	for n > 0 {
		k := min(n, fleet.MaxIssue)
		ts, err := f.svc.Issue(context.Background(), fleet.IssueRequest{Event: "gala", Count: k})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ts...)
		n -= k
	}
	return out
}

// TestSnapshotResumesAfterDisconnect: a new gate on a long log gets a
// snapshot; it disconnects after two chunks; while it is away tickets are
// added and one revoked; on reconnect the snapshot resumes where it stopped
// (not from the start), then the changes made meanwhile follow, and the
// replica ends equal to the fleet's, running checksum included.
func TestSnapshotResumesAfterDisconnect(t *testing.T) {
	f := startFleet(t, replicate.Options{SnapshotChunk: 1000, SnapshotMin: 100})
	ts := issue(t, f, 4500)
	key := f.enroll(t, "gate-1")
	db := openDB(t)
	a := connect(t, f, "gate-1", key, db)
	var last string
	for i := range 2 {
		m := a.next()
		if m.Type != wire.TypeSnapshot || m.Snapshot.Done {
			t.Fatalf("frame %d: %+v, want a snapshot chunk", i, m.Type)
		}
		last = m.Snapshot.Last
	}
	a.ws.Close()
	ctx := context.Background()
	if _, err := f.svc.Revoke(ctx, "gala", ts[10].ID, "lost"); err != nil {
		t.Fatal(err)
	}
	more := issue(t, f, 50)

	a = connect(t, f, "gate-1", key, db)
	m := a.next()
	if m.Type != wire.TypeSnapshot || m.Snapshot.After != last {
		t.Fatalf("after reconnect: %s after %q, want the snapshot resumed after %q", m.Type, m.Snapshot.After, last)
	}
	a.syncTo(f)
	for _, tk := range append(ts, more...) {
		got, err := db.Ticket(ctx, "gala", tk.ID)
		if err != nil {
			t.Fatalf("ticket %s missing from the replica: %v", tk.ID, err)
		}
		if got.Revoked != (tk.ID == ts[10].ID) {
			t.Fatalf("ticket %s revoked=%v", tk.ID, got.Revoked)
		}
	}
}

// TestDivergedReplicaGetsSnapshot: a hello whose running checksum does not
// match the fleet's log gets a snapshot, not changes.
func TestDivergedReplicaGetsSnapshot(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	issue(t, f, 20)
	key := f.enroll(t, "gate-1")
	db := openDB(t)
	a := connect(t, f, "gate-1", key, db)
	a.syncTo(f)
	a.ws.Close()
	// Corrupt the replica's bookkeeping: same seq, wrong checksum.
	cur, _ := db.ReplicaCursors(context.Background())
	ws := dial(t, f.url)
	ch, _ := readMsg(t, ws)
	c := cur["gala"]
	c.Running ^= 1
	h := &wire.Hello{Protocol: wire.ProtocolVersion, Device: "gate-1", Cursors: map[string]wire.Cursor{"gala": c},
		Signature: ed25519.Sign(key, wire.HelloSigningBytes(ch.Challenge.Nonce, "gate-1"))}
	ws.WriteJSON(&wire.Message{Type: wire.TypeHello, Hello: h})
	m, err := readMsg(t, ws)
	if err != nil || m.Type != wire.TypeSnapshot || m.Snapshot.After != "" {
		t.Fatalf("diverged hello answered with %+v %v, want a new snapshot", m, err)
	}
}

// TestBadPeersAreDroppedAlone: a malformed frame, an oversized frame and a
// flood each close only the offending connection, with the reason logged;
// a well-behaved gate keeps receiving live changes.
func TestBadPeersAreDroppedAlone(t *testing.T) {
	f := startFleet(t, replicate.Options{MessageRate: 1, MessageBurst: 5})
	good := connect(t, f, "good", f.enroll(t, "good"), openDB(t))
	good.syncTo(f)

	cases := []struct {
		name, code string
		send       func(ws *websocket.Conn)
	}{
		{"malformed", "bad_message", func(ws *websocket.Conn) { ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"scans","scans":`)) }},
		{"wrong body", "bad_message", func(ws *websocket.Conn) {
			ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ack","scan_ack":{"up_to":1}}`))
		}},
		{"oversized", "oversized", func(ws *websocket.Conn) {
			ws.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("x"), wire.MaxMessageBytes+1))
		}},
		{"flood", "rate_limited", func(ws *websocket.Conn) {
			for range 20 {
				ws.WriteJSON(&wire.Message{Type: wire.TypeAck, Ack: &wire.Ack{Event: "gala", Cursor: 1}})
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			id := "bad-" + strings.ReplaceAll(tc.name, " ", "-")
			bad := connect(t, f, id, f.enroll(t, id), openDB(t))
			bad.syncTo(f)
			tc.send(bad.ws)
			if code := expectClosed(t, bad.ws); code != tc.code && !(tc.code == "oversized" && code == "") {
				t.Fatalf("closed with %q, want %q", code, tc.code)
			}
			testwait.For(t, "the reason in the log", func() bool {
				return strings.Contains(f.log.String(), "device="+id) && strings.Contains(f.log.String(), tc.code)
			})
			// The good gate still gets live changes.
			issue(t, f, 1)
			good.syncTo(f)
		})
	}
}

// TestScansDedupAckAndFanOut: scans sent twice are recorded once and
// acknowledged; the used mark reaches the other gate.
func TestScansDedupAckAndFanOut(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	ts := issue(t, f, 3)
	a := connect(t, f, "a", f.enroll(t, "a"), openDB(t))
	b := connect(t, f, "b", f.enroll(t, "b"), openDB(t))
	a.syncTo(f)
	b.syncTo(f)
	at := time.Now().UTC().Truncate(time.Millisecond)
	scans := &wire.Scans{Scans: []wire.Scan{
		{Seq: 1, Event: "gala", TicketID: ts[0].ID, Gate: "A", At: at, Outcome: wire.Admitted},
		{Seq: 2, Event: "gala", TicketID: ts[1].ID, Gate: "A", At: at, Outcome: wire.Refused, Reason: "x"},
	}}
	for range 2 {
		a.ws.WriteJSON(&wire.Message{Type: wire.TypeScans, Scans: scans})
		for {
			m := a.next()
			if m.Type == wire.TypeScanAck {
				if m.ScanAck.UpTo != 2 {
					t.Fatalf("ack up to %d", m.ScanAck.UpTo)
				}
				break
			}
		}
	}
	recent, _ := f.svc.Store.RecentScans(context.Background(), 10)
	if len(recent) != 2 {
		t.Fatalf("fleet recorded %d scans, want 2", len(recent))
	}
	b.syncTo(f)
	uses, err := b.db.Uses(context.Background(), "gala", ts[0].ID)
	if err != nil || len(uses) != 1 || uses[0].Gate != "A" {
		t.Fatalf("gate b uses: %+v %v", uses, err)
	}
}

// TestRevokedDeviceIsDroppedAndWipes runs the real uplink: revoking the
// device closes its session, the uplink wipes the replica and stops.
func TestRevokedDeviceIsDroppedAndWipes(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	ts := issue(t, f, 5)
	key := f.enroll(t, "gate-1")
	db := openDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cl := uplink.New(uplink.Options{URL: f.url, Device: "gate-1", DB: db, Key: key, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	testwait.For(t, "the replica", func() bool { _, err := db.Ticket(ctx, "gala", ts[4].ID); return err == nil })
	if err := f.svc.RevokeDevice(ctx, "gate-1"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, uplink.ErrRevoked) {
			t.Fatalf("Run: %v, want ErrRevoked", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("uplink still running after revocation")
	}
	if _, err := db.Ticket(ctx, "gala", ts[4].ID); !errors.Is(err, gatedb.ErrUnknownTicket) {
		t.Fatalf("replica not wiped: %v", err)
	}
	testwait.For(t, "the hub to drop the revoked device", func() bool { return !f.hub.ConnectedDevice("gate-1") })
}

// TestConfigPushAndDrift: a group config reaches the device, which
// acknowledges it; drift clears.
func TestConfigPushAndDrift(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(nil)
	if _, err := f.svc.PreEnroll(ctx, fleet.Device{ID: "gate-1", Group: "north", PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	db := openDB(t)
	var mu sync.Mutex
	var applied []int64
	cl := uplink.New(uplink.Options{URL: f.url, Device: "gate-1", DB: db, Key: priv, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OnConfig: func(ctx context.Context, v int64, body json.RawMessage) error {
			mu.Lock()
			defer mu.Unlock()
			applied = append(applied, v)
			return nil
		}})
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testwait.For(t, "the session", cl.Connected)
	c, err := f.svc.PutConfig(ctx, "group:north", json.RawMessage(`{"pulse_ms":700}`))
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the config to be applied and reported", func() bool {
		ds, _ := f.svc.Devices(ctx)
		return len(ds) == 1 && !ds[0].Drift && ds[0].ConfigVersion == c.Version
	})
	v, body, _ := db.Config(ctx)
	if v != c.Version || string(body) != `{"pulse_ms":700}` {
		t.Fatalf("device config %d %s", v, body)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(applied) != fmt.Sprint([]int64{c.Version}) {
		t.Fatalf("OnConfig calls %v", applied)
	}
}
