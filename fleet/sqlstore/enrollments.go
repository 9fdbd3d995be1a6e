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
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO enrollments (token_hash, device_id, name, grp, gate, events, replace_device, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), e.TokenHash, e.Device, e.Name, e.Group, e.Gate, zonesJSON(e.Events), e.Replace, ms(e.CreatedAt), ms(e.ExpiresAt))
	return s.wrapUnique(err, "create enrollment")
}

func (s *Store) Enroll(ctx context.Context, tokenHash, pub []byte, at time.Time) (fleet.Device, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return fleet.Device{}, fmt.Errorf("enroll: %w", err)
	}
	defer tx.Rollback()
	d := fleet.Device{PublicKey: pub, CreatedAt: at}
	var events string
	var replace bool
	err = tx.QueryRowContext(ctx, s.q(`UPDATE enrollments SET used_at = ? WHERE token_hash = ? AND used_at = 0 AND expires_at > ?
		RETURNING device_id, name, grp, gate, events, replace_device`), ms(at), tokenHash, ms(at)).Scan(&d.ID, &d.Name, &d.Group, &d.Gate, &events, &replace)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fleet.ErrBadToken
	}
	if err != nil {
		return d, fmt.Errorf("enroll: %w", err)
	}
	d.Events = parseZones(events)
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM devices WHERE id = ?`), d.ID).Scan(&n); err != nil {
		return d, fmt.Errorf("enroll: %w", err)
	}
	switch {
	case n > 0 && !replace:
		return d, fmt.Errorf("enroll %q: an enrolled device has this id (a replacing token is needed): %w", d.ID, fleet.ErrExists)
	case n > 0:
		if err := s.putDeviceTx(ctx, tx, d); err != nil {
			return d, err
		}
		if err := s.rekeyTx(ctx, tx, d.ID, pub); err != nil {
			return d, err
		}
	default:
		if err := s.putDeviceTx(ctx, tx, d); err != nil {
			return d, err
		}
	}
	if err := tx.Commit(); err != nil {
		return d, fmt.Errorf("enroll: %w", err)
	}
	return s.Device(ctx, d.ID)
}
