package sqlstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
)

// RecordContests implements fleet.Store: one transaction, a contest
// already stored (the same event, ticket, kind and sides) left as it is.
func (s *Store) RecordContests(ctx context.Context, device string, cs []wire.Contest, at time.Time) error {
	if len(cs) == 0 {
		return nil
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("record contests of %q: %w", device, err)
	}
	defer tx.Rollback()
	q := s.q(`INSERT INTO contests (event_id, ticket_id, kind, first_device, first_gate, first_at, second_device, second_gate, second_at,
		by_device, noticed_at, reported_by, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, ticket_id, kind, first_device, first_at, second_device, second_at) DO NOTHING`)
	for _, c := range cs {
		if _, err := tx.ExecContext(ctx, q, c.Event, c.TicketID, c.Kind, c.First.Device, c.First.Gate, ms(c.First.At),
			c.Second.Device, c.Second.Gate, ms(c.Second.At), c.By, ms(c.Noticed), device, ms(at)); err != nil {
			return fmt.Errorf("record contests of %q: %w", device, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record contests of %q: %w", device, err)
	}
	return nil
}

// Contests implements fleet.Store.
func (s *Store) Contests(ctx context.Context, events []string, limit int) ([]fleet.ContestRecord, error) {
	where, args := "", []any{}
	if events != nil {
		if len(events) == 0 {
			return nil, nil
		}
		where = `WHERE event_id IN (` + strings.TrimSuffix(strings.Repeat("?, ", len(events)), ", ") + `)`
		for _, e := range events {
			args = append(args, e)
		}
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, event_id, ticket_id, kind, first_device, first_gate, first_at, second_device, second_gate,
		second_at, by_device, noticed_at, reported_by, received_at FROM contests `+where+` ORDER BY id DESC LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("contests: %w", err)
	}
	defer rows.Close()
	var out []fleet.ContestRecord
	for rows.Next() {
		var c fleet.ContestRecord
		var first, second, noticed, received int64
		if err := rows.Scan(&c.ID, &c.Event, &c.TicketID, &c.Kind, &c.First.Device, &c.First.Gate, &first, &c.Second.Device, &c.Second.Gate,
			&second, &c.By, &noticed, &c.ReportedBy, &received); err != nil {
			return nil, fmt.Errorf("contests: %w", err)
		}
		c.First.At, c.Second.At, c.Noticed, c.ReceivedAt = fromMS(first), fromMS(second), fromMS(noticed), fromMS(received)
		out = append(out, c)
	}
	return out, rows.Err()
}
