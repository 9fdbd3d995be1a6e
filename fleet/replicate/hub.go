// Package replicate is the fleet side of the agent stream: one WebSocket per
// gate, on which the fleet sends each event's change log from the gate's
// cursor (then live changes as they are logged) and receives the gate's
// journaled scans.
//
// The change log lives in the store; the hub only wakes connections when a
// log grows, and each connection reads what it is missing. A slow or
// disconnected gate therefore never holds memory in the fleet, and a
// reconnecting gate resumes from its own cursor.
package replicate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"admit/fleet"
	"admit/fleet/wire"
)

// Options configures a Hub.
type Options struct {
	Store     fleet.Store
	Log       *slog.Logger
	Now       func() time.Time
	BatchSize int           // changes per batch; default 1000
	Timeout   time.Duration // for the hello and each write; default 10 s
}

// Hub accepts agent connections.
type Hub struct {
	opts     Options
	upgrader websocket.Upgrader

	mu     sync.Mutex    // guards the fields below
	wake   chan struct{} // closed and replaced when any log grows
	conns  map[*conn]struct{}
	closed bool
}

// NewHub returns a hub; it serves connections through ServeHTTP.
func NewHub(opts Options) *Hub {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = 1000
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	return &Hub{
		opts:     opts,
		upgrader: websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 16384},
		wake:     make(chan struct{}),
		conns:    make(map[*conn]struct{}),
	}
}

// Notify wakes every connection to look for new changes of event.
func (h *Hub) Notify(event string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	close(h.wake)
	h.wake = make(chan struct{})
}

func (h *Hub) wakeChan() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.wake
}

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

// ServeHTTP upgrades the request to the agent stream and serves it until the
// agent leaves, the request's context ends, or the agent misbehaves.
func (h *Hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	c := &conn{hub: h, ws: ws, log: h.opts.Log.With("remote", r.RemoteAddr)}
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
		h.mu.Unlock()
	}()
	err = c.serve(r.Context())
	if err != nil && !errors.Is(err, context.Canceled) && !websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway) {
		c.log.Warn("agent stream closed", "device", c.device, "err", err)
	}
}

// conn is one agent's stream.
type conn struct {
	hub    *Hub
	ws     *websocket.Conn
	log    *slog.Logger
	device string

	wmu sync.Mutex // serialises writes
}

func (c *conn) send(m *wire.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(time.Now().Add(c.hub.opts.Timeout))
	return c.ws.WriteJSON(m)
}

// fail tells the agent why it is being dropped, then closes.
func (c *conn) fail(code string, err error) error {
	_ = c.send(&wire.Message{Type: wire.TypeError, Error: &wire.Error{Code: code, Message: err.Error()}})
	return fmt.Errorf("%s: %w", code, err)
}

func (c *conn) read() (*wire.Message, error) {
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	var m wire.Message
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", wire.ErrInvalid, err)
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

func (c *conn) serve(ctx context.Context) error {
	defer c.ws.Close()
	c.ws.SetReadLimit(wire.MaxMessageBytes)
	c.ws.SetReadDeadline(time.Now().Add(c.hub.opts.Timeout))
	m, err := c.read()
	if err != nil {
		return c.fail("bad_hello", err)
	}
	if m.Type != wire.TypeHello {
		return c.fail("bad_hello", fmt.Errorf("first message is %q", m.Type))
	}
	c.device = m.Hello.Device
	c.ws.SetReadDeadline(time.Time{})
	cursors := m.Hello.Cursors
	for ev := range cursors {
		if _, err := c.hub.opts.Store.Event(ctx, ev); err != nil {
			return c.fail("unknown_event", err)
		}
	}
	c.log.Info("agent connected", "cursors", cursors)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); errc <- c.pushChanges(ctx, cursors) }()
	go func() { defer wg.Done(); errc <- c.receive(ctx) }()
	err = <-errc
	cancel()
	c.ws.Close() // unblocks the reader
	wg.Wait()
	return err
}

// pushChanges sends every event's log from the agent's cursor, then waits
// for the log to grow.
func (c *conn) pushChanges(ctx context.Context, hello map[string]wire.Cursor) error {
	cursors := map[string]int64{}
	for ev, cur := range hello {
		cursors[ev] = cur.Seq
	}
	for {
		wake := c.hub.wakeChan() // taken before reading, so no growth is missed
		sent := false
		for ev, cur := range cursors {
			page, err := c.hub.opts.Store.Changes(ctx, ev, cur, c.hub.opts.BatchSize)
			if err != nil {
				return err
			}
			changes := page.Changes
			if len(changes) == 0 {
				continue
			}
			to := changes[len(changes)-1].Seq
			b := &wire.Batch{Event: ev, From: cur, To: to, Changes: changes, Running: page.Running}
			b.Seal()
			if err := c.send(&wire.Message{Type: wire.TypeBatch, Batch: b}); err != nil {
				return fmt.Errorf("send batch: %w", err)
			}
			cursors[ev] = to
			sent = true
		}
		if sent {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-wake:
		}
	}
}

// receive handles what the agent sends after its hello.
func (c *conn) receive(ctx context.Context) error {
	for {
		m, err := c.read()
		if err != nil {
			if errors.Is(err, wire.ErrInvalid) {
				return c.fail("bad_message", err)
			}
			return err
		}
		switch m.Type {
		case wire.TypeAck:
			c.log.Debug("agent applied", "event", m.Ack.Event, "cursor", m.Ack.Cursor)
		case wire.TypeScans:
			if len(m.Scans.Scans) == 0 {
				continue
			}
			grown, err := c.hub.opts.Store.RecordScans(ctx, c.device, m.Scans.Scans, c.hub.opts.Now())
			if err != nil {
				return fmt.Errorf("record scans: %w", err)
			}
			upTo := m.Scans.Scans[len(m.Scans.Scans)-1].Seq
			if err := c.send(&wire.Message{Type: wire.TypeScanAck, ScanAck: &wire.ScanAck{UpTo: upTo}}); err != nil {
				return fmt.Errorf("send scan ack: %w", err)
			}
			for _, ev := range grown {
				c.hub.Notify(ev)
			}
		case wire.TypeError:
			return fmt.Errorf("agent error %s: %s", m.Error.Code, m.Error.Message)
		default:
			return c.fail("bad_message", fmt.Errorf("unexpected %q from agent", m.Type))
		}
	}
}
