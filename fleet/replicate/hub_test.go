package replicate_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/fleet"
	"admit/fleet/replicate"
	"admit/fleet/replicate/replicatetest"
	"admit/fleet/sqlite"
	"admit/fleet/wire"
	"admit/internal/testwait"
	"admit/ticket"
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
	if _, err := f.svc.PreEnroll(context.Background(), fleet.Device{ID: id, Events: []string{"gala"}, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	return priv
}

// connect dials the hub as device, with a hello signed by signer (nil:
// unsigned) carrying r's cursors.
func connect(t *testing.T, f *fleetUnderTest, device string, signer ed25519.PrivateKey, r *replicatetest.Replica) *replicatetest.Agent {
	t.Helper()
	return replicatetest.Connect(t, f.url, device, signer, r)
}

// newReplica is an empty replica of the test's event.
func newReplica() *replicatetest.Replica { return replicatetest.NewReplica("gala") }

// syncTo applies frames until a's replica reaches the fleet's log, running
// checksum included.
func syncTo(t *testing.T, a *replicatetest.Agent, f *fleetUnderTest) {
	t.Helper()
	st, err := f.svc.Store.LogState(context.Background(), "gala")
	if err != nil {
		t.Fatal(err)
	}
	a.SyncTo("gala", st.Last, st.Running)
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

func TestEnrolledDeviceMustSign(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	key := f.enroll(t, "gate-1")
	_, forged, _ := ed25519.GenerateKey(nil)

	a := connect(t, f, "gate-1", forged, newReplica())
	if code := a.ExpectClosed(); code != "unauthenticated" {
		t.Fatalf("forged key: closed with %q, want unauthenticated", code)
	}
	a = connect(t, f, "gate-1", nil, newReplica())
	if code := a.ExpectClosed(); code != "unauthenticated" {
		t.Fatalf("unsigned hello of an enrolled device: closed with %q", code)
	}
	a = connect(t, f, "stranger", key, newReplica())
	if code := a.ExpectClosed(); code != "unauthenticated" {
		t.Fatalf("unknown device: closed with %q", code)
	}
	testwait.For(t, "the reason in the node's log", func() bool {
		return strings.Contains(f.log.String(), "not signed by its enrolled key")
	})
	// The real key gets the replica.
	a = connect(t, f, "gate-1", key, newReplica())
	syncTo(t, a, f)
}

func TestUnenrolledAllowedOnlyWhenConfigured(t *testing.T) {
	f := startFleet(t, replicate.Options{AllowUnenrolled: true})
	a := connect(t, f, "legacy", nil, newReplica())
	syncTo(t, a, f)
	// Enrolled devices must still sign.
	f.enroll(t, "gate-1")
	a = connect(t, f, "gate-1", nil, newReplica())
	if code := a.ExpectClosed(); code != "unauthenticated" {
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
	r := newReplica()
	a := connect(t, f, "gate-1", key, r)
	var last string
	for i := range 2 {
		m := a.Next()
		if m.Type != wire.TypeSnapshot || m.Snapshot.Done {
			t.Fatalf("frame %d: %+v, want a snapshot chunk", i, m.Type)
		}
		last = m.Snapshot.Last
	}
	a.WS.Close()
	ctx := context.Background()
	if _, err := f.svc.Revoke(ctx, "gala", ts[10].ID, "lost"); err != nil {
		t.Fatal(err)
	}
	more := issue(t, f, 50)

	a = connect(t, f, "gate-1", key, r)
	m := a.Next()
	if m.Type != wire.TypeSnapshot || m.Snapshot.After != last {
		t.Fatalf("after reconnect: %s after %q, want the snapshot resumed after %q", m.Type, m.Snapshot.After, last)
	}
	syncTo(t, a, f)
	for _, tk := range append(ts, more...) {
		got, ok := r.Ticket("gala", tk.ID)
		if !ok {
			t.Fatalf("ticket %s missing from the replica", tk.ID)
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
	r := newReplica()
	a := connect(t, f, "gate-1", key, r)
	syncTo(t, a, f)
	a.WS.Close()
	// Corrupt the replica's bookkeeping: same seq, wrong checksum.
	ws := dial(t, f.url)
	ch, _ := readMsg(t, ws)
	c := r.Cursor("gala")
	c.Running ^= 1
	h := &wire.Hello{Protocol: 4, Device: "gate-1", Cursors: map[string]wire.Cursor{"gala": c}} // protocol 4: plain frames to read here
	h.Signature = ed25519.Sign(key, h.SigningBytes(ch.Challenge.Nonce))
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
	good := connect(t, f, "good", f.enroll(t, "good"), newReplica())
	syncTo(t, good, f)

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
			bad := connect(t, f, id, f.enroll(t, id), newReplica())
			syncTo(t, bad, f)
			tc.send(bad.WS)
			if code := bad.ExpectClosed(); code != tc.code && !(tc.code == "oversized" && code == "") {
				t.Fatalf("closed with %q, want %q", code, tc.code)
			}
			testwait.For(t, "the reason in the log", func() bool {
				return strings.Contains(f.log.String(), "device="+id) && strings.Contains(f.log.String(), tc.code)
			})
			// The good gate still gets live changes.
			issue(t, f, 1)
			syncTo(t, good, f)
		})
	}
}

// TestScansDedupAckAndFanOut: scans sent twice are recorded once and
// acknowledged; the used mark reaches the other gate.
func TestScansDedupAckAndFanOut(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	ts := issue(t, f, 3)
	a := connect(t, f, "a", f.enroll(t, "a"), newReplica())
	b := connect(t, f, "b", f.enroll(t, "b"), newReplica())
	syncTo(t, a, f)
	syncTo(t, b, f)
	at := time.Now().UTC().Truncate(time.Millisecond)
	scans := &wire.Scans{Scans: []wire.Scan{
		{Seq: 1, Event: "gala", TicketID: ts[0].ID, Gate: "A", At: at, Outcome: wire.Admitted},
		{Seq: 2, Event: "gala", TicketID: ts[1].ID, Gate: "A", At: at, Outcome: wire.Refused, Reason: "x"},
	}}
	for range 2 {
		if upTo := a.SendScans(scans.Scans...); upTo != 2 {
			t.Fatalf("ack up to %d", upTo)
		}
	}
	recent, _ := f.svc.Store.RecentScans(context.Background(), 10)
	if len(recent) != 2 {
		t.Fatalf("fleet recorded %d scans, want 2", len(recent))
	}
	syncTo(t, b, f)
	if uses := b.Replica.Marks("gala", ts[0].ID); len(uses) != 1 || uses[0].Gate != "A" || uses[0].Device != "a" || uses[0].Annulled {
		t.Fatalf("gate b uses: %+v", uses)
	}
}

// TestRevokedDeviceIsDropped: revoking a connected device tells it so and
// closes its session; the device is refused the same way when it comes
// back. (That the gate then wipes its replica and stops is the uplink's
// TestRevokedWipesAndStops, and end to end agent's
// TestRevocationWipesButKeepsTheBacklog.)
func TestRevokedDeviceIsDropped(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	issue(t, f, 5)
	key := f.enroll(t, "gate-1")
	r := newReplica()
	a := connect(t, f, "gate-1", key, r)
	syncTo(t, a, f)
	testwait.For(t, "the hub to register the device", func() bool { return f.hub.ConnectedDevice("gate-1") })
	if err := f.svc.RevokeDevice(context.Background(), "gate-1"); err != nil {
		t.Fatal(err)
	}
	if code := a.ExpectClosed(); code != "revoked" {
		t.Fatalf("revoked while connected: closed with %q, want a revoked message", code)
	}
	testwait.For(t, "the hub to drop the revoked device", func() bool { return !f.hub.ConnectedDevice("gate-1") })
	if code := connect(t, f, "gate-1", key, r).ExpectClosed(); code != "revoked" {
		t.Fatalf("revoked device reconnecting: closed with %q, want a revoked message", code)
	}
}

// TestConfigPushAndDrift: a group config reaches the device once, the
// device acknowledges it, and drift clears; a device that reports it at
// its next hello is not sent it again.
func TestConfigPushAndDrift(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	ctx := context.Background()
	pub, priv, _ := ed25519.GenerateKey(nil)
	if _, err := f.svc.PreEnroll(ctx, fleet.Device{ID: "gate-1", Group: "north", Events: []string{"gala"}, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	r := newReplica()
	a := connect(t, f, "gate-1", priv, r)
	syncTo(t, a, f)
	testwait.For(t, "the session", func() bool { return f.hub.ConnectedDevice("gate-1") })
	c, err := f.svc.PutConfig(ctx, "group:north", json.RawMessage(`{"passage_timeout":"7s"}`))
	if err != nil {
		t.Fatal(err)
	}
	m := a.Next()
	if m.Type != wire.TypeConfig || m.Config.Version != c.Version || string(m.Config.Body) != `{"passage_timeout":"7s"}` {
		t.Fatalf("after PutConfig: %+v, want config %d", m, c.Version)
	}
	a.ApplyConfig(m.Config)
	testwait.For(t, "the config to be reported applied", func() bool {
		ds, _ := f.svc.Devices(ctx)
		return len(ds) == 1 && !ds[0].Drift && ds[0].ConfigVersion == c.Version
	})
	// Sent once: the next frame is the next change of the log.
	issue(t, f, 1)
	if m := a.Next(); m.Type != wire.TypeBatch {
		t.Fatalf("after the config was applied: %+v, want the next batch", m)
	}
	// At the next hello the device reports the version: not sent again.
	a.WS.Close()
	a = connect(t, f, "gate-1", priv, r)
	issue(t, f, 1)
	st, err := f.svc.Store.LogState(ctx, "gala")
	if err != nil {
		t.Fatal(err)
	}
	for r.Cursor("gala").Seq != st.Last {
		if m := a.Next(); m.Type != wire.TypeBatch {
			t.Fatalf("reconnected with config %d: %+v, want only the new ticket's batch", r.ConfigVersion, m)
		}
	}
}

// TestIssuedTicketsReplicate: what a gate needs to admit the tickets the
// fleet issues reaches it by the stream, in batches and in a snapshot
// alike: the event's public key, which verifies every code, and for a
// rotating ticket its code secret (never in the code), which makes its
// current rotating code pass.
func TestIssuedTicketsReplicate(t *testing.T) {
	f := startFleet(t, replicate.Options{SnapshotMin: 3})
	ctx := context.Background()
	byBatch := newReplica()
	a := connect(t, f, "gate-a", f.enroll(t, "gate-a"), byBatch) // a new replica: a snapshot of the key, then batches
	syncTo(t, a, f)
	ts := issue(t, f, 2)
	rot, err := f.svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 2, Rotating: true})
	if err != nil {
		t.Fatal(err)
	}
	ts = append(ts, rot...)
	syncTo(t, a, f)

	bySnapshot := newReplica()
	b := connect(t, f, "gate-b", f.enroll(t, "gate-b"), bySnapshot)
	if m := b.Next(); m.Type != wire.TypeSnapshot {
		t.Fatalf("a new gate on a log of more than SnapshotMin changes got %s, want a snapshot", m.Type)
	}
	syncTo(t, b, f)

	for name, r := range map[string]*replicatetest.Replica{"batches": byBatch, "snapshot": bySnapshot} {
		kr := ticket.NewKeyring()
		for _, k := range r.Keys("gala") {
			kr.Add(ticket.PublicKey{Event: "gala", ID: k.ID, Key: k.Public, RetiredAt: k.RetiredAt})
		}
		now := time.Now()
		for _, tk := range ts {
			row, ok := r.Ticket("gala", tk.ID)
			if !ok || !bytes.Equal(row.CodeSecret, tk.CodeSecret) {
				t.Fatalf("%s: ticket %s in the replica %+v (%v), issued with secret %x", name, tk.ID, row, ok, tk.CodeSecret)
			}
			code := tk.Code
			if len(tk.CodeSecret) > 0 {
				if code, err = ticket.Rotate(tk.Code, row.CodeSecret, now); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := ticket.VerifyWith(code, kr, ticket.VerifyOptions{Now: now, Event: "gala", Codes: replicaSecrets{r}}); err != nil {
				t.Fatalf("%s: ticket %s does not verify with the replicated key and secret: %v", name, tk.ID, err)
			}
		}
	}
}

// replicaSecrets gives ticket.VerifyWith the code secrets of a replica.
type replicaSecrets struct{ r *replicatetest.Replica }

func (s replicaSecrets) CodeSecret(event, id string) ([]byte, bool) {
	row, ok := s.r.Ticket(event, id)
	return row.CodeSecret, ok && len(row.CodeSecret) > 0
}

// TestVenueScopeReplicates: an enrolled device that serves the event and
// names the event's venue scope in its hello gets the scope (a snapshot,
// then live batches: another device revoked, re-keyed); a device that does
// not serve the event is refused it (forbidden_event, as for the event's
// ticket log), and gets its own event's.
func TestVenueScopeReplicates(t *testing.T) {
	ctx := context.Background()
	f := startFleet(t, replicate.Options{})
	scope := wire.VenueScope("gala")
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := f.svc.PreEnroll(ctx, fleet.Device{ID: "gate-1", Gate: "Gate A", Events: []string{"gala"}, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	peerPub, _, _ := ed25519.GenerateKey(nil)
	if _, err := f.svc.PreEnroll(ctx, fleet.Device{ID: "gate-2", Gate: "Gate B", Events: []string{"gala"}, PublicKey: peerPub}); err != nil {
		t.Fatal(err)
	}
	r := replicatetest.NewReplica("gala", scope)
	a := connect(t, f, "gate-1", key, r)
	syncScope := func() map[string]wire.VenueRow {
		t.Helper()
		st, err := f.svc.Store.LogState(ctx, scope)
		if err != nil {
			t.Fatal(err)
		}
		a.SyncTo(scope, st.Last, st.Running)
		return r.Venue(scope)
	}
	rows := syncScope()
	dev, err := func() (wire.VenueDevice, error) { v := rows["device/gate-2"]; return v.Device() }()
	if err != nil || !bytes.Equal(dev.PublicKey, peerPub) || len(rows) != 2 {
		t.Fatalf("venue rows %v: gate-2 %+v %v", rows, dev, err)
	}
	// Live: gate-2 revoked.
	if err := f.svc.RevokeDevice(ctx, "gate-2"); err != nil {
		t.Fatal(err)
	}
	rows = syncScope()
	if v := rows["device/gate-2"]; !func() bool { d, err := v.Device(); return err == nil && d.Revoked }() {
		t.Fatalf("gate-2 after its revocation: %+v", v)
	}

	// Venue scopes are protocol 5's: a protocol-4 hello naming one (which
	// no protocol-4 agent sends) is refused before anything is served.
	old := replicatetest.NewReplica("gala", scope)
	v4 := replicatetest.Dial(t, f.url, "gate-1", key, old, replicatetest.Options{Protocol: 4})
	if code := v4.ExpectClosed(); code != "bad_message" || len(old.Venue(scope)) != 0 {
		t.Fatalf("protocol-4 hello naming a venue scope: closed with %q, %d venue rows", code, len(old.Venue(scope)))
	}

	// A device enrolled for another event: its ticket stream, no venue.
	cupPub, cupKey, _ := ed25519.GenerateKey(nil)
	if _, err := f.svc.CreateEvent(ctx, fleet.Event{ID: "cup"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PreEnroll(ctx, fleet.Device{ID: "gate-9", Events: []string{"cup"}, PublicKey: cupPub}); err != nil {
		t.Fatal(err)
	}
	// Its hello naming gala's venue scope is refused like one naming gala
	// (a "#venue:gala" cursor is gala's), even next to its own event.
	other := replicatetest.NewReplica("cup", scope)
	b := connect(t, f, "gate-9", cupKey, other)
	if code := b.ExpectClosed(); code != "forbidden_event" {
		t.Fatalf("hello of a cup device for gala's venue scope: closed with %q, want forbidden_event", code)
	}
	if len(other.Venue(scope)) != 0 {
		t.Fatalf("a device of another event got gala's venue rows: %v", other.Venue(scope))
	}
	// The node logs the refusal as it closes the stream: the client may
	// see the close first.
	testwait.For(t, "the refusal in the node's log", func() bool {
		return strings.Contains(f.log.String(), `does not serve event \"gala\"`)
	})
	own := replicatetest.NewReplica("cup", wire.VenueScope("cup"))
	c := connect(t, f, "gate-9", cupKey, own)
	st, _ := f.svc.Store.LogState(ctx, wire.VenueScope("cup"))
	c.SyncTo(wire.VenueScope("cup"), st.Last, st.Running)
	if _, ok := own.Venue(wire.VenueScope("cup"))["device/gate-9"]; !ok {
		t.Fatalf("cup's venue scope at its own device: %v", own.Venue(wire.VenueScope("cup")))
	}
}
