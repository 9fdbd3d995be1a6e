package uplink_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"admit/agent/uplink"
	"admit/clock"
	"admit/internal/testwait"
)

// TestReconnectBackoffFollowsClock: after each failed dial the client
// waits on its clock — at least half the backoff, at most all of it — and
// the backoff doubles up to MaxBackoff. Virtual time only: the test moves
// the clock and nothing else waits.
func TestReconnectBackoffFollowsClock(t *testing.T) {
	var dials atomic.Int32
	fleet := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dials.Add(1)
		http.Error(w, "fleet down", http.StatusServiceUnavailable)
	}))
	defer fleet.Close()
	clk := clock.NewFake(time.Unix(1_800_000_000, 0))
	c := uplink.New(uplink.Options{URL: "ws" + strings.TrimPrefix(fleet.URL, "http") + "/ws", Device: "gate-1", Insecure: true,
		Clock: clk, MaxBackoff: 400 * time.Millisecond, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	armed := clk.Armed()
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	for i, backoff := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 400 * time.Millisecond} {
		select {
		case <-armed: // dial i+1 failed; the client waits on the clock
		case <-time.After(testwait.Deadline):
			t.Fatalf("dial %d: the client never waited on its clock", i+1)
		}
		if n := dials.Load(); n != int32(i+1) {
			t.Fatalf("%d dials before wait %d", n, i+1)
		}
		armed = clk.Armed()
		clk.Advance(backoff/2 - time.Millisecond)
		if clk.Pending() != 1 || dials.Load() != int32(i+1) {
			t.Fatalf("wait %d (backoff %s) over before half of it", i+1, backoff)
		}
		clk.Advance(backoff/2 + time.Millisecond) // the whole backoff: the wait is over
	}
	testwait.For(t, "the fifth dial", func() bool { return dials.Load() == 5 })
}
