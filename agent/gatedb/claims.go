package gatedb

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"sync"
	"time"

	"admit/fleet/wire"
	"admit/ticket"
	"admit/ticket/entry"
)

// Claim is a gate's claim on a ticket it is about to admit: before it
// journals an entry of a single-entry or re-entry ticket, the gate asks its
// peers whether anything stands in the way (peer protocol 3; the agent's
// claim.go has the rules). Its time is the gate's decision time, which is
// also the time of the passage the gate records if it admits: a claim and
// the mark that follows it are one (device, ticket, instant).
type Claim struct {
	Event, TicketID string
	Device, Gate    string
	At              time.Time // millisecond precision, as passages
	Direction       entry.Direction
	Policy          ticket.Policy
}

// Precedes is the tie-break between two claims on one ticket: the earlier
// claim time wins, then the smaller device id. Every gate compares the
// same two claims the same way, so when two gates claim one ticket at the
// same moment they agree which one opens.
func (c Claim) Precedes(o Claim) bool {
	if t := c.At.Compare(o.At); t != 0 {
		return t < 0
	}
	return cmp.Less(c.Device, o.Device)
}

// Same reports whether c and o are one claim: one ticket, one device, one
// millisecond.
func (c Claim) Same(o Claim) bool {
	return c.Event == o.Event && c.TicketID == o.TicketID && c.Device == o.Device && c.At.UnixMilli() == o.At.UnixMilli()
}

// Passage is the passage c's gate records if it admits.
func (c Claim) Passage() entry.Passage {
	return entry.Passage{Device: c.Device, Gate: c.Gate, At: c.At, Direction: c.Direction}
}

// ClaimRole is why a gate holds a claim.
type ClaimRole string

const (
	// ClaimGranted: a peer's claim this gate answered "no conflict"; the
	// gate refuses the ticket while it stands.
	ClaimGranted ClaimRole = "granted"
	// ClaimWon: this gate's own claim that every peer let through, until
	// its journal row commits.
	ClaimWon ClaimRole = "won"
	// ClaimAlone: this gate's admission made without the word of every
	// peer, kept to notice a double admission once the links return.
	ClaimAlone ClaimRole = "alone"
)

// HeldClaim is a claim a gate holds, and until when.
type HeldClaim struct {
	Claim
	Role    ClaimRole
	Expires time.Time // by this gate's clock
}

// claimConn is the connection claims and contests are written on:
// synchronous=NORMAL, like the persistence of peer marks (peermarks.go),
// so that writing them never holds SQLite's write lock across an fsync in
// front of the journal. They survive a kill -9 once written, and a power
// loss once the next journal commit or checkpoint has synced the WAL;
// what a gate loses of them before is what it would lose of a peer's mark
// (the agent's claim.go says why that is safe).
type claimConn struct {
	mu   sync.Mutex // guards conn
	conn *sql.Conn  // nil until first used
}

// withClaimConn runs f in a transaction on the claims' connection.
func (d *DB) withClaimConn(ctx context.Context, f func(tx *sql.Tx) error) error {
	c := &d.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		conn, err := d.db.Conn(ctx)
		if err != nil {
			return err
		}
		if _, err := conn.ExecContext(ctx, `PRAGMA synchronous = NORMAL`); err != nil {
			discard(conn)
			return err
		}
		c.conn = conn
	}
	tx, err := c.conn.BeginTx(ctx, nil)
	if err != nil {
		discard(c.conn)
		c.conn = nil
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		discard(c.conn)
		c.conn = nil
		return err
	}
	return nil
}

func (d *DB) closeClaims() {
	c := &d.claims
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		discard(c.conn)
		c.conn = nil
	}
}

// SaveClaims writes put (replacing a row of the same claim and role) and
// deletes drop, in one transaction without an fsync of its own.
func (d *DB) SaveClaims(ctx context.Context, put, drop []HeldClaim) error {
	if len(put) == 0 && len(drop) == 0 {
		return nil
	}
	err := d.withClaimConn(ctx, func(tx *sql.Tx) error {
		if len(put) > 0 {
			stmt, err := tx.PrepareContext(ctx, `INSERT OR REPLACE INTO claims (event_id, ticket_id, device, at, role, gate, direction, policy, expires)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, c := range put {
				if _, err := stmt.ExecContext(ctx, c.Event, c.TicketID, c.Device, ms(c.At), c.Role, c.Gate, c.Direction, c.Policy.String(), ms(c.Expires)); err != nil {
					return err
				}
			}
		}
		if len(drop) > 0 {
			stmt, err := tx.PrepareContext(ctx, `DELETE FROM claims WHERE event_id = ? AND ticket_id = ? AND device = ? AND at = ? AND role = ?`)
			if err != nil {
				return err
			}
			defer stmt.Close()
			for _, c := range drop {
				if _, err := stmt.ExecContext(ctx, c.Event, c.TicketID, c.Device, ms(c.At), c.Role); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gatedb: save %d claims, drop %d: %w", len(put), len(drop), err)
	}
	return nil
}

// HeldClaims returns the claims the gate holds that expire after now, and
// deletes those that do not.
func (d *DB) HeldClaims(ctx context.Context, now time.Time) ([]HeldClaim, error) {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM claims WHERE expires <= ?`, ms(now)); err != nil {
		return nil, fmt.Errorf("gatedb: held claims: %w", err)
	}
	rows, err := d.db.QueryContext(ctx, `SELECT event_id, ticket_id, device, at, role, gate, direction, policy, expires FROM claims ORDER BY at`)
	if err != nil {
		return nil, fmt.Errorf("gatedb: held claims: %w", err)
	}
	defer rows.Close()
	var out []HeldClaim
	for rows.Next() {
		var c HeldClaim
		var at, expires int64
		var policy string
		if err := rows.Scan(&c.Event, &c.TicketID, &c.Device, &at, &c.Role, &c.Gate, &c.Direction, &policy, &expires); err != nil {
			return nil, fmt.Errorf("gatedb: held claims: %w", err)
		}
		if c.Policy, err = ticket.ParsePolicy(policy); err != nil {
			return nil, fmt.Errorf("gatedb: held claim of %s/%s: %w", c.Event, c.TicketID, err)
		}
		c.At, c.Expires = fromMS(at), fromMS(expires)
		out = append(out, c)
	}
	return out, rows.Err()
}

// AddContests queues contests for the fleet (wire.Contest; ID is assigned
// here), without an fsync of their own; a contest already queued is kept
// once.
func (d *DB) AddContests(ctx context.Context, cs []wire.Contest) error {
	if len(cs) == 0 {
		return nil
	}
	err := d.withClaimConn(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO contests (event_id, ticket_id, kind, first_device, first_gate, first_at,
			second_device, second_gate, second_at, by_device, detected_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, c := range cs {
			if _, err := stmt.ExecContext(ctx, c.Event, c.TicketID, c.Kind, c.First.Device, c.First.Gate, ms(c.First.At),
				c.Second.Device, c.Second.Gate, ms(c.Second.At), c.By, ms(c.Noticed)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("gatedb: queue %d contests: %w", len(cs), err)
	}
	return nil
}

// PendingContests returns up to limit queued contests with ID > after,
// oldest first.
func (d *DB) PendingContests(ctx context.Context, after int64, limit int) ([]wire.Contest, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, event_id, ticket_id, kind, first_device, first_gate, first_at,
		second_device, second_gate, second_at, by_device, detected_at FROM contests WHERE id > ? ORDER BY id LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("gatedb: pending contests: %w", err)
	}
	defer rows.Close()
	var out []wire.Contest
	for rows.Next() {
		var c wire.Contest
		var first, second, noticed int64
		if err := rows.Scan(&c.ID, &c.Event, &c.TicketID, &c.Kind, &c.First.Device, &c.First.Gate, &first,
			&c.Second.Device, &c.Second.Gate, &second, &c.By, &noticed); err != nil {
			return nil, fmt.Errorf("gatedb: pending contests: %w", err)
		}
		c.First.At, c.Second.At, c.Noticed = fromMS(first), fromMS(second), fromMS(noticed)
		out = append(out, c)
	}
	return out, rows.Err()
}

// ContestsAcked deletes the queued contests up to ID upTo: the fleet has
// recorded them.
func (d *DB) ContestsAcked(ctx context.Context, upTo int64) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM contests WHERE id <= ?`, upTo); err != nil {
		return fmt.Errorf("gatedb: contests acknowledged: %w", err)
	}
	return nil
}
