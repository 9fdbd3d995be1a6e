package replicate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/gorilla/websocket"

	"admit/clock"
	"admit/fleet"
	"admit/fleet/wire"
	"admit/internal/wsping"
)

// conn is one agent's stream.
type conn struct {
	hub     *Hub
	ws      *websocket.Conn // set once upgraded, under hub.mu
	ip      string
	pending bool // counted in hub.pending; guarded by hub.mu
	log     *slog.Logger
	device  string
	dmu     sync.Mutex   // guards dev once the session runs (recheckDevice writes, receive reads)
	dev     fleet.Device // the fleet's record of the device; zero for an unenrolled one
	events  []string     // set before the conn is registered as a device
	kicks   chan int
	keep    *wsping.Keeper

	// protocol is the hello's; from 5 on, what the fleet sends is signed
	// with key for session.
	protocol int
	session  wire.Session
	key      ed25519.PrivateKey

	// configSent is the config version last pushed (or the hello's): what
	// a protocol-4 agent's failure acknowledgement refers to.
	configSent atomic.Int64

	wmu sync.Mutex // serialises writes
}

// signs reports whether this session is protocol 5: signed data only.
func (c *conn) signs() bool { return c.protocol >= 5 }

const (
	kickLog    = 1 << iota // a log this conn serves grew
	kickDevice             // the device or its config changed
)

func (c *conn) serves(event string) bool {
	for _, e := range c.events {
		if e == event {
			return true
		}
	}
	return false
}

// servesVenue reports whether the conn streams a venue scope.
func (c *conn) servesVenue() bool {
	for _, e := range c.events {
		if wire.IsVenueScope(e) {
			return true
		}
	}
	return false
}

// kick merges bits into the pending kick; never blocks.
func (c *conn) kick(bits int) {
	for {
		select {
		case c.kicks <- bits:
			return
		default:
		}
		select {
		case old := <-c.kicks:
			bits |= old
		default:
		}
	}
}

func (c *conn) send(m *wire.Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(clock.Deadline(c.hub.opts.Timeout))
	return c.ws.WriteJSON(m)
}

// sendBinary writes one binary frame (wire.MarshalBatch, MarshalSnapshot).
func (c *conn) sendBinary(data []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(clock.Deadline(c.hub.opts.Timeout))
	return c.ws.WriteMessage(websocket.BinaryMessage, data)
}

// writeFrame writes an encoded frame.
func (c *conn) writeFrame(pm *websocket.PreparedMessage) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(clock.Deadline(c.hub.opts.Timeout))
	return c.ws.WritePreparedMessage(pm)
}

// closeErr is why the fleet dropped a connection.
type closeErr struct {
	code string
	err  error
}

func (e *closeErr) Error() string { return e.code + ": " + e.err.Error() }
func (e *closeErr) Unwrap() error { return e.err }

// fail tells the agent why it is being dropped, then returns the reason.
func (c *conn) fail(code string, err error) error {
	msg := err.Error()
	if len(msg) > wire.MaxTextLen {
		msg = msg[:wire.MaxTextLen]
	}
	_ = c.send(&wire.Message{Type: wire.TypeError, Error: &wire.Error{Code: code, Message: msg}})
	return &closeErr{code, err}
}

func (c *conn) read() (*wire.Message, error) {
	_, data, err := c.ws.ReadMessage()
	if err != nil {
		if errors.Is(err, websocket.ErrReadLimit) {
			limit := wire.MaxMessageBytes
			if c.keep == nil {
				limit = wire.MaxHelloBytes
			}
			return nil, c.fail("oversized", fmt.Errorf("frame over %d bytes", limit))
		}
		return nil, err
	}
	if c.keep != nil {
		c.keep.Alive()
	}
	m, err := wire.Decode(data)
	if err != nil {
		return nil, c.fail("bad_message", err)
	}
	return m, nil
}

func (c *conn) serve(ctx context.Context) error {
	defer c.ws.Close()
	opts := &c.hub.opts
	// Until the hello verifies, the peer is anonymous: a small frame, read
	// within Timeout, is all it gets.
	c.ws.SetReadLimit(wire.MaxHelloBytes)
	key, err := c.hub.replicaKey(ctx)
	if err != nil {
		return c.fail("unavailable", fmt.Errorf("replica key: %w", err))
	}
	nonce := make([]byte, 32)
	rand.Read(nonce)
	challenge := &wire.Challenge{Nonce: nonce, Fleet: opts.FleetID, ReplicaKey: key.Public().(ed25519.PublicKey)}
	if err := c.send(&wire.Message{Type: wire.TypeChallenge, Challenge: challenge}); err != nil {
		return err
	}
	c.ws.SetReadDeadline(clock.Deadline(opts.Timeout))
	m, err := c.read()
	if err != nil {
		return err
	}
	if m.Type != wire.TypeHello {
		return c.fail("bad_hello", fmt.Errorf("first message is %q", m.Type))
	}
	h := m.Hello
	c.device = h.Device
	c.protocol = h.Protocol
	c.session = wire.Session{Device: h.Device, Nonce: h.Nonce}
	if c.signs() {
		c.key = key
	}
	c.log = c.log.With("device", h.Device, "protocol", h.Protocol)
	if err := c.authenticate(ctx, h, nonce); err != nil {
		return err
	}
	// Trusted from here: full-size frames, and a read deadline that the
	// pings keep alive.
	c.hub.verified(c)
	c.ws.SetReadLimit(wire.MaxMessageBytes)
	c.keep = wsping.Start(ctx, c.ws, opts.PingEvery, opts.PongWait)
	defer c.keep.Stop()
	for ev := range h.Cursors {
		if wire.IsVenueScope(ev) && c.dev.ID == "" {
			// Peers' keys and staff PIN hashes go to enrolled devices
			// only (an unenrolled one is let in by AllowUnenrolled).
			c.log.Warn("venue scope not served: the device is not enrolled", "scope", ev)
			continue
		}
		if _, err := opts.Store.LogState(ctx, ev); err != nil {
			if errors.Is(err, fleet.ErrNotFound) {
				return c.fail("unknown_event", err)
			}
			return err
		}
		if !c.mayReplicate(ev) {
			return c.fail("forbidden_event", fmt.Errorf("device %q does not serve event %q", h.Device, scopeEvent(ev)))
		}
		c.events = append(c.events, ev)
	}
	if err := opts.Store.ReportDevice(ctx, h.Device, h.Firmware, h.ConfigVersion, opts.Clock.Now()); err != nil {
		c.log.Warn("report device", "err", err)
	}
	c.hub.mu.Lock()
	if old := c.hub.devices[h.Device]; old != nil {
		old.ws.Close() // the newest session of a device wins
	}
	c.hub.devices[h.Device] = c
	c.hub.mu.Unlock()
	c.log.Info("agent connected", "cursors", len(h.Cursors), "enrolled", c.dev.ID != "")

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); errc <- c.push(ctx, h) }()
	go func() { defer wg.Done(); errc <- c.receive(ctx) }()
	err = <-errc
	cancel()
	c.ws.Close() // unblocks the reader
	wg.Wait()
	return err
}

// authenticate checks the hello's signature against the device's key,
// then whether the device was revoked (which it is told, signed).
func (c *conn) authenticate(ctx context.Context, h *wire.Hello, nonce []byte) error {
	opts := &c.hub.opts
	d, err := opts.Store.Device(ctx, h.Device)
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		if opts.AllowUnenrolled {
			c.log.Warn("unenrolled agent accepted (AllowUnenrolled)")
			return nil
		}
		return c.fail("unauthenticated", fmt.Errorf("device %q is not enrolled", h.Device))
	case err != nil:
		return err
	}
	keyed := len(d.PublicKey) == ed25519.PublicKeySize
	switch {
	case keyed:
		if h.Signature == nil || !ed25519.Verify(d.PublicKey, h.SigningBytes(nonce), h.Signature) {
			return c.fail("unauthenticated", fmt.Errorf("hello of %q not signed by its enrolled key", h.Device))
		}
	case !opts.AllowUnenrolled && !d.Revoked():
		return c.fail("unauthenticated", fmt.Errorf("device %q has no key", h.Device))
	}
	if d.Revoked() {
		_ = c.sendRevoked()
		return &closeErr{"revoked", fmt.Errorf("device %q is revoked", h.Device)}
	}
	if keyed {
		c.dev = d // authenticated: the fleet's record of it applies
	}
	return nil
}

// sendRevoked tells the agent it was revoked, signed for this session.
func (c *conn) sendRevoked() error {
	r := &wire.Revoked{Reason: "device revoked"}
	if c.signs() {
		r.Sign(c.key, c.session)
	}
	return c.send(&wire.Message{Type: wire.TypeRevoked, Revoked: r})
}

// mayServe reports whether the device may replicate and report scans of
// ev: by the fleet's record (fleet.Device.Serves) for an enrolled device;
// anything it declares for an unenrolled one, which only a hub with
// AllowUnenrolled lets in.
func (c *conn) mayServe(ev string) bool {
	c.dmu.Lock()
	defer c.dmu.Unlock()
	return c.dev.ID == "" || c.dev.Serves(ev)
}

// mayReplicate reports whether the device may replicate the log named
// scope: an event's ticket log, or its venue scope (wire.VenueScope: its
// peers' keys, its gate staff's PIN hashes), which goes to the devices
// that serve the event (mayServe) — never to an unenrolled one.
func (c *conn) mayReplicate(scope string) bool {
	if event, ok := wire.VenueEvent(scope); ok {
		c.dmu.Lock()
		enrolled := c.dev.ID != ""
		c.dmu.Unlock()
		return enrolled && c.mayServe(event)
	}
	return !wire.IsVenueScope(scope) && c.mayServe(scope)
}

// scopeEvent returns the event a log belongs to: the event of a venue
// scope, or the ticket log's own name.
func scopeEvent(scope string) string {
	if event, ok := wire.VenueEvent(scope); ok {
		return event
	}
	return scope
}
