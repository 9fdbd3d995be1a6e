package gatedb

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"

	"admit/fleet/wire"
)

// Venue data: the gate's replica of its event's venue scope
// (wire.VenueScope), applied like the ticket replica — in one transaction
// with the scope's cursor, checked against its running checksum, by
// batches or snapshot generations — into a table per kind of row.
//
// A kind this gate does not know (a newer fleet's: issue 12 adds zones,
// gates, ticket types, badges, partner keys, gate settings) is skipped: it
// still counts for the cursor and the checksum. The release that learns a
// kind adds its table here and a migration that marks the venue scopes for
// a snapshot (UPDATE cursors SET snap_active = 1, snap_seq = 0 WHERE
// event_id LIKE '#venue:%'), which fills it.

// venueTable is where the rows of one kind of venue data go.
type venueTable struct {
	table string // event_id, id and gen columns, and the kind's own
	put   func(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error
}

var venueTables = map[string]venueTable{
	wire.VenueKindDevice: {"venue_devices", putVenueDevice},
	wire.VenueKindStaff:  {"venue_staff", putVenueStaff},
}

func putVenueDevice(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error {
	d, err := r.Device()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO venue_devices (event_id, id, name, gate, public_key, revoked, gen) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, gate = excluded.gate, public_key = excluded.public_key,
		revoked = excluded.revoked, gen = excluded.gen`, event, r.ID, d.Name, d.Gate, d.PublicKey, d.Revoked, gen)
	return err
}

func putVenueStaff(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error {
	s, err := r.Staff()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO venue_staff (event_id, id, name, pin_hash, badge, gen) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, pin_hash = excluded.pin_hash, badge = excluded.badge,
		gen = excluded.gen`, event, r.ID, s.Name, s.PINHash, s.Badge, gen)
	return err
}

// applyVenueRow sets or deletes one row of event's venue data.
func applyVenueRow(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error {
	vt, ok := venueTables[r.Kind]
	if !ok {
		return nil // a kind of a newer fleet: see above
	}
	if r.Deleted {
		_, err := tx.ExecContext(ctx, `DELETE FROM `+vt.table+` WHERE event_id = ? AND id = ?`, event, r.ID)
		return err
	}
	return vt.put(ctx, tx, event, gen, r)
}

// dropOldVenue deletes event's venue rows of generations before gen (a
// snapshot replaced them).
func dropOldVenue(ctx context.Context, tx *sql.Tx, event string, gen int64) error {
	for _, vt := range venueTables {
		if _, err := tx.ExecContext(ctx, `DELETE FROM `+vt.table+` WHERE event_id = ? AND gen < ?`, event, gen); err != nil {
			return fmt.Errorf("drop old %s: %w", vt.table, err)
		}
	}
	return nil
}

// VenueDevice is a device that serves the gate's event, as the venue scope
// says: its key, or revoked.
type VenueDevice struct {
	Event, ID, Name, Gate string
	PublicKey             ed25519.PublicKey // nil when Revoked
	Revoked               bool
}

// venueDevices is the in-memory copy of venue_devices that peer gossip
// checks every mark against without touching the database: replaced
// whole after every commit that changes a venue scope.
type venueDevices struct {
	byEvent map[string]map[string]VenueDevice
	synced  map[string]bool // events whose venue scope was received (cursor > 0)
}

// loadVenue reads venue_devices and the venue cursors into d.venue.
func (d *DB) loadVenue(ctx context.Context) error {
	v := &venueDevices{byEvent: map[string]map[string]VenueDevice{}, synced: map[string]bool{}}
	rows, err := d.db.QueryContext(ctx, `SELECT event_id, id, name, gate, public_key, revoked FROM venue_devices`)
	if err != nil {
		return fmt.Errorf("gatedb: venue devices: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var dv VenueDevice
		var pub []byte
		if err := rows.Scan(&dv.Event, &dv.ID, &dv.Name, &dv.Gate, &pub, &dv.Revoked); err != nil {
			return fmt.Errorf("gatedb: venue devices: %w", err)
		}
		if len(pub) == ed25519.PublicKeySize && !dv.Revoked {
			dv.PublicKey = ed25519.PublicKey(pub)
		}
		if v.byEvent[dv.Event] == nil {
			v.byEvent[dv.Event] = map[string]VenueDevice{}
		}
		v.byEvent[dv.Event][dv.ID] = dv
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("gatedb: venue devices: %w", err)
	}
	cur, err := d.db.QueryContext(ctx, `SELECT event_id FROM cursors WHERE event_id LIKE '#venue:%' AND seq > 0`)
	if err != nil {
		return fmt.Errorf("gatedb: venue cursors: %w", err)
	}
	defer cur.Close()
	for cur.Next() {
		var scope string
		if err := cur.Scan(&scope); err != nil {
			return fmt.Errorf("gatedb: venue cursors: %w", err)
		}
		if ev, ok := wire.VenueEvent(scope); ok {
			v.synced[ev] = true
		}
	}
	if err := cur.Err(); err != nil {
		return err
	}
	d.venue.Store(v)
	return nil
}

// VenueDevice returns what the venue scope of event says of device id
// (ok false: the venue scope does not name it). It reads memory only.
func (d *DB) VenueDevice(event, id string) (VenueDevice, bool) {
	v := d.venue.Load()
	if v == nil {
		return VenueDevice{}, false
	}
	dv, ok := v.byEvent[event][id]
	return dv, ok
}

// VenueSynced reports whether the gate holds the venue scope of event
// (received at least once): before that it knows no device's key.
func (d *DB) VenueSynced(event string) bool {
	v := d.venue.Load()
	return v != nil && v.synced[event]
}

// Staff is a gate staff member of the event, as the venue scope says.
type Staff struct {
	Event, ID, Name string
	PINHash         string // argon2id PHC string of wire.StaffSecret(badge UID, PIN)
	Badge           string // wire.BadgeLookup of the badge's UID; "" for a PIN alone
}

// ErrUnknownStaff: no such staff member in the venue scope.
var ErrUnknownStaff = errors.New("gatedb: no such gate staff")

// StaffMember returns the staff member id of event.
func (d *DB) StaffMember(ctx context.Context, event, id string) (Staff, error) {
	s := Staff{Event: event, ID: id}
	err := d.db.QueryRowContext(ctx, `SELECT name, pin_hash, badge FROM venue_staff WHERE event_id = ? AND id = ?`, event, id).
		Scan(&s.Name, &s.PINHash, &s.Badge)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrUnknownStaff
	}
	if err != nil {
		return s, fmt.Errorf("gatedb: staff %q: %w", id, err)
	}
	return s, nil
}

// StaffByBadge returns the staff member of event whose badge has the
// lookup hash badge (wire.BadgeLookup).
func (d *DB) StaffByBadge(ctx context.Context, event, badge string) (Staff, error) {
	s := Staff{Event: event, Badge: badge}
	if badge == "" {
		return s, ErrUnknownStaff
	}
	err := d.db.QueryRowContext(ctx, `SELECT id, name, pin_hash FROM venue_staff WHERE event_id = ? AND badge = ? ORDER BY id LIMIT 1`, event, badge).
		Scan(&s.ID, &s.Name, &s.PINHash)
	if errors.Is(err, sql.ErrNoRows) {
		return s, ErrUnknownStaff
	}
	if err != nil {
		return s, fmt.Errorf("gatedb: staff by badge: %w", err)
	}
	return s, nil
}

// venueCache is the holder of the in-memory device keys (DB.venue).
type venueCache = atomic.Pointer[venueDevices]
