package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"admit/fleet/operator"
)

func (s *Store) CreateToken(ctx context.Context, t operator.Token) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO api_tokens (id, token_hash, name, role, event, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`), t.ID, t.Hash, t.Name, string(t.Grant.Role), t.Grant.Event, t.CreatedBy, ms(t.CreatedAt), ms(t.ExpiresAt))
	if err != nil {
		if s.d.IsUnique != nil && s.d.IsUnique(err) {
			return fmt.Errorf("create token: %w", operator.ErrExists)
		}
		return fmt.Errorf("create token: %w", err)
	}
	return nil
}

const tokenCols = `id, token_hash, name, role, event, created_by, created_at, expires_at, revoked_at, last_used`

func scanToken(sc interface{ Scan(...any) error }) (operator.Token, error) {
	var t operator.Token
	var created, expires, revoked, used int64
	err := sc.Scan(&t.ID, &t.Hash, &t.Name, &t.Grant.Role, &t.Grant.Event, &t.CreatedBy, &created, &expires, &revoked, &used)
	t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsed = fromMS(created), fromMS(expires), fromMS(revoked), fromMS(used)
	return t, err
}

func (s *Store) TokenByHash(ctx context.Context, hash []byte) (operator.Token, error) {
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+tokenCols+` FROM api_tokens WHERE token_hash = ?`), hash))
	if errors.Is(err, sql.ErrNoRows) {
		return t, operator.ErrBadToken
	}
	if err != nil {
		return t, fmt.Errorf("token: %w", err)
	}
	return t, nil
}

func (s *Store) Tokens(ctx context.Context) ([]operator.Token, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []operator.Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Store) RevokeToken(ctx context.Context, id string, at time.Time) (operator.Token, error) {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at = 0`), ms(at), id); err != nil {
		return operator.Token{}, fmt.Errorf("revoke token: %w", err)
	}
	t, err := scanToken(s.db.QueryRowContext(ctx, s.q(`SELECT `+tokenCols+` FROM api_tokens WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token %q: %w", id, operator.ErrNotFound)
	}
	return t, err
}

func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	if _, err := s.db.ExecContext(ctx, s.q(`UPDATE api_tokens SET last_used = ? WHERE id = ?`), ms(at), id); err != nil {
		return fmt.Errorf("touch token: %w", err)
	}
	return nil
}
