package uplink_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent/gatedb"
	"admit/agent/uplink"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
	"admit/internal/testwait"
)

// These tests run the uplink against a scripted fleet: a WebSocket
// endpoint that speaks fleet/wire and plays what the test tells it to, so
// they check the gate's side of the contract without a fleet node.

// scriptedFleet opens each session with a challenge naming its replica
// key, checks that the hello is signed with the device's key, and hands
// the session to play, one session at a time in the order the uplink
// connects. It signs what it sends as a fleet of protocol 5 does (send);
// raw sends what the test wrote.
type scriptedFleet struct {
	t     *testing.T
	srv   *httptest.Server
	pub   ed25519.PublicKey
	rk    ed25519.PrivateKey // the replica key it signs with
	named []byte             // the replica key its challenge names; default rk's
	play  func(s *session)   // runs on the server's goroutine; must not call t.Fatal

	mu     sync.Mutex // guards hellos
	hellos []*wire.Hello
}

// session is one connection of the uplink.
type session struct {
	f     *scriptedFleet
	ws    *websocket.Conn
	hello *wire.Hello
}

func (s *session) wireSession() wire.Session {
	return wire.Session{Device: s.hello.Device, Nonce: s.hello.Nonce}
}

// send sends m signed for the session: a snapshot chunk or batch as a
// signed binary frame, a config, revocation or scan ack with its
// signature.
func (s *session) send(m *wire.Message) error {
	switch m.Type {
	case wire.TypeSnapshot:
		return s.ws.WriteMessage(websocket.BinaryMessage, wire.SignSnapshotFrame(s.f.rk, s.wireSession(), wire.MarshalSnapshot(m.Snapshot)))
	case wire.TypeBatch:
		return s.ws.WriteMessage(websocket.BinaryMessage, wire.SignBatchFrame(s.f.rk, wire.MarshalBatch(m.Batch)))
	case wire.TypeConfig:
		c := *m.Config
		if err := c.Sign(s.f.rk, s.wireSession()); err != nil {
			return err
		}
		m = &wire.Message{Type: m.Type, Config: &c}
	case wire.TypeRevoked:
		r := *m.Revoked
		r.Sign(s.f.rk, s.wireSession())
		m = &wire.Message{Type: m.Type, Revoked: &r}
	case wire.TypeScanAck:
		a := *m.ScanAck
		a.Sign(s.f.rk, s.wireSession())
		m = &wire.Message{Type: m.Type, ScanAck: &a}
	}
	return s.ws.WriteJSON(m)
}

// raw sends data as it is.
func (s *session) raw(kind int, data []byte) error { return s.ws.WriteMessage(kind, data) }

// read returns the next message from the gate (nil when the connection
// ended).
func (s *session) read() *wire.Message {
	s.ws.SetReadDeadline(time.Now().Add(20 * time.Second))
	_, data, err := s.ws.ReadMessage()
	if err != nil {
		return nil
	}
	m, err := wire.Decode(data)
	if err != nil {
		return nil
	}
	return m
}

func newScriptedFleet(t *testing.T, pub ed25519.PublicKey, play func(s *session)) *scriptedFleet {
	_, rk, _ := ed25519.GenerateKey(nil)
	f := &scriptedFleet{t: t, pub: pub, rk: rk, play: play}
	up := websocket.Upgrader{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		nonce := []byte("0123456789abcdef0123456789abcdef")
		named := f.named
		if named == nil {
			named = f.replicaKey()
		}
		if err := ws.WriteJSON(&wire.Message{Type: wire.TypeChallenge, Challenge: &wire.Challenge{Nonce: nonce, ReplicaKey: named}}); err != nil {
			return
		}
		s := &session{f: f, ws: ws}
		m := s.read()
		if m == nil {
			return // the gate refused the challenge
		}
		if m.Type != wire.TypeHello || m.Hello.Protocol != wire.ProtocolVersion || !ed25519.Verify(f.pub, m.Hello.SigningBytes(nonce), m.Hello.Signature) {
			t.Errorf("hello %+v: not a protocol-5 hello signed with the device key", m)
			return
		}
		s.hello = m.Hello
		f.mu.Lock()
		f.hellos = append(f.hellos, m.Hello)
		f.mu.Unlock()
		f.play(s)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *scriptedFleet) url() string { return "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/ws" }

func (f *scriptedFleet) replicaKey() ed25519.PublicKey { return f.rk.Public().(ed25519.PublicKey) }

// options are a gate's uplink options against f: its plain test URL
// (Insecure) and its replica key, as enrollment would have given it.
func (f *scriptedFleet) options(db *gatedb.DB, key ed25519.PrivateKey) uplink.Options {
	return uplink.Options{URL: f.url(), Insecure: true, ReplicaKey: f.replicaKey(), Device: "gate-1", DB: db, Key: key, Log: quiet}
}

// sessions returns the hellos received so far.
func (f *scriptedFleet) sessions() []*wire.Hello {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*wire.Hello(nil), f.hellos...)
}

func openDB(t *testing.T) *gatedb.DB {
	t.Helper()
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

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestRevokedWipesAndStops: told it is revoked, the uplink wipes the
// replica it applied, calls OnRevoked and stops with ErrRevoked, without
// connecting again.
func TestRevokedWipesAndStops(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	snap := &wire.Snapshot{Event: "gala", Seq: 1, Done: true, Last: "T1", Tickets: []wire.SnapTicket{{ID: "T1", Type: "GA"}}}
	snap.Seal()
	f := newScriptedFleet(t, pub, func(s *session) {
		if s.send(&wire.Message{Type: wire.TypeSnapshot, Snapshot: snap}) != nil {
			return
		}
		if m := s.read(); m == nil || m.Type != wire.TypeAck || m.Ack.Cursor != 1 { // applied
			t.Errorf("after the snapshot the gate sent %+v, want its ack", m)
			return
		}
		s.send(&wire.Message{Type: wire.TypeRevoked, Revoked: &wire.Revoked{Reason: "device revoked"}})
		s.read() // until the gate hangs up
	})
	db := openDB(t)
	revoked := make(chan struct{})
	opts := f.options(db, key)
	opts.OnRevoked = func() { close(revoked) }
	cl := uplink.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, uplink.ErrRevoked) {
			t.Fatalf("Run: %v, want ErrRevoked", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("uplink still running after revocation")
	}
	select {
	case <-revoked:
	default:
		t.Fatal("OnRevoked not called")
	}
	if _, err := db.Ticket(ctx, "gala", "T1"); !errors.Is(err, gatedb.ErrUnknownTicket) {
		t.Fatalf("replica not wiped: %v", err)
	}
	if n := len(f.sessions()); n != 1 {
		t.Fatalf("%d sessions, want 1: a revoked gate stops connecting", n)
	}
}

// TestConfigAppliedAndReported: a pushed config is handed to OnConfig,
// recorded and acknowledged with its version; one OnConfig refuses is
// reported with the error and the version still applied, and is not
// recorded; the next hello reports the version applied.
func TestConfigAppliedAndReported(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	acks := make(chan *wire.ConfigAck, 2)
	f := newScriptedFleet(t, pub, func(s *session) {
		if s.hello.ConfigVersion != 0 { // the second session: stay until the gate leaves
			s.read()
			return
		}
		for _, c := range []wire.Config{{Version: 7, Body: json.RawMessage(`{"passage_timeout":"7s"}`)}, {Version: 8, Body: json.RawMessage(`{"passage_timeout":"-1s"}`)}} {
			if s.send(&wire.Message{Type: wire.TypeConfig, Config: &c}) != nil {
				return
			}
			m := s.read()
			if m == nil || m.Type != wire.TypeConfigAck {
				t.Errorf("after config %d the gate sent %+v, want a config ack", c.Version, m)
				return
			}
			acks <- m.ConfigAck
		}
		// Drop the session: the gate reconnects and says what it runs.
	})
	db := openDB(t)
	var mu sync.Mutex
	var applied []int64
	opts := f.options(db, key)
	opts.OnConfig = func(ctx context.Context, v int64, body json.RawMessage) error {
		mu.Lock()
		defer mu.Unlock()
		applied = append(applied, v)
		if strings.Contains(string(body), "-1") {
			return errors.New("passage_timeout must be positive")
		}
		return nil
	}
	cl := uplink.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	defer func() { cancel(); <-done }()

	want := []wire.ConfigAck{{Version: 7}, {Version: 7, Failed: 8, Error: "passage_timeout must be positive"}}
	for i, w := range want {
		select {
		case a := <-acks:
			if *a != w {
				t.Fatalf("ack %d: %+v, want %+v", i, *a, w)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no config ack %d", i)
		}
	}
	v, body, err := db.Config(ctx)
	if err != nil || v != 7 || string(body) != `{"passage_timeout":"7s"}` {
		t.Fatalf("recorded config %d %s %v, want 7 and its body", v, body, err)
	}
	mu.Lock()
	if len(applied) != 2 || applied[0] != 7 || applied[1] != 8 {
		t.Errorf("OnConfig calls %v, want [7 8]", applied)
	}
	mu.Unlock()
	testwait.For(t, "the gate to reconnect", func() bool { return len(f.sessions()) == 2 })
	if h := f.sessions()[1]; h.ConfigVersion != 7 {
		t.Fatalf("hello after reconnecting reports config %d, want 7", h.ConfigVersion)
	}
}

// TestNoConfigHandlerAcknowledgesNothing: a gate without a config handler
// applies no config, so it reports each one failed, records none, and
// its next hello says it runs none — it never acknowledges a config it
// did not apply.
func TestNoConfigHandlerAcknowledgesNothing(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	acks := make(chan *wire.ConfigAck, 1)
	f := newScriptedFleet(t, pub, func(s *session) {
		if len(acks) > 0 || s.hello.ConfigVersion != 0 {
			s.read()
			return
		}
		c := wire.Config{Version: 3, Body: json.RawMessage(`{"buzzer":false}`)}
		if s.send(&wire.Message{Type: wire.TypeConfig, Config: &c}) != nil {
			return
		}
		if m := s.read(); m != nil && m.Type == wire.TypeConfigAck {
			acks <- m.ConfigAck
		}
	})
	db := openDB(t)
	cl := uplink.New(f.options(db, key)) // no OnConfig
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case a := <-acks:
		if a.Version != 0 || a.Failed != 3 || a.Error == "" {
			t.Fatalf("ack %+v, want config 3 failed, none applied", *a)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no config ack")
	}
	if v, _, err := db.Config(ctx); err != nil || v != 0 {
		t.Fatalf("recorded config %d %v, want none", v, err)
	}
}
