// Package replicate is the fleet side of the agent stream: one WebSocket per
// gate. The fleet challenges the gate, checks the hello's signature against
// the device's enrolled key, then sends each event's replica from the
// gate's cursor — a snapshot when the cursor is compacted away, ahead of
// the log, diverged (running checksum) or new on a long log; else the
// changes since the cursor — then live changes as they are logged. It
// receives the gate's journaled scans (deduplicated by the store,
// acknowledged per message) and config acknowledgements.
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
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
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

// Wake handles a change notification: "e:<event>" wakes the connections
// serving event, "d:<device>" makes that device's connection re-read its
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

// tail caches the recent changes of one event, read from the store once and
// sent to every connection that is caught up.
type tail struct {
	mu        sync.Mutex // guards the fields below
	base      int64      // seq before changes[0]
	running   []uint64   // running checksum after each change
	changes   []wire.Change
	dirtyFlag atomic.Bool // the log may have grown since the last read
	inited    bool
	baseRun   uint64
	maxItems  int
	// frames holds batches already encoded, by (from, to): connections at
	// the same cursor share one encoding. Cleared when the tail moves.
	frames map[[2]int64]*websocket.PreparedMessage
	// live holds, by From, the encoded batches that end at the tail's end:
	// a caught-up connection woken by new changes finds its frame here
	// with one lookup, without building, sealing or encoding anything.
	// Cleared with frames.
	live map[int64]liveFrame
}

// liveFrame is an encoded batch ending at the tail's end.
type liveFrame struct {
	to int64
	pm *websocket.PreparedMessage
}

// liveFrom returns the encoded batch from seq to the tail's end, if one was
// encoded since the tail last grew. A frame returned while the log grows
// again is still a valid batch; the next step sends the rest.
func (t *tail) liveFrom(from int64) (*websocket.PreparedMessage, int64) {
	if t.dirtyFlag.Load() {
		return nil, 0 // the slow path reads the new changes first
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.live[from]
	if !ok {
		return nil, 0
	}
	return f.pm, f.to
}

func (h *Hub) tailOf(event string) *tail {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.tails[event]
	if t == nil {
		t = &tail{maxItems: 4 * h.opts.BatchSize}
		t.dirtyFlag.Store(true)
		h.tails[event] = t
	}
	return t
}

// markDirty notes that the log may have grown. It never waits for a
// reader holding t.mu (Wake holds the hub's lock): the flag is atomic.
func (t *tail) markDirty() { t.dirtyFlag.Store(true) }

// changesAfter returns up to limit changes after seq: from the tail when it
// covers seq, else from the store.
func (h *Hub) changesAfter(ctx context.Context, t *tail, event string, after int64, limit int) (fleet.ChangePage, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.inited {
		st, err := h.opts.Store.LogState(ctx, event)
		if err != nil {
			return fleet.ChangePage{}, err
		}
		t.base, t.baseRun, t.inited = st.Last, st.Running, true
	}
	if after < t.base {
		return h.opts.Store.Changes(ctx, event, after, limit)
	}
	if t.dirtyFlag.Swap(false) { // cleared before reading: growth during the read marks it again
		for {
			end, endRun := t.base+int64(len(t.changes)), t.baseRun
			if n := len(t.running); n > 0 {
				endRun = t.running[n-1]
			}
			page, err := h.opts.Store.Changes(ctx, event, end, h.opts.BatchSize)
			if err != nil {
				t.dirtyFlag.Store(true)
				return fleet.ChangePage{}, err
			}
			run := endRun
			var scratch []byte
			for i := range page.Changes {
				run, scratch = page.Changes[i].Running(run, scratch)
				t.running = append(t.running, run)
			}
			t.changes = append(t.changes, page.Changes...)
			if len(page.Changes) < h.opts.BatchSize {
				break
			}
		}
		t.frames, t.live = nil, nil
		if drop := len(t.changes) - t.maxItems; drop > 0 {
			t.baseRun = t.running[drop-1]
			t.base += int64(drop)
			t.changes = append([]wire.Change(nil), t.changes[drop:]...)
			t.running = append([]uint64(nil), t.running[drop:]...)
		}
		if after < t.base {
			return h.opts.Store.Changes(ctx, event, after, limit)
		}
	}
	i := int(after - t.base)
	if i >= len(t.changes) {
		return fleet.ChangePage{}, nil
	}
	j := min(len(t.changes), i+limit)
	return fleet.ChangePage{Changes: t.changes[i:j], Running: t.running[j-1]}, nil
}

// batchFrame returns the encoded batch of event from..to, encoding it once
// for every connection that needs the same batch.
func (h *Hub) batchFrame(t *tail, b *wire.Batch) (*websocket.PreparedMessage, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := [2]int64{b.From, b.To}
	if pm := t.frames[key]; pm != nil {
		return pm, nil
	}
	// A binary frame (protocol 4): gates decode it for a fraction of JSON's cost.
	pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, wire.MarshalBatch(b))
	if err != nil {
		return nil, err
	}
	if t.frames == nil {
		t.frames = map[[2]int64]*websocket.PreparedMessage{}
	}
	if len(t.frames) < 64 {
		t.frames[key] = pm
	}
	if b.To == t.base+int64(len(t.changes)) && !t.dirtyFlag.Load() {
		if t.live == nil {
			t.live = map[int64]liveFrame{}
		}
		t.live[b.From] = liveFrame{to: b.To, pm: pm}
	}
	return pm, nil
}

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

// stream is where one event's replication stands on this connection.
type stream struct {
	event    string
	tail     *tail // the event's tail, once looked up
	seq      int64
	snapshot bool // sending a snapshot
	snapSeq  int64
	snapRun  uint64
	after    string
}

// plan decides how to bring the agent's replica of an event up to date.
func (c *conn) plan(ctx context.Context, ev string, cur wire.Cursor) (*stream, error) {
	st, err := c.hub.opts.Store.LogState(ctx, ev)
	if err != nil {
		return nil, err
	}
	s := &stream{event: ev, seq: cur.Seq}
	fresh := func(why string) (*stream, error) {
		c.log.Info("snapshot", "event", ev, "why", why, "at", st.Last)
		return &stream{event: ev, snapshot: true, snapSeq: st.Last, snapRun: st.Running}, nil
	}
	if p := cur.Snapshot; p != nil {
		if p.Seq == 0 || p.Seq < st.Compacted || p.Seq > st.Last {
			return fresh("agent asked for one, or its snapshot is too old to resume")
		}
		run, err := c.hub.opts.Store.RunningAt(ctx, ev, p.Seq)
		if errors.Is(err, fleet.ErrCompacted) || errors.Is(err, fleet.ErrNotFound) {
			return fresh("snapshot position gone")
		}
		if err != nil {
			return nil, err
		}
		c.log.Info("snapshot resumed", "event", ev, "at", p.Seq, "after", p.After)
		return &stream{event: ev, snapshot: true, snapSeq: p.Seq, snapRun: run, after: p.After}, nil
	}
	switch {
	case cur.Seq > st.Last:
		return fresh("cursor ahead of the log")
	case cur.Seq < st.Compacted:
		return fresh("cursor behind the compaction point")
	case cur.Seq == 0 && st.Last > c.hub.opts.SnapshotMin:
		return fresh("new replica of a long log")
	}
	run, err := c.hub.opts.Store.RunningAt(ctx, ev, cur.Seq)
	if errors.Is(err, fleet.ErrCompacted) {
		return fresh("cursor compacted")
	}
	if err != nil {
		return nil, err
	}
	if run != cur.Running {
		return fresh("running checksum differs")
	}
	return s, nil
}

// push sends the replica of every event, then config, then waits for the
// logs to grow or the device to change.
func (c *conn) push(ctx context.Context, h *wire.Hello) error {
	var streams []*stream
	for _, ev := range c.events {
		s, err := c.plan(ctx, ev, h.Cursors[ev])
		if err != nil {
			return err
		}
		streams = append(streams, s)
	}
	configSent := h.ConfigVersion
	if err := c.pushConfig(ctx, &configSent); err != nil {
		return err
	}
	for {
		sent := false
		for _, s := range streams {
			n, err := c.step(ctx, s)
			if err != nil {
				return err
			}
			sent = sent || n
		}
		if sent {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case bits := <-c.kicks:
			if bits&kickDevice != 0 {
				if err := c.recheckDevice(ctx, &configSent); err != nil {
					return err
				}
			}
		}
	}
}

// step sends one snapshot chunk or one batch of s; it reports whether it
// sent anything.
func (c *conn) step(ctx context.Context, s *stream) (bool, error) {
	opts := &c.hub.opts
	if s.snapshot {
		var page fleet.SnapshotPage
		for limit := opts.SnapshotChunk; ; limit = max(1, limit/2) {
			var err error
			if page, err = opts.Store.Snapshot(ctx, s.event, s.after, limit); err != nil {
				return false, err
			}
			// A chunk carries as many used marks as tickets at most: fewer
			// tickets when the venue has many marks per ticket.
			if len(page.Used) <= wire.MaxSnapshotRows || limit == 1 {
				break
			}
		}
		m := &wire.Snapshot{Event: s.event, Seq: s.snapSeq, Running: s.snapRun, After: s.after, Last: page.Last,
			Keys: page.Keys, Tickets: page.Tickets, Used: page.Used, Done: page.Done}
		m.Seal()
		if err := c.sendBinary(wire.MarshalSnapshot(m)); err != nil { // protocol 4: a binary frame
			return false, fmt.Errorf("send snapshot: %w", err)
		}
		s.after = page.Last
		if page.Done {
			s.snapshot, s.seq = false, s.snapSeq
		}
		return true, nil
	}
	if s.tail == nil {
		s.tail = c.hub.tailOf(s.event)
	}
	if pm, to := s.tail.liveFrom(s.seq); pm != nil {
		if err := c.writeFrame(pm); err != nil {
			return false, fmt.Errorf("send batch: %w", err)
		}
		s.seq = to
		return true, nil
	}
	page, err := c.hub.changesAfter(ctx, s.tail, s.event, s.seq, opts.BatchSize)
	if errors.Is(err, fleet.ErrCompacted) {
		st, err := opts.Store.LogState(ctx, s.event)
		if err != nil {
			return false, err
		}
		*s = stream{event: s.event, tail: s.tail, snapshot: true, snapSeq: st.Last, snapRun: st.Running}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if len(page.Changes) == 0 {
		return false, nil
	}
	to := page.Changes[len(page.Changes)-1].Seq
	b := &wire.Batch{Event: s.event, From: s.seq, To: to, Changes: page.Changes, Running: page.Running}
	b.Seal()
	pm, err := c.hub.batchFrame(s.tail, b)
	if err != nil {
		return false, err
	}
	if err := c.writeFrame(pm); err != nil {
		return false, fmt.Errorf("send batch: %w", err)
	}
	s.seq = to
	return true, nil
}

// writeFrame writes an encoded frame.
func (c *conn) writeFrame(pm *websocket.PreparedMessage) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.ws.SetWriteDeadline(clock.Deadline(c.hub.opts.Timeout))
	return c.ws.WritePreparedMessage(pm)
}

// recheckDevice re-reads the device: revoked → told and dropped; a newer
// desired config → pushed.
func (c *conn) recheckDevice(ctx context.Context, configSent *int64) error {
	if c.dev.ID != "" || !c.hub.opts.AllowUnenrolled {
		d, err := c.hub.opts.Store.Device(ctx, c.device)
		if err != nil && !errors.Is(err, fleet.ErrNotFound) {
			return err
		}
		if errors.Is(err, fleet.ErrNotFound) || d.Revoked() {
			_ = c.send(&wire.Message{Type: wire.TypeRevoked, Revoked: &wire.Revoked{Reason: "device revoked"}})
			return &closeErr{"revoked", fmt.Errorf("device %q revoked while connected", c.device)}
		}
		c.dev = d
	}
	return c.pushConfig(ctx, configSent)
}

func (c *conn) pushConfig(ctx context.Context, sent *int64) error {
	d := c.dev
	if d.ID == "" {
		d = fleet.Device{ID: c.device}
	}
	want, err := fleet.DesiredFor(ctx, c.hub.opts.Store, d)
	if err != nil {
		return err
	}
	if want.Version == 0 || want.Version == *sent {
		return nil
	}
	if err := c.send(&wire.Message{Type: wire.TypeConfig, Config: &wire.Config{Version: want.Version, Body: want.Body}}); err != nil {
		return fmt.Errorf("send config: %w", err)
	}
	*sent = want.Version
	return nil
}

// bucket is a token bucket.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucket) take(now time.Time, n float64) bool {
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// receive handles what the agent sends after its hello.
func (c *conn) receive(ctx context.Context) error {
	opts := &c.hub.opts
	msgs := bucket{rate: opts.MessageRate, burst: opts.MessageBurst}
	scans := bucket{rate: opts.ScanRate, burst: opts.ScanBurst}
	for {
		m, err := c.read()
		if err != nil {
			return err
		}
		now := opts.Clock.Now()
		if !msgs.take(now, 1) {
			return c.fail("rate_limited", fmt.Errorf("more than %.0f messages/s", opts.MessageRate))
		}
		switch m.Type {
		case wire.TypeAck:
			c.log.Debug("agent applied", "event", m.Ack.Event, "cursor", m.Ack.Cursor)
		case wire.TypeScans:
			list := m.Scans.Scans
			if len(list) == 0 {
				continue
			}
			if !scans.take(now, float64(len(list))) {
				return c.fail("rate_limited", fmt.Errorf("more than %.0f scans/s", opts.ScanRate))
			}
			grown, err := opts.Store.RecordScans(ctx, c.device, list, now)
			if err != nil {
				return fmt.Errorf("record scans: %w", err)
			}
			if err := c.send(&wire.Message{Type: wire.TypeScanAck, ScanAck: &wire.ScanAck{UpTo: list[len(list)-1].Seq}}); err != nil {
				return fmt.Errorf("send scan ack: %w", err)
			}
			for _, ev := range grown {
				c.hub.Notify(ev)
			}
		case wire.TypeConfigAck:
			if err := opts.Store.ReportDevice(ctx, c.device, "", m.ConfigAck.Version, m.ConfigAck.Error, now); err != nil {
				return err
			}
		case wire.TypeError:
			return fmt.Errorf("agent error %s: %s", m.Error.Code, m.Error.Message)
		default:
			return c.fail("bad_message", fmt.Errorf("unexpected %q from agent", m.Type))
		}
	}
}
