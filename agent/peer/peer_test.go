package peer_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent/gatedb"
	"admit/agent/peer"
	"admit/internal/testwait"
	"admit/ticket/entry"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// memStore is a gate database twin: it keeps what peers send, the gate's
// own passages (journal) for the catch-up, and the venue's device keys.
type memStore struct {
	mu   sync.Mutex // guards the fields below
	got  map[string]bool
	all  chan struct{} // closed once want marks arrived
	want int
	own  []gatedb.Mark // oldest first
	keys map[string]ed25519.PublicKey
}

// venueKeys are the devices of the tests' venue: gate-a, gate-b.
var venueKeys = func() map[string]ed25519.PrivateKey {
	out := map[string]ed25519.PrivateKey{}
	for _, d := range []string{"gate-a", "gate-b"} {
		_, k, _ := ed25519.GenerateKey(nil)
		out[d] = k
	}
	return out
}()

func (s *memStore) VenueDevice(event, id string) (gatedb.VenueDevice, bool) {
	k, ok := venueKeys[id]
	if event != "gala" || !ok {
		return gatedb.VenueDevice{}, false
	}
	return gatedb.VenueDevice{Event: event, ID: id, PublicKey: k.Public().(ed25519.PublicKey)}, true
}

func (s *memStore) VenueSynced(event string) bool { return event == "gala" }

func (s *memStore) WaitPeerRoom(context.Context, int, int) error { return nil }

func (s *memStore) journal(m gatedb.Mark) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.own = append(s.own, m)
}

func newMemStore(want int) *memStore {
	return &memStore{got: map[string]bool{}, all: make(chan struct{}), want: want}
}

func (s *memStore) AddPeerMark(m gatedb.Mark) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.got[m.TicketID] = true
	if len(s.got) == s.want {
		close(s.all)
	}
	return nil
}

func (s *memStore) MarksOf(_ context.Context, _ string, since time.Time, limit int) ([]gatedb.Mark, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []gatedb.Mark
	for _, m := range s.own {
		if m.At.After(since) && len(out) < limit {
			out = append(out, m)
		}
	}
	return out, nil
}

// TestDeadAndSlowPeersDelayNoOther: a gate publishing to three peers — one
// that accepts TCP and never answers the handshake, one that takes the
// connection and never reads again, and a healthy one — delivers every
// passage to the healthy one while the other two are stuck, and Publish
// never blocks.
func TestDeadAndSlowPeersDelayNoOther(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Dead: the handshake never completes.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	accepted := make(chan net.Conn, 8)
	go func() {
		for {
			c, err := dead.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	defer func() {
		for {
			select {
			case c := <-accepted:
				c.Close()
			default:
				return
			}
		}
	}()

	// Slow: challenges, reads the hello, then nothing until the test ends.
	release := make(chan struct{})
	var up websocket.Upgrader
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ws.WriteJSON(&peer.Message{Type: "challenge", Version: peer.Version, Device: "gate-s", Event: "gala", Nonce: make([]byte, 32)})
		_, _, _ = ws.ReadMessage()
		ws.WriteJSON(&peer.Message{Type: "ready", Version: peer.Version})
		<-release
	}))
	defer slow.Close()
	defer close(release)

	const n = 3000 // more than a peer's queue (1024) holds: a resync too
	store := newMemStore(n)
	healthy := peer.New(peer.Options{Device: "gate-b", Events: []string{"gala"}, Store: store, Log: quiet})
	good := httptest.NewServer(healthy.Handler())
	defer good.Close()
	defer healthy.CloseInbound()

	ws := func(u string) string { return "ws" + strings.TrimPrefix(u, "http") + "/peer" }
	own := newMemStore(-1)
	g := peer.New(peer.Options{Device: "gate-a", Events: []string{"gala"}, Key: venueKeys["gate-a"], Log: quiet, Store: own,
		Timeout: time.Minute, // the stuck peers stay stuck for the whole test
		Peers:   []string{"ws://" + dead.Addr().String() + "/peer", ws(slow.URL), ws(good.URL)}})
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx) }()
	defer func() { cancel(); <-done }()

	testwait.For(t, "the slow and the healthy peer to be connected", func() bool { return g.Connected() == 2 })
	select {
	case <-accepted:
	case <-time.After(20 * time.Second):
		t.Fatal("the dead peer never saw the dial")
	}
	at := time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)
	// Long gate names: the burst is far more than the stuck peer's socket
	// buffers hold, so its writer really is stuck.
	gate := "Gate A " + strings.Repeat("x", 1000)
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := range n {
			m := gatedb.Mark{Event: "gala", TicketID: fmt.Sprintf("T%04d", i), Passage: entry.Passage{Device: "gate-a", Gate: gate, At: at.Add(time.Duration(i) * time.Millisecond), Direction: entry.In}}
			own.journal(m)
			g.Publish(m) // a burst beyond a peer's queue: it resyncs from the journal
		}
	}()
	timeout := time.After(20 * time.Second)
	for _, c := range []struct {
		what string
		ch   chan struct{}
	}{{"Publish to return", published}, {"the healthy peer to get every passage", store.all}} {
		select {
		case <-c.ch:
		case <-timeout:
			store.mu.Lock()
			defer store.mu.Unlock()
			t.Fatalf("timed out waiting for %s (it got %d of %d)", c.what, len(store.got), n)
		}
	}
}

// TestDeadPeerNoticedBothWays: a peer that froze without closing anything
// (it keeps the TCP connection but reads nothing, so answers no ping) is
// noticed within PongWait on both sides, once the link was accepted: the
// gate that dialed it drops the link (and redials), and the gate it was
// pushing to drops its inbound connection.
func TestDeadPeerNoticedBothWays(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const every, wait = 50 * time.Millisecond, 300 * time.Millisecond

	// A frozen peer: it completes the handshake (challenge, hello, ready),
	// then never reads.
	type link struct {
		ws    *websocket.Conn
		ready time.Time
	}
	frozen := make(chan link, 8)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		ws.WriteJSON(&peer.Message{Type: "challenge", Version: peer.Version, Device: "gate-b", Event: "gala", Nonce: make([]byte, 32)})
		_, _, _ = ws.ReadMessage() // the hello
		ws.WriteJSON(&peer.Message{Type: "ready", Version: peer.Version})
		frozen <- link{ws, time.Now()}
		<-release
	}))
	defer srv.Close()
	defer close(release) // before Close, which waits for the handlers
	g := peer.New(peer.Options{Device: "gate-a", Events: []string{"gala"}, Key: venueKeys["gate-a"], Peers: []string{"ws" + strings.TrimPrefix(srv.URL, "http") + "/peer"},
		Store: newMemStore(0), Log: quiet, PingEvery: every, PongWait: wait, MaxBackoff: 50 * time.Millisecond})
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	first := <-frozen
	defer first.ws.Close()
	select {
	case l := <-frozen: // the link to the frozen peer was dropped and redialed
		l.ws.Close()
		// Not the handshake's deadline: the accepted link stayed up until
		// its pongs were missed.
		if took := l.ready.Sub(first.ready); took < wait {
			t.Fatalf("the link was redialed %s after it was accepted, before PongWait (%s)", took, wait)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dialing gate kept its link to a frozen peer")
	}
	cancel()
	<-done

	// The other way: a frozen gate pushing to this one (a signed hello,
	// then silence, no pong).
	in := peer.New(peer.Options{Device: "gate-b", Events: []string{"gala"}, Store: newMemStore(0), Log: quiet, PingEvery: every, PongWait: wait})
	isrv := httptest.NewServer(in.Handler())
	defer isrv.Close()
	defer in.CloseInbound()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(isrv.URL, "http")+"/peer", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var ch peer.Message
	if err := ws.ReadJSON(&ch); err != nil || ch.Type != "challenge" {
		t.Fatalf("challenge: %+v %v", ch, err)
	}
	hello := &peer.Message{Type: "hello", Version: peer.Version, Device: "gate-a",
		Signature: ed25519.Sign(venueKeys["gate-a"], peer.HelloSigningBytes(ch.Nonce, ch.Device, "gate-a"))}
	if err := ws.WriteJSON(hello); err != nil {
		t.Fatal(err)
	}
	var ready peer.Message
	if err := ws.ReadJSON(&ready); err != nil || ready.Type != "ready" {
		t.Fatalf("ready: %+v %v", ready, err)
	}
	testwait.For(t, "the inbound link", func() bool { return in.Inbound() == 1 })
	start := time.Now()
	testwait.For(t, "the frozen inbound peer to be dropped", func() bool { return in.Inbound() == 0 })
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a frozen inbound peer was kept %s", took)
	}
}
