// Package uplink is the gate side of the fleet stream: it keeps one
// WebSocket to the fleet open (reconnecting with backoff), proves the
// device's identity by signing the fleet's challenge, applies the replica
// batches and snapshot chunks the fleet sends (the event's tickets and its
// venue scope alike: gatedb tells them apart), applies pushed config, and
// streams journaled scans upstream until the fleet acknowledges them, then
// the contests on tickets the gate noticed (wire.Contest) likewise.
//
// A batch whose running checksum disagrees with the replica's is not
// applied: the replica is marked for resynchronisation and the session
// restarts, so the next hello asks the fleet for a snapshot. A fleet that
// says the device is revoked makes the uplink wipe the replica and stop.
//
// The fleet must prove itself: the uplink speaks protocol 5 only, and
// applies nothing — no batch, snapshot chunk, config, revocation, scan or
// contest acknowledgement — that is not signed by the fleet's replica key
// for this session (wire.Trust). Unsigned or badly signed data is refused, logged,
// counted (Options.OnUnsigned) and ends the session, the replica
// untouched. The replica key comes from enrollment (Options.ReplicaKey);
// the link is TLS (wss://), pinned to the fleet's CA when it has its own;
// a plain ws:// link needs Options.Insecure, and even then the signatures
// hold. Both ends ping: a dead fleet is noticed within PongWait.
package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent/gatedb"
	"admit/clock"
	"admit/fleet/wire"
	"admit/internal/tlspin"
	"admit/internal/wsping"
)

// ErrRevoked: the fleet revoked this device; the replica was wiped.
var ErrRevoked = errors.New("uplink: device revoked by the fleet")

// Options configures a Client.
type Options struct {
	URL      string // wss://host:port/ws (ws:// only with Insecure)
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
	// ReplicaKey is the fleet's replica key (from enrollment): everything
	// the fleet sends that changes the gate must be signed with it. Nil:
	// the key the fleet names in its challenge is taken, but only over a
	// TLS link the gate verified (a pinned CA or the system roots), and
	// reported through OnReplicaKey to be kept; over ws:// a gate without
	// a replica key does not connect.
	ReplicaKey ed25519.PublicKey
	// OnReplicaKey is called when the uplink took the fleet's replica key
	// from a verified TLS link (see ReplicaKey).
	OnReplicaKey func(ed25519.PublicKey)
	// Insecure allows a plain ws:// URL: the fleet is not authenticated
	// by the link and everything it sends can be read on the way (the
	// replica's holders, rotating-code secrets); replica data must still
	// be signed with ReplicaKey. Without it, only wss:// is dialled.
	Insecure bool
	// OnUnsigned is called when the fleet sent data not signed by the
	// replica key for this session (a fake fleet, a man in the middle, a
	// fleet that does not sign): nothing of it was applied, and the
	// session ends.
	OnUnsigned func(error)
	// PingEvery is how often the uplink pings the fleet (default 20 s);
	// a fleet silent for PongWait (default 3 × PingEvery) is dropped.
	PingEvery, PongWait time.Duration
	// OnKeys is called with keys a batch or snapshot added, after it
	// committed.
	OnKeys func([]gatedb.Key)
	// OnApplied is called after each batch commits.
	OnApplied func(event string, cursor int64)
	// OnConfig applies a config the fleet pushed, whole, or returns why it
	// applied none of it. Applied, the config is recorded (DB.SetConfig)
	// and acknowledged; else, or when it could not be recorded, the
	// fleet is told it failed, with the reason and the version still
	// applied. Nil: this gate applies no config, and says so for each.
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
	reconnect chan struct{} // Reconnect: end the session, start a new one

	mu      sync.Mutex        // guards learned
	learned ed25519.PublicKey // a replica key taken over verified TLS
}

// errReconnect ends a session Reconnect asked to end.
var errReconnect = errors.New("uplink: reconnecting (what the gate serves changed)")

// ErrInsecureURL: a fleet URL that is not TLS, without Insecure.
var ErrInsecureURL = errors.New("uplink: the fleet URL is not TLS (wss:// or https://); plain links need the explicit insecure setting")

// CheckURL refuses a fleet URL that is not TLS unless insecure (stream,
// enrollment and online-decision URLs alike).
func CheckURL(raw string, insecure bool) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("uplink: fleet URL %q: %w", raw, err)
	}
	switch u.Scheme {
	case "wss", "https":
		return nil
	case "ws", "http":
		if insecure {
			return nil
		}
		return fmt.Errorf("%w: %s", ErrInsecureURL, raw)
	}
	return fmt.Errorf("uplink: fleet URL %q: scheme %q (want wss:// or https://)", raw, u.Scheme)
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
	if opts.PingEvery <= 0 {
		opts.PingEvery = 20 * time.Second
	}
	if opts.PongWait <= 0 {
		opts.PongWait = 3 * opts.PingEvery
	}
	return &Client{opts: opts, kick: make(chan struct{}, 1), reconnect: make(chan struct{}, 1)}
}

// Reconnect ends the current session (if any) so that the next hello says
// what the replica serves now (the events of a new config). It does not
// wait.
func (c *Client) Reconnect() {
	select {
	case c.reconnect <- struct{}{}:
	default:
	}
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
// revokes the device (ErrRevoked). It refuses at once a URL that is not
// TLS without Options.Insecure (ErrInsecureURL).
func (c *Client) Run(ctx context.Context) error {
	if err := CheckURL(c.opts.URL, c.opts.Insecure); err != nil {
		return err
	}
	if c.opts.Insecure && strings.HasPrefix(c.opts.URL, "ws://") {
		c.opts.Log.Warn("INSECURE: the fleet link is plain ws:// (insecure setting): it can be read on the way; replica data is still checked against the replica key", "url", c.opts.URL)
	}
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
		if errors.Is(err, errReconnect) {
			continue // at once: nothing went wrong
		}
		c.opts.Log.Warn("fleet uplink down", "err", err)
		if c.opts.Clock.Now().Sub(start) > 30*time.Second || errors.Is(err, gatedb.ErrDiverged) {
			backoff = 100 * time.Millisecond // a healthy session, or a resync to ask for at once
		}
		wait := backoff/2 + mrand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return nil
		case <-c.opts.Clock.After(wait):
		}
		backoff = min(backoff*2, c.opts.MaxBackoff)
	}
}

type session struct {
	c     *Client
	ws    *websocket.Conn
	trust *wire.Trust    // what the fleet's frames are checked against
	keep  *wsping.Keeper // set once the hello is sent
	wmu   sync.Mutex     // serialises writes
}

func (s *session) send(m *wire.Message) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.ws.SetWriteDeadline(clock.Deadline(s.c.opts.Timeout))
	return s.ws.WriteJSON(m)
}

// read reads one frame from the fleet: checked against the replica key
// once the session has one (everything after the challenge).
func (s *session) read() (*wire.Message, error) {
	_, data, err := s.ws.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("uplink: read: %w", err)
	}
	if s.keep != nil {
		s.keep.Alive()
	}
	if s.trust == nil {
		m, err := wire.Decode(data)
		if err != nil {
			return nil, fmt.Errorf("uplink: %w", err)
		}
		return m, nil
	}
	m, err := s.trust.Decode(data)
	if errors.Is(err, wire.ErrUnsigned) {
		return nil, s.c.unsigned(err)
	}
	if err != nil {
		return nil, fmt.Errorf("uplink: %w", err)
	}
	return m, nil
}

// unsigned reports data the fleet did not sign, and returns why the
// session ends.
func (c *Client) unsigned(err error) error {
	c.opts.Log.Error("uplink: refused data the fleet's replica key did not sign (a fake fleet or a man in the middle?); nothing applied", "url", c.opts.URL, "err", err)
	if c.opts.OnUnsigned != nil {
		c.opts.OnUnsigned(err)
	}
	return fmt.Errorf("uplink: %w", err)
}

// replicaKey returns the key to check this session's data against, given
// the key the fleet's challenge names.
func (c *Client) replicaKey(named []byte) (ed25519.PublicKey, error) {
	c.mu.Lock()
	have := c.opts.ReplicaKey
	if have == nil {
		have = c.learned
	}
	c.mu.Unlock()
	switch {
	case len(named) == 0:
		return nil, c.unsigned(fmt.Errorf("%w: the fleet names no replica key (a fleet of protocol 4 does not sign: upgrade it)", wire.ErrUnsigned))
	case have != nil && !bytes.Equal(have, named):
		return nil, c.unsigned(fmt.Errorf("%w: the fleet names replica key %x, this gate holds %x", wire.ErrUnsigned, named, []byte(have)))
	case have != nil:
		return have, nil
	case !strings.HasPrefix(c.opts.URL, "wss://"):
		return nil, fmt.Errorf("uplink: no replica key to check the fleet against, and a plain link cannot vouch for the one it names: enroll (the enrollment gives it) or connect once over TLS")
	}
	// Trust on first use, over a TLS link verified by the CA pin or the
	// system roots: the fleet at the other end is the real one.
	key := ed25519.PublicKey(bytes.Clone(named))
	c.mu.Lock()
	c.learned = key
	c.mu.Unlock()
	c.opts.Log.Warn("uplink: took the fleet's replica key from the verified TLS link (none from enrollment)", "key", fmt.Sprintf("%x", named))
	if c.opts.OnReplicaKey != nil {
		c.opts.OnReplicaKey(key)
	}
	return key, nil
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
	// Nothing is known of the other end yet: a small frame is all it gets
	// before its challenge.
	ws.SetReadLimit(wire.MaxHelloBytes)
	s := &session{c: c, ws: ws}

	ws.SetReadDeadline(clock.Deadline(c.opts.Timeout))
	m, err := s.read()
	if err != nil {
		return err
	}
	if m.Type != wire.TypeChallenge {
		return fmt.Errorf("uplink: fleet opened with %q, not a challenge", m.Type)
	}
	rk, err := c.replicaKey(m.Challenge.ReplicaKey)
	if err != nil {
		return err
	}
	cursors, err := c.opts.DB.ReplicaCursors(ctx)
	if err != nil {
		return err
	}
	cfgVersion, _, err := c.opts.DB.Config(ctx)
	if err != nil {
		return err
	}
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("uplink: %w", err)
	}
	hello := &wire.Hello{Protocol: wire.ProtocolVersion, Device: c.opts.Device, Firmware: c.opts.Firmware,
		ConfigVersion: cfgVersion, Cursors: cursors, Nonce: nonce}
	if c.opts.Key != nil {
		hello.Signature = ed25519.Sign(c.opts.Key, hello.SigningBytes(m.Challenge.Nonce))
	}
	// From here every frame must be signed for this session.
	s.trust = &wire.Trust{ReplicaKey: rk, Session: wire.Session{Device: c.opts.Device, Nonce: nonce}}
	if err := s.send(&wire.Message{Type: wire.TypeHello, Hello: hello}); err != nil {
		return fmt.Errorf("uplink: hello: %w", err)
	}
	ws.SetReadLimit(wire.MaxMessageBytes)
	s.keep = wsping.Start(ctx, ws, c.opts.PingEvery, c.opts.PongWait)
	defer s.keep.Stop()
	c.connected.Store(true)
	c.opts.Log.Info("fleet uplink up", "url", c.opts.URL, "events", len(cursors))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); errc <- s.receive(ctx) }()
	go func() { defer wg.Done(); errc <- s.pushScans(ctx) }()
	go func() {
		defer wg.Done()
		select {
		case <-c.reconnect:
			errc <- errReconnect
		case <-ctx.Done():
			errc <- ctx.Err()
		}
	}()
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
		case wire.TypeContestAck:
			if err := opts.DB.ContestsAcked(ctx, m.ContestAck.UpTo); err != nil {
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

// applyConfig hands a pushed config to OnConfig and acknowledges what
// happened: applied (and recorded), or failed with the reason and the
// version still applied. There is no third way: a config nobody applied
// is never acknowledged as applied.
func (s *session) applyConfig(ctx context.Context, cfg *wire.Config) error {
	opts := &s.c.opts
	ack := &wire.ConfigAck{Version: cfg.Version}
	err := errors.New("this gate applies no config (no handler)")
	if opts.OnConfig != nil {
		err = opts.OnConfig(ctx, cfg.Version, cfg.Body)
	}
	if err == nil {
		if err = opts.DB.SetConfig(ctx, cfg.Version, cfg.Body); err != nil {
			err = fmt.Errorf("applied, but could not be recorded (a restart would lose it): %w", err)
		}
	}
	if err != nil {
		opts.Log.Warn("config not applied", "version", cfg.Version, "err", err)
		prev, _, _ := opts.DB.Config(ctx)
		msg := err.Error()
		if len(msg) > wire.MaxTextLen {
			msg = msg[:wire.MaxTextLen]
		}
		ack = &wire.ConfigAck{Version: prev, Failed: cfg.Version, Error: msg}
		if prev == cfg.Version {
			ack.Version = 0 // cannot be: the version is new to the gate
		}
	}
	if err := s.send(&wire.Message{Type: wire.TypeConfigAck, ConfigAck: ack}); err != nil {
		return fmt.Errorf("uplink: config ack: %w", err)
	}
	return nil
}

// pushScans streams the journal: everything not yet acknowledged, then new
// scans as they are journaled; and, once the journal is sent, the contests
// the gate noticed (wire.Contest) that the fleet has not acknowledged.
func (s *session) pushScans(ctx context.Context) error {
	var sent, sentContests int64
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
		contests, err := s.c.opts.DB.PendingContests(ctx, sentContests, wire.MaxContestsPerMessage)
		if err != nil {
			return err
		}
		if len(contests) > 0 {
			if err := s.send(&wire.Message{Type: wire.TypeContests, Contests: &wire.Contests{Contests: contests}}); err != nil {
				return fmt.Errorf("uplink: send contests: %w", err)
			}
			sentContests = contests[len(contests)-1].ID
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.c.kick:
		}
	}
}
