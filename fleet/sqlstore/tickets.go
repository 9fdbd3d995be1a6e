package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
)

func (s *Store) AddTickets(ctx context.Context, ts []fleet.Ticket) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("add tickets: %w", err)
	}
	defer tx.Rollback()
	if err := s.addTicketsTx(ctx, tx, ts); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("add tickets: %w", err)
	}
	return nil
}

func (s *Store) addTicketsTx(ctx context.Context, tx *sql.Tx, ts []fleet.Ticket) error {
	byEvent := map[string][]wire.Change{}
	issued := map[string][]int64{} // per change: the sync point's input
	var order []string
	rows := make([][]any, 0, len(ts))
	for _, t := range ts {
		rows = append(rows, []any{t.Event, t.ID, t.Type, t.Holder, t.Code, ms(t.IssuedAt), nilIfEmpty(t.CodeSecret)})
		if _, ok := byEvent[t.Event]; !ok {
			order = append(order, t.Event)
		}
		byEvent[t.Event] = append(byEvent[t.Event], wire.Change{Kind: wire.KindTicket,
			Ticket: &wire.Ticket{ID: t.ID, Type: t.Type, Holder: t.Holder, CodeSecret: t.CodeSecret}})
		issued[t.Event] = append(issued[t.Event], ms(t.IssuedAt))
	}
	if err := s.insertMany(ctx, tx, `INSERT INTO tickets (event_id, id, type, holder, code, issued_at, code_secret) VALUES `, 7, rows, ""); err != nil {
		return s.wrapUnique(err, "add tickets")
	}
	for _, ev := range order {
		if err := s.appendChangesPre(ctx, tx, ev, byEvent[ev], nil, issued[ev]); err != nil {
			return fmt.Errorf("add tickets: %w", err)
		}
	}
	return nil
}

// nilIfEmpty stores an empty rotating-code secret as NULL.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

const ticketCols = `event_id, id, type, holder, code, issued_at, COALESCE(revoked_at, 0), revoke_reason, replaced_by, code_secret`

func scanTicket(sc interface{ Scan(...any) error }) (fleet.Ticket, error) {
	var t fleet.Ticket
	var issued, revoked int64
	err := sc.Scan(&t.Event, &t.ID, &t.Type, &t.Holder, &t.Code, &issued, &revoked, &t.RevokeReason, &t.ReplacedBy, &t.CodeSecret)
	t.IssuedAt, t.RevokedAt = fromMS(issued), fromMS(revoked)
	return t, err
}

func (s *Store) queryTickets(ctx context.Context, query string, args ...any) ([]fleet.Ticket, error) {
	rows, err := s.db.QueryContext(ctx, s.q(query), args...)
	if err != nil {
		return nil, fmt.Errorf("list tickets: %w", err)
	}
	defer rows.Close()
	var out []fleet.Ticket
	for rows.Next() {
		t, err := scanTicket(rows)
		if err != nil {
			return nil, fmt.Errorf("list tickets: %w", err)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Store) Tickets(ctx context.Context, event string, limit int) ([]fleet.Ticket, error) {
	return s.queryTickets(ctx, `SELECT `+ticketCols+` FROM tickets WHERE event_id = ? ORDER BY issued_at, id LIMIT ?`, event, limit)
}

func (s *Store) TicketPage(ctx context.Context, event, after string, limit int) ([]fleet.Ticket, error) {
	return s.queryTickets(ctx, `SELECT `+ticketCols+` FROM tickets WHERE event_id = ? AND id > ? ORDER BY id LIMIT ?`, event, after, limit)
}

func (s *Store) Ticket(ctx context.Context, event, id string) (fleet.Ticket, error) {
	t, err := scanTicket(s.db.QueryRowContext(ctx, s.q(`SELECT `+ticketCols+` FROM tickets WHERE event_id = ? AND id = ?`), event, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("ticket %s/%s: %w", event, id, fleet.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("ticket %s/%s: %w", event, id, err)
	}
	return t, nil
}

func (s *Store) revokeTx(ctx context.Context, tx *sql.Tx, event, id, reason, replacedBy string, at time.Time) error {
	res, err := tx.ExecContext(ctx, s.q(`UPDATE tickets SET revoked_at = ?, revoke_reason = ?, replaced_by = ?
		WHERE event_id = ? AND id = ? AND revoked_at IS NULL`), ms(at), reason, replacedBy, event, id)
	if err != nil {
		return fmt.Errorf("revoke %s/%s: %w", event, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var one int
		err := tx.QueryRowContext(ctx, s.q(`SELECT 1 FROM tickets WHERE event_id = ? AND id = ?`), event, id).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("revoke %s/%s: %w", event, id, fleet.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("revoke %s/%s: %w", event, id, err)
		}
		if replacedBy != "" {
			return fmt.Errorf("reissue %s/%s: already revoked: %w", event, id, fleet.ErrRevoked)
		}
		return nil // revoked before: nothing to log
	}
	return s.appendChanges(ctx, tx, event, []wire.Change{{Kind: wire.KindRevoke, Revoke: &wire.Revoke{TicketID: id, Reason: reason}}})
}

func (s *Store) RevokeTicket(ctx context.Context, event, id, reason string, at time.Time) (fleet.Ticket, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return fleet.Ticket{}, fmt.Errorf("revoke: %w", err)
	}
	defer tx.Rollback()
	if err := s.revokeTx(ctx, tx, event, id, reason, "", at); err != nil {
		return fleet.Ticket{}, err
	}
	if err := tx.Commit(); err != nil {
		return fleet.Ticket{}, fmt.Errorf("revoke: %w", err)
	}
	return s.Ticket(ctx, event, id)
}

func (s *Store) ReplaceTicket(ctx context.Context, event, old string, repl fleet.Ticket, at time.Time) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("reissue: %w", err)
	}
	defer tx.Rollback()
	if err := s.revokeTx(ctx, tx, event, old, "reissued", repl.ID, at); err != nil {
		return err
	}
	if err := s.addTicketsTx(ctx, tx, []fleet.Ticket{repl}); err != nil {
		return err
	}
	return tx.Commit()
}
