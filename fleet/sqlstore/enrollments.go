package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"admit/fleet"
)

func (s *Store) CreateEnrollment(ctx context.Context, e fleet.Enrollment) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO enrollments (token_hash, device_id, name, grp, gate, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), e.TokenHash, e.Device, e.Name, e.Group, e.Gate, ms(e.CreatedAt), ms(e.ExpiresAt))
	return s.wrapUnique(err, "create enrollment")
}

func (s *Store) Enroll(ctx context.Context, tokenHash, pub []byte, at time.Time) (fleet.Device, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return fleet.Device{}, fmt.Errorf("enroll: %w", err)
	}
	defer tx.Rollback()
	d := fleet.Device{PublicKey: pub, CreatedAt: at}
	err = tx.QueryRowContext(ctx, s.q(`UPDATE enrollments SET used_at = ? WHERE token_hash = ? AND used_at = 0 AND expires_at > ?
		RETURNING device_id, name, grp, gate`), ms(at), tokenHash, ms(at)).Scan(&d.ID, &d.Name, &d.Group, &d.Gate)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fleet.ErrBadToken
	}
	if err != nil {
		return d, fmt.Errorf("enroll: %w", err)
	}
	if err := s.putDeviceTx(ctx, tx, d); err != nil {
		return d, err
	}
	if err := tx.Commit(); err != nil {
		return d, fmt.Errorf("enroll: %w", err)
	}
	return s.Device(ctx, d.ID)
}
