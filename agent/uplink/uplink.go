// Package uplink is the gate side of the fleet stream: it keeps one
// WebSocket to the fleet open (reconnecting with backoff), applies the
// replica batches the fleet sends, and streams journaled scans upstream
// until the fleet acknowledges them.
package uplink

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent/gatedb"
	"admit/fleet/wire"
)

// Options configures a Client.
type Options struct {
	URL      string // ws://host:port/ws
	Device   string
	Firmware string
	DB       *gatedb.DB
	// OnKeys is called with keys a batch added, after it committed.
	OnKeys func([]gatedb.Key)
	// OnApplied is called after each batch commits.
	OnApplied func(event string, cursor int64)
	Log       *slog.Logger
	// MaxBackoff caps the wait between reconnects; default 5 s.
	MaxBackoff time.Duration
	Timeout    time.Duration // dial and write timeout; default 10 s
}

// Client is the uplink. Run it once; Kick it when the journal grows.
type Client struct {
	opts      Options
	kick      chan struct{}
	connected atomic.Bool
}

// New returns a client.
func New(opts Options) *Client {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 5 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 10 * time.Second
	}
	return &Client{opts: opts, kick: make(chan struct{}, 1)}
}

// Kick tells the client that new scans were journaled.
func (c *Client) Kick() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// Connected reports whether a session with the fleet is up.
func (c *Client) Connected() bool { return c.connected.Load() }

// Run keeps a session with the fleet until ctx ends.
func (c *Client) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		start := time.Now()
		err := c.session(ctx)
		c.connected.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		c.opts.Log.Warn("fleet uplink down", "err", err)
		if time.Since(start) > 30*time.Second {
			backoff = 100 * time.Millisecond // it was a healthy session
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		backoff = min(backoff*2, c.opts.MaxBackoff)
	}
}

type session struct {
	c   *Client
	ws  *websocket.Conn
	wmu sync.Mutex // serialises writes
}

func (s *session) send(m *wire.Message) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.ws.SetWriteDeadline(time.Now().Add(s.c.opts.Timeout))
	return s.ws.WriteJSON(m)
}

func (c *Client) session(ctx context.Context) error {
	dialer := websocket.Dialer{HandshakeTimeout: c.opts.Timeout}
	ws, resp, err := dialer.DialContext(ctx, c.opts.URL, http.Header{})
	if err != nil {
		return fmt.Errorf("uplink: dial %s: %w", c.opts.URL, err)
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	defer ws.Close()
	ws.SetReadLimit(wire.MaxMessageBytes)
	s := &session{c: c, ws: ws}

	cursors, err := c.opts.DB.Cursors(ctx)
	if err != nil {
		return err
	}
	hc := map[string]wire.Cursor{}
	for ev, seq := range cursors {
		hc[ev] = wire.Cursor{Seq: seq}
	}
	hello := &wire.Hello{Protocol: wire.ProtocolVersion, Device: c.opts.Device, Firmware: c.opts.Firmware, Cursors: hc}
	if err := s.send(&wire.Message{Type: wire.TypeHello, Hello: hello}); err != nil {
		return fmt.Errorf("uplink: hello: %w", err)
	}
	c.connected.Store(true)
	c.opts.Log.Info("fleet uplink up", "url", c.opts.URL, "cursors", cursors)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); errc <- s.receive(ctx) }()
	go func() { defer wg.Done(); errc <- s.pushScans(ctx) }()
	err = <-errc
	cancel()
	ws.Close() // unblocks the reader
	wg.Wait()
	return err
}

// receive applies what the fleet sends.
func (s *session) receive(ctx context.Context) error {
	opts := &s.c.opts
	for {
		_, data, err := s.ws.ReadMessage()
		if err != nil {
			return fmt.Errorf("uplink: read: %w", err)
		}
		var m wire.Message
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("uplink: %w: %v", wire.ErrInvalid, err)
		}
		if err := m.Validate(); err != nil {
			return fmt.Errorf("uplink: %w", err)
		}
		switch m.Type {
		case wire.TypeBatch:
			keys, err := opts.DB.Apply(ctx, m.Batch)
			if err != nil {
				// The replica is untouched; reconnecting resumes from
				// its cursor.
				return fmt.Errorf("uplink: %w", err)
			}
			if len(keys) > 0 && opts.OnKeys != nil {
				opts.OnKeys(keys)
			}
			if opts.OnApplied != nil {
				opts.OnApplied(m.Batch.Event, m.Batch.To)
			}
			if err := s.send(&wire.Message{Type: wire.TypeAck, Ack: &wire.Ack{Event: m.Batch.Event, Cursor: m.Batch.To}}); err != nil {
				return fmt.Errorf("uplink: ack: %w", err)
			}
		case wire.TypeScanAck:
			if err := opts.DB.Acked(ctx, m.ScanAck.UpTo); err != nil {
				return err
			}
		case wire.TypeError:
			return fmt.Errorf("uplink: fleet closed the stream: %s: %s", m.Error.Code, m.Error.Message)
		default:
			return fmt.Errorf("uplink: unexpected %q from the fleet", m.Type)
		}
	}
}

// pushScans streams the journal: everything not yet acknowledged, then new
// scans as they are journaled.
func (s *session) pushScans(ctx context.Context) error {
	var sent int64
	for {
		scans, err := s.c.opts.DB.Pending(ctx, sent, 500)
		if err != nil {
			return err
		}
		if len(scans) > 0 {
			if err := s.send(&wire.Message{Type: wire.TypeScans, Scans: &wire.Scans{Scans: scans}}); err != nil {
				return fmt.Errorf("uplink: send scans: %w", err)
			}
			sent = scans[len(scans)-1].Seq
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.kick:
		}
	}
}
