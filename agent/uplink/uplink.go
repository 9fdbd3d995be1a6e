// Package uplink is the gate side of the fleet stream: it keeps one
// WebSocket to the fleet open (reconnecting with backoff), proves the
// device's identity by signing the fleet's challenge, applies the replica
// batches and snapshot chunks the fleet sends (the event's tickets and its
// venue scope alike: gatedb tells them apart), applies pushed config, and
// streams journaled scans upstream until the fleet acknowledges them.
//
// A batch whose running checksum disagrees with the replica's is not
// applied: the replica is marked for resynchronisation and the session
// restarts, so the next hello asks the fleet for a snapshot. A fleet that
// says the device is revoked makes the uplink wipe the replica and stop.
package uplink

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent/gatedb"
	"admit/clock"
	"admit/fleet/wire"
	"admit/internal/tlspin"
)

// ErrRevoked: the fleet revoked this device; the replica was wiped.
var ErrRevoked = errors.New("uplink: device revoked by the fleet")

// Options configures a Client.
type Options struct {
	URL      string // ws://host:port/ws or wss://...
	Device   string
	Firmware string
	DB       *gatedb.DB
	// Key is the device's Ed25519 key, enrolled with the fleet. Nil sends
	// an unsigned hello, which only a fleet that allows unenrolled devices
	// accepts (the protocol 1 behaviour, kept while deployments switch).
	Key ed25519.PrivateKey
	// CAFingerprint pins the fleet's CA (SHA-256 of its certificate, from
	// enrollment) for wss:// URLs; nil verifies with the system roots.
	CAFingerprint []byte
	// OnKeys is called with keys a batch or snapshot added, after it
	// committed.
	OnKeys func([]gatedb.Key)
	// OnApplied is called after each batch commits.
	OnApplied func(event string, cursor int64)
	// OnConfig applies a config the fleet pushed; an error is reported to
	// the fleet and the config is not recorded as applied. Nil: configs are
	// recorded as applied without anything else happening.
	OnConfig func(ctx context.Context, version int64, body json.RawMessage) error
	// OnRevoked is called after the replica was wiped on revocation.
	OnRevoked func()
	Log       *slog.Logger
	// Clock times the reconnect backoff and the wipe on revocation;
	// default clock.Real{}.
	Clock clock.Clock
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
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
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

// Run keeps a session with the fleet until ctx ends (nil) or the fleet
// revokes the device (ErrRevoked).
func (c *Client) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	for {
		start := c.opts.Clock.Now()
		err := c.session(ctx)
		c.connected.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, ErrRevoked) {
			c.opts.Log.Error("fleet revoked this device; replica wiped", "err", err)
			return err
		}
		c.opts.Log.Warn("fleet uplink down", "err", err)
		if c.opts.Clock.Now().Sub(start) > 30*time.Second || errors.Is(err, gatedb.ErrDiverged) {
			backoff = 100 * time.Millisecond // a healthy session, or a resync to ask for at once
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-c.opts.Clock.After(wait):
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
	s.ws.SetWriteDeadline(clock.Deadline(s.c.opts.Timeout))
	return s.ws.WriteJSON(m)
}

func (s *session) read() (*wire.Message, error) {
	_, data, err := s.ws.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("uplink: read: %w", err)
	}
	m, err := wire.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	return m, nil
}

func (c *Client) session(ctx context.Context) error {
	dialer := websocket.Dialer{HandshakeTimeout: c.opts.Timeout, TLSClientConfig: tlspin.Config(c.opts.CAFingerprint)}
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

	ws.SetReadDeadline(clock.Deadline(c.opts.Timeout))
	m, err := s.read()
	if err != nil {
		return err
	}
	if m.Type != wire.TypeChallenge {
		return fmt.Errorf("uplink: fleet opened with %q, not a challenge", m.Type)
	}
	ws.SetReadDeadline(time.Time{})
	cursors, err := c.opts.DB.ReplicaCursors(ctx)
	if err != nil {
		return err
	}
	cfgVersion, _, err := c.opts.DB.Config(ctx)
	if err != nil {
		return err
	}
	hello := &wire.Hello{Protocol: wire.ProtocolVersion, Device: c.opts.Device, Firmware: c.opts.Firmware,
		ConfigVersion: cfgVersion, Cursors: cursors}
	if c.opts.Key != nil {
		hello.Signature = ed25519.Sign(c.opts.Key, wire.HelloSigningBytes(m.Challenge.Nonce, c.opts.Device))
	}
	if err := s.send(&wire.Message{Type: wire.TypeHello, Hello: hello}); err != nil {
		return fmt.Errorf("uplink: hello: %w", err)
	}
	c.connected.Store(true)
	c.opts.Log.Info("fleet uplink up", "url", c.opts.URL, "events", len(cursors))

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
		m, err := s.read()
		if err != nil {
			return err
		}
		switch m.Type {
		case wire.TypeBatch:
			keys, err := opts.DB.Apply(ctx, m.Batch)
			if err != nil {
				// The replica is untouched; reconnecting resumes from its
				// cursor (or asks for a snapshot after a divergence).
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
		case wire.TypeSnapshot:
			keys, err := opts.DB.ApplySnapshot(ctx, m.Snapshot)
			if err != nil {
				return fmt.Errorf("uplink: %w", err)
			}
			if len(keys) > 0 && opts.OnKeys != nil {
				opts.OnKeys(keys)
			}
			if m.Snapshot.Done {
				if opts.OnApplied != nil {
					opts.OnApplied(m.Snapshot.Event, m.Snapshot.Seq)
				}
				if err := s.send(&wire.Message{Type: wire.TypeAck, Ack: &wire.Ack{Event: m.Snapshot.Event, Cursor: m.Snapshot.Seq}}); err != nil {
					return fmt.Errorf("uplink: ack: %w", err)
				}
			}
		case wire.TypeScanAck:
			if err := opts.DB.Acked(ctx, m.ScanAck.UpTo); err != nil {
				return err
			}
		case wire.TypeConfig:
			if err := s.applyConfig(ctx, m.Config); err != nil {
				return err
			}
		case wire.TypeRevoked:
			if err := opts.DB.Revoke(ctx, opts.Clock.Now()); err != nil {
				return fmt.Errorf("uplink: revoked, and the wipe failed: %w", err)
			}
			if opts.OnRevoked != nil {
				opts.OnRevoked()
			}
			return fmt.Errorf("%w: %s", ErrRevoked, m.Revoked.Reason)
		case wire.TypeError:
			return fmt.Errorf("uplink: fleet closed the stream: %s: %s", m.Error.Code, m.Error.Message)
		default:
			return fmt.Errorf("uplink: unexpected %q from the fleet", m.Type)
		}
	}
}

func (s *session) applyConfig(ctx context.Context, cfg *wire.Config) error {
	opts := &s.c.opts
	ack := &wire.ConfigAck{Version: cfg.Version}
	var err error
	if opts.OnConfig != nil {
		err = opts.OnConfig(ctx, cfg.Version, cfg.Body)
	}
	if err == nil {
		err = opts.DB.SetConfig(ctx, cfg.Version, cfg.Body)
	}
	if err != nil {
		opts.Log.Warn("config not applied", "version", cfg.Version, "err", err)
		prev, _, _ := opts.DB.Config(ctx)
		msg := err.Error()
		if len(msg) > wire.MaxTextLen {
			msg = msg[:wire.MaxTextLen]
		}
		ack = &wire.ConfigAck{Version: prev, Error: msg}
	}
	if err := s.send(&wire.Message{Type: wire.TypeConfigAck, ConfigAck: ack}); err != nil {
		return fmt.Errorf("uplink: config ack: %w", err)
	}
	return nil
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
