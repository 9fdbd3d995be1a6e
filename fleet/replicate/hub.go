// Package replicate is the fleet side of the agent stream: one WebSocket per
// gate. The fleet challenges the gate, checks the hello's signature against
// the device's enrolled key, then sends each event's replica from the
// gate's cursor — a snapshot when the cursor is compacted away, ahead of
// the log, diverged (running checksum) or new on a long log; else the
// changes since the cursor — then live changes as they are logged. It
// receives the gate's journaled scans (deduplicated by the store,
// acknowledged per message) and config acknowledgements. An event's venue
// scope (wire.VenueScope: device keys, gate staff) streams the same way, to
// an enrolled device that serves the event and names the scope in its
// hello.
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
package replicate

import (
	"context"
	"errors"
	"log/slog"
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
}

// Hub accepts agent connections.
type Hub struct {
	opts     Options
	upgrader websocket.Upgrader

	mu      sync.Mutex // guards the fields below
	conns   map[*conn]struct{}
	devices map[string]*conn
	tails   map[string]*tail
	closed  bool
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
	return &Hub{
		opts:     opts,
		upgrader: websocket.Upgrader{ReadBufferSize: 1024, WriteBufferSize: 4096, WriteBufferPool: &sync.Pool{}},
		conns:    make(map[*conn]struct{}),
		devices:  make(map[string]*conn),
		tails:    make(map[string]*tail),
	}
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
		c.ws.Close()
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
// agent leaves, the request's context ends, or the agent misbehaves.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &conn{hub: h, ws: ws, log: h.opts.Log.With("remote", r.RemoteAddr), kicks: make(chan int, 1)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		ws.Close()
		return
	}
	h.conns[c] = struct{}{}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.conns, c)
		if h.devices[c.device] == c {
			delete(h.devices, c.device)
		}
		h.mu.Unlock()
	}()
	err = c.serve(r.Context())
	switch {
	case err == nil, errors.Is(err, context.Canceled), websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
		c.log.Info("agent stream closed", "device", c.device)
	default:
		c.log.Warn("agent stream closed", "device", c.device, "reason", err)
	}
}
