package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"admit/fleet"
)

func (s *Store) PutConfig(ctx context.Context, scope string, body json.RawMessage, at time.Time) (fleet.DesiredConfig, error) {
	c := fleet.DesiredConfig{Scope: scope, Body: body, UpdatedAt: at}
	tx, err := s.begin(ctx)
	if err != nil {
		return c, fmt.Errorf("put config: %w", err)
	}
	defer tx.Rollback()
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) + 1 FROM configs`).Scan(&c.Version); err != nil {
		return c, fmt.Errorf("put config %q: %w", scope, err)
	}
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO configs (scope, version, body, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (scope) DO UPDATE SET version = excluded.version, body = excluded.body, updated_at = excluded.updated_at`),
		scope, c.Version, string(body), ms(at))
	if err != nil {
		return c, s.wrapUnique(err, fmt.Sprintf("put config %q (concurrent update, retry)", scope))
	}
	if err := s.notify(ctx, tx, "c:"+scope); err != nil {
		return c, err
	}
	return c, tx.Commit()
}

func (s *Store) Config(ctx context.Context, scope string) (fleet.DesiredConfig, error) {
	c := fleet.DesiredConfig{Scope: scope}
	var body string
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT version, body, updated_at FROM configs WHERE scope = ?`), scope).Scan(&c.Version, &body, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("config %q: %w", scope, fleet.ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("config %q: %w", scope, err)
	}
	c.Body, c.UpdatedAt = json.RawMessage(body), fromMS(at)
	return c, nil
}

func (s *Store) Configs(ctx context.Context) ([]fleet.DesiredConfig, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT scope, version, body, updated_at FROM configs ORDER BY scope`)
	if err != nil {
		return nil, fmt.Errorf("list configs: %w", err)
	}
	defer rows.Close()
	var out []fleet.DesiredConfig
	for rows.Next() {
		var c fleet.DesiredConfig
		var body string
		var at int64
		if err := rows.Scan(&c.Scope, &c.Version, &body, &at); err != nil {
			return nil, fmt.Errorf("list configs: %w", err)
		}
		c.Body, c.UpdatedAt = json.RawMessage(body), fromMS(at)
		out = append(out, c)
	}
	return out, rows.Err()
}
