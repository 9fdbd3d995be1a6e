package gatedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// StaffThrottle counts the failed staff sign-ins of one subject at this
// gate ("staff:<id>", or "gate" for all of them) since First. It lives in
// the database so that restarting the gate does not lift a lock-out.
type StaffThrottle struct {
	Subject     string
	Failures    int
	First       time.Time
	LockedUntil time.Time
}

// StaffThrottle returns subject's count (zero when none).
func (d *DB) StaffThrottle(ctx context.Context, subject string) (StaffThrottle, error) {
	t := StaffThrottle{Subject: subject}
	var first, locked int64
	err := d.db.QueryRowContext(ctx, `SELECT failures, first_at, locked_until FROM staff_throttle WHERE subject = ?`, subject).Scan(&t.Failures, &first, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return t, nil
	}
	if err != nil {
		return t, fmt.Errorf("gatedb: staff throttle: %w", err)
	}
	t.First, t.LockedUntil = fromMS(first), fromMS(locked)
	return t, nil
}

// StaffFailure counts a failed sign-in of subject at at: the count starts
// again at 1 when its first failure is at or before windowStart, and the
// subject is locked until lockUntil when the count reaches max.
func (d *DB) StaffFailure(ctx context.Context, subject string, at, windowStart time.Time, max int, lockUntil time.Time) (StaffThrottle, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return StaffThrottle{}, fmt.Errorf("gatedb: staff throttle: %w", err)
	}
	defer tx.Rollback()
	t := StaffThrottle{Subject: subject}
	var first, locked int64
	err = tx.QueryRowContext(ctx, `SELECT failures, first_at, locked_until FROM staff_throttle WHERE subject = ?`, subject).Scan(&t.Failures, &first, &locked)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("gatedb: staff throttle: %w", err)
	}
	if errors.Is(err, sql.ErrNoRows) || first <= ms(windowStart) {
		t.Failures, first = 0, ms(at)
	}
	t.Failures++
	if t.Failures >= max {
		locked = ms(lockUntil)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO staff_throttle (subject, failures, first_at, locked_until) VALUES (?, ?, ?, ?)
		ON CONFLICT (subject) DO UPDATE SET failures = excluded.failures, first_at = excluded.first_at, locked_until = excluded.locked_until`,
		subject, t.Failures, first, locked); err != nil {
		return t, fmt.Errorf("gatedb: staff throttle: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return t, fmt.Errorf("gatedb: staff throttle: %w", err)
	}
	t.First, t.LockedUntil = fromMS(first), fromMS(locked)
	return t, nil
}

// ClearStaffThrottle forgets subject's failures (a successful sign-in).
func (d *DB) ClearStaffThrottle(ctx context.Context, subject string) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM staff_throttle WHERE subject = ?`, subject); err != nil {
		return fmt.Errorf("gatedb: staff throttle: %w", err)
	}
	return nil
}
