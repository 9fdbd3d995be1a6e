package sqlstore

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/wire"
)

// Venue scopes (wire.VenueScope): the second log of every event, holding
// the rows a gate needs about the venue. venue_rows keeps each scope's
// current rows; a sync computes the rows the scope should hold from the
// fleet's own tables (one source per kind of row), compares, and logs a
// change for every row that differs — inside the transaction of the
// mutation that caused it, after locking the scope's state row, so two
// syncs of one scope (two nodes) run one after the other and the second
// reads what the first committed.

// venueSource produces the rows of one kind that event's venue scope must
// hold, by id, as their data (JSON of the kind's wire type). A new kind
// of venue data is a new source here: the sync, the log and the
// snapshots handle it as they are. The venue model's sources (zones,
// gates, ticket types, settings, badges, partner keys) are in
// venuemodel.go.
type venueSource struct {
	kind string
	rows func(s *Store, ctx context.Context, tx *sql.Tx, event string) (map[string][]byte, error)
}

var venueSources = []venueSource{
	{wire.VenueKindDevice, (*Store).venueDevices},
	{wire.VenueKindStaff, (*Store).venueStaff},
	{wire.VenueKindZone, (*Store).venueZones},
	{wire.VenueKindGate, (*Store).venueGates},
	{wire.VenueKindTicketType, (*Store).venueTicketTypes},
	{wire.VenueKindSettings, (*Store).venueSettings},
	{wire.VenueKindBadge, (*Store).venueBadges},
	{wire.VenueKindJWTKey, (*Store).venuePartnerKeys},
}

// venueDevices: every device that serves the event (fleet.Device.Serves:
// one its record names; a device naming no event serves none) and holds
// a key, with its key, or flagged revoked.
func (s *Store) venueDevices(ctx context.Context, tx *sql.Tx, event string) (map[string][]byte, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, name, gate, events, public_key, revoked_at FROM devices`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var id, name, gate, events string
		var pub []byte
		var revoked int64
		if err := rows.Scan(&id, &name, &gate, &events, &pub, &revoked); err != nil {
			return nil, err
		}
		if !(fleet.Device{Events: parseZones(events)}).Serves(event) {
			continue
		}
		d := wire.VenueDevice{Name: name, Gate: gate}
		switch {
		case revoked != 0:
			d.Revoked = true
		case len(pub) == ed25519.PublicKeySize:
			d.PublicKey = pub
		default:
			continue // no key: it signs nothing a gate could check
		}
		if len(id) > wire.MaxIDLen || len(name) > wire.MaxTextLen || len(gate) > wire.MaxTextLen {
			continue
		}
		b, err := json.Marshal(d)
		if err != nil {
			return nil, err
		}
		out[id] = b
	}
	return out, rows.Err()
}

// venueStaff: every operator with a credential for the event that holds
// the gate staff role on it (or on all events).
func (s *Store) venueStaff(ctx context.Context, tx *sql.Tx, event string) (map[string][]byte, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT c.operator, c.pin_hash, c.badge_hash FROM staff_credentials c
		WHERE c.event_id = ? AND EXISTS (SELECT 1 FROM operator_grants g WHERE g.operator = c.operator AND g.role = ? AND (g.event = ? OR g.event = ?))`),
		event, string(access.GateStaff), event, access.AllEvents)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var name string
		var st wire.VenueStaff
		if err := rows.Scan(&name, &st.PINHash, &st.Badge); err != nil {
			return nil, err
		}
		b, err := json.Marshal(st)
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, rows.Err()
}

// SyncVenue brings event's venue scope up to date, in its own transaction.
func (s *Store) SyncVenue(ctx context.Context, event string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("sync venue of %q: %w", event, err)
	}
	defer tx.Rollback()
	if err := s.eventExistsTx(ctx, tx, event); err != nil {
		return err
	}
	if err := s.syncVenueTx(ctx, tx, event); err != nil {
		return err
	}
	return tx.Commit()
}

// syncVenuesTx syncs the venue scopes of events, in id order (locks are
// always taken in one order); all syncs every event.
func (s *Store) syncVenuesTx(ctx context.Context, tx *sql.Tx, events []string, all bool) error {
	if all {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM events`)
		if err != nil {
			return fmt.Errorf("sync venues: %w", err)
		}
		events = events[:0]
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return fmt.Errorf("sync venues: %w", err)
			}
			events = append(events, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("sync venues: %w", err)
		}
	}
	events = slices.Clone(events)
	slices.Sort(events)
	for _, ev := range slices.Compact(events) {
		if err := s.syncVenueTx(ctx, tx, ev); err != nil {
			return err
		}
	}
	return nil
}

// syncVenueTx logs, inside tx, what changed in event's venue scope since
// its rows were last written, and writes them. An event that does not
// exist (a device may name one before it is created) has no scope: a
// no-op; creating the event syncs its scope.
func (s *Store) syncVenueTx(ctx context.Context, tx *sql.Tx, event string) error {
	scope := wire.VenueScope(event)
	var last int64
	// Lock the scope first: what the sources read below is then what the
	// syncs before this one committed.
	err := tx.QueryRowContext(ctx, s.q(`UPDATE log_scopes SET last_seq = last_seq WHERE scope = ? RETURNING last_seq`), scope).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("venue of %q: %w", event, err)
	}
	current := map[string]wire.VenueRow{}
	rows, err := tx.QueryContext(ctx, s.q(`SELECT kind, id, data FROM venue_rows WHERE scope = ?`), scope)
	if err != nil {
		return fmt.Errorf("venue of %q: %w", event, err)
	}
	for rows.Next() {
		var r wire.VenueRow
		if err := rows.Scan(&r.Kind, &r.ID, &r.Data); err != nil {
			rows.Close()
			return fmt.Errorf("venue of %q: %w", event, err)
		}
		current[r.Key()] = r
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("venue of %q: %w", event, err)
	}
	var changed []wire.VenueRow
	for _, src := range venueSources {
		want, err := src.rows(s, ctx, tx, event)
		if err != nil {
			return fmt.Errorf("venue of %q: %s rows: %w", event, src.kind, err)
		}
		for _, id := range slices.Sorted(maps.Keys(want)) {
			r := wire.VenueRow{Kind: src.kind, ID: id, Data: want[id]}
			if cur, ok := current[r.Key()]; !ok || !bytes.Equal(cur.Data, r.Data) {
				changed = append(changed, r)
			}
		}
		for key, cur := range current {
			if _, ok := want[cur.ID]; cur.Kind == src.kind && !ok {
				changed = append(changed, wire.VenueRow{Kind: cur.Kind, ID: cur.ID, Deleted: true})
				delete(current, key)
			}
		}
	}
	if len(changed) == 0 {
		return nil
	}
	sort.Slice(changed, func(i, j int) bool { return changed[i].Key() < changed[j].Key() })
	cs := make([]wire.Change, len(changed))
	for i := range changed {
		cs[i] = wire.Change{Kind: wire.KindVenue, Venue: &changed[i]}
	}
	if err := s.appendChanges(ctx, tx, scope, cs); err != nil {
		return err
	}
	for _, r := range changed {
		if r.Deleted {
			_, err = tx.ExecContext(ctx, s.q(`DELETE FROM venue_rows WHERE scope = ? AND row_key = ?`), scope, r.Key())
		} else {
			_, err = tx.ExecContext(ctx, s.q(`INSERT INTO venue_rows (scope, row_key, kind, id, data) VALUES (?, ?, ?, ?, ?)
				ON CONFLICT (scope, row_key) DO UPDATE SET data = excluded.data`), scope, r.Key(), r.Kind, r.ID, r.Data)
		}
		if err != nil {
			return fmt.Errorf("venue of %q: row %s: %w", event, r.Key(), err)
		}
	}
	return nil
}

// venueSnapshot is Snapshot of a venue scope: its rows after the key
// after, in key order.
func (s *Store) venueSnapshot(ctx context.Context, scope, after string, limit int) (fleet.SnapshotPage, error) {
	page := fleet.SnapshotPage{Last: after}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT kind, id, data FROM venue_rows WHERE scope = ? AND row_key > ? ORDER BY row_key LIMIT ?`),
		scope, after, limit+1)
	if err != nil {
		return page, fmt.Errorf("snapshot of %q: %w", scope, err)
	}
	defer rows.Close()
	for rows.Next() {
		var r wire.VenueRow
		if err := rows.Scan(&r.Kind, &r.ID, &r.Data); err != nil {
			return page, fmt.Errorf("snapshot of %q: %w", scope, err)
		}
		page.Venue = append(page.Venue, r)
	}
	if err := rows.Err(); err != nil {
		return page, fmt.Errorf("snapshot of %q: %w", scope, err)
	}
	page.Done = len(page.Venue) <= limit
	if !page.Done {
		page.Venue = page.Venue[:limit]
	}
	if n := len(page.Venue); n > 0 {
		page.Last = page.Venue[n-1].Key()
	}
	return page, nil
}

// deviceEventsTx returns the events a device serves (nil: all, or no
// such device).
func (s *Store) deviceEventsTx(ctx context.Context, tx *sql.Tx, id string) ([]string, bool, error) {
	var events string
	err := tx.QueryRowContext(ctx, s.q(`SELECT events FROM devices WHERE id = ?`), id).Scan(&events)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("device %q: %w", id, err)
	}
	return parseZones(events), true, nil
}

// syncDeviceTx syncs the venue scopes a device change touches: those of
// the events it served before (was) and serves now; a device that names
// no event serves them all.
func (s *Store) syncDeviceTx(ctx context.Context, tx *sql.Tx, id string, was []string, existed bool) error {
	now, exists, err := s.deviceEventsTx(ctx, tx, id)
	if err != nil {
		return err
	}
	all := (existed && len(was) == 0) || (exists && len(now) == 0)
	return s.syncVenuesTx(ctx, tx, append(slices.Clone(was), now...), all)
}
