package peer

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"admit/clock"
	"admit/internal/wsping"
)

// Handler accepts peers' connections and stores the marks they push, once
// they proved who they are and each mark checks out.
func (g *Gossip) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.inMu.Lock()
		switch {
		case g.inClosed:
			g.inMu.Unlock()
			http.Error(w, "peer: gate stopping", http.StatusServiceUnavailable)
			return
		case len(g.ins) >= g.opts.MaxInbound:
			g.inMu.Unlock()
			g.linkRefused(RefusedTooMany)
			http.Error(w, "peer: too many peer links", http.StatusServiceUnavailable)
			return
		}
		g.inWG.Add(1)
		g.inMu.Unlock()
		defer g.inWG.Done()
		ws, err := g.upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		// The link's waits (its rate, room for held marks) end when it is
		// closed, replaced by a newer link of its device, or the gate
		// stops accepting.
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		g.inMu.Lock()
		if g.inClosed {
			g.inMu.Unlock()
			return
		}
		g.ins[ws] = &inLink{cancel: cancel}
		g.inMu.Unlock()
		defer func() {
			g.inMu.Lock()
			delete(g.ins, ws)
			g.inMu.Unlock()
		}()
		if err := g.receive(ctx, ws); err != nil && !websocket.IsCloseError(err, websocket.CloseGoingAway, websocket.CloseNormalClosure) {
			var ref *linkRefusal
			if errors.As(err, &ref) {
				level := slog.LevelWarn
				if ref.reason == RefusedNoVenueData {
					level = slog.LevelInfo // a gate that just started: it passes
				}
				g.opts.Log.Log(r.Context(), level, "peer: link refused", "remote", r.RemoteAddr, "reason", ref.reason, "err", err)
				return
			}
			g.opts.Log.Debug("peer: inbound closed", "remote", r.RemoteAddr, "err", err)
		}
	})
}

// linkRefusal is why a link was refused after the upgrade.
type linkRefusal struct {
	reason string
	err    error
}

func (e *linkRefusal) Error() string { return e.err.Error() }

func (g *Gossip) linkRefused(reason string) {
	if g.opts.OnLinkRefused != nil {
		g.opts.OnLinkRefused(reason)
	}
}

// refuse tells the peer why its link is refused, counts it and returns the
// reason as an error.
func (g *Gossip) refuse(ws *websocket.Conn, reason string, err error) error {
	g.linkRefused(reason)
	ws.SetWriteDeadline(clock.Deadline(g.opts.Timeout))
	_ = ws.WriteJSON(&Message{Type: "error", Version: Version, Error: reason + ": " + err.Error()})
	return &linkRefusal{reason, err}
}

// anyVenueSynced reports whether the gate holds the venue scope of one
// of events.
func (g *Gossip) anyVenueSynced(events []string) bool {
	for _, ev := range events {
		if g.opts.Store.VenueSynced(ev) {
			return true
		}
	}
	return false
}

// checkDevice says whether the venue scope of event names id with a key,
// and the reason to refuse it if not.
func (g *Gossip) checkDevice(event, id string) (ed25519.PublicKey, string) {
	d, ok := g.opts.Store.VenueDevice(event, id)
	switch {
	case !ok:
		return nil, RefusedUnknownDevice
	case d.Revoked || len(d.PublicKey) != ed25519.PublicKeySize:
		return nil, RefusedRevoked
	}
	return d.PublicKey, ""
}

// receive runs one inbound link: challenge, hello, then marks.
func (g *Gossip) receive(ctx context.Context, ws *websocket.Conn) error {
	ws.SetReadLimit(MaxHelloBytes)
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	ws.SetWriteDeadline(clock.Deadline(g.opts.Timeout))
	events := g.servedEvents()
	first := ""
	if len(events) > 0 {
		first = events[0]
	}
	if err := ws.WriteJSON(&Message{Type: "challenge", Version: Version, Device: g.opts.Device, Event: first, Nonce: nonce}); err != nil {
		return fmt.Errorf("peer: challenge: %w", err)
	}
	ws.SetReadDeadline(clock.Deadline(10 * g.opts.Timeout))
	var hello Message
	if err := ws.ReadJSON(&hello); err != nil {
		return g.refuse(ws, RefusedBadHello, fmt.Errorf("hello: %w", err))
	}
	switch {
	case hello.Type != "hello":
		return g.refuse(ws, RefusedBadHello, fmt.Errorf("first frame %.16q, not a hello", hello.Type))
	case hello.Version < MinVersion || hello.Version > Version:
		return g.refuse(ws, RefusedOldProtocol, fmt.Errorf("%.64q speaks gossip protocol %d (unsigned, if 1), this gate %d to %d: upgrade the gate", hello.Device, hello.Version, MinVersion, Version))
	case hello.Device == "" || len(hello.Device) > maxField:
		return g.refuse(ws, RefusedBadHello, errors.New("hello names no device"))
	case !g.anyVenueSynced(events):
		return g.refuse(ws, RefusedNoVenueData, fmt.Errorf("this gate has not received the venue data of %q from the fleet yet: it cannot check %q", events, hello.Device))
	}
	// The peer is checked against the first event whose venue scope
	// names it (a gate of several events, a peer of some of them).
	pub, why := []byte(nil), RefusedUnknownDevice
	for _, ev := range events {
		if pub, why = g.checkDevice(ev, hello.Device); why != RefusedUnknownDevice {
			break
		}
	}
	if why != "" {
		return g.refuse(ws, why, fmt.Errorf("%.64q is not a device of %q with a key", hello.Device, events))
	}
	if !ed25519.Verify(pub, HelloSigningBytes(nonce, g.opts.Device, hello.Device), hello.Signature) {
		return g.refuse(ws, RefusedBadSignature, fmt.Errorf("hello of %.64q not signed by its key", hello.Device))
	}
	ws.SetReadLimit(MaxFrameBytes)
	ws.SetWriteDeadline(clock.Deadline(g.opts.Timeout))
	if err := ws.WriteJSON(&Message{Type: "ready", Version: Version}); err != nil {
		return fmt.Errorf("peer: ready: %w", err)
	}
	// Verified: from here the read deadline is the peer's silence,
	// PongWait, which its pings and frames move (and our own waits for
	// rate and room, below, do not count against it).
	keep := wsping.Start(ctx, ws, g.opts.PingEvery, g.opts.PongWait)
	defer keep.Stop()
	g.inMu.Lock()
	for other, in := range g.ins {
		if in.device == hello.Device {
			other.Close() // the device's newest link wins
			in.cancel()
		}
	}
	g.ins[ws].device = hello.Device
	g.inMu.Unlock()
	l := &link{g: g, device: hello.Device, version: hello.Version, bucket: bucket{rate: g.opts.Rate, burst: g.opts.Burst},
		claims: bucket{rate: g.opts.ClaimRate, burst: g.opts.ClaimBurst}, logged: map[string]bool{}}
	for {
		var m Message
		if err := ws.ReadJSON(&m); err != nil {
			return err
		}
		keep.Alive()
		switch {
		case m.Type == "marks" && len(m.Marks) <= MaxMarksPerFrame:
			if err := l.take(ctx, m.Marks); err != nil {
				return err
			}
		case (m.Type == "claim" || m.Type == "release") && m.Claim != nil && l.version >= 3:
			if err := l.claim(ctx, ws, m.Claim, m.Type == "release"); err != nil {
				return err
			}
		default:
			return fmt.Errorf("peer: %s sent %q with %d marks", hello.Device, m.Type, len(m.Marks))
		}
		keep.Alive() // the time take waited was this gate's, not the peer's silence
	}
}

// link is one verified inbound link.
type link struct {
	g       *Gossip
	device  string
	version int             // the gossip protocol its hello spoke
	bucket  bucket          // its marks
	claims  bucket          // its claims and releases
	logged  map[string]bool // refusal reasons already logged on this link
}

// claim answers a peer's claim (or takes in its release), after waiting
// for the link's claim rate: the Arbiter rules on a claim that checks out,
// and the answer, signed by this gate, goes back on the link at once.
func (l *link) claim(ctx context.Context, ws *websocket.Conn, c *Claim, release bool) error {
	g := l.g
	if err := l.claims.wait(ctx, g.opts.Clock, 1); err != nil {
		return err
	}
	why := l.checkClaim(c, release, g.opts.Clock.Now())
	if why != "" {
		g.claimRefused(why)
		if !l.logged["claim:"+why] {
			l.logged["claim:"+why] = true
			g.opts.Log.Warn("peer: claim refused", "peer", l.device, "reason", why, "ticket", c.TicketID, "device", c.Device, "at", c.At, "release", release)
		}
	}
	dc, _ := c.db() // checkClaim parsed it
	if release {
		if why == "" && g.opts.Arbiter != nil {
			g.opts.Arbiter.Released(dc)
		}
		return nil
	}
	if why == RefusedBadClaim {
		return nil // nothing to answer it with: the claimant's deadline passes
	}
	a := &Answer{Event: c.Event, TicketID: c.TicketID, Claimant: c.Device, ClaimAt: c.At, Device: g.opts.Device}
	switch {
	case why != "":
		a.Verdict, a.Refused = AnswerRefused, why
	case g.opts.Arbiter == nil:
		a.Verdict, a.Refused = AnswerRefused, RefusedNoArbiter
	default:
		conflict, err := g.opts.Arbiter.Consider(ctx, dc)
		switch {
		case err != nil:
			g.opts.Log.Error("peer: could not rule on a claim", "peer", l.device, "ticket", c.TicketID, "err", err)
			a.Verdict, a.Refused = AnswerRefused, RefusedGateError
		case conflict != nil:
			a.Verdict, a.Blocker = AnswerConflict, blocker(conflict)
		default:
			a.Verdict = AnswerGranted
		}
	}
	if g.opts.Key != nil {
		a.Sign(g.opts.Key)
	}
	ws.SetWriteDeadline(clock.Deadline(g.opts.Timeout))
	if err := ws.WriteJSON(&Message{Type: "answer", Device: g.opts.Device, Answer: a}); err != nil {
		return fmt.Errorf("peer: answer to %s: %w", l.device, err)
	}
	return nil
}

// checkClaim returns why claim c (or its release) must be refused ("" if
// it may be ruled on): well formed, of this gate's event, a claim of the
// link's own device, signed by that device's key as the venue scope has
// it, dated neither beyond MaxFutureSkew from now nor more than
// MaxClaimAge back.
func (l *link) checkClaim(c *Claim, release bool, now time.Time) string {
	g := l.g
	switch {
	case c.validate() != nil:
		return RefusedBadClaim
	case !slices.Contains(g.servedEvents(), c.Event):
		return RefusedOtherEvent
	case c.Device != l.device:
		return RefusedNotSender
	case len(c.Signature) == 0:
		return RefusedUnsigned
	case c.At.After(now.Add(MaxFutureSkew)):
		return RefusedFuture
	case !release && c.At.Before(now.Add(-MaxClaimAge)):
		return RefusedStale
	}
	pub, why := g.checkDevice(c.Event, c.Device)
	if why != "" {
		return why
	}
	if !ed25519.Verify(pub, ClaimSigningBytes(c, release), c.Signature) {
		return RefusedBadSignature
	}
	return ""
}

// take checks a frame's marks and adds those that pass, after waiting for
// the link's rate and for room under the cap on held marks.
func (l *link) take(ctx context.Context, marks []Mark) error {
	g := l.g
	if err := l.bucket.wait(ctx, g.opts.Clock, float64(len(marks))); err != nil {
		return err
	}
	ok := marks[:0]
	now := g.opts.Clock.Now()
	for _, m := range marks {
		if why := l.check(&m, now); why != "" {
			if g.opts.OnRefused != nil {
				g.opts.OnRefused(why)
			}
			if !l.logged[why] {
				l.logged[why] = true
				g.opts.Log.Warn("peer: mark refused", "peer", l.device, "reason", why, "ticket", m.TicketID, "device", m.Device, "at", m.At)
			}
			continue
		}
		ok = append(ok, m)
	}
	if len(ok) == 0 {
		return nil
	}
	if err := g.opts.Store.WaitPeerRoom(ctx, len(ok), g.opts.MaxHeld); err != nil {
		return err
	}
	for _, m := range ok {
		mk := m.db()
		if err := g.opts.Store.AddPeerMark(mk); err != nil {
			return err
		}
		g.received.Add(1)
		if g.opts.OnMark != nil {
			g.opts.OnMark(mk)
		}
	}
	return nil
}

// check returns why m must be refused ("" if it may count): it must be
// well formed, of this gate's event, a passage of the link's own device,
// signed by that device's key as the venue scope has it, and not dated
// beyond MaxFutureSkew from now.
func (l *link) check(m *Mark, now time.Time) string {
	g := l.g
	switch {
	case m.validate() != nil:
		return RefusedBadMark
	case !slices.Contains(g.servedEvents(), m.Event):
		return RefusedOtherEvent
	case m.Device != l.device:
		return RefusedNotSender
	case len(m.Signature) == 0:
		return RefusedUnsigned
	case m.At.After(now.Add(MaxFutureSkew)):
		return RefusedFuture
	}
	pub, why := g.checkDevice(m.Event, m.Device)
	if why != "" {
		return why // revoked while the link was up
	}
	if !ed25519.Verify(pub, MarkSigningBytes(m), m.Signature) {
		return RefusedBadSignature
	}
	return ""
}

// bucket is a token bucket that waits for its tokens.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

// wait takes n tokens, waiting on clk for them when the bucket is short.
func (b *bucket) wait(ctx context.Context, clk clock.Clock, n float64) error {
	for {
		now := clk.Now()
		if b.last.IsZero() {
			b.tokens = b.burst
		} else {
			b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		}
		b.last = now
		if b.tokens >= n {
			b.tokens -= n
			return nil
		}
		wait := time.Duration((n - b.tokens) / b.rate * float64(time.Second))
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-clk.After(max(wait, time.Millisecond)):
		}
	}
}
