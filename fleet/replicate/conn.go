package replicate

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"admit/clock"
	"admit/fleet"
	"admit/fleet/wire"
)

// conn is one agent's stream.
type conn struct {
	hub    *Hub
	ws     *websocket.Conn
	log    *slog.Logger
	device string
	dev    fleet.Device
	events []string // set before the conn is registered as a device
	kicks  chan int

	wmu sync.Mutex // serialises writes
}

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

// mayReadVenue reports whether the device may receive event's venue scope
// (its peers' keys, its gate staff's PIN hashes): an enrolled device that
// serves the event, or names no event (fleet-wide).
func (c *conn) mayReadVenue(d fleet.Device, event string) bool {
	return d.ID != "" && (len(d.Events) == 0 || slices.Contains(d.Events, event))
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
			return nil, c.fail("oversized", fmt.Errorf("frame over %d bytes", wire.MaxMessageBytes))
		}
		return nil, err
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
	c.ws.SetReadLimit(wire.MaxMessageBytes)
	nonce := make([]byte, 32)
	rand.Read(nonce)
	if err := c.send(&wire.Message{Type: wire.TypeChallenge, Challenge: &wire.Challenge{Nonce: nonce, Fleet: opts.FleetID}}); err != nil {
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
	c.log = c.log.With("device", h.Device)
	if err := c.authenticate(ctx, h, nonce); err != nil {
		return err
	}
	c.ws.SetReadDeadline(time.Time{})
	for ev := range h.Cursors {
		if event, ok := wire.VenueEvent(ev); ok && !c.mayReadVenue(c.dev, event) {
			c.log.Warn("venue scope not served: the device is not enrolled for the event", "scope", ev)
			continue
		}
		if _, err := opts.Store.LogState(ctx, ev); err != nil {
			if errors.Is(err, fleet.ErrNotFound) {
				return c.fail("unknown_event", err)
			}
			return err
		}
		c.events = append(c.events, ev)
	}
	if err := opts.Store.ReportDevice(ctx, h.Device, h.Firmware, h.ConfigVersion, "", opts.Clock.Now()); err != nil {
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

// authenticate checks the hello's signature against the device's key.
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
	if d.Revoked() {
		_ = c.send(&wire.Message{Type: wire.TypeRevoked, Revoked: &wire.Revoked{Reason: "device revoked"}})
		return &closeErr{"revoked", fmt.Errorf("device %q is revoked", h.Device)}
	}
	if len(d.PublicKey) != ed25519.PublicKeySize {
		if opts.AllowUnenrolled {
			return nil
		}
		return c.fail("unauthenticated", fmt.Errorf("device %q has no key", h.Device))
	}
	if h.Signature == nil || !ed25519.Verify(d.PublicKey, wire.HelloSigningBytes(nonce, h.Device), h.Signature) {
		return c.fail("unauthenticated", fmt.Errorf("hello of %q not signed by its enrolled key", h.Device))
	}
	c.dev = d
	return nil
}
