package gatedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"admit/ticket/entry"
)

// Hot is the decision path's own connection: the lookups and the journal
// commit of every presentation run on it with prepared statements, and it
// never checkpoints the WAL (wal_autocheckpoint=0), so a decision pays for
// exactly one WAL append and, with SyncFull, one fsync. Checkpoints run off
// the hot path through DB.Checkpoint. Not safe for concurrent use: the
// agent serialises decisions.
type Hot struct {
	peer                                               *peerMarks
	conn                                               *sql.Conn
	ticket, marks, journal, mark, used, pending, begin *sql.Stmt
	commit, rollback                                   *sql.Stmt

	// TestHookCommit, test-only, is called inside Journal's transaction
	// right before its commit (with SQLite's write lock held): tests make
	// a commit stall with it, as a slow SD card does.
	TestHookCommit func(ctx context.Context)
}

// Hot opens the decision path's connection.
func (d *DB) Hot(ctx context.Context) (*Hot, error) {
	conn, err := d.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("gatedb: hot connection: %w", err)
	}
	h := &Hot{conn: conn, peer: d.peer}
	if _, err := conn.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`); err != nil {
		conn.Close()
		return nil, fmt.Errorf("gatedb: hot connection: %w", err)
	}
	for _, p := range []struct {
		s **sql.Stmt
		q string
	}{
		{&h.ticket, `SELECT type, holder, revoked, code_secret FROM tickets WHERE event_id = ? AND id = ?`},
		{&h.marks, marksQuery},
		{&h.journal, `INSERT INTO journal (event_id, ticket_id, gate, at, outcome, reason, sentence, direction, source, forced, staff)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&h.mark, `INSERT OR IGNORE INTO marks (event_id, ticket_id, device, at, gate, direction) VALUES (?, ?, ?, ?, ?, ?)`},
		{&h.used, `INSERT OR IGNORE INTO used (event_id, ticket_id, device, at, gate) VALUES (?, ?, ?, ?, ?)`},
		{&h.pending, `INSERT INTO pending_passages (seq, event_id, ticket_id, at, deadline) VALUES (?, ?, ?, ?, ?)`},
		{&h.begin, `BEGIN IMMEDIATE`},
		{&h.commit, `COMMIT`},
		{&h.rollback, `ROLLBACK`},
	} {
		if *p.s, err = conn.PrepareContext(ctx, p.q); err != nil {
			h.Close()
			return nil, fmt.Errorf("gatedb: hot connection: prepare: %w", err)
		}
	}
	return h, nil
}

// Close releases the connection.
func (h *Hot) Close() error {
	for _, s := range []*sql.Stmt{h.ticket, h.marks, h.journal, h.mark, h.used, h.pending, h.begin, h.commit, h.rollback} {
		if s != nil {
			s.Close()
		}
	}
	return h.conn.Close()
}

// State is DB.State on the hot connection: the database's marks merged
// with the peers' marks held in memory, which count from the moment they
// arrived (see peermarks.go). A ticket not on the allowlist is
// ErrUnknownTicket with its marks all the same.
func (h *Hot) State(ctx context.Context, event, id string) (State, error) {
	st := State{Ticket: Ticket{Event: event, ID: id}}
	held := h.peer.of(event, id) // before the database: see peermarks.go
	err := h.ticket.QueryRowContext(ctx, event, id).Scan(&st.Type, &st.Holder, &st.Revoked, &st.CodeSecret)
	unknown := errors.Is(err, sql.ErrNoRows)
	if err != nil && !unknown {
		return st, fmt.Errorf("gatedb: ticket %s/%s: %w", event, id, err)
	}
	// The marks of a ticket not on the allowlist count too: one admitted
	// on its signature (or a badge) has passages like any other.
	rows, err := h.marks.QueryContext(ctx, event, id)
	if err != nil {
		return st, fmt.Errorf("gatedb: marks of %s/%s: %w", event, id, err)
	}
	st.Marks, err = scanMarks(rows, event, id)
	st.Marks = withHeld(st.Marks, held)
	if err == nil && unknown {
		err = ErrUnknownTicket
	}
	return st, err
}

// Journal is DB.Journal on the hot connection.
func (h *Hot) Journal(ctx context.Context, device string, e Entry) (seq int64, err error) {
	if e.Direction == "" {
		e.Direction = entry.In
	}
	s := e.Scan
	if _, err := h.begin.ExecContext(ctx); err != nil {
		return 0, fmt.Errorf("gatedb: journal: begin: %w", err)
	}
	defer func() {
		if err != nil {
			if _, rerr := h.rollback.ExecContext(context.Background()); rerr != nil {
				err = errors.Join(err, rerr)
			}
		}
	}()
	res, err := h.journal.ExecContext(ctx, s.Event, s.TicketID, s.Gate, ms(s.At), s.Outcome, s.Reason, s.Sentence, e.Direction, e.Source, e.Forced, e.Staff)
	if err != nil {
		return 0, fmt.Errorf("gatedb: journal: %w", err)
	}
	if seq, err = res.LastInsertId(); err != nil {
		return 0, fmt.Errorf("gatedb: journal: %w", err)
	}
	if e.Mark {
		if _, err = h.mark.ExecContext(ctx, s.Event, s.TicketID, device, ms(s.At), s.Gate, e.Direction); err != nil {
			return 0, fmt.Errorf("gatedb: journal: %w", err)
		}
		if e.Direction == entry.In {
			if _, err = h.used.ExecContext(ctx, s.Event, s.TicketID, device, ms(s.At), s.Gate); err != nil {
				return 0, fmt.Errorf("gatedb: journal: %w", err)
			}
		}
	}
	if !e.PassageDeadline.IsZero() {
		if _, err = h.pending.ExecContext(ctx, seq, s.Event, s.TicketID, ms(s.At), ms(e.PassageDeadline)); err != nil {
			return 0, fmt.Errorf("gatedb: journal: %w", err)
		}
	}
	if h.TestHookCommit != nil {
		h.TestHookCommit(ctx)
	}
	if _, err = h.commit.ExecContext(ctx); err != nil {
		return 0, fmt.Errorf("gatedb: journal: commit: %w", err)
	}
	return seq, nil
}

// Checkpoint copies the WAL into the database file without blocking
// readers or the writer (PASSIVE). The agent calls it off the decision
// path, since the hot connection never checkpoints.
func (d *DB) Checkpoint(ctx context.Context) error {
	if _, err := d.db.ExecContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`); err != nil {
		return fmt.Errorf("gatedb: checkpoint: %w", err)
	}
	return nil
}
