package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/operator"
)

// PutStaffCredential sets an operator's sign-in at an event's gates and
// brings the event's venue scope up to date, in one transaction.
func (s *Store) PutStaffCredential(ctx context.Context, c fleet.StaffCredential) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("staff credential: %w", err)
	}
	defer tx.Rollback()
	if err := s.operatorExistsTx(ctx, tx, c.Operator); err != nil {
		if errors.Is(err, operator.ErrNotFound) {
			return fmt.Errorf("staff credential: operator %q: %w", c.Operator, fleet.ErrNotFound)
		}
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM operator_grants WHERE operator = ? AND role = ? AND (event = ? OR event = ?)`),
		c.Operator, string(access.GateStaff), c.Event, access.AllEvents).Scan(&n); err != nil {
		return fmt.Errorf("staff credential: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("staff credential: %q holds no %s role on %q (grant it first): %w", c.Operator, access.GateStaff, c.Event, fleet.ErrNotStaff)
	}
	if err := s.eventExistsTx(ctx, tx, c.Event); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO staff_credentials (event_id, operator, pin_hash, badge_hash, set_at, set_by) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, operator) DO UPDATE SET pin_hash = excluded.pin_hash, badge_hash = excluded.badge_hash,
		set_at = excluded.set_at, set_by = excluded.set_by`), c.Event, c.Operator, c.PINHash, c.BadgeHash, ms(c.SetAt), c.SetBy)
	if err != nil {
		return fmt.Errorf("staff credential: %w", err)
	}
	if err := s.syncVenueTx(ctx, tx, c.Event); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) eventExistsTx(ctx context.Context, tx *sql.Tx, event string) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM events WHERE id = ?`), event).Scan(&n); err != nil {
		return fmt.Errorf("event %q: %w", event, err)
	}
	if n == 0 {
		return fmt.Errorf("event %q: %w", event, fleet.ErrNotFound)
	}
	return nil
}

// DeleteStaffCredential removes an operator's sign-in at an event's gates
// (and from their replicas); ErrNotFound when there was none.
func (s *Store) DeleteStaffCredential(ctx context.Context, event, name string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("staff credential: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`DELETE FROM staff_credentials WHERE event_id = ? AND operator = ?`), event, name)
	if err != nil {
		return fmt.Errorf("staff credential: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("staff credential of %q on %q: %w", name, event, fleet.ErrNotFound)
	}
	if err := s.syncVenueTx(ctx, tx, event); err != nil {
		return err
	}
	return tx.Commit()
}

// Staff lists the operators with the gate staff role on event (there or
// on all events), with their credentials' state.
func (s *Store) Staff(ctx context.Context, event string) ([]fleet.StaffMember, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT DISTINCT g.operator, COALESCE(c.pin_hash, ''), COALESCE(c.badge_hash, ''), COALESCE(c.set_at, 0), COALESCE(c.set_by, '')
		FROM operator_grants g LEFT JOIN staff_credentials c ON c.operator = g.operator AND c.event_id = ?
		WHERE g.role = ? AND (g.event = ? OR g.event = ?) ORDER BY g.operator`), event, string(access.GateStaff), event, access.AllEvents)
	if err != nil {
		return nil, fmt.Errorf("staff of %q: %w", event, err)
	}
	defer rows.Close()
	var out []fleet.StaffMember
	for rows.Next() {
		var m fleet.StaffMember
		var pin, badge string
		var at int64
		if err := rows.Scan(&m.Operator, &pin, &badge, &at, &m.SetBy); err != nil {
			return nil, fmt.Errorf("staff of %q: %w", event, err)
		}
		m.PIN, m.Badge, m.SetAt = pin != "", badge != "", fromMS(at)
		out = append(out, m)
	}
	return out, rows.Err()
}
