package gatedb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"admit/fleet/wire"
	"admit/ticket/entry"
)

// ErrNoMark: there is no passage to annul.
var ErrNoMark = errors.New("gatedb: no such passage")

// State is what the gate knows of one ticket: its allowlist row, its
// rotating-code secret and every passage recorded anywhere in the venue.
type State struct {
	Ticket
	CodeSecret []byte // nil: the ticket has no rotating code
	Marks      []Mark // oldest first; annulled ones included
}

// Mark is one passage of a ticket through a gate, as the gate's database
// keeps it: the passage (its direction stored as entry.In's or entry.Out's
// text) and the ticket it belongs to.
type Mark struct {
	Event, TicketID string
	entry.Passage
}

// Passages returns the passages of ms, as the entry rule reads them.
func Passages(ms []Mark) []entry.Passage {
	out := make([]entry.Passage, len(ms))
	for i, m := range ms {
		out[i] = m.Passage
	}
	return out
}

// State looks a ticket up: ErrUnknownTicket if it is not on the allowlist.
// Marks come from this gate's and its peers' marks and from the fleet's
// used marks (which count as entries unless a mark of the same passage says
// otherwise).
func (d *DB) State(ctx context.Context, event, id string) (State, error) {
	st := State{Ticket: Ticket{Event: event, ID: id}}
	held := d.peer.of(event, id) // before the database: see peermarks.go
	err := d.db.QueryRowContext(ctx, `SELECT type, holder, revoked, code_secret FROM tickets WHERE event_id = ? AND id = ?`, event, id).
		Scan(&st.Type, &st.Holder, &st.Revoked, &st.CodeSecret)
	unknown := errors.Is(err, sql.ErrNoRows)
	if err != nil && !unknown {
		return st, fmt.Errorf("gatedb: ticket %s/%s: %w", event, id, err)
	}
	st.Marks, err = d.storedMarks(ctx, event, id)
	st.Marks = withHeld(st.Marks, held)
	if err == nil && unknown {
		err = ErrUnknownTicket // with its marks: see Hot.State
	}
	return st, err
}

// Marks returns the passages of a ticket, oldest first: those in the
// database and the peers' marks not yet persisted.
func (d *DB) Marks(ctx context.Context, event, id string) ([]Mark, error) {
	held := d.peer.of(event, id) // before the database: see peermarks.go
	ms, err := d.storedMarks(ctx, event, id)
	if err != nil {
		return nil, err
	}
	return withHeld(ms, held), nil
}

// StoredMarks returns the passages of a ticket that are in the database,
// oldest first, leaving out the peers' marks not yet persisted.
func (d *DB) StoredMarks(ctx context.Context, event, id string) ([]Mark, error) {
	return d.storedMarks(ctx, event, id)
}

// marksQuery selects a ticket's passages (?1 event, ?2 ticket).
const marksQuery = `
		SELECT device, gate, at, direction, annulled FROM marks WHERE event_id = ?1 AND ticket_id = ?2
		UNION ALL
		SELECT u.device, u.gate, u.at, 'in', 0 FROM used u WHERE u.event_id = ?1 AND u.ticket_id = ?2
			AND NOT EXISTS (SELECT 1 FROM marks m WHERE m.event_id = u.event_id AND m.ticket_id = u.ticket_id
				AND m.device = u.device AND m.at = u.at)
		ORDER BY 3, 1`

func (d *DB) storedMarks(ctx context.Context, event, id string) ([]Mark, error) {
	rows, err := d.marks.QueryContext(ctx, event, id)
	if err != nil {
		return nil, fmt.Errorf("gatedb: marks of %s/%s: %w", event, id, err)
	}
	return scanMarks(rows, event, id)
}

func scanMarks(rows *sql.Rows, event, id string) ([]Mark, error) {
	defer rows.Close()
	var out []Mark
	for rows.Next() {
		m := Mark{Event: event, TicketID: id}
		var at int64
		if err := rows.Scan(&m.Device, &m.Gate, &at, &m.Direction, &m.Annulled); err != nil {
			return nil, fmt.Errorf("gatedb: marks of %s/%s: %w", event, id, err)
		}
		m.At = fromMS(at)
		out = append(out, m)
	}
	return out, rows.Err()
}

// SetCodeSecret stores a ticket's rotating-code secret. The fleet stream
// carries it with the ticket row (wire.Ticket.CodeSecret), and the next
// change of that ticket overwrites what is set here; tools and tests of a
// gate without a fleet set it here.
func (d *DB) SetCodeSecret(ctx context.Context, event, id string, secret []byte) error {
	res, err := d.db.ExecContext(ctx, `UPDATE tickets SET code_secret = ? WHERE event_id = ? AND id = ?`, secret, event, id)
	if err != nil {
		return fmt.Errorf("gatedb: code secret of %s/%s: %w", event, id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrUnknownTicket
	}
	return nil
}

// Entry is one decision to journal.
type Entry struct {
	Scan      wire.Scan       // Seq is assigned by Journal
	Direction entry.Direction // In (default) or Out
	Source    string          // the reader
	Forced    bool            // staff override
	// Staff names the gate staff member (signed in at the gate) on whose
	// authority a staff action was taken; "" for the gate's own decisions.
	Staff string
	// Mark records the passage (an admission or an exit) in the same
	// transaction as the journal row.
	Mark bool
	// PassageDeadline, if set, records the admission as waiting for the
	// turnstile to turn until then.
	PassageDeadline time.Time
}

// Journal writes e and, if asked, its passage mark in one transaction. With
// sqlitedb.SyncFull the commit has reached the disk when Journal returns.
// It returns the journal seq, the device's sequence number upstream.
func (d *DB) Journal(ctx context.Context, device string, e Entry) (int64, error) {
	if e.Direction == "" {
		e.Direction = entry.In
	}
	s := e.Scan
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("gatedb: journal: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `INSERT INTO journal (event_id, ticket_id, gate, at, outcome, reason, sentence, direction, source, forced, staff)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.Event, s.TicketID, s.Gate, ms(s.At), s.Outcome, s.Reason, s.Sentence, e.Direction, e.Source, e.Forced, e.Staff)
	if err != nil {
		return 0, fmt.Errorf("gatedb: journal: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("gatedb: journal: %w", err)
	}
	if e.Mark {
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO marks (event_id, ticket_id, device, at, gate, direction) VALUES (?, ?, ?, ?, ?, ?)`,
			s.Event, s.TicketID, device, ms(s.At), s.Gate, e.Direction); err != nil {
			return 0, fmt.Errorf("gatedb: journal: %w", err)
		}
		if e.Direction == entry.In {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO used (event_id, ticket_id, device, at, gate) VALUES (?, ?, ?, ?, ?)`,
				s.Event, s.TicketID, device, ms(s.At), s.Gate); err != nil {
				return 0, fmt.Errorf("gatedb: journal: %w", err)
			}
		}
	}
	if !e.PassageDeadline.IsZero() {
		if _, err := tx.ExecContext(ctx, `INSERT INTO pending_passages (seq, event_id, ticket_id, at, deadline) VALUES (?, ?, ?, ?, ?)`,
			seq, s.Event, s.TicketID, ms(s.At), ms(e.PassageDeadline)); err != nil {
			return 0, fmt.Errorf("gatedb: journal: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("gatedb: journal: %w", err)
	}
	return seq, nil
}

// Pending is an admission waiting for its passage.
type Pending struct {
	Seq             int64
	Event, TicketID string
	At, Deadline    time.Time
}

// PendingPassages returns the admissions still waiting for a passage,
// oldest first.
func (d *DB) PendingPassages(ctx context.Context) ([]Pending, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, event_id, ticket_id, at, deadline FROM pending_passages ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("gatedb: pending passages: %w", err)
	}
	defer rows.Close()
	var out []Pending
	for rows.Next() {
		var p Pending
		var at, dl int64
		if err := rows.Scan(&p.Seq, &p.Event, &p.TicketID, &at, &dl); err != nil {
			return nil, fmt.Errorf("gatedb: pending passages: %w", err)
		}
		p.At, p.Deadline = fromMS(at), fromMS(dl)
		out = append(out, p)
	}
	return out, rows.Err()
}

// Passed confirms the passage of the admission journaled as seq.
func (d *DB) Passed(ctx context.Context, seq int64) error {
	if _, err := d.db.ExecContext(ctx, `DELETE FROM pending_passages WHERE seq = ?`, seq); err != nil {
		return fmt.Errorf("gatedb: passage of %d: %w", seq, err)
	}
	return nil
}

// Annul cancels this gate's passage of ticket at (an admission with no
// passage, or staff's "annul last scan"): the mark is kept but flagged, so
// the holder may present again, and the annulment itself is journaled as
// entry (a refusal carrying the reason, and the annulled passage's time,
// which the fleet fans out as a retraction), in one transaction. It returns
// the journal seq of the annulment and the annulled mark.
func (d *DB) Annul(ctx context.Context, device, event, ticketID string, at time.Time, e Entry) (int64, Mark, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, Mark{}, fmt.Errorf("gatedb: annul: %w", err)
	}
	defer tx.Rollback()
	m := Mark{Event: event, TicketID: ticketID, Passage: entry.Passage{Device: device, At: at.UTC().Truncate(time.Millisecond), Annulled: true}}
	err = tx.QueryRowContext(ctx, `UPDATE marks SET annulled = 1 WHERE event_id = ? AND ticket_id = ? AND device = ? AND at = ? AND annulled = 0
		RETURNING gate, direction`, event, ticketID, device, ms(at)).Scan(&m.Gate, &m.Direction)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, Mark{}, ErrNoMark
	}
	if err != nil {
		return 0, Mark{}, fmt.Errorf("gatedb: annul: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM pending_passages WHERE event_id = ? AND ticket_id = ? AND at = ?`, event, ticketID, ms(at)); err != nil {
		return 0, Mark{}, fmt.Errorf("gatedb: annul: %w", err)
	}
	s := e.Scan
	res, err := tx.ExecContext(ctx, `INSERT INTO journal (event_id, ticket_id, gate, at, outcome, reason, sentence, direction, source, forced, annuls, staff)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, s.Event, s.TicketID, s.Gate, ms(s.At), s.Outcome, s.Reason, s.Sentence, m.Direction, e.Source, e.Forced, ms(m.At), e.Staff)
	if err != nil {
		return 0, Mark{}, fmt.Errorf("gatedb: annul: %w", err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return 0, Mark{}, fmt.Errorf("gatedb: annul: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, Mark{}, fmt.Errorf("gatedb: annul: %w", err)
	}
	return seq, m, nil
}

// LastMark returns the newest passage this device recorded that is not
// annulled.
func (d *DB) LastMark(ctx context.Context, device string) (Mark, error) {
	m := Mark{Passage: entry.Passage{Device: device}}
	var at int64
	err := d.db.QueryRowContext(ctx, `SELECT event_id, ticket_id, gate, at, direction FROM marks
		WHERE device = ? AND annulled = 0 ORDER BY at DESC LIMIT 1`, device).
		Scan(&m.Event, &m.TicketID, &m.Gate, &at, &m.Direction)
	if errors.Is(err, sql.ErrNoRows) {
		return m, ErrNoMark
	}
	if err != nil {
		return m, fmt.Errorf("gatedb: last mark: %w", err)
	}
	m.At = fromMS(at)
	return m, nil
}

// PutMark stores a passage of another gate in the database at once, with
// the database's durability. Replaying it is a no-op; an annulment is
// sticky. Peer gossip uses AddPeerMark instead (effective at once,
// persisted in the background).
func (d *DB) PutMark(ctx context.Context, m Mark) error {
	if m.Direction != entry.In && m.Direction != entry.Out {
		return fmt.Errorf("gatedb: put mark: direction %q", m.Direction)
	}
	_, err := d.db.ExecContext(ctx, `INSERT INTO marks (event_id, ticket_id, device, at, gate, direction, annulled) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, ticket_id, device, at) DO UPDATE SET annulled = max(annulled, excluded.annulled)`,
		m.Event, m.TicketID, m.Device, ms(m.At), m.Gate, m.Direction, m.Annulled)
	if err != nil {
		return fmt.Errorf("gatedb: put mark %s/%s: %w", m.Event, m.TicketID, err)
	}
	return nil
}

// MarksOf returns the passages of device in the database after since,
// oldest first, at most limit (peers catch up with it, for this gate's own
// passages, which the journal commits).
func (d *DB) MarksOf(ctx context.Context, device string, since time.Time, limit int) ([]Mark, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT event_id, ticket_id, gate, at, direction, annulled FROM marks
		WHERE device = ? AND at > ? ORDER BY at LIMIT ?`, device, ms(since), limit)
	if err != nil {
		return nil, fmt.Errorf("gatedb: marks of %s: %w", device, err)
	}
	defer rows.Close()
	var out []Mark
	for rows.Next() {
		m := Mark{Passage: entry.Passage{Device: device}}
		var at int64
		if err := rows.Scan(&m.Event, &m.TicketID, &m.Gate, &at, &m.Direction, &m.Annulled); err != nil {
			return nil, fmt.Errorf("gatedb: marks of %s: %w", device, err)
		}
		m.At = fromMS(at)
		out = append(out, m)
	}
	return out, rows.Err()
}

// LogEntry is something that happened to the gate (not to a ticket).
type LogEntry struct {
	ID     int64
	At     time.Time
	Kind   string
	Detail string
}

// Log records a gate event (a mode switch) durably.
func (d *DB) Log(ctx context.Context, at time.Time, kind, detail string) error {
	if _, err := d.db.ExecContext(ctx, `INSERT INTO gate_log (at, kind, detail) VALUES (?, ?, ?)`, ms(at), kind, detail); err != nil {
		return fmt.Errorf("gatedb: log %s: %w", kind, err)
	}
	return nil
}

// GateLog returns the newest limit gate events, newest first.
func (d *DB) GateLog(ctx context.Context, limit int) ([]LogEntry, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT id, at, kind, detail FROM gate_log ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("gatedb: gate log: %w", err)
	}
	defer rows.Close()
	var out []LogEntry
	for rows.Next() {
		var e LogEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.Detail); err != nil {
			return nil, fmt.Errorf("gatedb: gate log: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// JournalRow is a journaled decision as stored (before compaction).
type JournalRow struct {
	wire.Scan
	Direction, Source string
	Forced            bool
}

// JournalRows returns journaled decisions with seq > after, oldest first.
func (d *DB) JournalRows(ctx context.Context, after int64, limit int) ([]JournalRow, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT seq, event_id, ticket_id, gate, at, outcome, reason, sentence, direction, source, forced, staff
		FROM journal WHERE seq > ? ORDER BY seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("gatedb: journal rows: %w", err)
	}
	defer rows.Close()
	var out []JournalRow
	for rows.Next() {
		var r JournalRow
		var at int64
		if err := rows.Scan(&r.Seq, &r.Event, &r.TicketID, &r.Gate, &at, &r.Outcome, &r.Reason, &r.Sentence, &r.Direction, &r.Source, &r.Forced, &r.Staff); err != nil {
			return nil, fmt.Errorf("gatedb: journal rows: %w", err)
		}
		r.At = fromMS(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// LastSeq returns the highest journal seq ever assigned (0 if none), even
// when those rows were compacted away.
func (d *DB) LastSeq(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	err := d.db.QueryRowContext(ctx, `SELECT seq FROM sqlite_sequence WHERE name = 'journal'`).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("gatedb: last seq: %w", err)
	}
	return seq.Int64, nil
}
