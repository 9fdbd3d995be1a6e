package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"admit/fleet/audit"
)

var _ audit.Store = (*Store)(nil)

func (s *Store) RecordAudit(ctx context.Context, e audit.Entry) error {
	e = e.Clip()
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO audit_log (at, actor_kind, actor, method, route, target, summary, remote, status)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), ms(e.At), e.ActorKind, e.Actor, e.Method, e.Route, e.Target, e.Summary, e.Remote, e.Status)
	if err != nil {
		return fmt.Errorf("record audit: %w", err)
	}
	return nil
}

func (s *Store) AuditLog(ctx context.Context, f audit.Filter) ([]audit.Entry, error) {
	var where []string
	var args []any
	add := func(cond string, v any) {
		where = append(where, cond)
		args = append(args, v)
	}
	if f.Actor != "" {
		add("actor = ?", f.Actor)
	}
	if f.Kind != "" {
		add("actor_kind = ?", f.Kind)
	}
	if f.Route != "" {
		add("route = ?", f.Route)
	}
	if f.Target != "" {
		// a substring, with LIKE's wildcards taken literally
		esc := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(f.Target)
		add(`target LIKE ? ESCAPE '\'`, "%"+esc+"%")
	}
	if !f.Since.IsZero() {
		add("at >= ?", ms(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", ms(f.Until))
	}
	if f.Before > 0 {
		add("id < ?", f.Before)
	}
	q := `SELECT id, at, actor_kind, actor, method, route, target, summary, remote, status FROM audit_log`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, f.PageSize())
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() {
		var e audit.Entry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.ActorKind, &e.Actor, &e.Method, &e.Route, &e.Target, &e.Summary, &e.Remote, &e.Status); err != nil {
			return nil, fmt.Errorf("audit log: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
