package wsping_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/internal/wsping"
)

const (
	every = 40 * time.Millisecond
	wait  = 200 * time.Millisecond
)

// serve upgrades one connection, keeps it with a Keeper and reports how
// its reading ended.
func serve(t *testing.T) (url string, ended <-chan error) {
	t.Helper()
	done := make(chan error, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		k := wsping.Start(r.Context(), ws, every, wait)
		defer k.Stop()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				done <- err
				return
			}
			k.Alive()
		}
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http"), done
}

// TestDeadPeerDetected: a peer that keeps the connection open but never
// answers (a frozen process: nothing reads, so no pong) is dropped within
// the wait, though it never closed anything.
func TestDeadPeerDetected(t *testing.T) {
	url, ended := serve(t)
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	start := time.Now()
	select {
	case err := <-ended:
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("reading ended with %v, want a deadline", err)
		}
		if took := time.Since(start); took > wait+every+time.Second {
			t.Fatalf("dead peer noticed after %s (wait %s)", took, wait)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a peer that never answered was kept")
	}
}

// TestLivePeerKept: a silent peer that reads (and so answers pings), with
// its own keeper, stays connected well past the wait on both sides.
func TestLivePeerKept(t *testing.T) {
	url, ended := serve(t)
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	k := wsping.Start(ctx, ws, every, wait)
	defer k.Stop()
	clientEnded := make(chan error, 1)
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				clientEnded <- err
				return
			}
		}
	}()
	select {
	case err := <-ended:
		t.Fatalf("the server dropped a live peer: %v", err)
	case err := <-clientEnded:
		t.Fatalf("the client dropped a live server: %v", err)
	case <-time.After(5 * wait): // nothing is expected to happen: silence both ways for five waits
	}
}
