package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"admit/fleet/access"
	"admit/fleet/operator"
)

var _ operator.Store = (*Store)(nil)

func (s *Store) CreateOperator(ctx context.Context, o operator.Operator) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("create operator: %w", err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO operators (name, created_at, created_by) VALUES (?, ?, ?)`), o.Name, ms(o.CreatedAt), o.CreatedBy)
	if err != nil {
		if s.d.IsUnique != nil && s.d.IsUnique(err) {
			return fmt.Errorf("create operator %q: %w", o.Name, operator.ErrExists)
		}
		return fmt.Errorf("create operator %q: %w", o.Name, err)
	}
	if err := s.putGrantsTx(ctx, tx, o.Name, o.Grants); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) putGrantsTx(ctx context.Context, tx *sql.Tx, name string, grants []access.Grant) error {
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM operator_grants WHERE operator = ?`), name); err != nil {
		return fmt.Errorf("grants of %q: %w", name, err)
	}
	seen := map[access.Grant]bool{}
	for _, g := range grants {
		if seen[g] {
			continue
		}
		seen[g] = true
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO operator_grants (operator, role, event) VALUES (?, ?, ?)`), name, string(g.Role), g.Event); err != nil {
			return fmt.Errorf("grants of %q: %w", name, err)
		}
	}
	return nil
}

func (s *Store) SetGrants(ctx context.Context, name string, grants []access.Grant) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("set grants: %w", err)
	}
	defer tx.Rollback()
	if err := s.operatorExistsTx(ctx, tx, name); err != nil {
		return err
	}
	was, wasAll, err := s.staffEventsTx(ctx, tx, name)
	if err != nil {
		return err
	}
	if err := s.putGrantsTx(ctx, tx, name, grants); err != nil {
		return err
	}
	// Gate staff of an event sign in at its gates: the venue scopes of
	// the events it was or is staff of follow.
	now, nowAll, err := s.staffEventsTx(ctx, tx, name)
	if err != nil {
		return err
	}
	if err := s.syncVenuesTx(ctx, tx, append(was, now...), wasAll || nowAll); err != nil {
		return err
	}
	return tx.Commit()
}

// staffEventsTx returns the events an operator holds the gate staff role
// on; all when it holds it on every event.
func (s *Store) staffEventsTx(ctx context.Context, tx *sql.Tx, name string) (events []string, all bool, err error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT event FROM operator_grants WHERE operator = ? AND role = ?`), name, string(access.GateStaff))
	if err != nil {
		return nil, false, fmt.Errorf("grants of %q: %w", name, err)
	}
	defer rows.Close()
	for rows.Next() {
		var ev string
		if err := rows.Scan(&ev); err != nil {
			return nil, false, fmt.Errorf("grants of %q: %w", name, err)
		}
		all = all || ev == access.AllEvents
		events = append(events, ev)
	}
	return events, all, rows.Err()
}

func (s *Store) operatorExistsTx(ctx context.Context, tx *sql.Tx, name string) error {
	var n int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM operators WHERE name = ?`), name).Scan(&n); err != nil {
		return fmt.Errorf("operator %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("operator %q: %w", name, operator.ErrNotFound)
	}
	return nil
}

const operatorCols = `name, password_hash, totp_secret, totp_last_step, created_at, created_by`

func scanOperator(sc interface{ Scan(...any) error }) (operator.Operator, error) {
	var o operator.Operator
	var created int64
	err := sc.Scan(&o.Name, &o.PasswordHash, &o.TOTPSecret, &o.TOTPLastStep, &created, &o.CreatedBy)
	o.CreatedAt = fromMS(created)
	o.SetUp = o.PasswordHash != "" && len(o.TOTPSecret) > 0
	return o, err
}

func (s *Store) grants(ctx context.Context, name string) ([]access.Grant, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT role, event FROM operator_grants WHERE operator = ? ORDER BY role, event`), name)
	if err != nil {
		return nil, fmt.Errorf("grants of %q: %w", name, err)
	}
	defer rows.Close()
	var out []access.Grant
	for rows.Next() {
		var g access.Grant
		if err := rows.Scan(&g.Role, &g.Event); err != nil {
			return nil, fmt.Errorf("grants of %q: %w", name, err)
		}
		out = append(out, g)
	}
	return out, rows.Err()
}

func (s *Store) Operator(ctx context.Context, name string) (operator.Operator, error) {
	o, err := scanOperator(s.db.QueryRowContext(ctx, s.q(`SELECT `+operatorCols+` FROM operators WHERE name = ?`), name))
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("operator %q: %w", name, operator.ErrNotFound)
	}
	if err != nil {
		return o, fmt.Errorf("operator %q: %w", name, err)
	}
	o.Grants, err = s.grants(ctx, name)
	return o, err
}

func (s *Store) Operators(ctx context.Context) ([]operator.Operator, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+operatorCols+` FROM operators ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	var out []operator.Operator
	for rows.Next() {
		o, err := scanOperator(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("list operators: %w", err)
		}
		out = append(out, o)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	for i := range out {
		if out[i].Grants, err = s.grants(ctx, out[i].Name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s *Store) ResetOperator(ctx context.Context, name string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("reset operator: %w", err)
	}
	defer tx.Rollback()
	if err := s.operatorExistsTx(ctx, tx, name); err != nil {
		return err
	}
	for _, q := range []string{
		`UPDATE operators SET password_hash = '', totp_secret = NULL, totp_last_step = -1 WHERE name = ?`,
		`DELETE FROM recovery_codes WHERE operator = ?`,
		`DELETE FROM operator_sessions WHERE operator = ?`,
		`DELETE FROM operator_setups WHERE operator = ?`,
	} {
		if _, err := tx.ExecContext(ctx, s.q(q), name); err != nil {
			return fmt.Errorf("reset operator %q: %w", name, err)
		}
	}
	return tx.Commit()
}

func (s *Store) UseTOTPStep(ctx context.Context, name string, step int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE operators SET totp_last_step = ? WHERE name = ? AND totp_last_step < ?`), step, name, step)
	if err != nil {
		return false, fmt.Errorf("use TOTP step of %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *Store) UseRecoveryCode(ctx context.Context, name string, hash []byte, at time.Time) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE recovery_codes SET used_at = ? WHERE operator = ? AND code_hash = ? AND used_at = 0`), ms(at), name, hash)
	if err != nil {
		return false, fmt.Errorf("use recovery code of %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *Store) RecoveryCodesLeft(ctx context.Context, name string) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM recovery_codes WHERE operator = ? AND used_at = 0`), name).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("recovery codes of %q: %w", name, err)
	}
	return n, nil
}

func (s *Store) CreateSetup(ctx context.Context, st operator.Setup) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("create setup: %w", err)
	}
	defer tx.Rollback()
	if err := s.operatorExistsTx(ctx, tx, st.Operator); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM operator_setups WHERE operator = ?`), st.Operator); err != nil {
		return fmt.Errorf("create setup: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO operator_setups (token_hash, operator, created_at, expires_at) VALUES (?, ?, ?, ?)`),
		st.TokenHash, st.Operator, ms(st.CreatedAt), ms(st.ExpiresAt)); err != nil {
		return fmt.Errorf("create setup: %w", err)
	}
	return tx.Commit()
}

func (s *Store) Setup(ctx context.Context, tokenHash []byte, at time.Time) (operator.Setup, error) {
	st := operator.Setup{TokenHash: tokenHash}
	var created, expires int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT operator, pending_secret, created_at, expires_at FROM operator_setups
		WHERE token_hash = ? AND used_at = 0 AND expires_at > ?`), tokenHash, ms(at)).Scan(&st.Operator, &st.PendingSecret, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return st, operator.ErrBadToken
	}
	if err != nil {
		return st, fmt.Errorf("setup: %w", err)
	}
	st.CreatedAt, st.ExpiresAt = fromMS(created), fromMS(expires)
	return st, nil
}

func (s *Store) SetSetupSecret(ctx context.Context, tokenHash, secret []byte) ([]byte, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE operator_setups SET pending_secret = ? WHERE token_hash = ? AND pending_secret IS NULL`), secret, tokenHash); err != nil {
		return nil, fmt.Errorf("setup secret: %w", err)
	}
	var out []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT pending_secret FROM operator_setups WHERE token_hash = ?`), tokenHash).Scan(&out)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, operator.ErrBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("setup secret: %w", err)
	}
	return out, nil
}

func (s *Store) FinishSetup(ctx context.Context, tokenHash []byte, c operator.Credentials, at time.Time) (operator.Operator, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return operator.Operator{}, fmt.Errorf("finish setup: %w", err)
	}
	defer tx.Rollback()
	var name string
	err = tx.QueryRowContext(ctx, s.q(`UPDATE operator_setups SET used_at = ? WHERE token_hash = ? AND used_at = 0 AND expires_at > ?
		RETURNING operator`), ms(at), tokenHash, ms(at)).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return operator.Operator{}, operator.ErrBadToken
	}
	if err != nil {
		return operator.Operator{}, fmt.Errorf("finish setup: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE operators SET password_hash = ?, totp_secret = ?, totp_last_step = ? WHERE name = ?`),
		c.PasswordHash, c.TOTPSecret, c.TOTPStep, name); err != nil {
		return operator.Operator{}, fmt.Errorf("finish setup: %w", err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM recovery_codes WHERE operator = ?`), name); err != nil {
		return operator.Operator{}, fmt.Errorf("finish setup: %w", err)
	}
	for _, h := range c.Recovery {
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO recovery_codes (operator, code_hash) VALUES (?, ?)`), name, h); err != nil {
			return operator.Operator{}, fmt.Errorf("finish setup: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return operator.Operator{}, fmt.Errorf("finish setup: %w", err)
	}
	return s.Operator(ctx, name)
}
