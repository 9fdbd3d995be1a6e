package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"admit/fleet"
)

const deviceCols = `id, name, grp, gate, events, public_key, created_at, revoked_at, last_seen, firmware, config_version, config_failed, config_error`

func scanDevice(sc interface{ Scan(...any) error }) (fleet.Device, error) {
	var d fleet.Device
	var created, revoked, seen int64
	var events string
	err := sc.Scan(&d.ID, &d.Name, &d.Group, &d.Gate, &events, &d.PublicKey, &created, &revoked, &seen, &d.Firmware, &d.ConfigVersion, &d.ConfigFailed, &d.ConfigError)
	d.CreatedAt, d.RevokedAt, d.LastSeen = fromMS(created), fromMS(revoked), fromMS(seen)
	d.Events = parseZones(events)
	return d, err
}

func (s *Store) PutDevice(ctx context.Context, d fleet.Device) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("put device: %w", err)
	}
	defer tx.Rollback()
	if err := s.putDeviceTx(ctx, tx, d); err != nil {
		return err
	}
	return tx.Commit()
}

// putDeviceTx creates d, or updates an existing device's name, group,
// gate and events. An existing device's key and revocation stay: only
// rekeyTx changes them. The venue scopes of the events it served and
// serves follow.
func (s *Store) putDeviceTx(ctx context.Context, tx *sql.Tx, d fleet.Device) error {
	was, existed, err := s.deviceEventsTx(ctx, tx, d.ID)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO devices (id, name, grp, gate, events, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, grp = excluded.grp, gate = excluded.gate, events = excluded.events`),
		d.ID, d.Name, d.Group, d.Gate, zonesJSON(d.Events), d.PublicKey, ms(d.CreatedAt))
	if err != nil {
		return fmt.Errorf("put device %q: %w", d.ID, err)
	}
	if err := s.syncDeviceTx(ctx, tx, d.ID, was, existed); err != nil {
		return err
	}
	return s.notify(ctx, tx, "d:"+d.ID)
}

func (s *Store) RekeyDevice(ctx context.Context, id string, pub []byte) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("rekey device: %w", err)
	}
	defer tx.Rollback()
	if err := s.rekeyTx(ctx, tx, id, pub); err != nil {
		return err
	}
	return tx.Commit()
}

// rekeyTx sets an existing device's key and clears its revocation.
func (s *Store) rekeyTx(ctx context.Context, tx *sql.Tx, id string, pub []byte) error {
	res, err := tx.ExecContext(ctx, s.q(`UPDATE devices SET public_key = ?, revoked_at = 0 WHERE id = ?`), pub, id)
	if err != nil {
		return fmt.Errorf("rekey device %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("device %q: %w", id, fleet.ErrNotFound)
	}
	events, _, err := s.deviceEventsTx(ctx, tx, id)
	if err != nil {
		return err
	}
	if err := s.syncDeviceTx(ctx, tx, id, events, true); err != nil {
		return err
	}
	return s.notify(ctx, tx, "d:"+id)
}

func (s *Store) Device(ctx context.Context, id string) (fleet.Device, error) {
	d, err := scanDevice(s.db.QueryRowContext(ctx, s.q(`SELECT `+deviceCols+` FROM devices WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %q: %w", id, fleet.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("device %q: %w", id, err)
	}
	return d, nil
}

func (s *Store) Devices(ctx context.Context) ([]fleet.Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deviceCols+` FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []fleet.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("revoke device: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at = 0`), ms(at), id)
	if err != nil {
		return fmt.Errorf("revoke device %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Device(ctx, id); err != nil {
			return err
		}
	}
	events, _, err := s.deviceEventsTx(ctx, tx, id)
	if err != nil {
		return err
	}
	if err := s.syncDeviceTx(ctx, tx, id, events, true); err != nil {
		return err
	}
	if err := s.notify(ctx, tx, "d:"+id); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) ReportDevice(ctx context.Context, id, firmware string, configVersion int64, at time.Time) error {
	// Running a version at least as new as the one that failed clears the
	// failure; an older one keeps it (the device still lacks it).
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE devices SET firmware = COALESCE(NULLIF(?, ''), firmware), config_version = ?,
		config_error = CASE WHEN ? >= config_failed THEN '' ELSE config_error END,
		config_failed = CASE WHEN ? >= config_failed THEN 0 ELSE config_failed END, last_seen = ?
		WHERE id = ?`), firmware, configVersion, configVersion, configVersion, ms(at), id)
	if err != nil {
		return fmt.Errorf("report device %q: %w", id, err)
	}
	return nil
}

func (s *Store) ReportConfig(ctx context.Context, id string, applied, failed int64, reason string, at time.Time) error {
	if failed == 0 {
		return s.ReportDevice(ctx, id, "", applied, at)
	}
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE devices SET config_version = ?, config_failed = ?, config_error = ?, last_seen = ? WHERE id = ?`),
		applied, failed, reason, ms(at), id)
	if err != nil {
		return fmt.Errorf("report config of %q: %w", id, err)
	}
	return nil
}
