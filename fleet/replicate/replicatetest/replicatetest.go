// Package replicatetest is a minimal agent for the fleet's tests of the
// replication stream (/ws). It speaks fleet/wire and nothing else: it
// answers the challenge with a device key, keeps its replica in memory and
// checks every batch and snapshot chunk with the wire's checksums, so the
// fleet's tests exercise the contract both sides import, not the gate's
// implementation of it (agent/gatedb, agent/uplink). A frame that breaks
// the contract — a checksum that does not match, a batch that leaves a gap,
// a running checksum that disagrees with the changes, a snapshot chunk out
// of order — fails the test.
//
// Like the gate, it applies what the fleet sends and answers nothing on
// its own: acknowledgements, scans and config reports are the test's to
// send. It speaks protocol 5 unless told otherwise (Options.Protocol):
// then every batch, snapshot chunk, config, revocation and scan
// acknowledgement must be signed for its session (wire.Trust), or the
// test fails.
package replicatetest

import (
	"cmp"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/clock"
	"admit/fleet/wire"
)

// readTimeout bounds the wait for one frame: far beyond any healthy run,
// so only a fleet that stopped talking fails a test on it.
const readTimeout = 20 * time.Second

// Replica is what an agent holds of the events it serves: per event, the
// cursor and the replicated rows. It outlives a connection, as a gate's
// database does, so a test can reconnect and resume.
type Replica struct {
	events map[string]*eventReplica
	// ConfigVersion and ConfigBody are the config last applied
	// (Agent.ApplyConfig); the hello reports the version.
	ConfigVersion int64
	ConfigBody    json.RawMessage
}

// NewReplica returns an empty replica of events (cursor 0: nothing yet).
func NewReplica(events ...string) *Replica {
	r := &Replica{events: map[string]*eventReplica{}}
	for _, ev := range events {
		r.events[ev] = &eventReplica{rows: newRows()}
	}
	return r
}

// eventReplica is one event's replica.
type eventReplica struct {
	cursor wire.Cursor // Snapshot set while a snapshot is being received
	rows   *rows
	// next is the snapshot being received, to replace rows when done;
	// nextRunning the running checksum it was taken at.
	next        *rows
	nextRunning uint64
}

// passage identifies a used mark, as an annulment names it.
type passage struct {
	ticket, device string
	at             int64 // Unix milliseconds, the wire's precision
}

func passageOf(ticketID, device string, at time.Time) passage {
	return passage{ticketID, device, at.UnixMilli()}
}

// rows are an event's replicated rows (or a venue scope's: venue).
type rows struct {
	keys     map[string]wire.Key
	tickets  map[string]wire.SnapTicket
	used     map[passage]wire.Used
	annulled map[passage]bool // an annulment may come before its passage
	venue    map[string]wire.VenueRow
}

func newRows() *rows {
	return &rows{keys: map[string]wire.Key{}, tickets: map[string]wire.SnapTicket{}, used: map[passage]wire.Used{}, annulled: map[passage]bool{},
		venue: map[string]wire.VenueRow{}}
}

func (r *Replica) event(ev string) (*eventReplica, error) {
	e := r.events[ev]
	if e == nil {
		return nil, fmt.Errorf("replicatetest: event %q is not served by this replica", ev)
	}
	return e, nil
}

// cursors is what the hello reports.
func (r *Replica) cursors() map[string]wire.Cursor {
	out := make(map[string]wire.Cursor, len(r.events))
	for ev, e := range r.events {
		c := e.cursor
		if c.Snapshot != nil {
			p := *c.Snapshot
			c.Snapshot = &p
		}
		out[ev] = c
	}
	return out
}

// Cursor returns where the replica of ev stands (the zero Cursor for an
// event it does not serve).
func (r *Replica) Cursor(ev string) wire.Cursor {
	if e := r.events[ev]; e != nil {
		return r.cursors()[ev]
	}
	return wire.Cursor{}
}

// Ticket returns the allowlist row of ticket id of ev (Revoked set once a
// revocation arrived).
func (r *Replica) Ticket(ev, id string) (wire.SnapTicket, bool) {
	e := r.events[ev]
	if e == nil {
		return wire.SnapTicket{}, false
	}
	t, ok := e.rows.tickets[id]
	return t, ok
}

// Tickets returns how many allowlist rows the replica of ev holds.
func (r *Replica) Tickets(ev string) int {
	if e := r.events[ev]; e != nil {
		return len(e.rows.tickets)
	}
	return 0
}

// Keys returns the signing keys of ev in the replica, by id.
func (r *Replica) Keys(ev string) []wire.Key {
	e := r.events[ev]
	if e == nil {
		return nil
	}
	out := make([]wire.Key, 0, len(e.rows.keys))
	for _, k := range e.rows.keys {
		out = append(out, k)
	}
	slices.SortFunc(out, func(a, b wire.Key) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// Venue returns the rows of a venue scope (wire.VenueScope) the replica
// holds, by key.
func (r *Replica) Venue(scope string) map[string]wire.VenueRow {
	e := r.events[scope]
	if e == nil {
		return nil
	}
	out := make(map[string]wire.VenueRow, len(e.rows.venue))
	for k, v := range e.rows.venue {
		out[k] = v
	}
	return out
}

// Marks returns the passages of ticket id of ev the replica knows, oldest
// first, with Annulled set on those an annulment took back.
func (r *Replica) Marks(ev, id string) []wire.Used {
	e := r.events[ev]
	if e == nil {
		return nil
	}
	var out []wire.Used
	for p, u := range e.rows.used {
		if p.ticket == id {
			u.Annulled = e.rows.annulled[p]
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b wire.Used) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Device, b.Device))
	})
	return out
}

// applyBatch applies b, or changes nothing and says why it breaks the
// contract.
func (r *Replica) applyBatch(b *wire.Batch) error {
	e, err := r.event(b.Event)
	if err != nil {
		return err
	}
	if sum := wire.BatchChecksum(b); sum != b.Checksum {
		return fmt.Errorf("replicatetest: batch %s %d..%d: checksum %x, the batch sums to %x", b.Event, b.From, b.To, b.Checksum, sum)
	}
	if e.cursor.Snapshot != nil {
		return fmt.Errorf("replicatetest: batch %s %d..%d while a snapshot at %d is unfinished", b.Event, b.From, b.To, e.cursor.Snapshot.Seq)
	}
	if b.From != e.cursor.Seq {
		return fmt.Errorf("replicatetest: batch %s from %d, the replica is at %d", b.Event, b.From, e.cursor.Seq)
	}
	for i, c := range b.Changes {
		if want := b.From + int64(i) + 1; c.Seq != want {
			return fmt.Errorf("replicatetest: batch %s %d..%d: change %d has seq %d, want %d", b.Event, b.From, b.To, i, c.Seq, want)
		}
	}
	if n := int64(len(b.Changes)); n == 0 || b.From+n != b.To {
		return fmt.Errorf("replicatetest: batch %s %d..%d holds %d changes", b.Event, b.From, b.To, n)
	}
	if run := wire.RunningChecksum(e.cursor.Running, b.Changes); run != b.Running {
		return fmt.Errorf("replicatetest: batch %s %d..%d: running checksum %x, the replica's would be %x", b.Event, b.From, b.To, b.Running, run)
	}
	for _, c := range b.Changes {
		if err := e.rows.apply(c); err != nil {
			return fmt.Errorf("replicatetest: batch %s: %w", b.Event, err)
		}
	}
	e.cursor = wire.Cursor{Seq: b.To, Running: b.Running}
	return nil
}

// apply applies one change. Batches were validated by wire.Decode, so the
// body its kind names is there.
func (rs *rows) apply(c wire.Change) error {
	switch c.Kind {
	case wire.KindKey:
		rs.keys[c.Key.ID] = *c.Key
	case wire.KindTicket:
		t := c.Ticket
		rs.tickets[t.ID] = wire.SnapTicket{ID: t.ID, Type: t.Type, Holder: t.Holder, CodeSecret: t.CodeSecret}
	case wire.KindRevoke:
		t, ok := rs.tickets[c.Revoke.TicketID]
		if !ok {
			return fmt.Errorf("change %d revokes ticket %q, which the replica does not hold", c.Seq, c.Revoke.TicketID)
		}
		t.Revoked = true
		rs.tickets[t.ID] = t
	case wire.KindUsed:
		u := *c.Used
		rs.used[passageOf(u.TicketID, u.Device, u.At)] = u
	case wire.KindAnnul:
		rs.annulled[passageOf(c.Annul.TicketID, c.Annul.Device, c.Annul.At)] = true
	case wire.KindVenue:
		if c.Venue.Deleted {
			delete(rs.venue, c.Venue.Key())
		} else {
			rs.venue[c.Venue.Key()] = *c.Venue
		}
	default:
		return fmt.Errorf("change %d of unknown kind %q", c.Seq, c.Kind)
	}
	return nil
}

// applySnapshot applies one snapshot chunk, or changes nothing and says
// why it breaks the contract.
func (r *Replica) applySnapshot(s *wire.Snapshot) error {
	e, err := r.event(s.Event)
	if err != nil {
		return err
	}
	if sum := wire.SnapshotChecksum(s); sum != s.Checksum {
		return fmt.Errorf("replicatetest: snapshot %s at %d after %q: checksum %x, the chunk sums to %x", s.Event, s.Seq, s.After, s.Checksum, sum)
	}
	next, nextRunning := e.next, e.nextRunning
	if s.After == "" {
		next, nextRunning = newRows(), s.Running // a new snapshot, whatever was in progress
	} else {
		p := e.cursor.Snapshot
		if p == nil || p.Seq != s.Seq || p.After != s.After {
			return fmt.Errorf("replicatetest: snapshot chunk %s at %d after %q, the replica expects %+v", s.Event, s.Seq, s.After, p)
		}
		if s.Running != nextRunning {
			return fmt.Errorf("replicatetest: snapshot chunk %s at %d after %q: running checksum %x, the snapshot's first chunk said %x", s.Event, s.Seq, s.After, s.Running, nextRunning)
		}
		if len(s.Keys) > 0 {
			return fmt.Errorf("replicatetest: snapshot chunk %s after %q carries keys (only the first chunk does)", s.Event, s.After)
		}
	}
	prev := s.After
	for _, t := range s.Tickets {
		if t.ID <= prev || t.ID > s.Last {
			return fmt.Errorf("replicatetest: snapshot chunk %s after %q up to %q: ticket %q out of order", s.Event, s.After, s.Last, t.ID)
		}
		prev = t.ID
	}
	for _, u := range s.Used {
		if u.TicketID <= s.After || u.TicketID > s.Last {
			return fmt.Errorf("replicatetest: snapshot chunk %s after %q up to %q: a used mark of ticket %q", s.Event, s.After, s.Last, u.TicketID)
		}
	}
	prev = s.After
	for _, v := range s.Venue {
		if k := v.Key(); k <= prev || k > s.Last {
			return fmt.Errorf("replicatetest: snapshot chunk %s after %q up to %q: venue row %q out of order", s.Event, s.After, s.Last, k)
		}
		prev = v.Key()
		next.venue[v.Key()] = v
	}
	for _, k := range s.Keys {
		next.keys[k.ID] = k
	}
	for _, t := range s.Tickets {
		next.tickets[t.ID] = t
	}
	for _, u := range s.Used {
		p := passageOf(u.TicketID, u.Device, u.At)
		if u.Annulled {
			next.annulled[p] = true
			u.Annulled = false
		}
		next.used[p] = u
	}
	if s.Done {
		e.rows, e.next = next, nil
		e.cursor = wire.Cursor{Seq: s.Seq, Running: s.Running}
		return nil
	}
	e.next, e.nextRunning = next, nextRunning
	e.cursor.Snapshot = &wire.SnapshotProgress{Seq: s.Seq, After: s.Last}
	return nil
}

// Agent is one connection of a device to the fleet.
type Agent struct {
	t       testing.TB
	WS      *websocket.Conn
	Device  string
	Replica *Replica
	// Challenge is what the fleet opened the session with.
	Challenge *wire.Challenge
	// Trust is what the fleet's frames are checked against (protocol 5);
	// nil on protocol 4.
	Trust *wire.Trust
}

// Options tunes Dial.
type Options struct {
	// Dialer dials the fleet; nil: websocket.DefaultDialer (a wss:// URL
	// with a pinned CA needs its own).
	Dialer *websocket.Dialer
	// Protocol is the hello's; default wire.ProtocolVersion.
	Protocol int
	// ReplicaKey is the fleet's replica key, as a gate holds it from
	// enrollment; nil takes the one the challenge names (protocol 5).
	ReplicaKey ed25519.PublicKey
}

// Connect dials the fleet's agent endpoint url (ws://…/ws), reads its
// challenge and answers with a hello for device that carries r's cursors,
// signed with key (nil: unsigned). The connection closes when the test
// ends.
func Connect(t testing.TB, url, device string, key ed25519.PrivateKey, r *Replica) *Agent {
	t.Helper()
	return Dial(t, url, device, key, r, Options{})
}

// ConnectWith is Connect through dialer (a wss:// URL with a pinned CA,
// say).
func ConnectWith(t testing.TB, dialer *websocket.Dialer, url, device string, key ed25519.PrivateKey, r *Replica) *Agent {
	t.Helper()
	return Dial(t, url, device, key, r, Options{Dialer: dialer})
}

// Dial is Connect with options.
func Dial(t testing.TB, url, device string, key ed25519.PrivateKey, r *Replica, opts Options) *Agent {
	t.Helper()
	if opts.Dialer == nil {
		opts.Dialer = websocket.DefaultDialer
	}
	if opts.Protocol == 0 {
		opts.Protocol = wire.ProtocolVersion
	}
	ws, resp, err := opts.Dialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("replicatetest: dial %s: %v", url, err)
	}
	if resp != nil && resp.Body != nil {
		resp.Body.Close()
	}
	t.Cleanup(func() { ws.Close() })
	a := &Agent{t: t, WS: ws, Device: device, Replica: r}
	m, err := a.read()
	if err != nil || m.Type != wire.TypeChallenge {
		t.Fatalf("replicatetest: the fleet opened with %+v (%v), not a challenge", m, err)
	}
	a.Challenge = m.Challenge
	h := &wire.Hello{Protocol: opts.Protocol, Device: device, ConfigVersion: r.ConfigVersion, Cursors: r.cursors()}
	if opts.Protocol >= 5 {
		h.Nonce = make([]byte, 32)
		rand.Read(h.Nonce)
		rk := opts.ReplicaKey
		if rk == nil {
			rk = m.Challenge.ReplicaKey
		}
		a.Trust = &wire.Trust{ReplicaKey: rk, Session: wire.Session{Device: device, Nonce: h.Nonce}}
	}
	if key != nil {
		h.Signature = ed25519.Sign(key, h.SigningBytes(m.Challenge.Nonce))
	}
	a.Send(&wire.Message{Type: wire.TypeHello, Hello: h})
	return a
}

func (a *Agent) read() (*wire.Message, error) {
	_, m, err := a.readRaw()
	return m, err
}

// readRaw reads one frame and decodes it as the session's protocol says.
func (a *Agent) readRaw() ([]byte, *wire.Message, error) {
	a.WS.SetReadDeadline(clock.Deadline(readTimeout))
	_, data, err := a.WS.ReadMessage()
	if err != nil {
		return nil, nil, err
	}
	m, err := a.decode(data)
	return data, m, err
}

func (a *Agent) decode(data []byte) (*wire.Message, error) {
	if a.Trust != nil {
		return a.Trust.Decode(data)
	}
	return wire.Decode(data)
}

// NextRaw reads one frame without applying it and returns it as received
// and decoded (a test that replays the fleet's frames elsewhere keeps
// them).
func (a *Agent) NextRaw() ([]byte, *wire.Message) {
	a.t.Helper()
	data, m, err := a.readRaw()
	if err != nil {
		a.t.Fatalf("replicatetest: %s: read: %v", a.Device, err)
	}
	return data, m
}

// Send writes m as one JSON frame.
func (a *Agent) Send(m *wire.Message) {
	a.t.Helper()
	a.WS.SetWriteDeadline(clock.Deadline(readTimeout))
	if err := a.WS.WriteJSON(m); err != nil {
		a.t.Fatalf("replicatetest: send %s: %v", m.Type, err)
	}
}

// Next reads one frame, applies it when it is a batch or a snapshot chunk
// (failing the test when it breaks the contract), and returns it.
func (a *Agent) Next() *wire.Message {
	a.t.Helper()
	m, err := a.read()
	if err != nil {
		a.t.Fatalf("replicatetest: %s: read: %v", a.Device, err)
	}
	switch m.Type {
	case wire.TypeBatch:
		err = a.Replica.applyBatch(m.Batch)
	case wire.TypeSnapshot:
		err = a.Replica.applySnapshot(m.Snapshot)
	}
	if err != nil {
		a.t.Fatalf("%s: %v", a.Device, err)
	}
	return m
}

// maxSyncFrames bounds SyncTo: a fleet that keeps sending without the
// replica reaching the log fails the test instead of hanging it.
const maxSyncFrames = 10_000

// SyncTo applies frames until the replica of event is at seq with no
// snapshot in progress, then checks its running checksum is running (the
// fleet's, from its LogState).
func (a *Agent) SyncTo(event string, seq int64, running uint64) {
	a.t.Helper()
	for range maxSyncFrames {
		c := a.Replica.Cursor(event)
		if c.Seq == seq && c.Snapshot == nil {
			if c.Running != running {
				a.t.Fatalf("replicatetest: %s: replica of %s at %d has running checksum %x, the fleet %x", a.Device, event, seq, c.Running, running)
			}
			return
		}
		a.Next()
	}
	a.t.Fatalf("replicatetest: %s: replica of %s not at %d after %d frames", a.Device, event, seq, maxSyncFrames)
}

// SendScans sends scans upstream and applies frames until the fleet
// acknowledges them; it returns the acknowledgement's UpTo.
func (a *Agent) SendScans(scans ...wire.Scan) int64 {
	a.t.Helper()
	a.Send(&wire.Message{Type: wire.TypeScans, Scans: &wire.Scans{Scans: scans}})
	for range maxSyncFrames {
		if m := a.Next(); m.Type == wire.TypeScanAck {
			return m.ScanAck.UpTo
		}
	}
	a.t.Fatalf("replicatetest: %s: no scan ack after %d frames", a.Device, maxSyncFrames)
	return 0
}

// ApplyConfig records c as the replica's config and reports it applied.
func (a *Agent) ApplyConfig(c *wire.Config) {
	a.t.Helper()
	a.Replica.ConfigVersion, a.Replica.ConfigBody = c.Version, c.Body
	a.Send(&wire.Message{Type: wire.TypeConfigAck, ConfigAck: &wire.ConfigAck{Version: c.Version}})
}

// ExpectClosed reads until the fleet closes the connection and returns
// the code of the error frame it sent before ("" if none), or "revoked"
// when it sent a Revoked message. Frames in between are not applied.
func (a *Agent) ExpectClosed() string {
	a.t.Helper()
	code := ""
	for range maxSyncFrames {
		a.WS.SetReadDeadline(clock.Deadline(readTimeout))
		_, data, err := a.WS.ReadMessage()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				a.t.Fatalf("replicatetest: %s: the fleet neither closed the connection nor sent anything in %s", a.Device, readTimeout)
			}
			return code
		}
		m, err := a.decode(data)
		if err != nil {
			continue
		}
		switch m.Type {
		case wire.TypeError:
			code = m.Error.Code
		case wire.TypeRevoked:
			code = "revoked"
		}
	}
	a.t.Fatalf("replicatetest: %s: connection not closed after %d frames", a.Device, maxSyncFrames)
	return ""
}

// FailConfig reports c as not applied, for reason: the replica keeps the
// config it ran.
func (a *Agent) FailConfig(c *wire.Config, reason string) {
	a.t.Helper()
	a.Send(&wire.Message{Type: wire.TypeConfigAck, ConfigAck: &wire.ConfigAck{Version: a.Replica.ConfigVersion, Failed: c.Version, Error: reason}})
}
