// Package sqlstore implements fleet.Store once, over database/sql, for the
// SQL backends the fleet runs on: fleet/sqlite and fleet/postgres open a
// database, apply their own migrations and hand it here with a Dialect.
//
// The two schemas have the same tables and columns; times are Unix
// milliseconds in 64-bit integers, checksums are stored as int64 bit
// patterns, lists are JSON text. Queries are written with ? placeholders
// and rebound to $n for PostgreSQL.
//
// The change log is per event: an append locks the event's row (an UPDATE
// that changes nothing), so seqs are dense and commit in order on both
// backends, which is what lets a reader trust "nothing after seq n yet".
package sqlstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
	"admit/ticket"
)

// Dialect is what differs between backends.
type Dialect struct {
	Name string
	// Dollar rebinds ? placeholders to $1, $2, ... (PostgreSQL).
	Dollar bool
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique func(error) bool
	// Notify, when set, is called inside a transaction that logged changes
	// or changed a device (payloads "e:<event>", "d:<device>"), so other
	// nodes wake up when it commits.
	Notify func(ctx context.Context, tx *sql.Tx, payload string) error
	// MaxParams bounds the parameters of one statement.
	MaxParams int
	// Local says the database is in-process (SQLite): a prepared one-row
	// statement executed per row is then cheaper than parsing multi-row
	// statements; over a network (PostgreSQL) one statement per many rows
	// saves round trips.
	Local bool
}

// Store is a fleet.Store over a *sql.DB.
type Store struct {
	db *sql.DB
	d  Dialect

	scanq   chan *scanReq // to the group committer
	stop    chan struct{} // closed by Close
	stopped chan struct{} // closed when the committer returned
}

var _ fleet.Store = (*Store)(nil)

// New wraps an open, migrated database.
func New(db *sql.DB, d Dialect) *Store {
	if d.MaxParams <= 0 {
		d.MaxParams = 999
	}
	s := &Store{db: db, d: d, scanq: make(chan *scanReq), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.writeScans()
	return s
}

// DB returns the underlying database (for backend-specific extras).
func (s *Store) DB() *sql.DB { return s.db }

// Close stops the scan writer and closes the database.
func (s *Store) Close() error {
	close(s.stop)
	<-s.stopped
	return s.db.Close()
}

// q rebinds a query for the dialect.
func (s *Store) q(query string) string {
	if !s.d.Dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (s *Store) notify(ctx context.Context, tx *sql.Tx, payload string) error {
	if s.d.Notify == nil {
		return nil
	}
	return s.d.Notify(ctx, tx, payload)
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func (s *Store) wrapUnique(err error, what string) error {
	if err == nil {
		return nil
	}
	if s.d.IsUnique != nil && s.d.IsUnique(err) {
		return fmt.Errorf("%s: %w", what, fleet.ErrExists)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (s *Store) begin(ctx context.Context) (*sql.Tx, error) {
	return s.db.BeginTx(ctx, nil)
}

// --- events and keys ---

func (s *Store) CreateEvent(ctx context.Context, e fleet.Event) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO events (id, name, starts_at, ends_at, created_at) VALUES (?, ?, ?, ?, ?)`),
		e.ID, e.Name, ms(e.StartsAt), ms(e.EndsAt), ms(e.CreatedAt))
	return s.wrapUnique(err, fmt.Sprintf("event %q", e.ID))
}

func scanEvent(sc interface{ Scan(...any) error }) (fleet.Event, error) {
	var e fleet.Event
	var starts, ends, created int64
	err := sc.Scan(&e.ID, &e.Name, &starts, &ends, &created)
	e.StartsAt, e.EndsAt, e.CreatedAt = fromMS(starts), fromMS(ends), fromMS(created)
	return e, err
}

func (s *Store) Event(ctx context.Context, id string) (fleet.Event, error) {
	e, err := scanEvent(s.db.QueryRowContext(ctx, s.q(`SELECT id, name, starts_at, ends_at, created_at FROM events WHERE id = ?`), id))
	if errors.Is(err, sql.ErrNoRows) {
		return e, fmt.Errorf("event %q: %w", id, fleet.ErrNotFound)
	}
	if err != nil {
		return e, fmt.Errorf("event %q: %w", id, err)
	}
	return e, nil
}

func (s *Store) Events(ctx context.Context) ([]fleet.Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, name, starts_at, ends_at, created_at FROM events ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var out []fleet.Event
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

func (s *Store) AddSigningKey(ctx context.Context, k ticket.SigningKey, at time.Time) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("add key: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO signing_keys (event_id, id, private, created_at) VALUES (?, ?, ?, ?)`),
		k.Event, k.ID, []byte(k.Private), ms(at)); err != nil {
		return s.wrapUnique(err, fmt.Sprintf("add key %s/%s", k.Event, k.ID))
	}
	pub := k.Public()
	if err := s.appendChanges(ctx, tx, k.Event, []wire.Change{{Kind: wire.KindKey, Key: &wire.Key{ID: k.ID, Public: pub.Key}}}); err != nil {
		return fmt.Errorf("add key %s/%s: %w", k.Event, k.ID, err)
	}
	return tx.Commit()
}

func (s *Store) SigningKey(ctx context.Context, event string) (ticket.SigningKey, error) {
	var k ticket.SigningKey
	var priv []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, private FROM signing_keys WHERE event_id = ? AND retired_at IS NULL
		ORDER BY created_at DESC, id DESC LIMIT 1`), event).Scan(&k.ID, &priv)
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("signing key of %q: %w", event, fleet.ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("signing key of %q: %w", event, err)
	}
	if len(priv) != ed25519.PrivateKeySize {
		return k, fmt.Errorf("signing key %s/%s: stored key has %d bytes", event, k.ID, len(priv))
	}
	k.Event, k.Private = event, ed25519.PrivateKey(priv)
	return k, nil
}

// --- the change log ---

// appendChanges logs cs for event inside tx, numbering them. It returns
// fleet.ErrNotFound when the event does not exist.
func (s *Store) appendChanges(ctx context.Context, tx *sql.Tx, event string, cs []wire.Change) error {
	return s.appendChangesPre(ctx, tx, event, cs, nil)
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
// for cs[i], see changeBody; nil or short: marshal here).
func (s *Store) appendChangesPre(ctx context.Context, tx *sql.Tx, event string, cs []wire.Change, pre [][]byte) error {
	if len(cs) == 0 {
		return nil
	}
	var last, running int64
	// An UPDATE that changes nothing takes the row lock on PostgreSQL
	// (SQLite transactions are serialised already): appends of one event
	// are numbered and committed in order.
	err := tx.QueryRowContext(ctx, s.q(`UPDATE events SET last_seq = last_seq WHERE id = ? RETURNING last_seq, running`), event).Scan(&last, &running)
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
		rows = append(rows, []any{event, last, cs[i].Kind, body, int64(sum)})
	}
	if err := s.insertMany(ctx, tx, `INSERT INTO change_log (event_id, seq, kind, body, running) VALUES `, 5, rows, ""); err != nil {
		return fmt.Errorf("log of %q: %w", event, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE events SET last_seq = ?, running = ? WHERE id = ?`), last, int64(sum), event); err != nil {
		return fmt.Errorf("log of %q: %w", event, err)
	}
	return s.notify(ctx, tx, "e:"+event)
}

// insertMany inserts rows of ncol values: on PostgreSQL in one bulk
// statement (bulk.go) when the values allow, else with multi-row VALUES
// statements (prepared once per call on SQLite).
func (s *Store) insertMany(ctx context.Context, tx *sql.Tx, prefix string, ncol int, rows [][]any, suffix string) error {
	if len(rows) > 1 {
		if done, err := s.bulkInsert(ctx, tx, prefix, rows, suffix); done || err != nil {
			return err
		}
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", ncol), ", ") + ")"
	if s.d.Local && len(rows) > 0 {
		// In process: prepared statements of many rows each (one
		// execution through database/sql per chunk, not per row), the
		// rest one row at a time.
		const per = 32 // measured: less CPU per row than 1 or 128
		if len(rows) >= per {
			st, err := tx.PrepareContext(ctx, prefix+strings.TrimSuffix(strings.Repeat(tuple+", ", per), ", ")+suffix)
			if err != nil {
				return err
			}
			defer st.Close()
			args := make([]any, 0, per*ncol)
			for len(rows) >= per {
				args = args[:0]
				for _, r := range rows[:per] {
					args = append(args, r...)
				}
				if _, err := st.ExecContext(ctx, args...); err != nil {
					return err
				}
				rows = rows[per:]
			}
		}
		if len(rows) > 0 {
			st, err := tx.PrepareContext(ctx, prefix+tuple+suffix)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, r := range rows {
				if _, err := st.ExecContext(ctx, r...); err != nil {
					return err
				}
			}
		}
		return nil
	}
	per := max(1, min(1000, s.d.MaxParams/ncol))
	for len(rows) > 0 {
		n := min(per, len(rows))
		var b strings.Builder
		b.WriteString(prefix)
		args := make([]any, 0, n*ncol)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(tuple)
			args = append(args, rows[i]...)
		}
		b.WriteString(suffix)
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

func (s *Store) LogState(ctx context.Context, event string) (fleet.LogState, error) {
	st := fleet.LogState{Event: event}
	var running, crun int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT last_seq, running, compacted_seq, compacted_running FROM events WHERE id = ?`), event).
		Scan(&st.Last, &running, &st.Compacted, &crun)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("log of %q: %w", event, fleet.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("log of %q: %w", event, err)
	}
	st.Running, st.CompactedRunning = uint64(running), uint64(crun)
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
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT seq, body, running FROM change_log WHERE event_id = ? AND seq > ? ORDER BY seq LIMIT ?`),
		event, after, limit)
	if err != nil {
		return page, fmt.Errorf("changes of %q: %w", event, err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq, running int64
		var body []byte
		if err := rows.Scan(&seq, &body, &running); err != nil {
			return page, fmt.Errorf("changes of %q: %w", event, err)
		}
		var c wire.Change
		if err := json.Unmarshal(body, &c); err != nil {
			return page, fmt.Errorf("change %d of %q: %w", seq, event, err)
		}
		c.Seq = seq
		page.Changes = append(page.Changes, c)
		page.Running = uint64(running)
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
	err = tx.QueryRowContext(ctx, s.q(`UPDATE events SET last_seq = last_seq WHERE id = ? RETURNING last_seq, compacted_seq`), event).Scan(&last, &compacted)
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
	var running int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT running FROM change_log WHERE event_id = ? AND seq = ?`), event, upTo).Scan(&running); err != nil {
		return fmt.Errorf("compact %q at %d: %w", event, upTo, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM change_log WHERE event_id = ? AND seq <= ?`), event, upTo); err != nil {
		return fmt.Errorf("compact %q: %w", event, err)
	}
	if _, err := tx.ExecContext(ctx, s.q(`UPDATE events SET compacted_seq = ?, compacted_running = ? WHERE id = ?`), upTo, running, event); err != nil {
		return fmt.Errorf("compact %q: %w", event, err)
	}
	return tx.Commit()
}

func (s *Store) Snapshot(ctx context.Context, event, after string, limit int) (fleet.SnapshotPage, error) {
	var page fleet.SnapshotPage
	if after == "" {
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, private, COALESCE(retired_at, 0) FROM signing_keys WHERE event_id = ? ORDER BY id`), event)
		if err != nil {
			return page, fmt.Errorf("snapshot of %q: %w", event, err)
		}
		for rows.Next() {
			var k wire.Key
			var priv []byte
			var retired int64
			if err := rows.Scan(&k.ID, &priv, &retired); err != nil {
				rows.Close()
				return page, fmt.Errorf("snapshot of %q: %w", event, err)
			}
			if len(priv) == ed25519.PrivateKeySize {
				k.Public = []byte(ed25519.PrivateKey(priv).Public().(ed25519.PublicKey))
			}
			k.RetiredAt = fromMS(retired)
			page.Keys = append(page.Keys, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return page, fmt.Errorf("snapshot of %q: %w", event, err)
		}
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, type, holder, COALESCE(revoked_at, 0), code_secret FROM tickets
		WHERE event_id = ? AND id > ? ORDER BY id LIMIT ?`), event, after, limit+1)
	if err != nil {
		return page, fmt.Errorf("snapshot of %q: %w", event, err)
	}
	page.Tickets = make([]wire.SnapTicket, 0, limit)
	for rows.Next() {
		var t wire.SnapTicket
		var revoked int64
		if err := rows.Scan(&t.ID, &t.Type, &t.Holder, &revoked, &t.CodeSecret); err != nil {
			rows.Close()
			return page, fmt.Errorf("snapshot of %q: %w", event, err)
		}
		t.Revoked = revoked != 0
		page.Tickets = append(page.Tickets, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("snapshot of %q: %w", event, err)
	}
	page.Done = len(page.Tickets) <= limit
	if !page.Done {
		page.Tickets = page.Tickets[:limit]
	}
	page.Last = after
	if n := len(page.Tickets); n > 0 {
		page.Last = page.Tickets[n-1].ID
	}
	// Used marks of the tickets in (after, Last]; on the last page, of
	// every ticket id after after, so none is lost to a ticket row missing.
	var urows *sql.Rows
	if page.Done {
		urows, err = s.db.QueryContext(ctx, s.q(`SELECT ticket_id, device_id, gate, at, direction, annulled FROM used
			WHERE event_id = ? AND ticket_id > ? ORDER BY ticket_id, device_id, at`), event, after)
	} else {
		urows, err = s.db.QueryContext(ctx, s.q(`SELECT ticket_id, device_id, gate, at, direction, annulled FROM used
			WHERE event_id = ? AND ticket_id > ? AND ticket_id <= ? ORDER BY ticket_id, device_id, at`), event, after, page.Last)
	}
	if err != nil {
		return page, fmt.Errorf("snapshot of %q: %w", event, err)
	}
	defer urows.Close()
	for urows.Next() {
		var u wire.Used
		var at int64
		if err := urows.Scan(&u.TicketID, &u.Device, &u.Gate, &at, &u.Direction, &u.Annulled); err != nil {
			return page, fmt.Errorf("snapshot of %q: %w", event, err)
		}
		u.At = fromMS(at)
		if u.Direction == wire.DirIn {
			u.Direction = "" // entries encode as before protocol 3
		}
		if page.Done && u.TicketID > page.Last {
			page.Last = u.TicketID
		}
		page.Used = append(page.Used, u)
	}
	return page, urows.Err()
}

// --- ticket types, zones, gates ---

func zonesJSON(z []string) string {
	if len(z) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(z)
	return string(b)
}

func parseZones(s string) []string {
	var z []string
	_ = json.Unmarshal([]byte(s), &z)
	if len(z) == 0 {
		return nil
	}
	return z
}

func (s *Store) PutTicketType(ctx context.Context, t fleet.TicketType) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO ticket_types (event_id, id, name, zones, policy) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, zones = excluded.zones, policy = excluded.policy`),
		t.Event, t.ID, t.Name, zonesJSON(t.Zones), t.Policy)
	if err != nil {
		return fmt.Errorf("ticket type %s/%s: %w", t.Event, t.ID, err)
	}
	return nil
}

func (s *Store) TicketTypes(ctx context.Context, event string) ([]fleet.TicketType, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, name, zones, policy FROM ticket_types WHERE event_id = ? ORDER BY id`), event)
	if err != nil {
		return nil, fmt.Errorf("ticket types of %q: %w", event, err)
	}
	defer rows.Close()
	var out []fleet.TicketType
	for rows.Next() {
		t := fleet.TicketType{Event: event}
		var zones string
		if err := rows.Scan(&t.ID, &t.Name, &zones, &t.Policy); err != nil {
			return nil, fmt.Errorf("ticket types of %q: %w", event, err)
		}
		t.Zones = parseZones(zones)
		out = append(out, t)
	}
	return out, rows.Err()
}

func (s *Store) PutZone(ctx context.Context, z fleet.Zone) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO zones (event_id, id, name) VALUES (?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name`), z.Event, z.ID, z.Name)
	if err != nil {
		return fmt.Errorf("zone %s/%s: %w", z.Event, z.ID, err)
	}
	return nil
}

func (s *Store) Zones(ctx context.Context, event string) ([]fleet.Zone, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, name FROM zones WHERE event_id = ? ORDER BY id`), event)
	if err != nil {
		return nil, fmt.Errorf("zones of %q: %w", event, err)
	}
	defer rows.Close()
	var out []fleet.Zone
	for rows.Next() {
		z := fleet.Zone{Event: event}
		if err := rows.Scan(&z.ID, &z.Name); err != nil {
			return nil, fmt.Errorf("zones of %q: %w", event, err)
		}
		out = append(out, z)
	}
	return out, rows.Err()
}

func (s *Store) PutGate(ctx context.Context, g fleet.Gate) error {
	_, err := s.db.ExecContext(ctx, s.q(`INSERT INTO gates (event_id, id, name, zones) VALUES (?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, zones = excluded.zones`),
		g.Event, g.ID, g.Name, zonesJSON(g.Zones))
	if err != nil {
		return fmt.Errorf("gate %s/%s: %w", g.Event, g.ID, err)
	}
	return nil
}

func (s *Store) Gates(ctx context.Context, event string) ([]fleet.Gate, error) {
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, name, zones FROM gates WHERE event_id = ? ORDER BY id`), event)
	if err != nil {
		return nil, fmt.Errorf("gates of %q: %w", event, err)
	}
	defer rows.Close()
	var out []fleet.Gate
	for rows.Next() {
		g := fleet.Gate{Event: event}
		var zones string
		if err := rows.Scan(&g.ID, &g.Name, &zones); err != nil {
			return nil, fmt.Errorf("gates of %q: %w", event, err)
		}
		g.Zones = parseZones(zones)
		out = append(out, g)
	}
	return out, rows.Err()
}
