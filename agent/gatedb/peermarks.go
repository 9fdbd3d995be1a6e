package gatedb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"slices"
	"sync"
	"time"

	"admit/ticket/entry"
)

// Passages learnt from peer gates.
//
// A peer's mark takes effect the moment it arrives: AddPeerMark puts it in
// an in-memory index that every lookup of the decision path (Hot.State,
// State, Marks) merges with the database, and PersistPeerMarks writes what
// the index holds to the database later, many marks to one transaction
// (group commit), off the decision path. The gate never waits for a disk
// before it can refuse a ticket a peer just admitted.
//
// Why a peer's mark needs no fsync of its own before the gate acts on it:
// it is a copy. The peer journaled the admission durably (its own fsync,
// before its relay moved and before it published the mark), and a mark this
// gate loses is learnt again, without anyone's help:
//
//   - by the peer's catch-up: a peer dialing this gate (after this gate
//     restarted, the peer's connection broke and it redials) first pushes
//     every passage it ever recorded, from its own database;
//   - through the fleet, which fans every passage out to every gate of the
//     event once the peer's journal reaches it.
//
// So a kill -9 or a power loss between a mark's arrival and its
// persistence costs the gate nothing it cannot recover; the window in
// which this gate would not know the passage is the restart itself, which
// it shares with any passage made while it was down. For the same reason
// the persistence transactions commit with synchronous=NORMAL on their own
// connection: no fsync, so they hold SQLite's write lock for an instant
// and never delay this gate's own journal commits; the next commit of the
// journal (synchronous=FULL) or checkpoint makes them durable in passing.
// WAL keeps them atomic and in order either way.
//
// Ordering: a lookup reads the index before the database, and persistence
// removes a mark from the index only after its transaction committed. So a
// mark is always seen by a lookup that starts after the mark arrived: if it
// is gone from the index when the lookup reads the index, it was committed
// before, and the database read that follows sees it.
type peerMarks struct {
	kick chan struct{} // one token: marks arrived since the last persistence

	flushMu sync.Mutex // serialises persistence and Revoke; guards conn
	conn    *sql.Conn  // persistence connection, synchronous=NORMAL; nil until first used

	mu      sync.Mutex // guards the fields below
	held    map[ticketKey][]heldMark
	n       int           // marks held
	version uint64        // bumped on every change of a held mark
	room    chan struct{} // closed (and replaced) when marks leave the memory
}

type ticketKey struct{ event, id string }

type heldMark struct {
	Mark
	version uint64
}

func newPeerMarks() *peerMarks {
	return &peerMarks{kick: make(chan struct{}, 1), held: map[ticketKey][]heldMark{}, room: make(chan struct{})}
}

// AddPeerMark makes a passage learnt from a peer gate count at once, for
// every lookup from now on, and queues it for persistence (see
// PersistPeerMarks). Adding a mark again is a no-op; an annulment is
// sticky. It does no I/O.
//
// The gate may act on the mark before any disk write because the mark is
// a copy of the peer's durable journal row: lost in a crash or a power cut
// before PersistPeerMarks wrote it, it comes back with the peer's catch-up
// when the peer redials, and through the fleet's fan-out once an uplink
// is back (the comment on peerMarks says more).
func (d *DB) AddPeerMark(m Mark) error {
	if m.Direction != entry.In && m.Direction != entry.Out {
		return fmt.Errorf("gatedb: peer mark %s/%s: direction %q", m.Event, m.TicketID, m.Direction)
	}
	if m.Event == "" || m.TicketID == "" || m.Device == "" || m.At.IsZero() {
		return fmt.Errorf("gatedb: peer mark %+v: incomplete", m)
	}
	m.At = m.At.UTC().Truncate(time.Millisecond) // what the database stores
	p := d.peer
	k := ticketKey{m.Event, m.TicketID}
	p.mu.Lock()
	ms := p.held[k]
	i := slices.IndexFunc(ms, func(h heldMark) bool { return h.Same(m.Passage) })
	switch {
	case i < 0:
		p.version++
		p.held[k] = append(ms, heldMark{Mark: m, version: p.version})
		p.n++
	case m.Annulled && !ms[i].Annulled:
		p.version++
		ms[i].Annulled, ms[i].version = true, p.version
	}
	p.mu.Unlock()
	select {
	case p.kick <- struct{}{}:
	default:
	}
	return nil
}

// PeerMarksArrived is signalled when peer marks were added since the last
// call of PersistPeerMarks began; the agent persists them then.
func (d *DB) PeerMarksArrived() <-chan struct{} { return d.peer.kick }

// PeerMarksHeld returns how many peer marks wait in memory for
// persistence.
func (d *DB) PeerMarksHeld() int {
	d.peer.mu.Lock()
	defer d.peer.mu.Unlock()
	return d.peer.n
}

// WaitPeerRoom waits until n more peer marks fit in memory with at most
// max held (the receivers of peer gossip bound memory with it: persistence
// makes room), or ctx ends. n above max waits for an empty memory.
func (d *DB) WaitPeerRoom(ctx context.Context, n, max int) error {
	p := d.peer
	for {
		p.mu.Lock()
		if p.n == 0 || p.n+n <= max {
			p.mu.Unlock()
			return nil
		}
		room := p.room
		p.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// madeRoomLocked wakes WaitPeerRoom's waiters; p.mu is held.
func (p *peerMarks) madeRoomLocked() {
	close(p.room)
	p.room = make(chan struct{})
}

// PersistPeerMarks writes every peer mark held in memory to the database in
// one transaction, without an fsync of its own (see the reasoning above),
// then drops from memory the marks it wrote that did not change meanwhile.
// It returns how many marks it wrote.
func (d *DB) PersistPeerMarks(ctx context.Context) (int, error) {
	p := d.peer
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.mu.Lock()
	batch := make([]heldMark, 0, p.n)
	for _, ms := range p.held {
		batch = append(batch, ms...)
	}
	p.mu.Unlock()
	if len(batch) == 0 {
		return 0, nil
	}
	if err := d.writePeerMarksLocked(ctx, batch); err != nil {
		// The connection may be unusable now (a cancelled context closes
		// it): the next persistence starts on a fresh one.
		if p.conn != nil {
			discard(p.conn)
			p.conn = nil
		}
		return 0, fmt.Errorf("gatedb: persist %d peer marks: %w", len(batch), err)
	}
	p.mu.Lock()
	for _, w := range batch {
		k := ticketKey{w.Event, w.TicketID}
		ms := p.held[k]
		i := slices.IndexFunc(ms, func(h heldMark) bool { return h.Same(w.Passage) })
		if i < 0 || ms[i].version != w.version {
			continue // changed (annulled) meanwhile: the next persistence writes it
		}
		ms = slices.Delete(ms, i, i+1)
		p.n--
		if len(ms) == 0 {
			delete(p.held, k)
		} else {
			p.held[k] = ms
		}
	}
	p.madeRoomLocked()
	p.mu.Unlock()
	return len(batch), nil
}

// writePeerMarksLocked commits batch in one transaction on the persistence
// connection. p.flushMu is held.
func (d *DB) writePeerMarksLocked(ctx context.Context, batch []heldMark) error {
	p := d.peer
	if p.conn == nil {
		conn, err := d.db.Conn(ctx)
		if err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
			discard(conn)
			return err
		}
		p.conn = conn
	}
	tx, err := p.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO marks (event_id, ticket_id, device, at, gate, direction, annulled) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, ticket_id, device, at) DO UPDATE SET annulled = max(annulled, excluded.annulled)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, m := range batch {
		if _, err := stmt.ExecContext(ctx, m.Event, m.TicketID, m.Device, ms(m.At), m.Gate, m.Direction, m.Annulled); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// discard closes conn and keeps it out of the pool: it may carry a
// durability setting weaker than the one the database was opened with.
func discard(conn *sql.Conn) {
	_ = conn.Raw(func(any) error { return driver.ErrBadConn })
	_ = conn.Close()
}

// closePeerMarks releases the persistence connection (DB.Close).
func (d *DB) closePeerMarks() {
	p := d.peer
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	if p.conn != nil {
		discard(p.conn)
		p.conn = nil
	}
}

// of returns the peer marks of a ticket held in memory.
func (p *peerMarks) of(event, id string) []Mark {
	p.mu.Lock()
	defer p.mu.Unlock()
	hs := p.held[ticketKey{event, id}]
	if len(hs) == 0 {
		return nil
	}
	out := make([]Mark, len(hs))
	for i, h := range hs {
		out[i] = h.Mark
	}
	return out
}

// withHeld merges the peer marks held in memory into the marks read from
// the database (a passage in both is one; an annulment in either counts:
// entry.Passage.Merge), oldest first as the database orders them.
func withHeld(stored, held []Mark) []Mark {
	if len(held) == 0 {
		return stored
	}
	for _, h := range held {
		i := slices.IndexFunc(stored, func(s Mark) bool { return s.Same(h.Passage) })
		if i >= 0 {
			stored[i].Passage = stored[i].Merge(h.Passage)
			continue
		}
		stored = append(stored, h)
	}
	slices.SortStableFunc(stored, func(a, b Mark) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		switch {
		case a.Device < b.Device:
			return -1
		case a.Device > b.Device:
			return 1
		}
		return 0
	})
	return stored
}

// Revoke is what a revoked device does to its database: it forgets the peer
// marks held in memory, then Wipes. Persistence is held off meanwhile, so
// no mark learnt before the wipe is written after it.
func (d *DB) Revoke(ctx context.Context, at time.Time) error {
	p := d.peer
	p.flushMu.Lock()
	defer p.flushMu.Unlock()
	p.mu.Lock()
	clear(p.held)
	p.n = 0
	p.madeRoomLocked()
	p.mu.Unlock()
	return d.Wipe(ctx, at)
}
