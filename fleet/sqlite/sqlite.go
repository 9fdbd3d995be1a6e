// Package sqlite is the fleet's embedded store: one SQLite file in WAL mode,
// migrations embedded in the binary.
package sqlite

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
	"admit/ticket"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store implements fleet.Store on SQLite.
type Store struct {
	db *sql.DB
}

var _ fleet.Store = (*Store)(nil)

// Open opens or creates the store at path.
func Open(ctx context.Context, path string) (*Store, error) {
	migrations, _ := fs.Sub(migrationFiles, "migrations")
	db, err := sqlitedb.Open(ctx, path, migrations, sqlitedb.SyncFull)
	if err != nil {
		return nil, fmt.Errorf("fleet store: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

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

func (s *Store) CreateEvent(ctx context.Context, e fleet.Event) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO events (id, name, starts_at, ends_at, created_at) VALUES (?, ?, ?, ?, ?)`,
		e.ID, e.Name, ms(e.StartsAt), ms(e.EndsAt), ms(e.CreatedAt))
	if err != nil && strings.Contains(err.Error(), "UNIQUE") {
		return fmt.Errorf("event %q: %w", e.ID, fleet.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create event %q: %w", e.ID, err)
	}
	return nil
}

func (s *Store) Event(ctx context.Context, id string) (fleet.Event, error) {
	var e fleet.Event
	var starts, ends, created int64
	err := s.db.QueryRowContext(ctx, `SELECT id, name, starts_at, ends_at, created_at FROM events WHERE id = ?`, id).
		Scan(&e.ID, &e.Name, &starts, &ends, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("event %q: %w", id, fleet.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("event %q: %w", id, err)
	}
	e.StartsAt, e.EndsAt, e.CreatedAt = fromMS(starts), fromMS(ends), fromMS(created)
	return e, nil
}

func (s *Store) Events(ctx context.Context) ([]fleet.Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, starts_at, ends_at, created_at FROM events ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []fleet.Event
	for rows.Next() {
		var e fleet.Event
		var starts, ends, created int64
		if err := rows.Scan(&e.ID, &e.Name, &starts, &ends, &created); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		e.StartsAt, e.EndsAt, e.CreatedAt = fromMS(starts), fromMS(ends), fromMS(created)
		out = append(out, e)
	}
	return out, rows.Err()
}

// appendChange logs c for event inside tx.
func appendChange(ctx context.Context, tx *sql.Tx, event string, c wire.Change) error {
	body, err := json.Marshal(c)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO changes (event_id, kind, body) VALUES (?, ?, ?)`, event, c.Kind, body)
	return err
}

func (s *Store) AddSigningKey(ctx context.Context, k ticket.SigningKey, at time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add key: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (event_id, id, private, created_at) VALUES (?, ?, ?, ?)`,
		k.Event, k.ID, []byte(k.Private), ms(at)); err != nil {
		return fmt.Errorf("add key %s/%s: %w", k.Event, k.ID, err)
	}
	pub := k.Public()
	if err := appendChange(ctx, tx, k.Event, wire.Change{Kind: wire.KindKey, Key: &wire.Key{ID: k.ID, Public: pub.Key}}); err != nil {
		return fmt.Errorf("add key %s/%s: %w", k.Event, k.ID, err)
	}
	return tx.Commit()
}

func (s *Store) SigningKey(ctx context.Context, event string) (ticket.SigningKey, error) {
	var k ticket.SigningKey
	var priv []byte
	err := s.db.QueryRowContext(ctx, `SELECT id, private FROM signing_keys WHERE event_id = ? AND retired_at IS NULL
		ORDER BY created_at DESC, id DESC LIMIT 1`, event).Scan(&k.ID, &priv)
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("signing key of %q: %w", event, fleet.ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("signing key of %q: %w", event, err)
	}
	if len(priv) != ed25519.PrivateKeySize {
		return k, fmt.Errorf("signing key %s/%s: stored key has %d bytes", event, k.ID, len(priv))
	}
	k.Event, k.Private = event, ed25519.PrivateKey(priv)
	return k, nil
}

func (s *Store) AddTickets(ctx context.Context, ts []fleet.Ticket) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("add tickets: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT INTO tickets (event_id, id, type, holder, code, issued_at) VALUES (?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("add tickets: %w", err)
	}
	defer ins.Close()
	for _, t := range ts {
		if _, err := ins.ExecContext(ctx, t.Event, t.ID, t.Type, t.Holder, t.Code, ms(t.IssuedAt)); err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				return fmt.Errorf("ticket %s/%s: %w", t.Event, t.ID, fleet.ErrExists)
			}
			return fmt.Errorf("add ticket %s/%s: %w", t.Event, t.ID, err)
		}
		c := wire.Change{Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: t.ID, Type: t.Type, Holder: t.Holder}}
		if err := appendChange(ctx, tx, t.Event, c); err != nil {
			return fmt.Errorf("add ticket %s/%s: %w", t.Event, t.ID, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add tickets: %w", err)
	}
	return nil
}

func (s *Store) Tickets(ctx context.Context, event string, limit int) ([]fleet.Ticket, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, type, holder, code, issued_at, COALESCE(revoked_at, 0)
		FROM tickets WHERE event_id = ? ORDER BY issued_at, id LIMIT ?`, event, limit)
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	defer rows.Close()
	var out []fleet.Ticket
	for rows.Next() {
		t := fleet.Ticket{Event: event}
		var issued, revoked int64
		if err := rows.Scan(&t.ID, &t.Type, &t.Holder, &t.Code, &issued, &revoked); err != nil {
			return nil, fmt.Errorf("list tickets: %w", err)
		}
		t.IssuedAt, t.RevokedAt = fromMS(issued), fromMS(revoked)
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Store) Ticket(ctx context.Context, event, id string) (fleet.Ticket, error) {
	t := fleet.Ticket{Event: event, ID: id}
	var issued, revoked int64
	err := s.db.QueryRowContext(ctx, `SELECT type, holder, code, issued_at, COALESCE(revoked_at, 0)
		FROM tickets WHERE event_id = ? AND id = ?`, event, id).Scan(&t.Type, &t.Holder, &t.Code, &issued, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("ticket %s/%s: %w", event, id, fleet.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("ticket %s/%s: %w", event, id, err)
	}
	t.IssuedAt, t.RevokedAt = fromMS(issued), fromMS(revoked)
	return t, nil
}

func (s *Store) Changes(ctx context.Context, event string, after int64, limit int) ([]wire.Change, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, body FROM changes WHERE event_id = ? AND seq > ? ORDER BY seq LIMIT ?`,
		event, after, limit)
	if err != nil {
		return nil, fmt.Errorf("changes of %q: %w", event, err)
	}
	defer rows.Close()
	var out []wire.Change
	for rows.Next() {
		var seq int64
		var body []byte
		if err := rows.Scan(&seq, &body); err != nil {
			return nil, fmt.Errorf("changes of %q: %w", event, err)
		}
		var c wire.Change
		if err := json.Unmarshal(body, &c); err != nil {
			return nil, fmt.Errorf("change %d of %q: %w", seq, event, err)
		}
		c.Seq = seq
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) RecordScans(ctx context.Context, device string, scans []wire.Scan, at time.Time) ([]string, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("record scans: %w", err)
	}
	defer tx.Rollback()
	ins, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO scans
		(device_id, seq, event_id, ticket_id, gate, at, outcome, reason, sentence, received_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return nil, fmt.Errorf("record scans: %w", err)
	}
	defer ins.Close()
	var grown []string
	for _, sc := range scans {
		res, err := ins.ExecContext(ctx, device, sc.Seq, sc.Event, sc.TicketID, sc.Gate, ms(sc.At), sc.Outcome, sc.Reason, sc.Sentence, ms(at))
		if err != nil {
			return nil, fmt.Errorf("record scan %s/%d: %w", device, sc.Seq, err)
		}
		if n, _ := res.RowsAffected(); n == 0 || sc.Outcome != wire.Admitted {
			continue // a duplicate, or nothing for the other gates to learn
		}
		used := wire.Change{Kind: wire.KindUsed, Used: &wire.Used{TicketID: sc.TicketID, Device: device, Gate: sc.Gate, At: sc.At}}
		if err := appendChange(ctx, tx, sc.Event, used); err != nil {
			return nil, fmt.Errorf("record scan %s/%d: %w", device, sc.Seq, err)
		}
		if !slices.Contains(grown, sc.Event) {
			grown = append(grown, sc.Event)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record scans: %w", err)
	}
	return grown, nil
}

func (s *Store) RecentScans(ctx context.Context, limit int) ([]fleet.ScanRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT device_id, seq, event_id, ticket_id, gate, at, outcome, reason, sentence, received_at
		FROM scans ORDER BY received_at DESC, at DESC, seq DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("recent scans: %w", err)
	}
	defer rows.Close()
	var out []fleet.ScanRecord
	for rows.Next() {
		var r fleet.ScanRecord
		var at, received int64
		if err := rows.Scan(&r.Device, &r.Seq, &r.Event, &r.TicketID, &r.Gate, &at, &r.Outcome, &r.Reason, &r.Sentence, &received); err != nil {
			return nil, fmt.Errorf("recent scans: %w", err)
		}
		r.At, r.ReceivedAt = fromMS(at), fromMS(received)
		out = append(out, r)
	}
	return out, rows.Err()
}
