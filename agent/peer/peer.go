// Package peer is gossip of passages between the gates of one venue,
// directly over the LAN, so that a ticket admitted at gate A is refused at
// gate B even while both have lost the fleet.
//
// Each gate serves Handler (a WebSocket endpoint, /peer on the agent's
// status listener) and dials every peer in its config. On a connection it
// dialed, a gate pushes: first every passage it recorded itself (catch-up
// after a restart or a partition), then each new passage as soon as it is
// journaled. On a connection it accepted, it only receives. So each
// direction of a pair has exactly one writer; marks are idempotent
// (gatedb.DB.AddPeerMark), so a replay is harmless.
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
// (gatedb.DB.AddPeerMark says why that needs no fsync first).
//
// Frames are JSON Messages. The LAN is assumed to be the venue's gate
// network; peers do not authenticate each other yet.
//
// Both ends ping (internal/wsping): a peer that died without closing —
// power cut, cable pulled — is noticed within PongWait on either side,
// and the dialing side redials.
package peer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent/gatedb"
	"admit/clock"
	"admit/internal/wsping"
	"admit/ticket/entry"
)

// Version is the gossip protocol version carried in every hello.
//
//   - 1 (2026-11-27): hello, marks; JSON frames.
const Version = 1

// MaxFrameBytes bounds one frame.
const MaxFrameBytes = 1 << 20

// Message is one frame.
type Message struct {
	Type    string `json:"type"` // "hello" or "marks"
	Version int    `json:"version,omitempty"`
	Device  string `json:"device,omitempty"` // the sender
	Marks   []Mark `json:"marks,omitempty"`
}

// Mark is a passage (entry.Passage) of a ticket on the gossip wire, its
// direction the text of entry.In or entry.Out.
type Mark struct {
	Event     string    `json:"event"`
	TicketID  string    `json:"ticket_id"`
	Device    string    `json:"device"`
	Gate      string    `json:"gate"`
	At        time.Time `json:"at"`
	Direction string    `json:"direction"`
	Annulled  bool      `json:"annulled,omitempty"`
}

func toWire(m gatedb.Mark) Mark {
	return Mark{Event: m.Event, TicketID: m.TicketID, Device: m.Device, Gate: m.Gate, At: m.At, Direction: string(m.Direction), Annulled: m.Annulled}
}

func (m Mark) db() gatedb.Mark {
	return gatedb.Mark{Event: m.Event, TicketID: m.TicketID, Passage: entry.Passage{Device: m.Device, Gate: m.Gate, At: m.At,
		Direction: entry.Direction(m.Direction), Annulled: m.Annulled}}
}

func (m Mark) validate() error {
	if d := entry.Direction(m.Direction); m.Event == "" || m.TicketID == "" || m.Device == "" || m.At.IsZero() || (d != entry.In && d != entry.Out) {
		return fmt.Errorf("peer: bad mark %+v", m)
	}
	return nil
}

// Store is what gossip needs of the gate database.
type Store interface {
	// AddPeerMark makes a peer's passage count for the gate's decisions
	// at once; it must not wait for a disk (gatedb.DB persists them in the
	// background: a lost one is sent again by the peer's catch-up).
	AddPeerMark(m gatedb.Mark) error
	// MarksOf returns this gate's own passages, for the catch-up.
	MarksOf(ctx context.Context, device string, since time.Time, limit int) ([]gatedb.Mark, error)
}

// Options configures Gossip.
type Options struct {
	Device string   // this gate
	Peers  []string // ws://host:port/peer of the other gates
	Store  Store
	Log    *slog.Logger
	// OnMark is called after a peer's mark was added to the store.
	OnMark func(gatedb.Mark)
	// Clock times the backoff between redials; default clock.Real{}.
	Clock      clock.Clock
	MaxBackoff time.Duration // between redials; default 2 s
	Timeout    time.Duration // dial and write; default 2 s
	Queue      int           // marks buffered per peer before a resync; default 1024
	// PingEvery is how often each end pings (default 5 s); a peer silent
	// for PongWait (default 3 × PingEvery) is dropped.
	PingEvery, PongWait time.Duration
}

// Gossip runs the peer connections of one gate.
type Gossip struct {
	opts     Options
	upgrader websocket.Upgrader
	received atomic.Int64

	mu   sync.Mutex // guards outs
	outs map[*out]struct{}

	inMu     sync.Mutex // guards ins and inClosed
	ins      map[*websocket.Conn]struct{}
	inClosed bool           // CloseInbound ran: accept no more
	inWG     sync.WaitGroup // Handler calls under way
}

// out is one connection this gate dialed.
type out struct {
	url   string
	queue chan Mark
	lost  chan struct{} // closed when a mark could not be queued: resync
	once  sync.Once
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
	if opts.PingEvery <= 0 {
		opts.PingEvery = 5 * time.Second
	}
	if opts.PongWait <= 0 {
		opts.PongWait = 3 * opts.PingEvery
	}
	return &Gossip{opts: opts, outs: map[*out]struct{}{}, ins: map[*websocket.Conn]struct{}{}}
}

// Publish sends a passage of this gate to every connected peer. It never
// blocks: a peer whose queue is full is resynchronised from the database.
func (g *Gossip) Publish(m gatedb.Mark) {
	wm := toWire(m)
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

// Connected returns the number of peers this gate is pushing to.
func (g *Gossip) Connected() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.outs)
}

// Received returns how many marks peers sent.
func (g *Gossip) Received() int64 { return g.received.Load() }

// Run dials every peer and keeps pushing until ctx ends.
func (g *Gossip) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	for _, u := range g.opts.Peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.keep(ctx, u)
		}()
	}
	wg.Wait()
	return nil
}

func (g *Gossip) keep(ctx context.Context, url string) {
	backoff := 50 * time.Millisecond
	for {
		start := g.opts.Clock.Now()
		err := g.push(ctx, url)
		if ctx.Err() != nil {
			return
		}
		g.opts.Log.Debug("peer: link down", "peer", url, "err", err)
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

// push runs one outgoing connection: hello, catch-up, then live marks.
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
	send := func(m *Message) error {
		ws.SetWriteDeadline(clock.Deadline(g.opts.Timeout))
		return ws.WriteJSON(m)
	}
	o := &out{url: url, queue: make(chan Mark, g.opts.Queue), lost: make(chan struct{})}
	// Register before the catch-up read so that no mark falls between them
	// (a mark in both is stored twice, harmlessly).
	g.mu.Lock()
	g.outs[o] = struct{}{}
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		delete(g.outs, o)
		g.mu.Unlock()
	}()
	if err := send(&Message{Type: "hello", Version: Version, Device: g.opts.Device}); err != nil {
		return fmt.Errorf("peer: hello to %s: %w", url, err)
	}
	var since time.Time
	for {
		ms, err := g.opts.Store.MarksOf(ctx, g.opts.Device, since, 500)
		if err != nil {
			return err
		}
		if len(ms) == 0 {
			break
		}
		batch := make([]Mark, len(ms))
		for i, m := range ms {
			batch[i] = toWire(m)
		}
		if err := send(&Message{Type: "marks", Device: g.opts.Device, Marks: batch}); err != nil {
			return fmt.Errorf("peer: catch up %s: %w", url, err)
		}
		since = ms[len(ms)-1].At
	}
	// Notice a peer that went away even while we have nothing to send:
	// its pongs (and pings) keep the read deadline alive.
	keep := wsping.Start(cctx, ws, g.opts.PingEvery, g.opts.PongWait)
	defer keep.Stop()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
			keep.Alive()
		}
	}()
	defer func() { ws.Close(); <-closed }()
	for {
		select {
		case <-ctx.Done():
			_ = ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""), clock.Deadline(time.Second))
			return ctx.Err()
		case <-closed:
			return errors.New("peer: closed by " + url)
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
			if err := send(&Message{Type: "marks", Device: g.opts.Device, Marks: batch}); err != nil {
				return fmt.Errorf("peer: send to %s: %w", url, err)
			}
		}
	}
}

// Handler accepts peers' connections and stores the marks they push.
func (g *Gossip) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.inMu.Lock()
		if g.inClosed {
			g.inMu.Unlock()
			http.Error(w, "peer: gate stopping", http.StatusServiceUnavailable)
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
		g.inMu.Lock()
		if g.inClosed {
			g.inMu.Unlock()
			return
		}
		g.ins[ws] = struct{}{}
		g.inMu.Unlock()
		defer func() {
			g.inMu.Lock()
			delete(g.ins, ws)
			g.inMu.Unlock()
		}()
		ws.SetReadLimit(MaxFrameBytes)
		if err := g.receive(r.Context(), ws); err != nil && !websocket.IsCloseError(err, websocket.CloseGoingAway, websocket.CloseNormalClosure) {
			g.opts.Log.Debug("peer: inbound closed", "remote", r.RemoteAddr, "err", err)
		}
	})
}

func (g *Gossip) receive(ctx context.Context, ws *websocket.Conn) error {
	ws.SetReadDeadline(clock.Deadline(10 * g.opts.Timeout))
	var hello Message
	if err := ws.ReadJSON(&hello); err != nil {
		return fmt.Errorf("peer: hello: %w", err)
	}
	if hello.Type != "hello" || hello.Version != Version || hello.Device == "" {
		return fmt.Errorf("peer: bad hello %+v", hello)
	}
	keep := wsping.Start(ctx, ws, g.opts.PingEvery, g.opts.PongWait)
	defer keep.Stop()
	for {
		var m Message
		if err := ws.ReadJSON(&m); err != nil {
			return err
		}
		keep.Alive()
		if m.Type != "marks" {
			return fmt.Errorf("peer: unexpected %q from %s", m.Type, hello.Device)
		}
		for _, wm := range m.Marks {
			// A peer speaks for itself only.
			if err := wm.validate(); err != nil {
				return err
			}
			if wm.Device != hello.Device {
				return fmt.Errorf("peer: %s sent a mark of %s", hello.Device, wm.Device)
			}
			mk := wm.db()
			if err := g.opts.Store.AddPeerMark(mk); err != nil {
				return err
			}
			g.received.Add(1)
			if g.opts.OnMark != nil {
				g.opts.OnMark(mk)
			}
		}
	}
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
	for ws := range g.ins {
		ws.Close()
	}
	g.inMu.Unlock()
	g.inWG.Wait()
}
