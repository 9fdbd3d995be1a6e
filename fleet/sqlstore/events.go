package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"admit/fleet"
	"admit/fleet/wire"
)

// CreateEvent creates the event with its two logs: its tickets' (on the
// events row) and its venue scope, which holds the devices already named
// for it (enrolled ahead of the event) from the start.
func (s *Store) CreateEvent(ctx context.Context, e fleet.Event) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("create event: %w", err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO events (id, name, starts_at, ends_at, created_at) VALUES (?, ?, ?, ?, ?)`),
		e.ID, e.Name, ms(e.StartsAt), ms(e.EndsAt), ms(e.CreatedAt))
	if err != nil {
		return s.wrapUnique(err, fmt.Sprintf("event %q", e.ID))
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO log_scopes (scope, event_id) VALUES (?, ?)`), wire.VenueScope(e.ID), e.ID); err != nil {
		return fmt.Errorf("event %q: venue scope: %w", e.ID, err)
	}
	if err := s.syncVenueTx(ctx, tx, e.ID); err != nil {
		return err
	}
	return tx.Commit()
}

func scanEvent(sc interface{ Scan(...any) error }) (fleet.Event, error) {
	var e fleet.Event
	var starts, ends, created int64
	err := sc.Scan(&e.ID, &e.Name, &starts, &ends, &created)
	e.StartsAt, e.EndsAt, e.CreatedAt = fromMS(starts), fromMS(ends), fromMS(created)
	return e, err
}

func (s *Store) Event(ctx context.Context, id string) (fleet.Event, error) {
	e, err := scanEvent(s.db.QueryRowContext(ctx, s.q(`SELECT id, name, starts_at, ends_at, created_at FROM events WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("event %q: %w", id, fleet.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("event %q: %w", id, err)
	}
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
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
