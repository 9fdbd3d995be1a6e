// Package gatedb is a gate's local database: the allowlist replica (event
// keys, tickets, revocations; whether its first snapshot completed and
// the sync point of its position), the venue data replica (the keys of
// the devices that serve the event, its gate staff's hashed PINs, zones,
// gates, ticket types, settings, UID badges, partner JWT keys), used
// marks from every gate of the venue, the claims this gate holds
// (claims.go), and the journal of this gate's decisions.
// It is one SQLite file so that a decision and its used mark commit
// together, durably, in one transaction.
package gatedb

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sync/atomic"
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
	db     *sql.DB
	peer   *peerMarks                   // peers' marks not yet persisted (peermarks.go)
	venue  venueCache                   // the venue scopes' device keys, in memory (venue.go)
	state  atomic.Pointer[replicaState] // readiness and sync points, in memory (replica.go)
	claims claimConn                    // claims and contests are written on it (claims.go)
	// stateChanged wakes ReplicaChanged's reader.
	stateChanged chan struct{}
	// marks reads a ticket's stored passages (marksQuery), prepared once:
	// peers' claims read them off the decision path's connection.
	marks *sql.Stmt
}

// Open opens or creates the database at path. sync is the durability of a
// commit; sqlitedb.SyncFull (the default) survives power loss.
func Open(ctx context.Context, path string, sync sqlitedb.Sync) (*DB, error) {
	migrations, _ := fs.Sub(migrationFiles, "migrations")
	db, err := sqlitedb.Open(ctx, path, migrations, sync)
	if err != nil {
		return nil, fmt.Errorf("gatedb: %w", err)
	}
	d := &DB{db: db, peer: newPeerMarks(), stateChanged: make(chan struct{}, 1)}
	if d.marks, err = db.PrepareContext(ctx, marksQuery); err != nil {
		db.Close()
		return nil, fmt.Errorf("gatedb: prepare: %w", err)
	}
	if err := d.loadVenue(ctx); err != nil {
		d.marks.Close()
		db.Close()
		return nil, err
	}
	if err := d.loadReplicaState(ctx); err != nil {
		d.marks.Close()
		db.Close()
		return nil, err
	}
	return d, nil
}

// Close closes the database. Peer marks still held in memory are not
// persisted (PersistPeerMarks first for that); peers send them again.
func (d *DB) Close() error {
	d.closePeerMarks()
	d.closeClaims()
	d.marks.Close()
	return d.db.Close()
}

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
	rows, err := d.db.QueryContext(ctx, `SELECT seq, event_id, ticket_id, gate, at, outcome, reason, sentence, direction, annuls, staff
		FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("gatedb: pending: %w", err)
	}
	defer rows.Close()
	var out []wire.Scan
	for rows.Next() {
		var s wire.Scan
		var at, annuls int64
		if err := rows.Scan(&s.Seq, &s.Event, &s.TicketID, &s.Gate, &at, &s.Outcome, &s.Reason, &s.Sentence, &s.Direction, &annuls, &s.Staff); err != nil {
			return nil, fmt.Errorf("gatedb: pending: %w", err)
		}
		s.At, s.Annuls = fromMS(at), fromMS(annuls)
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
