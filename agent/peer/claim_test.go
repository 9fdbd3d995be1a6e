package peer_test

import (
	"context"
	"crypto/ed25519"
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
	"admit/ticket"
	"admit/ticket/entry"
)

// arbiter is a peer.Arbiter twin: it answers each ticket as told, and
// records releases.
type arbiter struct {
	mu       sync.Mutex // guards the fields below
	conflict map[string]*peer.Conflict
	block    chan struct{} // when set, Consider waits for it
	released []gatedb.Claim
}

func (a *arbiter) Consider(ctx context.Context, c gatedb.Claim) (*peer.Conflict, error) {
	a.mu.Lock()
	block, k := a.block, a.conflict[c.TicketID]
	a.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
		}
	}
	return k, nil
}

func (a *arbiter) Released(c gatedb.Claim) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.released = append(a.released, c)
}

// claimPair is gate-a dialing gate-b, whose claims gate-b's arbiter
// rules on.
func claimPair(t *testing.T, arb *arbiter) *peer.Gossip {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b := peer.New(peer.Options{Device: "gate-b", Events: []string{"gala"}, Key: venueKeys["gate-b"], Store: newMemStore(-1), Log: quiet, Arbiter: arb})
	srv := httptest.NewServer(b.Handler())
	a := peer.New(peer.Options{Device: "gate-a", Events: []string{"gala"}, Key: venueKeys["gate-a"], Store: newMemStore(-1), Log: quiet,
		Peers: []string{"ws" + strings.TrimPrefix(srv.URL, "http") + "/peer"}})
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		b.CloseInbound()
		srv.Close()
	})
	testwait.For(t, "gate-b to take gate-a's claims", func() bool { return a.ClaimPeers() == 1 })
	return a
}

func claimAt(id string, at time.Time) gatedb.Claim {
	return gatedb.Claim{Event: "gala", TicketID: id, Device: "gate-a", Gate: "Gate A", At: at, Direction: entry.In, Policy: ticket.SingleEntry}
}

// TestClaimRound: a claim goes to the peer, whose arbiter's ruling comes
// back signed: granted, or a conflict naming the claim or the passage in
// the way; a release reaches the arbiter.
func TestClaimRound(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	theirs := gatedb.Claim{Event: "gala", TicketID: "T2", Device: "gate-b", Gate: "Gate B", At: now.Add(-time.Millisecond), Direction: entry.In}
	used := entry.Passage{Device: "gate-b", Gate: "Gate B", At: now.Add(-time.Hour), Direction: entry.In}
	arb := &arbiter{conflict: map[string]*peer.Conflict{"T2": {Claim: &theirs}, "T3": {Passage: &used}}}
	a := claimPair(t, arb)
	never := make(chan time.Time)

	o := a.Claim(claimAt("T1", now)).Wait(context.Background(), nil, never)
	if o.Asked != 1 || len(o.Granted) != 1 || o.Granted[0] != "gate-b" || o.Conflict != nil || len(o.Silent) != 0 || o.Lost {
		t.Fatalf("T1: %+v, want granted by gate-b", o)
	}
	o = a.Claim(claimAt("T2", now)).Wait(context.Background(), nil, never)
	if c := o.Conflict; c == nil || c.Claim == nil || c.Claim.Device != "gate-b" || c.Claim.Gate != "Gate B" || !c.Claim.At.Equal(theirs.At) || o.By != "gate-b" {
		t.Fatalf("T2: %+v, want a conflict with gate-b's claim", o)
	}
	o = a.Claim(claimAt("T3", now)).Wait(context.Background(), nil, never)
	if c := o.Conflict; c == nil || c.Passage == nil || c.Passage.Gate != "Gate B" || !c.Passage.At.Equal(used.At) {
		t.Fatalf("T3: %+v, want a conflict with gate-b's passage", o)
	}
	a.Release(claimAt("T2", now))
	testwait.For(t, "the release", func() bool {
		arb.mu.Lock()
		defer arb.mu.Unlock()
		return len(arb.released) == 1 && arb.released[0].Same(claimAt("T2", now))
	})
}

// TestSilentPeer: a peer that does not answer by the deadline is Silent;
// one whose gate learnt meanwhile that it lost ends the wait at once.
func TestSilentPeer(t *testing.T) {
	arb := &arbiter{block: make(chan struct{})}
	defer close(arb.block)
	a := claimPair(t, arb)
	timeout := make(chan time.Time)
	close(timeout)
	now := time.Now()
	o := a.Claim(claimAt("T1", now)).Wait(context.Background(), nil, timeout)
	if o.Asked != 1 || len(o.Silent) != 1 || o.Silent[0] != "gate-b" || len(o.Granted) != 0 {
		t.Fatalf("%+v, want gate-b silent", o)
	}
	lost := make(chan struct{})
	close(lost)
	if o := a.Claim(claimAt("T2", now)).Wait(context.Background(), lost, make(chan time.Time)); !o.Lost {
		t.Fatalf("%+v, want lost", o)
	}
}

// TestProtocol2Peer: a gate of gossip protocol 3 and one of protocol 2
// exchange marks both ways; the old one takes no claims (it is not asked).
func TestProtocol2Peer(t *testing.T) {
	// An old receiver: it challenges with version 2 and takes the hello
	// and the marks that follow.
	hellos := make(chan peer.Message, 1)
	marks := make(chan peer.Mark, 4)
	old := httptest.NewServer(httpHandler(func(ws *websocket.Conn) {
		ws.WriteJSON(&peer.Message{Type: "challenge", Version: 2, Device: "gate-b", Event: "gala", Nonce: make([]byte, 32)})
		var h peer.Message
		if ws.ReadJSON(&h) != nil {
			return
		}
		hellos <- h
		ws.WriteJSON(&peer.Message{Type: "ready", Version: 2})
		for {
			var m peer.Message
			if ws.ReadJSON(&m) != nil {
				return
			}
			for _, mk := range m.Marks {
				marks <- mk
			}
		}
	}))
	defer old.Close()
	ctx, cancel := context.WithCancel(context.Background())
	own := newMemStore(-1)
	at := time.Now().UTC().Truncate(time.Millisecond)
	own.journal(gatedb.Mark{Event: "gala", TicketID: "T1", Passage: entry.Passage{Device: "gate-a", Gate: "Gate A", At: at, Direction: entry.In}})
	a := peer.New(peer.Options{Device: "gate-a", Events: []string{"gala"}, Key: venueKeys["gate-a"], Store: own, Log: quiet,
		Peers: []string{"ws" + strings.TrimPrefix(old.URL, "http") + "/peer"}})
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case h := <-hellos:
		if h.Version != 2 || !ed25519.Verify(venueKeys["gate-a"].Public().(ed25519.PublicKey), peer.HelloSigningBytes(make([]byte, 32), "gate-b", "gate-a"), h.Signature) {
			t.Fatalf("hello to a protocol-2 gate: %+v", h)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no hello")
	}
	select {
	case m := <-marks:
		if m.TicketID != "T1" {
			t.Fatalf("mark %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the catch-up did not reach the protocol-2 gate")
	}
	testwait.For(t, "the link", func() bool { return a.Connected() == 1 })
	if n := a.ClaimPeers(); n != 0 {
		t.Fatalf("a protocol-2 gate takes claims: %d", n)
	}
	if o := a.Claim(claimAt("T2", at)).Wait(ctx, nil, make(chan time.Time)); o.Asked != 0 {
		t.Fatalf("a claim went to the protocol-2 gate: %+v", o)
	}

	// An old sender: a protocol-2 hello is taken, its marks too.
	store := newMemStore(1)
	in := peer.New(peer.Options{Device: "gate-b", Events: []string{"gala"}, Store: store, Log: quiet})
	srv := httptest.NewServer(in.Handler())
	defer srv.Close()
	defer in.CloseInbound()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/peer", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	var ch peer.Message
	if err := ws.ReadJSON(&ch); err != nil || ch.Version != peer.Version {
		t.Fatalf("challenge %+v %v", ch, err)
	}
	ws.WriteJSON(&peer.Message{Type: "hello", Version: 2, Device: "gate-a", Signature: ed25519.Sign(venueKeys["gate-a"], peer.HelloSigningBytes(ch.Nonce, ch.Device, "gate-a"))})
	var ready peer.Message
	if err := ws.ReadJSON(&ready); err != nil || ready.Type != "ready" {
		t.Fatalf("a protocol-2 hello: %+v %v", ready, err)
	}
	m := peer.Mark{Event: "gala", TicketID: "T9", Device: "gate-a", Gate: "Gate A", At: at, Direction: "in"}
	m.Sign(venueKeys["gate-a"])
	ws.WriteJSON(&peer.Message{Type: "marks", Marks: []peer.Mark{m}})
	select {
	case <-store.all:
	case <-time.After(10 * time.Second):
		t.Fatal("the protocol-2 gate's mark was not taken")
	}
}

// httpHandler upgrades every request to a WebSocket served by f.
func httpHandler(f func(ws *websocket.Conn)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		f(ws)
	})
}
