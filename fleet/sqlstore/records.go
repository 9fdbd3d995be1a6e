package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
)

// --- tickets ---

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
	var order []string
	rows := make([][]any, 0, len(ts))
	for _, t := range ts {
		rows = append(rows, []any{t.Event, t.ID, t.Type, t.Holder, t.Code, ms(t.IssuedAt), nilIfEmpty(t.CodeSecret)})
		if _, ok := byEvent[t.Event]; !ok {
			order = append(order, t.Event)
		}
		byEvent[t.Event] = append(byEvent[t.Event], wire.Change{Kind: wire.KindTicket,
			Ticket: &wire.Ticket{ID: t.ID, Type: t.Type, Holder: t.Holder, CodeSecret: t.CodeSecret}})
	}
	if err := s.insertMany(ctx, tx, `INSERT INTO tickets (event_id, id, type, holder, code, issued_at, code_secret) VALUES `, 7, rows, ""); err != nil {
		return s.wrapUnique(err, "add tickets")
	}
	for _, ev := range order {
		if err := s.appendChanges(ctx, tx, ev, byEvent[ev]); err != nil {
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

// --- devices and enrollment ---

const deviceCols = `id, name, grp, gate, public_key, created_at, revoked_at, last_seen, firmware, config_version, config_error`

func scanDevice(sc interface{ Scan(...any) error }) (fleet.Device, error) {
	var d fleet.Device
	var created, revoked, seen int64
	err := sc.Scan(&d.ID, &d.Name, &d.Group, &d.Gate, &d.PublicKey, &created, &revoked, &seen, &d.Firmware, &d.ConfigVersion, &d.ConfigError)
	d.CreatedAt, d.RevokedAt, d.LastSeen = fromMS(created), fromMS(revoked), fromMS(seen)
	return d, err
}

func (s *Store) PutDevice(ctx context.Context, d fleet.Device) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("put device: %w", err)
	}
	defer tx.Rollback()
	if err := s.putDeviceTx(ctx, tx, d); err != nil {
		return err
	}
	return tx.Commit()
}

// putDeviceTx creates d or replaces its registration (name, group, gate,
// key), clearing a revocation: re-enrolling is how a device comes back.
func (s *Store) putDeviceTx(ctx context.Context, tx *sql.Tx, d fleet.Device) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO devices (id, name, grp, gate, public_key, created_at) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET name = excluded.name, grp = excluded.grp, gate = excluded.gate,
		public_key = excluded.public_key, revoked_at = 0`),
		d.ID, d.Name, d.Group, d.Gate, d.PublicKey, ms(d.CreatedAt))
	if err != nil {
		return fmt.Errorf("put device %q: %w", d.ID, err)
	}
	return s.notify(ctx, tx, "d:"+d.ID)
}

func (s *Store) Device(ctx context.Context, id string) (fleet.Device, error) {
	d, err := scanDevice(s.db.QueryRowContext(ctx, s.q(`SELECT `+deviceCols+` FROM devices WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %q: %w", id, fleet.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("device %q: %w", id, err)
	}
	return d, nil
}

func (s *Store) Devices(ctx context.Context) ([]fleet.Device, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deviceCols+` FROM devices ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rows.Close()
	var out []fleet.Device
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Store) RevokeDevice(ctx context.Context, id string, at time.Time) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("revoke device: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`UPDATE devices SET revoked_at = ? WHERE id = ? AND revoked_at = 0`), ms(at), id)
	if err != nil {
		return fmt.Errorf("revoke device %q: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Device(ctx, id); err != nil {
			return err
		}
	}
	if err := s.notify(ctx, tx, "d:"+id); err != nil {
		return err
	}
	return tx.Commit()
}

func (s *Store) ReportDevice(ctx context.Context, id, firmware string, configVersion int64, configErr string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, s.q(`UPDATE devices SET firmware = COALESCE(NULLIF(?, ''), firmware), config_version = ?, config_error = ?, last_seen = ?
		WHERE id = ?`), firmware, configVersion, configErr, ms(at), id)
	if err != nil {
		return fmt.Errorf("report device %q: %w", id, err)
	}
	return nil
}

func (s *Store) CreateEnrollment(ctx context.Context, e fleet.Enrollment) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO enrollments (token_hash, device_id, name, grp, gate, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`), e.TokenHash, e.Device, e.Name, e.Group, e.Gate, ms(e.CreatedAt), ms(e.ExpiresAt))
	return s.wrapUnique(err, "create enrollment")
}

func (s *Store) Enroll(ctx context.Context, tokenHash, pub []byte, at time.Time) (fleet.Device, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return fleet.Device{}, fmt.Errorf("enroll: %w", err)
	}
	defer tx.Rollback()
	d := fleet.Device{PublicKey: pub, CreatedAt: at}
	err = tx.QueryRowContext(ctx, s.q(`UPDATE enrollments SET used_at = ? WHERE token_hash = ? AND used_at = 0 AND expires_at > ?
		RETURNING device_id, name, grp, gate`), ms(at), tokenHash, ms(at)).Scan(&d.ID, &d.Name, &d.Group, &d.Gate)
	if errors.Is(err, sql.ErrNoRows) {
		return d, fleet.ErrBadToken
	}
	if err != nil {
		return d, fmt.Errorf("enroll: %w", err)
	}
	if err := s.putDeviceTx(ctx, tx, d); err != nil {
		return d, err
	}
	if err := tx.Commit(); err != nil {
		return d, fmt.Errorf("enroll: %w", err)
	}
	return s.Device(ctx, d.ID)
}

// --- configs ---

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

// --- scans ---

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

type scanReq struct {
	ctx    context.Context
	device string
	scans  []wire.Scan
	at     time.Time
	prep   []scanPrep // one per scan, built by the caller before queueing
	grown  []string
	err    error
	done   chan struct{}
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
			p.row = []any{device, sc.Seq, sc.Event, sc.TicketID, sc.Gate, ms(sc.At), sc.Outcome, sc.Reason, sc.Sentence, dir, recv}
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

// maxGroupScans bounds the scans one group commit takes.
const maxGroupScans = 20_000

// writeScans runs the group committers and closes s.stopped when they
// have returned. SQLite has one writer at a time anyway; on PostgreSQL two
// committers overlap: one group's scan and used-mark inserts run while the
// other group holds an event's log (row lock) until its commit.
func (s *Store) writeScans() {
	defer close(s.stopped)
	writers := 1
	if !s.d.Local {
		writers = 2
	}
	var wg sync.WaitGroup
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.commitGroups()
		}()
	}
	wg.Wait()
}

// commitGroups is a group committer: it takes every request waiting (up
// to maxGroupScans scans), records them in one transaction and answers
// each. A failing group is retried one request at a time on the careful
// path, so one bad request fails alone and a race on a (device, seq) or a
// used mark with another committer or node resolves as a duplicate.
func (s *Store) commitGroups() {
	for {
		var group []*scanReq
		select {
		case r := <-s.scanq:
			group = append(group, r)
		case <-s.stop:
			return
		}
		n := len(group[0].scans)
	more:
		for n < maxGroupScans {
			select {
			case r := <-s.scanq:
				group = append(group, r)
				n += len(r.scans)
			default:
				break more
			}
		}
		if err := s.recordGroup(group, false); err != nil {
			for _, r := range group {
				r.err = s.recordGroup([]*scanReq{r}, true) // sets r.grown
			}
		}
		for _, r := range group {
			close(r.done)
		}
	}
}

// groupLog collects the changes a group's scans log, per event, in the
// order the requests were taken; they are appended after every request's
// rows, one append per event, events in name order (so that concurrent
// committers lock event rows in the same order).
type groupLog struct {
	changes map[string][]wire.Change
	bodies  map[string][][]byte   // changes marshaled ahead, with Seq 0
	from    map[string][]*scanReq // requests that logged changes for the event
}

func (g *groupLog) add(r *scanReq, event string, c wire.Change, body []byte) {
	if g.changes == nil {
		g.changes, g.bodies, g.from = map[string][]wire.Change{}, map[string][][]byte{}, map[string][]*scanReq{}
	}
	g.changes[event] = append(g.changes[event], c)
	g.bodies[event] = append(g.bodies[event], body)
	if f := g.from[event]; len(f) == 0 || f[len(f)-1] != r {
		g.from[event] = append(f, r)
	}
}

// recordGroup records a group in one transaction. On PostgreSQL, the fast
// path (careful false) skips the rows already stored with an anti-join and
// inserts the others plainly, which costs the server about a third less
// than ON CONFLICT's speculative insertion (measured: 16,000 scans 92 →
// 66 ms, 16,000 used marks 99 → 63 ms); a row that a concurrent
// transaction inserts meanwhile makes the statement fail with a unique
// violation, and commitGroups retries with careful set, which uses ON
// CONFLICT. Either way a (device, seq) is recorded once.
func (s *Store) recordGroup(group []*scanReq, careful bool) error {
	ctx := group[0].ctx
	if len(group) > 1 {
		ctx = context.WithoutCancel(ctx) // one caller giving up must not fail the others
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("record scans: %w", err)
	}
	defer tx.Rollback()
	var log groupLog
	for _, r := range group {
		r.grown = nil
		if err := s.recordScansTx(ctx, tx, r, &log, careful); err != nil {
			return err
		}
	}
	events := make([]string, 0, len(log.changes))
	for ev := range log.changes {
		events = append(events, ev)
	}
	slices.Sort(events)
	grown := map[*scanReq][]string{}
	for _, ev := range events {
		err := s.appendChangesPre(ctx, tx, ev, log.changes[ev], log.bodies[ev])
		if errors.Is(err, fleet.ErrNotFound) {
			continue // scans for an event this fleet does not know: recorded, not fanned out
		}
		if err != nil {
			return fmt.Errorf("record scans: %w", err)
		}
		for _, r := range log.from[ev] {
			grown[r] = append(grown[r], ev)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("record scans: %w", err)
	}
	for r, evs := range grown {
		r.grown = evs
	}
	return nil
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

// direction is a scan's direction as stored and fanned out: wire.DirIn
// for "" (agents before protocol 3 and tools that leave it out).
func direction(d string) string {
	if d == wire.DirOut {
		return wire.DirOut
	}
	return wire.DirIn
}

func (s *Store) RecentScans(ctx context.Context, limit int) ([]fleet.ScanRecord, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT device_id, seq, event_id, ticket_id, gate, at, outcome, reason, sentence, received_at, direction
		FROM scans ORDER BY received_at DESC, at DESC, seq DESC LIMIT ?`), limit)
	if err != nil {
		return nil, fmt.Errorf("recent scans: %w", err)
	}
	defer rows.Close()
	var out []fleet.ScanRecord
	for rows.Next() {
		var r fleet.ScanRecord
		var at, received int64
		if err := rows.Scan(&r.Device, &r.Seq, &r.Event, &r.TicketID, &r.Gate, &at, &r.Outcome, &r.Reason, &r.Sentence, &received, &r.Direction); err != nil {
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
	const cols = `INSERT INTO scans (device_id, seq, event_id, ticket_id, gate, at, outcome, reason, sentence, direction, received_at)`
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
		if err := s.insertMany(ctx, tx, cols+` VALUES `, 11, add, ` ON CONFLICT (device_id, seq) DO NOTHING`); err != nil {
			return nil, err
		}
		return inserted, nil
	}
	// Over the network: the whole batch as arrays in one statement.
	n := len(scans)
	seq, at := make([]int64, n), make([]int64, n)
	ev, tk, gate, out, reason, sentence := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	dir := make([]string, n)
	for i, sc := range scans {
		seq[i], at[i], ev[i], tk[i], gate[i], out[i], reason[i], sentence[i] = sc.Seq, ms(sc.At), sc.Event, sc.TicketID, sc.Gate, sc.Outcome, sc.Reason, sc.Sentence
		dir[i] = direction(sc.Direction)
	}
	// Fast path: an anti-join skips what is stored (see recordGroup).
	q := cols + ` SELECT $1::text, u.*, $11 FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[])
		AS u(seq, event_id, ticket_id, gate, at, outcome, reason, sentence, direction)
		WHERE NOT EXISTS (SELECT 1 FROM scans x WHERE x.device_id = $1::text AND x.seq = u.seq) RETURNING seq`
	if careful {
		q = cols + ` SELECT $1, * , $11 FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[])
		ON CONFLICT (device_id, seq) DO NOTHING RETURNING seq`
	}
	rows, err := tx.QueryContext(ctx, q, device, seq, ev, tk, gate, at, out, reason, sentence, dir, recv)
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
