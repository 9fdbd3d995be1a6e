package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"admit/fleet"
	"admit/fleet/audit"
	"admit/fleet/wire"
)

// RecordScans records through the group committer: concurrent calls (one
// per connected gate sending scans) share one transaction and one commit.
func (s *Store) RecordScans(ctx context.Context, device string, scans []wire.Scan, at time.Time) ([]string, error) {
	if len(scans) == 0 {
		return nil, nil
	}
	req := &scanReq{ctx: ctx, device: device, scans: scans, at: at, done: make(chan struct{})}
	req.prep = prepareScans(device, scans, ms(at), s.d.Local)
	select {
	case s.scanq <- req:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.stop:
		return nil, errors.New("record scans: store closed")
	}
	<-req.done // the writer always answers
	return req.grown, req.err
}

// scanPrep is what a scan adds to the store once it is known to be new.
// The caller's goroutine builds it before queueing, so that the one
// committer (SQLite has one writer) does less per scan: rows boxed, the
// change body marshaled (measured: about a fifth of the committer's CPU).
type scanPrep struct {
	row    []any       // its scans row (SQLite; PostgreSQL sends arrays)
	mark   []any       // its used row, passage or annulment; nil: it logs nothing
	change wire.Change // the change it logs, Seq 0 until appended
	body   []byte      // change marshaled with Seq 0 (see changeBody)
}

func prepareScans(device string, scans []wire.Scan, recv int64, local bool) []scanPrep {
	prep := make([]scanPrep, len(scans))
	for i, sc := range scans {
		p := &prep[i]
		dir := direction(sc.Direction)
		if local {
			p.row = []any{device, sc.Seq, sc.Event, sc.TicketID, sc.Gate, ms(sc.At), sc.Outcome, sc.Reason, sc.Sentence, dir, sc.Staff, recv}
		}
		switch {
		case !sc.Annuls.IsZero():
			// An annulment of this device's passage at sc.Annuls: flag the
			// mark (recorded already, or later never counted) and fan out.
			a := &wire.Annul{TicketID: sc.TicketID, Device: device, Gate: sc.Gate, At: sc.Annuls, Reason: sc.Reason}
			if dir == wire.DirOut {
				a.Direction = wire.DirOut
			}
			p.change = wire.Change{Kind: wire.KindAnnul, Annul: a}
			p.mark = []any{sc.Event, sc.TicketID, device, ms(sc.Annuls), sc.Gate, dir, 1}
		case sc.Outcome == wire.Admitted:
			u := &wire.Used{TicketID: sc.TicketID, Device: device, Gate: sc.Gate, At: sc.At}
			if dir == wire.DirOut {
				u.Direction = wire.DirOut // entries leave it empty, as before protocol 3
			}
			p.change = wire.Change{Kind: wire.KindUsed, Used: u}
			p.mark = []any{sc.Event, sc.TicketID, device, ms(sc.At), sc.Gate, dir}
		default:
			continue // nothing for the other gates to learn
		}
		p.body, _ = json.Marshal(&p.change) // on error, nil: appendChangesPre marshals and reports it
	}
	return prep
}

// recordScansTx stores r's scans and used marks and adds the changes
// they log to log.
func (s *Store) recordScansTx(ctx context.Context, tx *sql.Tx, r *scanReq, log *groupLog, careful bool) error {
	device, scans := r.device, r.scans
	inserted, err := s.insertScans(ctx, tx, device, scans, r.prep, ms(r.at), careful)
	if err != nil {
		return fmt.Errorf("record scans of %q: %w", device, err)
	}
	var used, annulled [][]any
	for i, sc := range scans {
		p := &r.prep[i]
		if inserted[sc.Seq] && sc.Staff != "" {
			if err := s.auditStaffTx(ctx, tx, device, sc, r.at); err != nil {
				return fmt.Errorf("record scans of %q: %w", device, err)
			}
		}
		if !inserted[sc.Seq] || p.mark == nil {
			continue // a duplicate, or nothing for the other gates to learn
		}
		log.add(r, sc.Event, p.change, p.body)
		if p.change.Annul != nil {
			annulled = append(annulled, p.mark)
		} else {
			used = append(used, p.mark)
		}
	}
	if !s.d.Local && !careful && len(used) > 0 {
		if err := s.insertUsedFast(ctx, tx, used); err != nil {
			return fmt.Errorf("record scans of %q: %w", device, err)
		}
	} else if err := s.insertMany(ctx, tx, `INSERT INTO used (event_id, ticket_id, device_id, at, gate, direction) VALUES `, 6, used,
		` ON CONFLICT (event_id, ticket_id, device_id, at) DO NOTHING`); err != nil {
		return fmt.Errorf("record scans of %q: %w", device, err)
	}
	// After the passages: an annulment always follows its passage in the
	// device's seq order, within this batch or an earlier one.
	if err := s.insertMany(ctx, tx, `INSERT INTO used (event_id, ticket_id, device_id, at, gate, direction, annulled) VALUES `, 7, annulled,
		` ON CONFLICT (event_id, ticket_id, device_id, at) DO UPDATE SET annulled = 1`); err != nil {
		return fmt.Errorf("record annulments of %q: %w", device, err)
	}
	return nil
}

// auditStaffTx records a staff action a gate reported with a scan (a
// forced admission, an annulment) in the audit log, once: with the scan
// that is new.
func (s *Store) auditStaffTx(ctx context.Context, tx *sql.Tx, device string, sc wire.Scan, at time.Time) error {
	route := "/staff/force-admit"
	if !sc.Annuls.IsZero() {
		route = "/staff/annul-last"
	}
	e := audit.Entry{At: at, ActorKind: audit.ActorStaff, Actor: sc.Staff, Method: "GATE", Route: route,
		Target:  fmt.Sprintf("device=%s event=%s ticket=%s", device, sc.Event, sc.TicketID),
		Summary: fmt.Sprintf("%s at %s, %s: %s", sc.Outcome, sc.Gate, sc.At.UTC().Format(time.RFC3339), sc.Sentence), Remote: "device:" + device, Status: http.StatusOK}.Clip()
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit_log (at, actor_kind, actor, method, route, target, summary, remote, status)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`), ms(e.At), e.ActorKind, e.Actor, e.Method, e.Route, e.Target, e.Summary, e.Remote, e.Status)
	return err
}

// direction is a scan's direction as stored and fanned out: wire.DirIn
// for "" (agents before protocol 3 and tools that leave it out).
func direction(d string) string {
	if d == wire.DirOut {
		return wire.DirOut
	}
	return wire.DirIn
}

func (s *Store) RecentScans(ctx context.Context, limit int) ([]fleet.ScanRecord, error) {
	return s.recentScans(ctx, ``, nil, limit)
}

func (s *Store) EventScans(ctx context.Context, events []string, limit int) ([]fleet.ScanRecord, error) {
	if len(events) == 0 {
		return nil, nil
	}
	args := make([]any, len(events))
	for i, e := range events {
		args[i] = e
	}
	return s.recentScans(ctx, `WHERE event_id IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(events)), ", ")+`)`, args, limit)
}

func (s *Store) recentScans(ctx context.Context, where string, args []any, limit int) ([]fleet.ScanRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT device_id, seq, event_id, ticket_id, gate, at, outcome, reason, sentence, received_at, direction, staff
		FROM scans `+where+` ORDER BY received_at DESC, at DESC, seq DESC LIMIT ?`), append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("recent scans: %w", err)
	}
	defer rows.Close()
	var out []fleet.ScanRecord
	for rows.Next() {
		var r fleet.ScanRecord
		var at, received int64
		if err := rows.Scan(&r.Device, &r.Seq, &r.Event, &r.TicketID, &r.Gate, &at, &r.Outcome, &r.Reason, &r.Sentence, &received, &r.Direction, &r.Staff); err != nil {
			return nil, fmt.Errorf("recent scans: %w", err)
		}
		r.At, r.ReceivedAt = fromMS(at), fromMS(received)
		out = append(out, r)
	}
	return out, rows.Err()
}

// insertScans stores scans, skipping a (device, seq) already stored, and
// returns the seqs it inserted.
func (s *Store) insertScans(ctx context.Context, tx *sql.Tx, device string, scans []wire.Scan, prep []scanPrep, recv int64, careful bool) (map[int64]bool, error) {
	inserted := make(map[int64]bool, len(scans))
	const cols = `INSERT INTO scans (device_id, seq, event_id, ticket_id, gate, at, outcome, reason, sentence, direction, staff, received_at)`
	if s.d.Local {
		// In-process: the seqs already stored (none, normally) from the
		// primary key, then the others in one bulk insert.
		lo, hi := scans[0].Seq, scans[0].Seq
		for _, sc := range scans {
			lo, hi = min(lo, sc.Seq), max(hi, sc.Seq)
		}
		rows, err := tx.QueryContext(ctx, `SELECT seq FROM scans WHERE device_id = ? AND seq BETWEEN ? AND ?`, device, lo, hi)
		if err != nil {
			return nil, err
		}
		stored := map[int64]bool{}
		for rows.Next() {
			var q int64
			if err := rows.Scan(&q); err != nil {
				rows.Close()
				return nil, err
			}
			stored[q] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		add := make([][]any, 0, len(scans))
		for i, sc := range scans {
			if stored[sc.Seq] || inserted[sc.Seq] {
				continue
			}
			inserted[sc.Seq] = true
			add = append(add, prep[i].row)
		}
		if err := s.insertMany(ctx, tx, cols+` VALUES `, 12, add, ` ON CONFLICT (device_id, seq) DO NOTHING`); err != nil {
			return nil, err
		}
		return inserted, nil
	}
	// Over the network: the whole batch as arrays in one statement.
	n := len(scans)
	seq, at := make([]int64, n), make([]int64, n)
	ev, tk, gate, out, reason, sentence := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	dir, staff := make([]string, n), make([]string, n)
	for i, sc := range scans {
		seq[i], at[i], ev[i], tk[i], gate[i], out[i], reason[i], sentence[i] = sc.Seq, ms(sc.At), sc.Event, sc.TicketID, sc.Gate, sc.Outcome, sc.Reason, sc.Sentence
		dir[i], staff[i] = direction(sc.Direction), sc.Staff
	}
	// Fast path: an anti-join skips what is stored (see recordGroup).
	q := cols + ` SELECT $1::text, u.*, $12 FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
		AS u(seq, event_id, ticket_id, gate, at, outcome, reason, sentence, direction, staff)
		WHERE NOT EXISTS (SELECT 1 FROM scans x WHERE x.device_id = $1::text AND x.seq = u.seq) RETURNING seq`
	if careful {
		q = cols + ` SELECT $1, * , $12 FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[])
		ON CONFLICT (device_id, seq) DO NOTHING RETURNING seq`
	}
	rows, err := tx.QueryContext(ctx, q, device, seq, ev, tk, gate, at, out, reason, sentence, dir, staff, recv)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var q int64
		if err := rows.Scan(&q); err != nil {
			return nil, err
		}
		inserted[q] = true
	}
	return inserted, rows.Err()
}

// insertUsedFast is the PostgreSQL fast path for used marks (rows of
// event, ticket, device, at, gate, direction): an anti-join skips the
// marks already stored (an annulment may have arrived before its passage),
// then a plain insert (see recordGroup).
func (s *Store) insertUsedFast(ctx context.Context, tx *sql.Tx, rows [][]any) error {
	n := len(rows)
	ev, tk, dev, gate, dir := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	at := make([]int64, n)
	for i, r := range rows {
		ev[i], tk[i], dev[i], at[i], gate[i], dir[i] = r[0].(string), r[1].(string), r[2].(string), r[3].(int64), r[4].(string), r[5].(string)
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO used (event_id, ticket_id, device_id, at, gate, direction)
		SELECT u.* FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[]) AS u(e, t, d, a, g, dir)
		WHERE NOT EXISTS (SELECT 1 FROM used x WHERE x.event_id = u.e AND x.ticket_id = u.t AND x.device_id = u.d AND x.at = u.a)`,
		ev, tk, dev, at, gate, dir)
	return err
}
