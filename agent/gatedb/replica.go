package gatedb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"admit/fleet/wire"
	"admit/ticket/entry"
)

// ErrDiverged: after a batch the replica's running checksum would differ
// from the fleet's. Nothing of the batch was applied; the replica is marked
// for a new snapshot, which the next hello asks for.
var ErrDiverged = errors.New("gatedb: replica diverged from the fleet (running checksum mismatch)")

// Key is a replicated public key.
type Key struct {
	Event, ID string
	Public    []byte
	RetiredAt time.Time
}

// Cursors returns the replication cursor (last change seq applied) of
// every event on the replica.
func (d *DB) Cursors(ctx context.Context) (map[string]int64, error) {
	rc, err := d.ReplicaCursors(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]int64, len(rc))
	for ev, c := range rc {
		out[ev] = c.Seq
	}
	return out, nil
}

// ReplicaCursors returns, per event, what the hello tells the fleet: the
// cursor, its running checksum and any snapshot in progress.
func (d *DB) ReplicaCursors(ctx context.Context) (map[string]wire.Cursor, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT event_id, seq, running, snap_active, snap_seq, snap_after FROM cursors`)
	if err != nil {
		return nil, fmt.Errorf("gatedb: cursors: %w", err)
	}
	defer rows.Close()
	out := map[string]wire.Cursor{}
	for rows.Next() {
		var ev, after string
		var seq, running, snapSeq int64
		var active bool
		if err := rows.Scan(&ev, &seq, &running, &active, &snapSeq, &after); err != nil {
			return nil, fmt.Errorf("gatedb: cursors: %w", err)
		}
		c := wire.Cursor{Seq: seq, Running: uint64(running)}
		if active {
			c.Snapshot = &wire.SnapshotProgress{Seq: snapSeq, After: after}
		}
		out[ev] = c
	}
	return out, rows.Err()
}

// Serve makes sure the replica tracks event and its venue scope
// (wire.VenueScope; cursor 0 until a batch lands), so the hello asks for
// both.
func (d *DB) Serve(ctx context.Context, event string) error {
	_, err := d.db.ExecContext(ctx, `INSERT OR IGNORE INTO cursors (event_id, seq) VALUES (?, 0), (?, 0)`, event, wire.VenueScope(event))
	if err != nil {
		return fmt.Errorf("gatedb: serve %q: %w", event, err)
	}
	return nil
}

// Unserve stops tracking event and its venue scope: the hello no longer
// names them (a fleet refuses a hello naming an event the device does
// not serve). Their rows stay until a snapshot or a wipe replaces them;
// serving the event again starts from a new snapshot.
func (d *DB) Unserve(ctx context.Context, event string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM cursors WHERE event_id IN (?, ?)`, event, wire.VenueScope(event)); err != nil {
		return fmt.Errorf("gatedb: unserve %q: %w", event, err)
	}
	return d.loadReplicaState(ctx)
}

// replicaState is, per ticket log, what the decision path reads on every
// presentation: whether its first snapshot completed (ready) and the
// sync point of the applied position. Kept in memory, replaced after
// every commit that changes it.
type replicaState struct {
	ready map[string]bool
	asOf  map[string]time.Time
}

// loadReplicaState reads the ticket logs' readiness and sync points.
func (d *DB) loadReplicaState(ctx context.Context) error {
	st := &replicaState{ready: map[string]bool{}, asOf: map[string]time.Time{}}
	rows, err := d.db.QueryContext(ctx, `SELECT event_id, ready, as_of FROM cursors WHERE event_id NOT LIKE '#%'`)
	if err != nil {
		return fmt.Errorf("gatedb: replica state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var ev string
		var ready bool
		var asOf int64
		if err := rows.Scan(&ev, &ready, &asOf); err != nil {
			return fmt.Errorf("gatedb: replica state: %w", err)
		}
		st.ready[ev], st.asOf[ev] = ready, fromMS(asOf)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("gatedb: replica state: %w", err)
	}
	d.state.Store(st)
	select {
	case d.stateChanged <- struct{}{}:
	default:
	}
	return nil
}

// ReplicaChanged wakes a reader when an event's readiness or sync point
// may have changed (one wake-up for one or more changes).
func (d *DB) ReplicaChanged() <-chan struct{} { return d.stateChanged }

// Ready reports whether the first snapshot of event's ticket log
// completed on this replica (persisted: a restart does not undo it; only
// a wipe does). Before, the gate decides nothing for the event. It reads
// memory only.
func (d *DB) Ready(event string) bool {
	st := d.state.Load()
	return st != nil && st.ready[event]
}

// SyncPoint returns the sync point of the applied position of event's
// ticket log (wire.Batch.AsOf; zero: none said): the fleet's word that
// every ticket issued up to it is on this replica. It reads memory only.
func (d *DB) SyncPoint(event string) time.Time {
	if st := d.state.Load(); st != nil {
		return st.asOf[event]
	}
	return time.Time{}
}

type cursorRow struct {
	seq, running, gen int64
	snapActive        bool
	snapSeq, snapRun  int64
	snapAfter         string
}

func readCursor(ctx context.Context, tx *sql.Tx, event string) (cursorRow, error) {
	var c cursorRow
	err := tx.QueryRowContext(ctx, `SELECT seq, running, gen, snap_active, snap_seq, snap_running, snap_after FROM cursors WHERE event_id = ?`, event).
		Scan(&c.seq, &c.running, &c.gen, &c.snapActive, &c.snapSeq, &c.snapRun, &c.snapAfter)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("gatedb: event %q not served here: %w", event, ErrCursorMismatch)
	}
	return c, err
}

// Apply applies a validated batch in one transaction. A batch whose From is
// behind the cursor was already (partly) applied: the changes up to the
// cursor are skipped, so replaying a batch is a no-op. A batch that starts
// after the cursor would leave a gap and is refused with ErrCursorMismatch,
// touching nothing. When the running checksum after the batch differs from
// the batch's, nothing is applied, the event is marked for resynchronisation
// and ErrDiverged returned. It returns the keys the batch added.
func (d *DB) Apply(ctx context.Context, b *wire.Batch) ([]Key, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("gatedb: apply: %w", err)
	}
	defer tx.Rollback()
	cur, err := readCursor(ctx, tx, b.Event)
	if err != nil {
		return nil, fmt.Errorf("gatedb: apply: %w", err)
	}
	if cur.snapActive {
		return nil, fmt.Errorf("gatedb: apply batch of %q during a snapshot: %w", b.Event, ErrCursorMismatch)
	}
	if b.From > cur.seq {
		return nil, fmt.Errorf("gatedb: apply batch of %q from %d, replica at %d: %w", b.Event, b.From, cur.seq, ErrCursorMismatch)
	}
	if b.To <= cur.seq {
		return nil, nil // a replay
	}
	running := uint64(cur.running)
	var scratch []byte
	for i := range b.Changes {
		if b.Changes[i].Seq > cur.seq {
			running, scratch = b.Changes[i].Running(running, scratch)
		}
	}
	if running != b.Running {
		tx.Rollback()
		if err := d.markResync(ctx, b.Event); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("gatedb: batch of %q to %d: running checksum %x, fleet says %x: %w", b.Event, b.To, running, b.Running, ErrDiverged)
	}
	var keys []Key
	for _, c := range b.Changes {
		if c.Seq <= cur.seq {
			continue
		}
		k, err := applyChange(ctx, tx, b.Event, cur.gen, c)
		if err != nil {
			return nil, fmt.Errorf("gatedb: apply change %d of %q: %w", c.Seq, b.Event, err)
		}
		if k != nil {
			keys = append(keys, *k)
		}
	}
	// The sync point only moves forward (a batch's is its To's).
	asOf := ms(b.AsOf)
	if _, err := tx.ExecContext(ctx, `UPDATE cursors SET seq = ?, running = ?, as_of = max(as_of, ?) WHERE event_id = ?`,
		b.To, int64(running), asOf, b.Event); err != nil {
		return nil, fmt.Errorf("gatedb: apply: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("gatedb: apply: %w", err)
	}
	if wire.IsVenueScope(b.Event) {
		if err := d.loadVenue(ctx); err != nil {
			return nil, err
		}
	} else if asOf > ms(d.SyncPoint(b.Event)) {
		if err := d.loadReplicaState(ctx); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// markResync makes the next hello ask for a new snapshot of event.
func (d *DB) markResync(ctx context.Context, event string) error {
	_, err := d.db.ExecContext(ctx, `UPDATE cursors SET snap_active = 1, snap_seq = 0, snap_after = '' WHERE event_id = ?`, event)
	if err != nil {
		return fmt.Errorf("gatedb: mark %q for resync: %w", event, err)
	}
	return nil
}

func applyChange(ctx context.Context, tx *sql.Tx, event string, gen int64, c wire.Change) (*Key, error) {
	var err error
	switch c.Kind {
	case wire.KindKey:
		k := &Key{Event: event, ID: c.Key.ID, Public: c.Key.Public, RetiredAt: c.Key.RetiredAt}
		_, err = tx.ExecContext(ctx, `INSERT INTO keys (event_id, id, public, retired_at, gen) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (event_id, id) DO UPDATE SET public = excluded.public, retired_at = excluded.retired_at, gen = excluded.gen`,
			event, k.ID, k.Public, ms(k.RetiredAt), gen)
		return k, err
	case wire.KindTicket:
		_, err = tx.ExecContext(ctx, `INSERT INTO tickets (event_id, id, type, holder, code_secret, gen) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (event_id, id) DO UPDATE SET type = excluded.type, holder = excluded.holder,
			code_secret = excluded.code_secret, gen = excluded.gen`,
			event, c.Ticket.ID, c.Ticket.Type, c.Ticket.Holder, secret(c.Ticket.CodeSecret), gen)
	case wire.KindRevoke:
		_, err = tx.ExecContext(ctx, `UPDATE tickets SET revoked = 1 WHERE event_id = ? AND id = ?`, event, c.Revoke.TicketID)
	case wire.KindUsed:
		err = putUsed(ctx, tx, event, c.Used)
	case wire.KindAnnul:
		a := c.Annul
		err = putUsed(ctx, tx, event, &wire.Used{TicketID: a.TicketID, Device: a.Device, Gate: a.Gate, At: a.At,
			Direction: a.Direction, Annulled: true})
	case wire.KindVenue:
		ev, ok := wire.VenueEvent(event)
		if !ok {
			return nil, fmt.Errorf("venue row in the ticket log of %q", event)
		}
		err = applyVenueRow(ctx, tx, ev, gen, c.Venue)
	default:
		err = fmt.Errorf("unknown kind %q", c.Kind)
	}
	return nil, err
}

// putUsed records a passage the fleet fanned out as a direction-aware mark
// (an exit must not count as an entry) and, for an entry, as a used row.
// A mark already here (this gate's own, or a peer's) keeps its direction;
// an annulment is sticky: u.Annulled (an annul change, or an annulled mark
// in a snapshot) sets it, whether the passage arrived before or not.
func putUsed(ctx context.Context, tx *sql.Tx, event string, u *wire.Used) error {
	dir := entry.In
	if u.Exit() {
		dir = entry.Out
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO marks (event_id, ticket_id, device, at, gate, direction, annulled) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, ticket_id, device, at) DO UPDATE SET annulled = max(annulled, excluded.annulled)`,
		event, u.TicketID, u.Device, ms(u.At), u.Gate, dir, u.Annulled); err != nil {
		return err
	}
	if dir != entry.In {
		return nil
	}
	_, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO used (event_id, ticket_id, device, at, gate) VALUES (?, ?, ?, ?, ?)`,
		event, u.TicketID, u.Device, ms(u.At), u.Gate)
	return err
}

// ApplySnapshot applies one validated snapshot chunk in one transaction.
// The first chunk (After == "") starts a new replica generation; each
// chunk must continue the snapshot in progress (a chunk already applied is
// a no-op; one that would leave a gap is refused with ErrCursorMismatch).
// The Done chunk drops the rows of older generations and moves the cursor
// to the snapshot's Seq, after which batches continue from there. Used
// marks are never dropped: a mark only ever refuses a ticket. It returns
// the keys the chunk added.
//
// Only the Done chunk, which makes the snapshot the replica and after which
// the agent acknowledges, commits with the database's durability (an fsync
// at SyncFull). The chunks before it commit without waiting for the disk:
// SQLite's WAL keeps them atomic and in order, so power lost mid-snapshot
// leaves the replica at an earlier chunk, from which the hello resumes; and
// the Done chunk's fsync of the WAL makes every earlier chunk durable too.
func (d *DB) ApplySnapshot(ctx context.Context, s *wire.Snapshot) ([]Key, error) {
	keys, err := d.applySnapshot(ctx, s)
	if err != nil || !s.Done {
		return keys, err
	}
	// After the chunk's connection went back to the pool: these read.
	if wire.IsVenueScope(s.Event) {
		err = d.loadVenue(ctx)
	} else {
		err = d.loadReplicaState(ctx)
	}
	return keys, err
}

func (d *DB) applySnapshot(ctx context.Context, s *wire.Snapshot) ([]Key, error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("gatedb: snapshot: %w", err)
	}
	defer conn.Close()
	if !s.Done {
		restore, err := relaxSync(ctx, conn)
		if err != nil {
			return nil, fmt.Errorf("gatedb: snapshot: %w", err)
		}
		defer restore()
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("gatedb: snapshot: %w", err)
	}
	defer tx.Rollback()
	cur, err := readCursor(ctx, tx, s.Event)
	if err != nil {
		return nil, fmt.Errorf("gatedb: snapshot: %w", err)
	}
	gen := cur.gen + 1
	switch {
	case s.After == "":
		// A new snapshot, whatever was in progress.
		if _, err := tx.ExecContext(ctx, `UPDATE cursors SET snap_active = 1, snap_seq = ?, snap_running = ?, snap_after = '' WHERE event_id = ?`,
			s.Seq, int64(s.Running), s.Event); err != nil {
			return nil, fmt.Errorf("gatedb: snapshot: %w", err)
		}
	case cur.snapActive && cur.snapSeq == s.Seq && cur.snapAfter == s.After:
		// the next chunk
	case cur.snapActive && cur.snapSeq == s.Seq && s.Last <= cur.snapAfter,
		!cur.snapActive && cur.seq >= s.Seq:
		return nil, nil // already applied
	default:
		return nil, fmt.Errorf("gatedb: snapshot chunk of %q at %d after %q, replica expects %d after %q: %w",
			s.Event, s.Seq, s.After, cur.snapSeq, cur.snapAfter, ErrCursorMismatch)
	}
	var keys []Key
	for _, k := range s.Keys {
		if _, err := tx.ExecContext(ctx, `INSERT INTO keys (event_id, id, public, retired_at, gen) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (event_id, id) DO UPDATE SET public = excluded.public, retired_at = excluded.retired_at, gen = excluded.gen`,
			s.Event, k.ID, k.Public, ms(k.RetiredAt), gen); err != nil {
			return nil, fmt.Errorf("gatedb: snapshot key: %w", err)
		}
		keys = append(keys, Key{Event: s.Event, ID: k.ID, Public: k.Public, RetiredAt: k.RetiredAt})
	}
	if err := insertSnapTickets(ctx, tx, s.Event, gen, s.Tickets); err != nil {
		return nil, err
	}
	for i := range s.Used {
		if err := putUsed(ctx, tx, s.Event, &s.Used[i]); err != nil {
			return nil, fmt.Errorf("gatedb: snapshot used mark: %w", err)
		}
	}
	venueEvent, venue := wire.VenueEvent(s.Event)
	for i := range s.Venue {
		if !venue {
			return nil, fmt.Errorf("gatedb: snapshot of %q: venue rows in a ticket log", s.Event)
		}
		if err := applyVenueRow(ctx, tx, venueEvent, gen, &s.Venue[i]); err != nil {
			return nil, fmt.Errorf("gatedb: snapshot venue row %s: %w", s.Venue[i].Key(), err)
		}
	}
	if s.Done {
		if venue {
			if err := dropOldVenue(ctx, tx, venueEvent, gen); err != nil {
				return nil, fmt.Errorf("gatedb: snapshot: %w", err)
			}
		}
		for _, table := range []string{"tickets", "keys"} {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+table+` WHERE event_id = ? AND gen < ?`, s.Event, gen); err != nil {
				return nil, fmt.Errorf("gatedb: snapshot: drop old %s: %w", table, err)
			}
		}
		// Done: the replica is the snapshot, the gate ready for the event
		// (for good: nothing but a wipe clears it), its sync point the
		// snapshot's.
		_, err = tx.ExecContext(ctx, `UPDATE cursors SET seq = snap_seq, running = snap_running, gen = ?, snap_active = 0, snap_after = '',
			ready = 1, as_of = ? WHERE event_id = ?`, gen, ms(s.AsOf), s.Event)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE cursors SET snap_after = ? WHERE event_id = ?`, s.Last, s.Event)
	}
	if err != nil {
		return nil, fmt.Errorf("gatedb: snapshot: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("gatedb: snapshot: %w", err)
	}
	return keys, nil
}

// relaxSync sets conn's commits to synchronous=NORMAL (no fsync per commit
// in WAL mode) if they were stricter; restore sets them back, or, when it
// cannot, discards the connection so that no other statement of the pool
// runs with less durability than the database was opened with.
func relaxSync(ctx context.Context, conn *sql.Conn) (restore func(), err error) {
	var was int
	if err := conn.QueryRowContext(ctx, `PRAGMA synchronous`).Scan(&was); err != nil {
		return nil, err
	}
	const normal = 1
	if was <= normal {
		return func() {}, nil
	}
	if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
		return nil, err
	}
	return func() {
		_, err := conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA synchronous = %d`, was))
		if err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn }) // dropped from the pool
		}
	}, nil
}

// secret stores an empty rotating-code secret as NULL (no rotating code).
func secret(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// insertSnapTickets upserts tickets 250 to a statement. The event and the
// generation are bound once per statement (?1, ?2), each ticket's own
// values after them: fewer values to convert and bind per row.
func insertSnapTickets(ctx context.Context, tx *sql.Tx, event string, gen int64, ts []wire.SnapTicket) error {
	const per = 250
	build := func(n int) string {
		var b strings.Builder
		b.WriteString(`INSERT INTO tickets (event_id, id, type, holder, revoked, code_secret, gen) VALUES `)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			p := 3 + 5*i
			fmt.Fprintf(&b, "(?1, ?%d, ?%d, ?%d, ?%d, ?%d, ?2)", p, p+1, p+2, p+3, p+4)
		}
		b.WriteString(` ON CONFLICT (event_id, id) DO UPDATE SET type = excluded.type, holder = excluded.holder,
		revoked = excluded.revoked, code_secret = excluded.code_secret, gen = excluded.gen`)
		return b.String()
	}
	var full *sql.Stmt
	args := make([]any, 0, 2+per*5)
	for len(ts) > 0 {
		n := min(per, len(ts))
		args = append(args[:0], event, gen)
		for i := range ts[:n] {
			t := &ts[i]
			args = append(args, t.ID, t.Type, t.Holder, t.Revoked, secret(t.CodeSecret))
		}
		var err error
		if n == per {
			if full == nil {
				if full, err = tx.PrepareContext(ctx, build(per)); err != nil {
					return fmt.Errorf("gatedb: snapshot tickets: %w", err)
				}
				defer full.Close()
			}
			_, err = full.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, build(n), args...)
		}
		if err != nil {
			return fmt.Errorf("gatedb: snapshot tickets: %w", err)
		}
		ts = ts[n:]
	}
	return nil
}

// Wipe is what a revoked device does to its database, in one transaction.
//
// Gone: everything that would let someone holding the device learn about
// or forge admissions — the replica (keys, tickets with their rotating-code
// secrets, revocations, cursors back to 0), the venue data (peers' keys,
// gate staff's PIN hashes, the sign-in throttle), every passage it knows
// (used marks and direction-aware marks, its own and those from the fleet
// and peers), admissions waiting for the turnstile, and the applied
// config.
//
// Kept: the journal rows the fleet has not acknowledged. They are the only
// record of decisions the gate acted on (people went through), so they
// must still reach the fleet: if the operator re-enrolls the device, its
// next session streams them and the fleet dedups by (device, seq) as
// always (acknowledged rows were compacted away already). They hold ticket
// ids and what the gate showed, no codes or secrets. The journal's
// sequence and the gate log (mode switches, with a "wiped" entry added)
// are kept too.
func (d *DB) Wipe(ctx context.Context, at time.Time) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("gatedb: wipe: %w", err)
	}
	defer tx.Rollback()
	for _, q := range []string{
		`DELETE FROM keys`, `DELETE FROM tickets`, `DELETE FROM used`, `DELETE FROM marks`,
		`DELETE FROM pending_passages`, `DELETE FROM device_config`,
		`DELETE FROM venue_devices`, `DELETE FROM venue_staff`, `DELETE FROM staff_throttle`,
		`DELETE FROM venue_zones`, `DELETE FROM venue_gates`, `DELETE FROM venue_ticket_types`, `DELETE FROM venue_settings`,
		`DELETE FROM venue_badges`, `DELETE FROM venue_jwt_keys`, `DELETE FROM claims`,
		// Not ready any more: a re-enrolled gate starts from a snapshot.
		`UPDATE cursors SET seq = 0, running = 0, gen = 0, snap_active = 0, snap_seq = 0, snap_running = 0, snap_after = '', ready = 0, as_of = 0`,
	} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("gatedb: wipe: %w", err)
		}
	}
	var backlog int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM journal`).Scan(&backlog); err != nil {
		return fmt.Errorf("gatedb: wipe: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO gate_log (at, kind, detail) VALUES (?, 'wiped', ?)`,
		ms(at), fmt.Sprintf("revoked by the fleet; %d unacknowledged journal rows kept", backlog)); err != nil {
		return fmt.Errorf("gatedb: wipe: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("gatedb: wipe: %w", err)
	}
	if err := d.loadReplicaState(ctx); err != nil {
		return err
	}
	return d.loadVenue(ctx)
}

// ClearConfig forgets the applied config (the gate could not apply it
// again at its start): the hello then says it runs none.
func (d *DB) ClearConfig(ctx context.Context) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM device_config`); err != nil {
		return fmt.Errorf("gatedb: clear config: %w", err)
	}
	return nil
}

// Config returns the config this device applied last (version 0: none).
func (d *DB) Config(ctx context.Context) (int64, json.RawMessage, error) {
	var v int64
	var body []byte
	err := d.db.QueryRowContext(ctx, `SELECT version, body FROM device_config WHERE id = 1`).Scan(&v, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("gatedb: config: %w", err)
	}
	return v, body, nil
}

// SetConfig records the config this device applied.
func (d *DB) SetConfig(ctx context.Context, version int64, body json.RawMessage) error {
	_, err := d.db.ExecContext(ctx, `INSERT INTO device_config (id, version, body) VALUES (1, ?, ?)
		ON CONFLICT (id) DO UPDATE SET version = excluded.version, body = excluded.body`, version, []byte(body))
	if err != nil {
		return fmt.Errorf("gatedb: set config: %w", err)
	}
	return nil
}
