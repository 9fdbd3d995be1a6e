package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
)

// logRow says where a log's state (last seq, running checksum, compaction
// point) lives: an event's ticket log on its events row, a venue scope on
// its log_scopes row (created with the event).
func logRow(log string) (table, key string) {
	if wire.IsVenueScope(log) {
		return "log_scopes", "scope"
	}
	return "events", "id"
}

// appendChanges logs cs for event (an event id or a venue scope) inside
// tx, numbering them. It returns fleet.ErrNotFound when the log does not
// exist.
func (s *Store) appendChanges(ctx context.Context, tx *sql.Tx, event string, cs []wire.Change) error {
	return s.appendChangesPre(ctx, tx, event, cs, nil, nil)
}

// seqZero is how json.Marshal of a Change with Seq 0 begins (Seq is the
// first field and has no omitempty).
var seqZero = []byte(`{"seq":0`)

// changeBody returns the JSON of c logged at seq: pre (c marshaled with
// Seq 0, done by the caller ahead of the commit) with its seq spliced in,
// or c marshaled now.
func changeBody(c *wire.Change, pre []byte) ([]byte, error) {
	if !bytes.HasPrefix(pre, seqZero) {
		return json.Marshal(c)
	}
	body := make([]byte, 0, len(pre)+20)
	body = append(body, `{"seq":`...)
	body = strconv.AppendInt(body, c.Seq, 10)
	return append(body, pre[len(seqZero):]...), nil
}

// appendChangesPre is appendChanges with bodies marshaled ahead (pre[i]
// for cs[i], see changeBody; nil or short: marshal here) and, for ticket
// changes, their issue times (issued[i], ms; 0 or short: none said).
//
// The log's issued_max is the latest issue time logged; each change row
// keeps it as it stood after the change. A ticket issued IssueSlack or
// more before it is refused (fleet.ErrIssueLate): that keeps every
// position's sync point (fleet.SyncPoint) true.
func (s *Store) appendChangesPre(ctx context.Context, tx *sql.Tx, event string, cs []wire.Change, pre [][]byte, issued []int64) error {
	if len(cs) == 0 {
		return nil
	}
	var last, running, issuedMax int64
	table, key := logRow(event)
	// An UPDATE that changes nothing takes the row lock on PostgreSQL
	// (SQLite transactions are serialised already): appends of one event
	// are numbered and committed in order.
	err := tx.QueryRowContext(ctx, s.q(`UPDATE `+table+` SET last_seq = last_seq WHERE `+key+` = ? RETURNING last_seq, running, issued_max`), event).
		Scan(&last, &running, &issuedMax)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("log of %q: %w", event, fleet.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("log of %q: %w", event, err)
	}
	sum := uint64(running)
	var scratch []byte
	rows := make([][]any, 0, len(cs))
	for i := range cs {
		last++
		cs[i].Seq = last
		sum, scratch = cs[i].Running(sum, scratch)
		var p []byte
		if i < len(pre) {
			p = pre[i]
		}
		body, err := changeBody(&cs[i], p)
		if err != nil {
			return err
		}
		if i < len(issued) && issued[i] != 0 {
			if issuedMax != 0 && issued[i] <= issuedMax-fleet.IssueSlack.Milliseconds() {
				return fmt.Errorf("log of %q: ticket %s issued at %s, the log holds one issued at %s: %w", event, cs[i].Ticket.ID,
					fromMS(issued[i]).Format(time.RFC3339), fromMS(issuedMax).Format(time.RFC3339), fleet.ErrIssueLate)
			}
			issuedMax = max(issuedMax, issued[i])
		}
		rows = append(rows, []any{event, last, cs[i].Kind, body, int64(sum), issuedMax})
	}
	if err := s.insertMany(ctx, tx, `INSERT INTO change_log (event_id, seq, kind, body, running, issued_max) VALUES `, 6, rows, ""); err != nil {
		return fmt.Errorf("log of %q: %w", event, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE `+table+` SET last_seq = ?, running = ?, issued_max = ? WHERE `+key+` = ?`), last, int64(sum), issuedMax, event); err != nil {
		return fmt.Errorf("log of %q: %w", event, err)
	}
	return s.notify(ctx, tx, "e:"+event)
}

func (s *Store) LogState(ctx context.Context, event string) (fleet.LogState, error) {
	st := fleet.LogState{Event: event}
	var running, crun, issued, cissued int64
	table, key := logRow(event)
	err := s.db.QueryRowContext(ctx, s.q(`SELECT last_seq, running, compacted_seq, compacted_running, issued_max, compacted_issued_max FROM `+table+` WHERE `+key+` = ?`), event).
		Scan(&st.Last, &running, &st.Compacted, &crun, &issued, &cissued)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("log of %q: %w", event, fleet.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("log of %q: %w", event, err)
	}
	st.Running, st.CompactedRunning = uint64(running), uint64(crun)
	st.Issued, st.CompactedIssued = fromMS(issued), fromMS(cissued)
	return st, nil
}

func (s *Store) Changes(ctx context.Context, event string, after int64, limit int) (fleet.ChangePage, error) {
	var page fleet.ChangePage
	st, err := s.LogState(ctx, event)
	if err != nil {
		return page, err
	}
	if after < st.Compacted {
		return page, fmt.Errorf("changes of %q after %d (compacted to %d): %w", event, after, st.Compacted, fleet.ErrCompacted)
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT seq, body, running, issued_max FROM change_log WHERE event_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
		event, after, limit)
	if err != nil {
		return page, fmt.Errorf("changes of %q: %w", event, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq, running, issued int64
		var body []byte
		if err := rows.Scan(&seq, &body, &running, &issued); err != nil {
			return page, fmt.Errorf("changes of %q: %w", event, err)
		}
		var c wire.Change
		if err := json.Unmarshal(body, &c); err != nil {
			return page, fmt.Errorf("change %d of %q: %w", seq, event, err)
		}
		c.Seq = seq
		page.Changes = append(page.Changes, c)
		page.Running = uint64(running)
		page.Issued = append(page.Issued, fromMS(issued))
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("changes of %q: %w", event, err)
	}
	// A compaction between LogState and the query would show as a gap.
	if len(page.Changes) > 0 && page.Changes[0].Seq != after+1 {
		return fleet.ChangePage{}, fmt.Errorf("changes of %q after %d start at %d: %w", event, after, page.Changes[0].Seq, fleet.ErrCompacted)
	}
	return page, nil
}

func (s *Store) RunningAt(ctx context.Context, event string, seq int64) (uint64, error) {
	st, err := s.LogState(ctx, event)
	if err != nil {
		return 0, err
	}
	switch {
	case seq < st.Compacted:
		return 0, fmt.Errorf("running checksum of %q at %d: %w", event, seq, fleet.ErrCompacted)
	case seq == st.Compacted:
		return st.CompactedRunning, nil
	case seq > st.Last:
		return 0, fmt.Errorf("running checksum of %q at %d (log ends at %d): %w", event, seq, st.Last, fleet.ErrNotFound)
	}
	var running int64
	err = s.db.QueryRowContext(ctx, s.q(`SELECT running FROM change_log WHERE event_id = ? AND seq = ?`), event, seq).Scan(&running)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("running checksum of %q at %d: %w", event, seq, fleet.ErrCompacted)
	}
	if err != nil {
		return 0, fmt.Errorf("running checksum of %q at %d: %w", event, seq, err)
	}
	return uint64(running), nil
}

func (s *Store) Compact(ctx context.Context, event string, upTo int64) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("compact %q: %w", event, err)
	}
	defer tx.Rollback()
	var last, compacted int64
	table, key := logRow(event)
	err = tx.QueryRowContext(ctx, s.q(`UPDATE `+table+` SET last_seq = last_seq WHERE `+key+` = ? RETURNING last_seq, compacted_seq`), event).Scan(&last, &compacted)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("compact %q: %w", event, fleet.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("compact %q: %w", event, err)
	}
	upTo = min(upTo, last)
	if upTo <= compacted {
		return nil
	}
	var running, issued int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT running, issued_max FROM change_log WHERE event_id = ? AND seq = ?`), event, upTo).Scan(&running, &issued); err != nil {
		return fmt.Errorf("compact %q at %d: %w", event, upTo, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM change_log WHERE event_id = ? AND seq <= ?`), event, upTo); err != nil {
		return fmt.Errorf("compact %q: %w", event, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE `+table+` SET compacted_seq = ?, compacted_running = ?, compacted_issued_max = ? WHERE `+key+` = ?`), upTo, running, issued, event); err != nil {
		return fmt.Errorf("compact %q: %w", event, err)
	}
	return tx.Commit()
}
