package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/fleet"
	"admit/fleet/api"
	"admit/fleet/node"
	"admit/fleet/replicate"
	"admit/fleet/replicate/replicatetest"
	"admit/internal/tlspin"
)

// TestTLSByDefault: a node serves HTTPS with its own CA unless told to be
// insecure, with a certificate for its loopback names; an insecure node
// says so on the API the console's banner reads, and TLS settings with
// -insecure are refused.
func TestTLSByDefault(t *testing.T) {
	n := open(t, node.Config{})
	if !strings.HasPrefix(n.URL(), "https://") || !strings.HasPrefix(n.AgentURL(), "wss://") || len(n.CAFingerprint) != 32 {
		t.Fatalf("default node: %s %s, CA %x", n.URL(), n.AgentURL(), n.CAFingerprint)
	}
	for _, name := range []string{"localhost", "127.0.0.1"} {
		if !slices.Contains(n.CertNames, name) {
			t.Errorf("certificate names %v lack %s", n.CertNames, name)
		}
	}
	if info := nodeInfo(t, pinned(n), n.URL()); !info.TLS || info.Warning != "" {
		t.Fatalf("GET /api/node of a TLS node: %+v", info)
	}

	plain := open(t, node.Config{Insecure: true})
	if !strings.HasPrefix(plain.URL(), "http://") || !plain.Insecure {
		t.Fatalf("insecure node: %s", plain.URL())
	}
	if info := nodeInfo(t, http.DefaultClient, plain.URL()); info.TLS || !strings.Contains(info.Warning, "INSECURE") {
		t.Fatalf("GET /api/node of an insecure node: %+v", info)
	}
	if _, err := node.Open(context.Background(), node.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: quiet, Insecure: true,
		TLS: node.TLSConfig{AutoCA: true}}); err == nil {
		t.Fatal("insecure and TLS at once: started")
	}
}

func nodeInfo(t *testing.T, c *http.Client, base string) api.NodeInfo {
	t.Helper()
	resp, err := c.Get(base + "/api/node")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info api.NodeInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	return info
}

// heapNow is the heap in use and the memory obtained from the system.
func heapNow() (inuse, sys uint64) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse, m.Sys
}

// TestPreHelloMemory reproduces the pre-hello flood: 100 anonymous
// connections to /ws, each sending a 4 MiB frame before any hello. The
// node refuses each frame from its header (a connection gets
// wire.MaxHelloBytes before its hello verifies) and its heap grows by
// less than 50 MB — peak, not after a collection. (Before, it read every
// frame whole: 35 MB to 953 MB.) The per-address cap on pending
// connections is lifted here so that every connection reaches the read
// limit.
func TestPreHelloMemory(t *testing.T) {
	n := open(t, node.Config{Hub: replicate.Options{MaxPendingPerIP: 1000}})
	frame := bytes.Repeat([]byte("x"), 4<<20) // one buffer, shared by the 100 senders
	runtime.GC()
	baseInuse, baseSys := heapNow()
	var peakInuse, peakSys uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			inuse, sys := heapNow()
			peakInuse, peakSys = max(peakInuse, inuse), max(peakSys, sys)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var wg sync.WaitGroup
	var mu sync.Mutex
	closed := 0
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ws, _, err := dialer(n).Dial(n.AgentURL(), nil)
			if err != nil {
				return // refused: costs the node nothing either
			}
			defer ws.Close()
			ws.SetReadDeadline(time.Now().Add(20 * time.Second))
			ws.ReadMessage() // the challenge
			ws.SetWriteDeadline(time.Now().Add(20 * time.Second))
			ws.WriteMessage(websocket.BinaryMessage, frame)
			for {
				if _, _, err := ws.ReadMessage(); err != nil {
					var ne net.Error
					if !errors.As(err, &ne) || !ne.Timeout() {
						mu.Lock()
						closed++
						mu.Unlock()
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	growth := func(peak, base uint64) float64 { return (float64(peak) - float64(base)) / (1 << 20) }
	t.Logf("heap in use %.1f MiB → peak %.1f MiB; from the system %.1f MiB → peak %.1f MiB; %d of 100 closed by the node",
		float64(baseInuse)/(1<<20), float64(peakInuse)/(1<<20), float64(baseSys)/(1<<20), float64(peakSys)/(1<<20), closed)
	if g := growth(peakInuse, baseInuse); g >= 50 {
		t.Fatalf("heap in use grew by %.1f MiB under the pre-hello flood, want under 50", g)
	}
	if g := growth(peakSys, baseSys); g >= 50 {
		t.Fatalf("memory from the system grew by %.1f MiB under the pre-hello flood, want under 50", g)
	}
	if closed != 100 {
		t.Fatalf("%d of 100 flooding connections closed by the node", closed)
	}
}

// tlsConn opens a raw TLS connection to n, pinned to its CA.
func tlsConn(t *testing.T, n *node.Node) *tls.Conn {
	t.Helper()
	c, err := tls.Dial("tcp", n.Addr(), tlspin.Config(n.CAFingerprint))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closes c within d (reading
// whatever it sends meanwhile).
func closedWithin(c net.Conn, d time.Duration) bool {
	c.SetReadDeadline(time.Now().Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

// TestSlowBodyAndIdleConnectionsClosed reproduces two ways to hold a
// node's connections: a request body trickled at a byte every 300 ms (the
// finding: a byte per 5 s was kept) is cut at the read timeout, and an idle
// keep-alive connection is closed at the idle timeout (it was kept 120 s).
// A WebSocket, upgraded, lives on past both: it keeps its own deadlines.
func TestSlowBodyAndIdleConnectionsClosed(t *testing.T) {
	limits := node.HTTPLimits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, IdleTimeout: time.Second}
	n := open(t, node.Config{HTTP: limits})
	key := gated(t, n, "gala", "gate-1")

	slow := tlsConn(t, n)
	fmt.Fprintf(slow, "POST /api/events HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n", n.Addr())
	start := time.Now()
	cut := false
	for range 40 { // 12 s of trickle at most
		if _, err := slow.Write([]byte("{")); err != nil {
			cut = true
			break
		}
		if closedWithin(slow, 300*time.Millisecond) {
			cut = true
			break
		}
	}
	if !cut {
		t.Fatalf("a body trickled for %s was not cut", time.Since(start).Round(time.Millisecond))
	}
	if took := time.Since(start); took > limits.ReadTimeout+3*time.Second {
		t.Fatalf("a trickled body was cut after %s, read timeout %s", took, limits.ReadTimeout)
	}

	idle := tlsConn(t, n)
	fmt.Fprintf(idle, "GET /api/node HTTP/1.1\r\nHost: %s\r\n\r\n", n.Addr())
	resp, err := http.ReadResponse(bufio.NewReader(idle), nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("request on the keep-alive connection: %v %v", resp, err)
	}
	resp.Body.Close()
	start = time.Now()
	if !closedWithin(idle, limits.IdleTimeout+3*time.Second) {
		t.Fatalf("an idle keep-alive connection was kept %s", time.Since(start).Round(time.Millisecond))
	}

	// The agent stream outlives every HTTP timeout.
	r := replicatetest.NewReplica("gala")
	a := replicatetest.Dial(t, n.AgentURL(), "gate-1", key, r, replicatetest.Options{Dialer: dialer(n), ReplicaKey: n.ReplicaKey})
	syncTo(t, a, n)
	time.Sleep(limits.ReadTimeout + limits.WriteTimeout + limits.IdleTimeout) // quiet past every HTTP deadline, on purpose
	if _, err := n.Service.Issue(context.Background(), fleet.IssueRequest{Event: "gala", Count: 1}); err != nil {
		t.Fatal(err)
	}
	syncTo(t, a, n)
	if a.Replica.Tickets("gala") != 1 {
		t.Fatal("the stream missed the ticket issued after the HTTP timeouts")
	}
}
