package peer_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"admit/agent/peer"
	"admit/clock"
	"admit/internal/testwait"
)

// TestRedialBackoffFollowsClock: a gate redials a peer that refuses it
// after waiting on its clock — at least half the backoff, at most all of
// it — and the backoff doubles up to MaxBackoff.
func TestRedialBackoffFollowsClock(t *testing.T) {
	var dials atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dials.Add(1)
		http.Error(w, "gate stopping", http.StatusServiceUnavailable)
	}))
	defer other.Close()
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	g := peer.New(peer.Options{Device: "gate-a", Peers: []string{"ws" + strings.TrimPrefix(other.URL, "http") + "/peer"},
		Store: newMemStore(0), Log: quiet, Clock: clk, MaxBackoff: 200 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	armed := clk.Armed()
	done := make(chan struct{})
	go func() { defer close(done); g.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for i, backoff := range []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond} {
		select {
		case <-armed:
		case <-time.After(testwait.Deadline):
			t.Fatalf("dial %d: the gate never waited on its clock", i+1)
		}
		if n := dials.Load(); n != int32(i+1) {
			t.Fatalf("%d dials before wait %d", n, i+1)
		}
		armed = clk.Armed()
		clk.Advance(backoff/2 - time.Millisecond)
		if clk.Pending() != 1 || dials.Load() != int32(i+1) {
			t.Fatalf("wait %d (backoff %s) over before half of it", i+1, backoff)
		}
		clk.Advance(backoff/2 + time.Millisecond)
	}
	testwait.For(t, "the fifth dial", func() bool { return dials.Load() == 5 })
}
