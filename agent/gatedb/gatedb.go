// Package gatedb is a gate's local database: the allowlist replica (event
// keys, tickets, revocations), used marks from every gate of the venue, and
// the journal of this gate's decisions. It is one SQLite file so that a
// decision and its used mark commit together, durably, in one transaction.
package gatedb

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"admit/fleet/wire"
	"admit/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrUnknownTicket: the ticket is not on the allowlist.
var ErrUnknownTicket = errors.New("gatedb: ticket not on the allowlist")

// ErrCursorMismatch: a batch does not start at the replica's cursor.
var ErrCursorMismatch = errors.New("gatedb: batch does not continue the replica")

// DB is a gate's database.
type DB struct {
	db *sql.DB
}

// Open opens or creates the database at path. sync is the durability of a
// commit; sqlitedb.SyncFull (the default) survives power loss.
func Open(ctx context.Context, path string, sync sqlitedb.Sync) (*DB, error) {
	migrations, _ := fs.Sub(migrationFiles, "migrations")
	db, err := sqlitedb.Open(ctx, path, migrations, sync)
	if err != nil {
		return nil, fmt.Errorf("gatedb: %w", err)
	}
	return &DB{db: db}, nil
}

// Close closes the database.
func (d *DB) Close() error { return d.db.Close() }

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// Cursors returns the replication cursor of every event on the replica.
func (d *DB) Cursors(ctx context.Context) (map[string]int64, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT event_id, seq FROM cursors`)
	if err != nil {
		return nil, fmt.Errorf("gatedb: cursors: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var ev string
		var seq int64
		if err := rows.Scan(&ev, &seq); err != nil {
			return nil, fmt.Errorf("gatedb: cursors: %w", err)
		}
		out[ev] = seq
	}
	return out, rows.Err()
}

// Serve makes sure the replica tracks event (cursor 0 until a batch lands).
func (d *DB) Serve(ctx context.Context, event string) error {
	_, err := d.db.ExecContext(ctx, `INSERT OR IGNORE INTO cursors (event_id, seq) VALUES (?, 0)`, event)
	if err != nil {
		return fmt.Errorf("gatedb: serve %q: %w", event, err)
	}
	return nil
}

// Key is a replicated public key.
type Key struct {
	Event, ID string
	Public    []byte
	RetiredAt time.Time
}

// Apply applies a validated batch in one transaction. A batch whose From is
// behind the cursor was already (partly) applied: the changes up to the
// cursor are skipped, so replaying a batch is a no-op. A batch that starts
// after the cursor would leave a gap and is refused with ErrCursorMismatch,
// touching nothing. It returns the keys the batch added.
func (d *DB) Apply(ctx context.Context, b *wire.Batch) ([]Key, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("gatedb: apply: %w", err)
	}
	defer tx.Rollback()
	var cur int64
	err = tx.QueryRowContext(ctx, `SELECT seq FROM cursors WHERE event_id = ?`, b.Event).Scan(&cur)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("gatedb: apply batch of %q: event not served here: %w", b.Event, ErrCursorMismatch)
	}
	if err != nil {
		return nil, fmt.Errorf("gatedb: apply: %w", err)
	}
	if b.From > cur {
		return nil, fmt.Errorf("gatedb: apply batch of %q from %d, replica at %d: %w", b.Event, b.From, cur, ErrCursorMismatch)
	}
	var keys []Key
	for _, c := range b.Changes {
		if c.Seq <= cur {
			continue
		}
		k, err := applyChange(ctx, tx, b.Event, c)
		if err != nil {
			return nil, fmt.Errorf("gatedb: apply change %d of %q: %w", c.Seq, b.Event, err)
		}
		if k != nil {
			keys = append(keys, *k)
		}
	}
	if b.To > cur {
		if _, err := tx.ExecContext(ctx, `UPDATE cursors SET seq = ? WHERE event_id = ?`, b.To, b.Event); err != nil {
			return nil, fmt.Errorf("gatedb: apply: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("gatedb: apply: %w", err)
	}
	return keys, nil
}

func applyChange(ctx context.Context, tx *sql.Tx, event string, c wire.Change) (*Key, error) {
	var err error
	switch c.Kind {
	case wire.KindKey:
		k := &Key{Event: event, ID: c.Key.ID, Public: c.Key.Public, RetiredAt: c.Key.RetiredAt}
		_, err = tx.ExecContext(ctx, `INSERT INTO keys (event_id, id, public, retired_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (event_id, id) DO UPDATE SET public = excluded.public, retired_at = excluded.retired_at`,
			event, k.ID, k.Public, ms(k.RetiredAt))
		return k, err
	case wire.KindTicket:
		_, err = tx.ExecContext(ctx, `INSERT INTO tickets (event_id, id, type, holder) VALUES (?, ?, ?, ?)
			ON CONFLICT (event_id, id) DO UPDATE SET type = excluded.type, holder = excluded.holder`,
			event, c.Ticket.ID, c.Ticket.Type, c.Ticket.Holder)
	case wire.KindRevoke:
		_, err = tx.ExecContext(ctx, `UPDATE tickets SET revoked = 1 WHERE event_id = ? AND id = ?`, event, c.Revoke.TicketID)
	case wire.KindUsed:
		u := c.Used
		_, err = tx.ExecContext(ctx, `INSERT OR IGNORE INTO used (event_id, ticket_id, device, at, gate) VALUES (?, ?, ?, ?, ?)`,
			event, u.TicketID, u.Device, ms(u.At), u.Gate)
	default:
		err = fmt.Errorf("unknown kind %q", c.Kind)
	}
	return nil, err
}

// Keys returns every replicated key.
func (d *DB) Keys(ctx context.Context) ([]Key, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT event_id, id, public, retired_at FROM keys`)
	if err != nil {
		return nil, fmt.Errorf("gatedb: keys: %w", err)
	}
	defer rows.Close()
	var out []Key
	for rows.Next() {
		var k Key
		var retired int64
		if err := rows.Scan(&k.Event, &k.ID, &k.Public, &retired); err != nil {
			return nil, fmt.Errorf("gatedb: keys: %w", err)
		}
		k.RetiredAt = fromMS(retired)
		out = append(out, k)
	}
	return out, rows.Err()
}

// Ticket is an allowlist row.
type Ticket struct {
	Event, ID, Type, Holder string
	Revoked                 bool
}

// Ticket looks a ticket up on the allowlist.
func (d *DB) Ticket(ctx context.Context, event, id string) (Ticket, error) {
	t := Ticket{Event: event, ID: id}
	err := d.db.QueryRowContext(ctx, `SELECT type, holder, revoked FROM tickets WHERE event_id = ? AND id = ?`, event, id).
		Scan(&t.Type, &t.Holder, &t.Revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrUnknownTicket
	}
	if err != nil {
		return t, fmt.Errorf("gatedb: ticket %s/%s: %w", event, id, err)
	}
	return t, nil
}

// Use is one admission of a ticket.
type Use struct {
	Device, Gate string
	At           time.Time
}

// Uses returns the admissions of a ticket, oldest first.
func (d *DB) Uses(ctx context.Context, event, id string) ([]Use, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT device, gate, at FROM used WHERE event_id = ? AND ticket_id = ? ORDER BY at`, event, id)
	if err != nil {
		return nil, fmt.Errorf("gatedb: uses of %s/%s: %w", event, id, err)
	}
	defer rows.Close()
	var out []Use
	for rows.Next() {
		var u Use
		var at int64
		if err := rows.Scan(&u.Device, &u.Gate, &at); err != nil {
			return nil, fmt.Errorf("gatedb: uses: %w", err)
		}
		u.At = fromMS(at)
		out = append(out, u)
	}
	return out, rows.Err()
}

// Record journals a decision of this gate (device) and, for an admission,
// its used mark, in one durable transaction. It returns the journal seq.
func (d *DB) Record(ctx context.Context, device string, s wire.Scan) (int64, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("gatedb: record: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO journal (event_id, ticket_id, gate, at, outcome, reason, sentence)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, s.Event, s.TicketID, s.Gate, ms(s.At), s.Outcome, s.Reason, s.Sentence)
	if err != nil {
		return 0, fmt.Errorf("gatedb: record: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("gatedb: record: %w", err)
	}
	if s.Outcome == wire.Admitted {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO used (event_id, ticket_id, device, at, gate) VALUES (?, ?, ?, ?, ?)`,
			s.Event, s.TicketID, device, ms(s.At), s.Gate); err != nil {
			return 0, fmt.Errorf("gatedb: record: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("gatedb: record: %w", err)
	}
	return seq, nil
}

// Pending returns up to limit journaled scans with seq > after, oldest first.
func (d *DB) Pending(ctx context.Context, after int64, limit int) ([]wire.Scan, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, event_id, ticket_id, gate, at, outcome, reason, sentence
		FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("gatedb: pending: %w", err)
	}
	defer rows.Close()
	var out []wire.Scan
	for rows.Next() {
		var s wire.Scan
		var at int64
		if err := rows.Scan(&s.Seq, &s.Event, &s.TicketID, &s.Gate, &at, &s.Outcome, &s.Reason, &s.Sentence); err != nil {
			return nil, fmt.Errorf("gatedb: pending: %w", err)
		}
		s.At = fromMS(at)
		out = append(out, s)
	}
	return out, rows.Err()
}

// Acked compacts the journal: the fleet has recorded every scan up to upTo.
func (d *DB) Acked(ctx context.Context, upTo int64) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM journal WHERE seq <= ?`, upTo); err != nil {
		return fmt.Errorf("gatedb: compact journal: %w", err)
	}
	return nil
}

// Backlog returns the number of journaled scans not yet acknowledged.
func (d *DB) Backlog(ctx context.Context) (int, error) {
	var n int
	if err := d.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM journal`).Scan(&n); err != nil {
		return 0, fmt.Errorf("gatedb: backlog: %w", err)
	}
	return n, nil
}
