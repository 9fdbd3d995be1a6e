package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"admit/fleet"
	"admit/fleet/wire"
	"admit/ticket"
	"admit/ticket/entry"
)

// Claim implements fleet.Store. The transaction first writes to the
// ticket's row (an UPDATE that changes nothing): on PostgreSQL that takes
// the row lock, so concurrent claims of one ticket, from any node, run one
// after the other; on SQLite the first write takes the database's write
// lock. A ticket the fleet does not know locks its event's row instead.
func (s *Store) Claim(ctx context.Context, r wire.DecideRequest, rule func(fleet.ClaimState) wire.DecideResponse) (wire.DecideResponse, error) {
	var resp wire.DecideResponse
	tx, err := s.begin(ctx)
	if err != nil {
		return resp, fmt.Errorf("claim: %w", err)
	}
	defer tx.Rollback()
	st := fleet.ClaimState{Known: true}
	var revoked int64
	var code string
	err = tx.QueryRowContext(ctx, s.q(`UPDATE tickets SET revoke_reason = revoke_reason WHERE event_id = ? AND id = ?
		RETURNING COALESCE(revoked_at, 0), code`), r.Event, r.TicketID).Scan(&revoked, &code)
	if errors.Is(err, sql.ErrNoRows) {
		st.Known = false
		var last int64
		err = tx.QueryRowContext(ctx, s.q(`UPDATE events SET last_seq = last_seq WHERE id = ? RETURNING last_seq`), r.Event).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			return resp, fmt.Errorf("claim %s/%s: event: %w", r.Event, r.TicketID, fleet.ErrNotFound)
		}
	}
	if err != nil {
		return resp, fmt.Errorf("claim %s/%s: %w", r.Event, r.TicketID, err)
	}
	st.Revoked = revoked != 0
	if st.Known {
		// The policy the fleet issued the ticket with: its own signed
		// code says it, whatever the gate's request claims.
		c, err := ticket.ParseUnverified(code)
		if err != nil {
			return resp, fmt.Errorf("claim %s/%s: the stored code: %w", r.Event, r.TicketID, err)
		}
		st.Policy = c.Policy
	}
	// The ticket's passages that count, in no particular order: the rule
	// (entry.Allowed) picks the latest by time itself, with its own
	// tie-break, so it cannot depend on how a backend collates device ids.
	rows, err := tx.QueryContext(ctx, s.q(`SELECT device_id, gate, at, direction FROM used
		WHERE event_id = ? AND ticket_id = ? AND annulled = 0`), r.Event, r.TicketID)
	if err != nil {
		return resp, fmt.Errorf("claim %s/%s: %w", r.Event, r.TicketID, err)
	}
	for rows.Next() {
		var p entry.Passage
		var at int64
		if err := rows.Scan(&p.Device, &p.Gate, &at, &p.Direction); err != nil {
			rows.Close()
			return resp, fmt.Errorf("claim %s/%s: %w", r.Event, r.TicketID, err)
		}
		p.At = fromMS(at)
		st.Passages = append(st.Passages, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return resp, fmt.Errorf("claim %s/%s: %w", r.Event, r.TicketID, err)
	}
	resp = rule(st)
	if !resp.Admit {
		return resp, nil // nothing written: the rollback releases the lock
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO used (event_id, ticket_id, device_id, at, gate, direction) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, ticket_id, device_id, at) DO NOTHING`),
		r.Event, r.TicketID, r.Device, ms(r.At), r.Gate, direction(r.Direction)); err != nil {
		return resp, fmt.Errorf("claim %s/%s: %w", r.Event, r.TicketID, err)
	}
	if err := tx.Commit(); err != nil {
		return resp, fmt.Errorf("claim %s/%s: %w", r.Event, r.TicketID, err)
	}
	return resp, nil
}
