// Package peer is gossip between the gates of one venue, directly over the
// LAN: passages, so that a ticket admitted at gate A is refused at gate B
// even while both have lost the fleet, and claims (protocol 3, claim.go),
// so that two gates presented the same single-entry ticket at the same
// moment never both admit it.
//
// Each gate serves Handler (a WebSocket endpoint, /peer on the agent's
// peer listener) and dials every peer in its config. On a connection it
// dialed, a gate pushes: first every passage it recorded itself (catch-up
// after a restart or a partition), then each new passage as soon as it is
// journaled, and its claims, whose answers it reads on the same
// connection. On a connection it accepted, it receives marks and claims,
// and answers the claims. So each direction of a pair has exactly one
// writer of marks; marks are idempotent (gatedb.DB.AddPeerMark), so a
// replay is harmless.
//
// # Trust
//
// The LAN is not trusted. The receiving gate opens with a challenge; the
// sending gate signs it with its device key (the key it enrolled with),
// and signs every mark and claim it sends, its own only; the receiver
// signs its answers to claims (claim.go says why). The receiver checks
// the hello and each mark against the device keys of its events' venue
// scopes, replicated from the fleet (gatedb.DB.VenueDevice): a device
// the scope does not name, or names revoked, is refused; a mark must be
// signed by the device that made the passage and sent by it, so an
// annulment comes only from there (or from the fleet, through the uplink);
// a mark dated more than MaxFutureSkew ahead of the receiver's clock is
// refused. A gate that has not received its venue scope yet accepts no
// peer. Each link is bounded: MaxHelloBytes before the hello verified,
// MaxFrameBytes and MaxMarksPerFrame after, a rate (Options.Rate, Burst)
// the receiver enforces by reading more slowly, and a cap on the marks
// held in memory before persistence (Options.MaxHeld), also enforced by
// reading more slowly. docs/security.md says why marks are signed one by
// one rather than the session alone.
//
// # Latency
//
// Nothing between a passage journaled at gate A and its refusal at gate B
// waits for a timer or a disk other than A's own journal commit: A
// publishes right after that commit (before it moves its relay); Publish
// only hands the mark to each peer's own queue, drained by that peer's own
// writer goroutine, so a slow or dead peer delays no other (its queue
// overflows into a resync from A's database, never into a wait); a writer
// sends at once whatever is queued, in one frame, with no batching timer;
// and B's receiver puts the mark in the gate database's in-memory index,
// which B's decision path reads, while B persists it in the background
// (gatedb.DB.AddPeerMark says why that needs no fsync first). The
// signature costs A one Ed25519 signing before it publishes and B one
// verification before it counts the mark, tens of microseconds each, with
// the keys in memory (docs/performance.md has the figure).
//
// Frames are JSON Messages.
//
// Both ends ping (internal/wsping) once the hello is accepted: a peer that
// died without closing — power cut, cable pulled — is noticed within
// PongWait on either side, and the dialing side redials.
package peer

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent/gatedb"
	"admit/clock"
	"admit/internal/wsping"
)

// Store is what gossip needs of the gate database.
type Store interface {
	// AddPeerMark makes a peer's passage count for the gate's decisions
	// at once; it must not wait for a disk (gatedb.DB persists them in the
	// background: a lost one is sent again by the peer's catch-up).
	AddPeerMark(m gatedb.Mark) error
	// MarksOf returns this gate's own passages, for the catch-up.
	MarksOf(ctx context.Context, device string, since time.Time, limit int) ([]gatedb.Mark, error)
	// VenueDevice returns what the venue scope of event says of a device
	// (its key, or revoked); ok false when it does not name it. It must
	// not touch a disk: it runs for every mark.
	VenueDevice(event, id string) (gatedb.VenueDevice, bool)
	// VenueSynced reports whether the gate holds event's venue scope.
	VenueSynced(event string) bool
	// WaitPeerRoom waits until n more marks fit under max held in memory
	// (persistence makes room), or ctx ends.
	WaitPeerRoom(ctx context.Context, n, max int) error
}

// Options configures Gossip.
type Options struct {
	Device string // this gate
	// Events are the events whose venue scopes check the peers and their
	// marks (SetEvents changes them); marks of other events are refused.
	Events []string
	// Key is this gate's device key: it signs the hello and every mark
	// this gate sends. Nil sends unsigned ones, which peers refuse.
	Key   ed25519.PrivateKey
	Peers []string // ws://host:port/peer of the other gates (SetPeers changes them)
	Store Store
	Log   *slog.Logger
	// OnMark is called after a peer's mark was added to the store.
	OnMark func(gatedb.Mark)
	// OnRefused is called for every mark refused, with the reason
	// (Refused* constants); OnLinkRefused for every link refused;
	// OnClaimRefused for every claim, release or answer refused.
	OnRefused, OnLinkRefused, OnClaimRefused func(reason string)
	// Arbiter rules on the claims peers send (protocol 3, claim.go); nil:
	// this gate answers every claim "refused", and its peers count it as
	// unreachable.
	Arbiter Arbiter
	// ClaimRate and ClaimBurst bound the claims and releases one peer
	// link delivers per second, as Rate and Burst do its marks (the
	// receiver reads more slowly beyond them). Defaults 50/s and 100: a
	// gate claims at most once per presentation.
	ClaimRate, ClaimBurst float64
	// Clock times the backoff between redials, the future-skew check and
	// the rate limits; default clock.Real{}.
	Clock      clock.Clock
	MaxBackoff time.Duration // between redials; default 2 s
	Timeout    time.Duration // dial, challenge and write; default 2 s
	Queue      int           // marks buffered per peer before a resync; default 1024
	// Rate and Burst bound the marks one peer link delivers per second
	// (a token bucket the receiver fills at Rate, at most Burst): beyond
	// them the receiver reads more slowly, so a flood waits in the
	// sender's socket, not in this gate's memory. Defaults 1,000/s and
	// 10,000 (a catch-up of 10,000 passages at once).
	Rate, Burst float64
	// MaxHeld bounds the peer marks held in memory before persistence
	// (all links together): at the cap the receivers read no more until
	// persistence made room. Default 20,000.
	MaxHeld int
	// MaxInbound bounds the peer links accepted at once; default 64.
	MaxInbound int
	// PingEvery is how often each end of a link pings once the hello is
	// accepted (default 5 s); a peer silent for PongWait (default 3 ×
	// PingEvery) is dropped.
	PingEvery, PongWait time.Duration
}

// Reasons a mark or a link is refused (Options.OnRefused, OnLinkRefused).
const (
	RefusedOldProtocol   = "old_protocol"     // link: a gossip version other than ours (1: unsigned)
	RefusedBadHello      = "bad_hello"        // link: not a hello, or malformed
	RefusedNoVenueData   = "no_venue_data"    // link: this gate has not received its venue scope yet
	RefusedUnknownDevice = "unknown_device"   // link or mark: the venue scope does not name the device
	RefusedRevoked       = "revoked_device"   // link or mark: the venue scope says revoked
	RefusedBadSignature  = "bad_signature"    // link or mark: not signed by the device's key
	RefusedUnsigned      = "unsigned"         // mark: no signature
	RefusedNotSender     = "not_sender"       // mark: a passage of another device than the link's
	RefusedOtherEvent    = "other_event"      // mark: of an event this gate does not check
	RefusedFuture        = "future"           // mark: dated more than MaxFutureSkew ahead
	RefusedBadMark       = "bad_mark"         // mark: a field missing or too long
	RefusedTooMany       = "too_many_inbound" // link: MaxInbound links already
	RefusedBadClaim      = "bad_claim"        // claim: a field missing or too long
	RefusedStale         = "stale"            // claim: dated more than MaxClaimAge back
	RefusedNoArbiter     = "no_arbiter"       // claim: this gate does not rule on claims
	RefusedGateError     = "gate_error"       // claim: this gate could not rule (its database)
)

// Gossip runs the peer connections of one gate.
type Gossip struct {
	opts     Options
	upgrader websocket.Upgrader
	received atomic.Int64

	mu     sync.Mutex // guards the fields below
	outs   map[*out]struct{}
	rounds map[roundKey]*Round // claims waiting for answers
	peers  []string            // dialed by Run
	events []string            // checked against
	moved  chan struct{}       // peers changed: Run redials

	inMu     sync.Mutex // guards ins and inClosed
	ins      map[*websocket.Conn]*inLink
	inClosed bool           // CloseInbound ran: accept no more
	inWG     sync.WaitGroup // Handler calls under way
}

// inLink is a link a peer opened to this gate.
type inLink struct {
	device string // once its hello verified
	cancel func() // ends its waits
}

// out is one connection this gate dialed.
type out struct {
	url    string
	device string // the peer, as its challenge names it
	queue  chan Mark
	claims chan *Message // claim and release frames, sent ahead of marks
	lost   chan struct{} // closed when a mark could not be queued: resync
	once   sync.Once
	// ready: the link takes claims (protocol 3, catch-up done).
	ready atomic.Bool
}

// New returns a Gossip; serve Handler and Run it.
func New(opts Options) *Gossip {
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 2 * time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Second
	}
	if opts.Queue <= 0 {
		opts.Queue = 1024
	}
	if opts.Rate <= 0 {
		opts.Rate, opts.Burst = 1000, 10_000
	}
	opts.Burst = max(opts.Burst, MaxMarksPerFrame) // a full frame must fit
	if opts.MaxHeld <= 0 {
		opts.MaxHeld = 20_000
	}
	opts.MaxHeld = max(opts.MaxHeld, MaxMarksPerFrame)
	if opts.MaxInbound <= 0 {
		opts.MaxInbound = 64
	}
	if opts.PingEvery <= 0 {
		opts.PingEvery = 5 * time.Second
	}
	if opts.PongWait <= 0 {
		opts.PongWait = 3 * opts.PingEvery
	}
	if opts.ClaimRate <= 0 {
		opts.ClaimRate, opts.ClaimBurst = 50, 100
	}
	opts.ClaimBurst = max(opts.ClaimBurst, 1)
	return &Gossip{opts: opts, outs: map[*out]struct{}{}, rounds: map[roundKey]*Round{}, ins: map[*websocket.Conn]*inLink{}, peers: opts.Peers,
		events: opts.Events, moved: make(chan struct{}, 1)}
}

// SetPeers replaces the peers this gate pushes to: Run drops the links
// to the old ones and dials the new.
func (g *Gossip) SetPeers(peers []string) {
	g.mu.Lock()
	g.peers = slices.Clone(peers)
	g.mu.Unlock()
	select {
	case g.moved <- struct{}{}:
	default:
	}
}

// SetEvents replaces the events whose venue scopes check peers and marks
// (links already verified stay; their next marks are checked against
// the new events).
func (g *Gossip) SetEvents(events []string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.events = slices.Clone(events)
}

// servedEvents returns the events checked against.
func (g *Gossip) servedEvents() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.events
}

// Peers returns the peers this gate pushes to.
func (g *Gossip) Peers() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.peers
}

// Publish signs a passage of this gate and sends it to every connected
// peer. It never blocks: a peer whose queue is full is resynchronised from
// the database.
func (g *Gossip) Publish(m gatedb.Mark) {
	wm := toWire(m)
	if g.opts.Key != nil {
		wm.Sign(g.opts.Key)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for o := range g.outs {
		select {
		case o.queue <- wm:
		default:
			o.once.Do(func() { close(o.lost) })
		}
	}
}

// Connected returns the number of peers this gate is pushing to (that took
// its hello).
func (g *Gossip) Connected() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.outs)
}

// Received returns how many marks peers sent that were accepted.
func (g *Gossip) Received() int64 { return g.received.Load() }

// Run dials every peer and keeps pushing until ctx ends; when SetPeers
// changes them, it drops every link it dialed and dials the new peers.
func (g *Gossip) Run(ctx context.Context) error {
	for {
		peers := g.Peers()
		if g.opts.Key == nil && len(peers) > 0 {
			g.opts.Log.Warn("peer: this gate has no device key: its peers refuse its passages (enroll it)")
		}
		lctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, u := range peers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				g.keep(lctx, u)
			}()
		}
		select {
		case <-ctx.Done():
		case <-g.moved:
		}
		cancel()
		wg.Wait()
		if ctx.Err() != nil {
			return nil
		}
	}
}

// refusedError is a link the peer refused, in its error frame.
type refusedError struct{ url, why string }

func (e *refusedError) Error() string { return "peer: " + e.url + " refused this gate: " + e.why }

func (g *Gossip) keep(ctx context.Context, url string) {
	backoff := 50 * time.Millisecond
	var last string
	for {
		start := g.opts.Clock.Now()
		err := g.push(ctx, url)
		if ctx.Err() != nil {
			return
		}
		// What stops a link for good until someone acts (a refusal, an
		// old gate) is said once at Warn; a link that merely dropped, at
		// Debug.
		var refused *refusedError
		switch {
		case errors.As(err, &refused) && strings.HasPrefix(refused.why, RefusedNoVenueData):
			g.opts.Log.Debug("peer: the peer has no venue data yet", "peer", url) // it just started: it passes
		case (refused != nil || errors.Is(err, errNoChallenge)) && err.Error() != last:
			g.opts.Log.Warn("peer: link refused", "peer", url, "err", err)
		default:
			g.opts.Log.Debug("peer: link down", "peer", url, "err", err)
		}
		last = err.Error()
		if g.opts.Clock.Now().Sub(start) > 10*time.Second {
			backoff = 50 * time.Millisecond
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		select {
		case <-ctx.Done():
			return
		case <-g.opts.Clock.After(wait):
		}
		backoff = min(backoff*2, g.opts.MaxBackoff)
	}
}

// errNoChallenge: the peer did not open with a challenge in time.
var errNoChallenge = errors.New("peer: no challenge from the peer (a gate of gossip protocol 1? the venue's gates are upgraded together)")

// push runs one outgoing connection: challenge, hello, catch-up, then live
// marks.
func (g *Gossip) push(ctx context.Context, url string) error {
	// The connection closes when ctx ends or push returns, whatever it is
	// doing: a handshake a dead peer never answers (the dialer itself only
	// watches its timeout) or a write a peer stopped reading.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d := websocket.Dialer{HandshakeTimeout: g.opts.Timeout,
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err == nil {
				context.AfterFunc(cctx, func() { c.Close() })
			}
			return c, err
		}}
	ws, resp, err := d.DialContext(cctx, url, nil)
	if err != nil {
		return fmt.Errorf("peer: dial %s: %w", url, err)
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	defer ws.Close()
	ws.SetReadLimit(MaxHelloBytes)
	send := func(m *Message) error {
		ws.SetWriteDeadline(clock.Deadline(g.opts.Timeout))
		return ws.WriteJSON(m)
	}
	ws.SetReadDeadline(clock.Deadline(g.opts.Timeout))
	var ch Message
	if err := ws.ReadJSON(&ch); err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return fmt.Errorf("%w: %s", errNoChallenge, url)
		}
		return fmt.Errorf("peer: challenge from %s: %w", url, err)
	}
	ws.SetReadDeadline(time.Time{})
	switch {
	case ch.Type == "error":
		return &refusedError{url, ch.Error}
	case ch.Type != "challenge" || len(ch.Nonce) != 32:
		return fmt.Errorf("peer: %s opened with %q, not a challenge", url, ch.Type)
	case ch.Version < MinVersion || ch.Version > Version:
		return &refusedError{url, fmt.Sprintf("it speaks gossip protocol %d, this gate %d to %d", ch.Version, MinVersion, Version)}
	}
	// A peer of an older protocol gets it spoken (it takes no claims).
	hello := &Message{Type: "hello", Version: ch.Version, Device: g.opts.Device}
	if g.opts.Key != nil {
		hello.Signature = ed25519.Sign(g.opts.Key, HelloSigningBytes(ch.Nonce, ch.Device, g.opts.Device))
	}
	if err := send(hello); err != nil {
		return fmt.Errorf("peer: hello to %s: %w", url, err)
	}
	ws.SetReadDeadline(clock.Deadline(g.opts.Timeout))
	var ready Message
	if err := ws.ReadJSON(&ready); err != nil {
		return fmt.Errorf("peer: %s did not take the hello: %w", url, err)
	}
	ws.SetReadDeadline(time.Time{})
	switch ready.Type {
	case "ready":
	case "error":
		return &refusedError{url, ready.Error}
	default:
		return fmt.Errorf("peer: %s answered the hello with %q", url, ready.Type)
	}
	// What comes back on this link from now on: answers to claims, pings,
	// an error frame.
	ws.SetReadLimit(MaxAnswerBytes)
	o := &out{url: url, device: ch.Device, queue: make(chan Mark, g.opts.Queue), claims: make(chan *Message, claimQueue), lost: make(chan struct{})}
	// Register before the catch-up read so that no mark falls between them
	// (a mark in both is stored twice, harmlessly).
	g.mu.Lock()
	g.outs[o] = struct{}{}
	g.mu.Unlock()
	defer g.dropOut(o)
	// Notice a peer that went away (or refused the hello) even while we
	// have nothing to send: its pongs (and pings) keep the read deadline
	// alive.
	keep := wsping.Start(cctx, ws, g.opts.PingEvery, g.opts.PongWait)
	defer keep.Stop()
	closed := make(chan struct{})
	var refusal atomic.Pointer[string]
	go func() {
		defer close(closed)
		for {
			var m Message
			if err := ws.ReadJSON(&m); err != nil {
				return
			}
			keep.Alive()
			switch {
			case m.Type == "error":
				refusal.Store(&m.Error)
			case m.Type == "answer" && m.Answer != nil:
				g.answered(o, m.Answer)
			}
		}
	}()
	defer func() { ws.Close(); <-closed }()
	gone := func() error {
		if why := refusal.Load(); why != nil {
			return &refusedError{url, *why}
		}
		return errors.New("peer: closed by " + url)
	}
	var since time.Time
	for {
		ms, err := g.opts.Store.MarksOf(ctx, g.opts.Device, since, MaxMarksPerFrame)
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			break
		}
		batch := make([]Mark, len(ms))
		for i, m := range ms {
			batch[i] = toWire(m)
			if g.opts.Key != nil {
				batch[i].Sign(g.opts.Key)
			}
		}
		for _, chunk := range frames(batch) {
			if err := send(&Message{Type: "marks", Device: g.opts.Device, Marks: chunk}); err != nil {
				select {
				case <-closed:
					return gone()
				default:
				}
				return fmt.Errorf("peer: catch up %s: %w", url, err)
			}
		}
		since = ms[len(ms)-1].At
	}
	// Caught up: the peer knows every passage of this gate, it may rule on
	// this gate's claims.
	o.ready.Store(ch.Version >= 3)
	for {
		// Claims and releases first: a gate waits for their answers.
		select {
		case m := <-o.claims:
			if err := send(m); err != nil {
				return fmt.Errorf("peer: claim to %s: %w", url, err)
			}
			continue
		default:
		}
		select {
		case m := <-o.claims:
			if err := send(m); err != nil {
				return fmt.Errorf("peer: claim to %s: %w", url, err)
			}
		case <-ctx.Done():
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), clock.Deadline(time.Second))
			return ctx.Err()
		case <-closed:
			return gone()
		case <-o.lost:
			return errors.New("peer: queue to " + url + " overflowed; resyncing")
		case m := <-o.queue:
			batch := []Mark{m}
			for len(batch) < 100 {
				select {
				case m := <-o.queue:
					batch = append(batch, m)
					continue
				default:
				}
				break
			}
			for _, chunk := range frames(batch) {
				if err := send(&Message{Type: "marks", Device: g.opts.Device, Marks: chunk}); err != nil {
					return fmt.Errorf("peer: send to %s: %w", url, err)
				}
			}
		}
	}
}

// frames splits marks into frames a receiver takes: at most
// MaxMarksPerFrame each, and about half MaxFrameBytes of JSON at most
// (long gate names make long marks).
func frames(marks []Mark) [][]Mark {
	var out [][]Mark
	size, start := 0, 0
	for i, m := range marks {
		n := 256 + 2*(len(m.Event)+len(m.TicketID)+len(m.Device)+len(m.Gate)) // JSON escapes at most double
		if i > start && (i-start == MaxMarksPerFrame || size+n > MaxFrameBytes/2) {
			out = append(out, marks[start:i])
			start, size = i, 0
		}
		size += n
	}
	if start < len(marks) {
		out = append(out, marks[start:])
	}
	return out
}

// Inbound returns the number of peers currently pushing to this gate.
func (g *Gossip) Inbound() int {
	g.inMu.Lock()
	defer g.inMu.Unlock()
	return len(g.ins)
}

// CloseInbound closes the connections peers opened to this gate, refuses
// new ones, and returns once every Handler call has returned. An HTTP
// server's Shutdown does not do it: the connections are hijacked. The
// peers notice, redial, and catch up with whoever serves this gate next.
func (g *Gossip) CloseInbound() {
	g.inMu.Lock()
	g.inClosed = true
	for ws, in := range g.ins {
		ws.Close()
		in.cancel()
	}
	g.inMu.Unlock()
	g.inWG.Wait()
}
