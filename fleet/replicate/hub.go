// Package replicate is the fleet side of the agent stream: one WebSocket per
// gate. The fleet challenges the gate, checks the hello's signature against
// the device's enrolled key, then sends each event's replica from the
// gate's cursor — a snapshot when the cursor is compacted away, ahead of
// the log, diverged (running checksum), new on a long log, or new at all
// at protocol 5 (a gate decides nothing before its first snapshot); else
// the changes since the cursor — then live changes as they are logged,
// at protocol 5 each batch and the snapshot's last chunk with the log
// position's sync point (wire.Batch.AsOf). It
// receives the gate's journaled scans (deduplicated by the store,
// acknowledged per message) and config acknowledgements (applied, or
// failed with the reason: recorded as the device's), and pushes the
// desired config once checked against the device (a config naming events
// it does not serve is recorded failed, never sent). An event's venue
// scope (wire.VenueScope: device keys, gate staff) streams the same way,
// signed like the rest, to an enrolled device that serves the event and
// names the scope in its hello (protocol 5 only); a hello naming the venue
// scope of an event the device does not serve is refused like one naming
// the event.
//
// The change log lives in the store; the hub keeps only a small in-memory
// tail per event so that a change read once is sent to every gate, and it
// wakes connections when a log grows. A slow or disconnected gate never
// holds memory in the fleet, and a reconnecting gate resumes from its own
// cursor, mid-snapshot included.
//
// A peer that sends a malformed, oversized or unauthenticated message, or
// more than its rate allows, is told why in an error frame and dropped; the
// reason is logged; other connections are not affected.
//
// Input is bounded before it is trusted: until its hello verifies, a
// connection may send wire.MaxHelloBytes within Timeout; the hub holds at
// most MaxPending such connections (MaxPendingPerIP from one address) and
// MaxConns streams in all (MaxConnsPerIP from one address), answering 503
// beyond. A hello subscribes only to events the device serves by the
// fleet's record (fleet.Device.Serves), and scans of other events are not
// recorded. Both ends ping (internal/wsping): a dead gate is dropped
// within PongWait.
//
// The hub speaks protocol 5 to agents that say so in their hello —
// batches, snapshot chunks, config, revocations and scan acknowledgements
// signed with the fleet's replica key (wire's sign.go) — and protocol 4,
// unsigned, to older agents.
package replicate

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"admit/clock"
	"admit/fleet"
	"admit/fleet/wire"
)

// Options configures a Hub.
type Options struct {
	Store fleet.Store
	Log   *slog.Logger
	Clock clock.Clock // rate limits, device reports, recorded scans; nil: clock.Real{}
	// BatchSize is the most changes per batch; default 1000.
	BatchSize int
	// SnapshotChunk is the most tickets per snapshot chunk; default (and
	// most) wire.MaxSnapshotRows. A gate commits each chunk: fewer, larger
	// chunks apply faster.
	SnapshotChunk int
	// SnapshotMin: a new replica (cursor 0) of a log longer than this gets
	// a snapshot rather than the whole log; default 10,000.
	SnapshotMin int64
	// Timeout bounds the hello and each write; default 10 s.
	Timeout time.Duration
	// AllowUnenrolled accepts hellos without a signature from devices the
	// fleet does not know (protocol 1 behaviour, for demos during the
	// switch to enrollment). Known devices must always sign.
	AllowUnenrolled bool
	// ScanRate and ScanBurst bound the scans a device may send per second
	// (token bucket); defaults 5,000/s and 20,000.
	ScanRate, ScanBurst float64
	// MessageRate and MessageBurst bound the frames a device may send per
	// second; defaults 100/s and 500.
	MessageRate, MessageBurst float64
	// FleetID names this node in challenges.
	FleetID string
	// ReplicaKey signs what protocol-5 agents receive; nil: the hub reads
	// the fleet's from Store (Store.ReplicaKey) at the first connection.
	ReplicaKey ed25519.PrivateKey
	// MaxConns bounds the agent streams of this node (default 20,000);
	// MaxConnsPerIP those from one address (default 2,000: the gates of a
	// venue behind one NAT). Addresses are the TCP peer's: a proxy in
	// front of the node makes them all one.
	MaxConns, MaxConnsPerIP int
	// MaxPending bounds the connections whose hello has not verified yet
	// (default 256); MaxPendingPerIP those from one address (default 32).
	MaxPending, MaxPendingPerIP int
	// PingEvery is how often the hub pings a gate (default 20 s); a gate
	// that shows no sign of life (a frame, a ping, a pong) for PongWait
	// (default 3 × PingEvery) is dropped.
	PingEvery, PongWait time.Duration
}

// Hub accepts agent connections.
type Hub struct {
	opts     Options
	upgrader websocket.Upgrader

	mu        sync.Mutex // guards the fields below
	conns     map[*conn]struct{}
	devices   map[string]*conn
	tails     map[string]*tail
	closed    bool
	perIP     map[string]int // streams by remote address
	pending   int            // streams whose hello has not verified
	pendingIP map[string]int
	key       ed25519.PrivateKey // the replica key, once read
}

// NewHub returns a hub; it serves connections through ServeHTTP.
func NewHub(opts Options) *Hub {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.SnapshotChunk <= 0 {
		opts.SnapshotChunk = wire.MaxSnapshotRows
	}
	opts.SnapshotChunk = min(opts.SnapshotChunk, wire.MaxSnapshotRows)
	opts.BatchSize = min(opts.BatchSize, wire.MaxChangesPerBatch)
	if opts.SnapshotMin <= 0 {
		opts.SnapshotMin = 10_000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	if opts.ScanRate <= 0 {
		opts.ScanRate, opts.ScanBurst = 5000, 20000
	}
	if opts.MessageRate <= 0 {
		opts.MessageRate, opts.MessageBurst = 100, 500
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 20_000
	}
	if opts.MaxConnsPerIP <= 0 {
		opts.MaxConnsPerIP = 2_000
	}
	if opts.MaxPending <= 0 {
		opts.MaxPending = 256
	}
	if opts.MaxPendingPerIP <= 0 {
		opts.MaxPendingPerIP = 32
	}
	if opts.PingEvery <= 0 {
		opts.PingEvery = 20 * time.Second
	}
	if opts.PongWait <= 0 {
		opts.PongWait = 3 * opts.PingEvery
	}
	return &Hub{
		opts:      opts,
		upgrader:  websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 4096, WriteBufferPool: &sync.Pool{}, HandshakeTimeout: opts.Timeout},
		conns:     make(map[*conn]struct{}),
		devices:   make(map[string]*conn),
		tails:     make(map[string]*tail),
		perIP:     make(map[string]int),
		pendingIP: make(map[string]int),
		key:       opts.ReplicaKey,
	}
}

// replicaKey returns the key that signs protocol-5 data, reading the
// fleet's from the store the first time.
func (h *Hub) replicaKey(ctx context.Context) (ed25519.PrivateKey, error) {
	h.mu.Lock()
	k := h.key
	h.mu.Unlock()
	if k != nil {
		return k, nil
	}
	k, err := h.opts.Store.ReplicaKey(ctx, h.opts.Clock.Now())
	if err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.key = k
	h.mu.Unlock()
	return k, nil
}

// admit counts a new connection from ip, or says why it is refused.
func (h *Hub) admit(ip string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	switch {
	case h.closed:
		return errors.New("node stopping")
	case len(h.conns) >= h.opts.MaxConns:
		return fmt.Errorf("%d agent streams, the most this node takes", len(h.conns))
	case h.perIP[ip] >= h.opts.MaxConnsPerIP:
		return fmt.Errorf("%d agent streams from %s, the most one address may hold", h.perIP[ip], ip)
	case h.pending >= h.opts.MaxPending:
		return fmt.Errorf("%d connections without a verified hello, the most this node waits for", h.pending)
	case h.pendingIP[ip] >= h.opts.MaxPendingPerIP:
		return fmt.Errorf("%d connections without a verified hello from %s", h.pendingIP[ip], ip)
	}
	h.perIP[ip]++
	h.pending++
	h.pendingIP[ip]++
	return nil
}

// verified moves c from the pending connections to the trusted ones (its
// hello verified); idempotent.
func (h *Hub) verified(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.verifiedLocked(c)
}

func (h *Hub) verifiedLocked(c *conn) {
	if !c.pending {
		return
	}
	c.pending = false
	h.pending--
	if h.pendingIP[c.ip]--; h.pendingIP[c.ip] <= 0 {
		delete(h.pendingIP, c.ip)
	}
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Wake handles a change notification: "e:<log>" wakes the connections
// serving a log (an event's tickets, or a venue scope), "v:" those serving
// any venue scope (a device or gate staff changed, which venue scopes
// hold), "d:<device>" makes that device's connection re-read its
// registration (revoked: it is told and dropped), "c:<scope>" makes every
// connection re-check its desired config, "" (a lost notification stream
// came back) wakes everything.
func (h *Hub) Wake(payload string) {
	kind, arg, _ := strings.Cut(payload, ":")
	h.mu.Lock()
	defer h.mu.Unlock()
	switch kind {
	case "e":
		if t := h.tails[arg]; t != nil {
			t.markDirty()
		}
		for c := range h.conns {
			if c.serves(arg) {
				c.kick(kickLog)
			}
		}
	case "v":
		for name, t := range h.tails {
			if wire.IsVenueScope(name) {
				t.markDirty()
			}
		}
		for c := range h.conns {
			if c.servesVenue() {
				c.kick(kickLog)
			}
		}
	case "d":
		if c := h.devices[arg]; c != nil {
			c.kick(kickDevice)
		}
	case "c":
		for c := range h.conns {
			c.kick(kickDevice)
		}
	default:
		for _, t := range h.tails {
			t.markDirty()
		}
		for c := range h.conns {
			c.kick(kickLog | kickDevice)
		}
	}
}

// Notify wakes the connections serving event (its log grew).
func (h *Hub) Notify(event string) { h.Wake("e:" + event) }

// Close drops every connected agent (they reconnect to another node or
// when this one is back) and refuses new ones.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for c := range h.conns {
		if c.ws != nil {
			c.ws.Close()
		}
	}
}

// Connected returns the number of connected gates.
func (h *Hub) Connected() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.conns)
}

// ConnectedDevice reports whether device has a session on this node.
func (h *Hub) ConnectedDevice(device string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.devices[device] != nil
}

// ServeHTTP upgrades the request to the agent stream and serves it until the
// agent leaves, the request's context ends, or the agent misbehaves. Over
// the connection caps it answers 503 without upgrading.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ip := remoteIP(r)
	if err := h.admit(ip); err != nil {
		h.opts.Log.Warn("agent stream refused", "remote", r.RemoteAddr, "why", err)
		w.Header().Set("Retry-After", "5")
		http.Error(w, "agent stream refused: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	c := &conn{hub: h, ip: ip, pending: true, log: h.opts.Log.With("remote", r.RemoteAddr), kicks: make(chan int, 1)}
	h.mu.Lock()
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		h.verifiedLocked(c)
		delete(h.conns, c)
		if h.devices[c.device] == c {
			delete(h.devices, c.device)
		}
		if h.perIP[ip]--; h.perIP[ip] <= 0 {
			delete(h.perIP, ip)
		}
		h.mu.Unlock()
	}()
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	h.mu.Lock()
	c.ws = ws
	closed := h.closed
	h.mu.Unlock()
	if closed {
		ws.Close()
		return
	}
	err = c.serve(r.Context())
	switch {
	case err == nil, errors.Is(err, context.Canceled), websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
		c.log.Info("agent stream closed", "device", c.device)
	default:
		c.log.Warn("agent stream closed", "device", c.device, "reason", err)
	}
}
