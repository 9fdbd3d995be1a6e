package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"admit/fleet/operator"
)

func (s *Store) CreateSession(ctx context.Context, ss operator.Session) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO operator_sessions (id_hash, public_id, operator, stage, created_at, last_seen, expires_at, remote, user_agent)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), ss.IDHash, ss.ID, ss.Operator, ss.Stage, ms(ss.CreatedAt), ms(ss.LastSeen), ms(ss.ExpiresAt), ss.Remote, ss.UserAgent)
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

const sessionCols = `id_hash, public_id, operator, stage, created_at, last_seen, expires_at, remote, user_agent`

func scanSession(sc interface{ Scan(...any) error }) (operator.Session, error) {
	var ss operator.Session
	var created, seen, expires int64
	err := sc.Scan(&ss.IDHash, &ss.ID, &ss.Operator, &ss.Stage, &created, &seen, &expires, &ss.Remote, &ss.UserAgent)
	ss.CreatedAt, ss.LastSeen, ss.ExpiresAt = fromMS(created), fromMS(seen), fromMS(expires)
	return ss, err
}

func (s *Store) Session(ctx context.Context, idHash []byte) (operator.Session, error) {
	ss, err := scanSession(s.db.QueryRowContext(ctx, s.q(`SELECT `+sessionCols+` FROM operator_sessions WHERE id_hash = ?`), idHash))
	if errors.Is(err, sql.ErrNoRows) {
		return ss, operator.ErrBadToken
	}
	if err != nil {
		return ss, fmt.Errorf("session: %w", err)
	}
	return ss, nil
}

func (s *Store) TouchSession(ctx context.Context, idHash []byte, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE operator_sessions SET last_seen = ? WHERE id_hash = ?`), ms(at), idHash); err != nil {
		return fmt.Errorf("touch session: %w", err)
	}
	return nil
}

func (s *Store) DeleteSession(ctx context.Context, idHash []byte) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM operator_sessions WHERE id_hash = ?`), idHash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

func (s *Store) DeleteSessionID(ctx context.Context, name, id string) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM operator_sessions WHERE operator = ? AND public_id = ?`), name, id)
	if err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("session %q of %q: %w", id, name, operator.ErrNotFound)
	}
	return nil
}

func (s *Store) Sessions(ctx context.Context, name string) ([]operator.Session, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+sessionCols+` FROM operator_sessions WHERE operator = ? ORDER BY created_at DESC`), name)
	if err != nil {
		return nil, fmt.Errorf("sessions of %q: %w", name, err)
	}
	defer rows.Close()
	var out []operator.Session
	for rows.Next() {
		ss, err := scanSession(rows)
		if err != nil {
			return nil, fmt.Errorf("sessions of %q: %w", name, err)
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}

func (s *Store) LoginThrottle(ctx context.Context, subject string) (operator.Throttle, error) {
	th := operator.Throttle{Subject: subject}
	var first, locked int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT failures, first_at, locked_until FROM login_throttle WHERE subject = ?`), subject).Scan(&th.Failures, &first, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return th, nil
	}
	if err != nil {
		return th, fmt.Errorf("login throttle: %w", err)
	}
	th.First, th.LockedUntil = fromMS(first), fromMS(locked)
	return th, nil
}

func (s *Store) CountLoginFailure(ctx context.Context, subject string, at, windowStart time.Time, max int, lockUntil time.Time) (operator.Throttle, error) {
	th := operator.Throttle{Subject: subject}
	firstLock := int64(0)
	if max <= 1 {
		firstLock = ms(lockUntil)
	}
	var first, locked int64
	// A count whose first failure is at or before the window's start
	// starts again at 1; reaching max locks until lockUntil.
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO login_throttle (subject, failures, first_at, locked_until) VALUES (?, 1, ?, ?)
		ON CONFLICT (subject) DO UPDATE SET
			failures = CASE WHEN login_throttle.first_at <= ? THEN 1 ELSE login_throttle.failures + 1 END,
			first_at = CASE WHEN login_throttle.first_at <= ? THEN ? ELSE login_throttle.first_at END,
			locked_until = CASE WHEN (CASE WHEN login_throttle.first_at <= ? THEN 1 ELSE login_throttle.failures + 1 END) >= ?
				THEN ? ELSE login_throttle.locked_until END
		RETURNING failures, first_at, locked_until`),
		subject, ms(at), firstLock,
		ms(windowStart), ms(windowStart), ms(at), ms(windowStart), max, ms(lockUntil)).Scan(&th.Failures, &first, &locked)
	if err != nil {
		return th, fmt.Errorf("count login failure: %w", err)
	}
	th.First, th.LockedUntil = fromMS(first), fromMS(locked)
	return th, nil
}

func (s *Store) ClearLoginThrottle(ctx context.Context, subject string) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM login_throttle WHERE subject = ?`), subject); err != nil {
		return fmt.Errorf("clear login throttle: %w", err)
	}
	return nil
}

func (s *Store) PruneLoginThrottle(ctx context.Context, before, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM login_throttle WHERE first_at < ? AND locked_until <= ?`), ms(before), ms(at)); err != nil {
		return fmt.Errorf("prune login throttle: %w", err)
	}
	return nil
}
