package uplink_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent/gatedb"
	"admit/agent/uplink"
	"admit/fleet/wire"
	"admit/internal/testwait"
)

// TestPlainURLNeedsInsecure: a gate dials only TLS fleets unless told to
// be insecure; Run refuses at once, before any dial.
func TestPlainURLNeedsInsecure(t *testing.T) {
	for _, tc := range []struct {
		url      string
		insecure bool
		ok       bool
	}{
		{"wss://fleet:8443/ws", false, true},
		{"https://fleet:8443", false, true},
		{"ws://fleet:8080/ws", false, false},
		{"http://fleet:8080", false, false},
		{"ws://fleet:8080/ws", true, true},
		{"ftp://fleet/ws", true, false},
	} {
		if err := uplink.CheckURL(tc.url, tc.insecure); (err == nil) != tc.ok {
			t.Errorf("CheckURL(%s, insecure %v): %v", tc.url, tc.insecure, err)
		}
	}
	cl := uplink.New(uplink.Options{URL: "ws://127.0.0.1:1/ws", Device: "gate-1", DB: openDB(t), Log: quiet})
	if err := cl.Run(context.Background()); !errors.Is(err, uplink.ErrInsecureURL) {
		t.Fatalf("Run on ws:// without Insecure: %v, want ErrInsecureURL", err)
	}
}

// TestForgedFleetDataRefused: a fleet (or a man in the middle) that names
// the gate's replica key but cannot sign with it, or replays what was
// signed for another session or device, gets nothing applied: no ticket,
// no snapshot, no config, no wipe, no journal rows deleted. Each forgery
// is counted (OnUnsigned) and ends its session.
func TestForgedFleetDataRefused(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	_, forger, _ := ed25519.GenerateKey(nil)
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	forgedBatch := &wire.Batch{Event: "gala", From: 0, To: 1, Changes: []wire.Change{
		{Seq: 1, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "FORGED", Type: "VIP"}}}}
	forgedBatch.Running = wire.RunningChecksum(0, forgedBatch.Changes)
	forgedBatch.Seal()
	snap := &wire.Snapshot{Event: "gala", Seq: 1, Done: true, Last: "FORGED", Tickets: []wire.SnapTicket{{ID: "FORGED", Type: "VIP"}}}
	snap.Seal()
	other := wire.Session{Device: "gate-1", Nonce: make([]byte, 32)} // a session of the past
	forgeries := []struct {
		name string
		send func(s *session) error
	}{
		{"a batch signed by another key", func(s *session) error {
			return s.raw(websocket.BinaryMessage, wire.SignBatchFrame(forger, wire.MarshalBatch(forgedBatch)))
		}},
		{"an unsigned batch", func(s *session) error { return s.raw(websocket.BinaryMessage, wire.MarshalBatch(forgedBatch)) }},
		{"a batch as JSON", func(s *session) error {
			return s.ws.WriteJSON(&wire.Message{Type: wire.TypeBatch, Batch: forgedBatch})
		}},
		{"a snapshot of another session", func(s *session) error {
			return s.raw(websocket.BinaryMessage, wire.SignSnapshotFrame(s.f.rk, other, wire.MarshalSnapshot(snap)))
		}},
		{"a revocation of another session", func(s *session) error {
			r := &wire.Revoked{Reason: "device revoked"}
			r.Sign(s.f.rk, other)
			return s.ws.WriteJSON(&wire.Message{Type: wire.TypeRevoked, Revoked: r})
		}},
		{"a revocation of another device", func(s *session) error {
			r := &wire.Revoked{Reason: "device revoked"}
			r.Sign(s.f.rk, wire.Session{Device: "gate-2", Nonce: s.hello.Nonce})
			return s.ws.WriteJSON(&wire.Message{Type: wire.TypeRevoked, Revoked: r})
		}},
		{"an unsigned scan acknowledgement", func(s *session) error {
			return s.ws.WriteJSON(&wire.Message{Type: wire.TypeScanAck, ScanAck: &wire.ScanAck{UpTo: 99}})
		}},
		{"a config signed by another key", func(s *session) error {
			c := &wire.Config{Version: 9, Body: json.RawMessage(`{"pulse_ms":1}`)}
			c.Sign(forger, s.wireSession())
			return s.ws.WriteJSON(&wire.Message{Type: wire.TypeConfig, Config: c})
		}},
	}
	var next atomic.Int32
	f := newScriptedFleet(t, pub, func(s *session) {
		i := int(next.Add(1)) - 1
		if i >= len(forgeries) {
			s.read() // stay until the gate leaves
			return
		}
		if err := forgeries[i].send(s); err != nil {
			return
		}
		s.read() // until the gate hangs up
	})
	db := openDB(t)
	ctx := context.Background()
	if _, err := db.Record(ctx, "gate-1", wire.Scan{Event: "gala", TicketID: "T1", Gate: "Gate 1", At: at, Outcome: wire.Admitted}); err != nil {
		t.Fatal(err)
	}
	var refused atomic.Int32
	opts := f.options(db, key)
	opts.MaxBackoff = 10 * time.Millisecond
	opts.OnUnsigned = func(error) { refused.Add(1) }
	opts.OnConfig = func(context.Context, int64, json.RawMessage) error {
		t.Error("a forged config reached OnConfig")
		return nil
	}
	opts.OnRevoked = func() { t.Error("a forged revocation wiped the gate") }
	cl := uplink.New(opts)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- cl.Run(runCtx) }()
	testwait.For(t, "every forgery to be refused", func() bool { return refused.Load() >= int32(len(forgeries)) })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := refused.Load(); n != int32(len(forgeries)) {
		t.Fatalf("%d refusals counted for %d forgeries", n, len(forgeries))
	}
	if _, err := db.Ticket(ctx, "gala", "FORGED"); !errors.Is(err, gatedb.ErrUnknownTicket) {
		t.Fatalf("the forged ticket is in the replica: %v", err)
	}
	if n, err := db.Backlog(ctx); err != nil || n != 1 {
		t.Fatalf("journal backlog %d %v, want the 1 scan no real fleet acknowledged", n, err)
	}
	if v, _, _ := db.Config(ctx); v != 0 {
		t.Fatalf("a forged config was recorded: version %d", v)
	}
}

// TestReplicaKeyChecked: a fleet naming another replica key than the
// gate's is refused before the hello (counted); a gate without a replica
// key does not connect over a plain link, whatever key the fleet names.
func TestReplicaKeyChecked(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(nil)
	f := newScriptedFleet(t, pub, func(s *session) {
		t.Error("the gate said hello to a fleet naming another replica key")
	})
	otherPub, _, _ := ed25519.GenerateKey(nil)
	f.named = otherPub
	db := openDB(t)
	var refused atomic.Int32
	opts := f.options(db, key)
	opts.OnUnsigned = func(error) { refused.Add(1) }
	cl := uplink.New(opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- cl.Run(ctx) }()
	testwait.For(t, "the refusal", func() bool { return refused.Load() > 0 })
	cancel()
	<-done

	f.named = nil
	logged := &syncBuffer{}
	opts = f.options(db, key)
	opts.ReplicaKey = nil
	opts.Log = slog.New(slog.NewTextHandler(logged, nil))
	opts.OnReplicaKey = func(ed25519.PublicKey) { t.Error("took a replica key over a plain link") }
	cl = uplink.New(opts)
	ctx, cancel = context.WithCancel(context.Background())
	go func() { done <- cl.Run(ctx) }()
	testwait.For(t, "the gate to give up on the plain link", func() bool { return strings.Contains(logged.String(), "enroll") })
	cancel()
	<-done
	if n := len(f.sessions()); n != 0 {
		t.Fatalf("%d hellos sent", n)
	}
}

// syncBuffer collects a log written from other goroutines.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
