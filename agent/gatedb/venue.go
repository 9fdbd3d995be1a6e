package gatedb

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"admit/fleet/wire"
)

// Venue data: the gate's replica of its event's venue scope
// (wire.VenueScope), applied like the ticket replica — in one transaction
// with the scope's cursor, checked against its running checksum, by
// batches or snapshot generations — into a table per kind of row.
//
// A kind this gate does not know (a newer fleet's) is skipped: it still
// counts for the cursor and the checksum. The release that learns a kind
// adds its table here and a migration that marks the venue scopes for a
// snapshot (UPDATE cursors SET snap_active = 1, snap_seq = 0 WHERE
// event_id LIKE '#venue:%'), which fills it, as migration 0007 does for
// zones, gates, ticket types, settings, badges and partner keys.

// venueTable is where the rows of one kind of venue data go.
type venueTable struct {
	table string // event_id, id and gen columns, and the kind's own
	put   func(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error
}

var venueTables = map[string]venueTable{
	wire.VenueKindDevice:     {"venue_devices", putVenueDevice},
	wire.VenueKindStaff:      {"venue_staff", putVenueStaff},
	wire.VenueKindZone:       {"venue_zones", putVenueZone},
	wire.VenueKindGate:       {"venue_gates", putVenueGate},
	wire.VenueKindTicketType: {"venue_ticket_types", putVenueTicketType},
	wire.VenueKindSettings:   {"venue_settings", putVenueSettings},
	wire.VenueKindBadge:      {"venue_badges", putVenueBadge},
	wire.VenueKindJWTKey:     {"venue_jwt_keys", putVenueJWTKey},
}

func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l)
	return string(b)
}

func parseList(s string) []string {
	var l []string
	_ = json.Unmarshal([]byte(s), &l)
	if len(l) == 0 {
		return nil
	}
	return l
}

func putVenueZone(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error {
	z, err := r.Zone()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO venue_zones (event_id, id, name, gen) VALUES (?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, gen = excluded.gen`, event, r.ID, z.Name, gen)
	return err
}

func putVenueGate(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error {
	g, err := r.Gate()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO venue_gates (event_id, id, name, zones, gen) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, zones = excluded.zones, gen = excluded.gen`,
		event, r.ID, g.Name, jsonList(g.Zones), gen)
	return err
}

func putVenueTicketType(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error {
	t, err := r.TicketType()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO venue_ticket_types (event_id, id, name, zones, policy, gen) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, zones = excluded.zones, policy = excluded.policy, gen = excluded.gen`,
		event, r.ID, t.Name, jsonList(t.Zones), t.Policy, gen)
	return err
}

func putVenueSettings(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error {
	if _, err := r.Settings(); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO venue_settings (event_id, id, data, gen) VALUES (?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET data = excluded.data, gen = excluded.gen`, event, r.ID, r.Data, gen)
	return err
}

func putVenueBadge(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error {
	b, err := r.Badge()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO venue_badges (event_id, id, uid_hash, name, zones, not_before, not_after, policy, gen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET uid_hash = excluded.uid_hash, name = excluded.name, zones = excluded.zones,
		not_before = excluded.not_before, not_after = excluded.not_after, policy = excluded.policy, gen = excluded.gen`,
		event, r.ID, b.UID, b.Name, jsonList(b.Zones), ms(b.NotBefore), ms(b.NotAfter), b.Policy, gen)
	return err
}

func putVenueJWTKey(ctx context.Context, tx *sql.Tx, event string, gen int64, r *wire.VenueRow) error {
	k, err := r.JWTKey()
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO venue_jwt_keys (event_id, id, kid, alg, public, issuer, retired_at, gen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET kid = excluded.kid, alg = excluded.alg, public = excluded.public,
		issuer = excluded.issuer, retired_at = excluded.retired_at, gen = excluded.gen`,
		event, r.ID, k.Kid, k.Alg, k.Public, k.Issuer, ms(k.RetiredAt), gen)
	return err
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

// venueDevices is the in-memory copy of the venue data read on every
// presentation or mark — devices' keys (peer gossip), settings, zone and
// type names, partner keys — so neither gossip nor a decision touches
// the database for them: replaced whole after every commit that changes a
// venue scope. Badges stay in the database (there may be tens of
// thousands), looked up by their UID's hash.
type venueDevices struct {
	byEvent  map[string]map[string]VenueDevice
	synced   map[string]bool // events whose venue scope was received (cursor > 0)
	settings map[string]wire.VenueSettings
	zones    map[string]map[string]string // event → zone id → name
	types    map[string]map[string]string // event → type id → name
	jwtKeys  []JWTKey
	gen      uint64 // counts the loads: a consumer reloads what it derived when it moved
}

// JWTKey is a partner's JWT verification key of an event, as the venue
// scope says (wire.VenueJWTKey).
type JWTKey struct {
	Event, ID, Kid, Alg, Issuer string
	Public                      []byte
	RetiredAt                   time.Time
}

// loadVenue reads venue_devices, the settings, names and partner keys and
// the venue cursors into d.venue.
func (d *DB) loadVenue(ctx context.Context) error {
	v := &venueDevices{byEvent: map[string]map[string]VenueDevice{}, synced: map[string]bool{}, settings: map[string]wire.VenueSettings{},
		zones: map[string]map[string]string{}, types: map[string]map[string]string{}}
	if old := d.venue.Load(); old != nil {
		v.gen = old.gen + 1
	}
	if err := v.loadModel(ctx, d.db); err != nil {
		return err
	}
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

// loadModel reads the settings, zone and type names and partner keys.
func (v *venueDevices) loadModel(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, `SELECT event_id, id, data FROM venue_settings`)
	if err != nil {
		return fmt.Errorf("gatedb: venue settings: %w", err)
	}
	for rows.Next() {
		var r wire.VenueRow
		var event string
		r.Kind = wire.VenueKindSettings
		if err := rows.Scan(&event, &r.ID, &r.Data); err != nil {
			rows.Close()
			return fmt.Errorf("gatedb: venue settings: %w", err)
		}
		if st, err := r.Settings(); err == nil {
			v.settings[event] = st
		}
	}
	rows.Close()
	for _, t := range []struct {
		table string
		into  map[string]map[string]string
	}{{"venue_zones", v.zones}, {"venue_ticket_types", v.types}} {
		rows, err := db.QueryContext(ctx, `SELECT event_id, id, name FROM `+t.table)
		if err != nil {
			return fmt.Errorf("gatedb: %s: %w", t.table, err)
		}
		for rows.Next() {
			var event, id, name string
			if err := rows.Scan(&event, &id, &name); err != nil {
				rows.Close()
				return fmt.Errorf("gatedb: %s: %w", t.table, err)
			}
			if t.into[event] == nil {
				t.into[event] = map[string]string{}
			}
			t.into[event][id] = name
		}
		rows.Close()
	}
	rows, err = db.QueryContext(ctx, `SELECT event_id, id, kid, alg, public, issuer, retired_at FROM venue_jwt_keys ORDER BY event_id, id`)
	if err != nil {
		return fmt.Errorf("gatedb: venue jwt keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k JWTKey
		var retired int64
		if err := rows.Scan(&k.Event, &k.ID, &k.Kid, &k.Alg, &k.Public, &k.Issuer, &retired); err != nil {
			return fmt.Errorf("gatedb: venue jwt keys: %w", err)
		}
		k.RetiredAt = fromMS(retired)
		v.jwtKeys = append(v.jwtKeys, k)
	}
	return rows.Err()
}

// VenueGen counts the changes of the in-memory venue data: a consumer
// that derived something from it (the agent's keyring of partner keys)
// reloads when it moved.
func (d *DB) VenueGen() uint64 {
	if v := d.venue.Load(); v != nil {
		return v.gen
	}
	return 0
}

// JWTKeys returns the partner keys of every event the venue scopes hold.
func (d *DB) JWTKeys() []JWTKey {
	if v := d.venue.Load(); v != nil {
		return v.jwtKeys
	}
	return nil
}

// Settings returns event's gate settings as its venue scope says (the
// defaults without a row). It reads memory only.
func (d *DB) Settings(event string) wire.VenueSettings {
	if v := d.venue.Load(); v != nil {
		return v.settings[event]
	}
	return wire.VenueSettings{}
}

// ZoneName returns the name of zone id of event ("" when the venue scope
// does not name it). It reads memory only.
func (d *DB) ZoneName(event, id string) string {
	if v := d.venue.Load(); v != nil {
		return v.zones[event][id]
	}
	return ""
}

// HasZones reports whether event's venue scope defines any zone.
func (d *DB) HasZones(event string) bool {
	v := d.venue.Load()
	return v != nil && len(v.zones[event]) > 0
}

// TypeName returns the name of ticket type id of event ("" when the venue
// scope does not name it). It reads memory only.
func (d *DB) TypeName(event, id string) string {
	if v := d.venue.Load(); v != nil {
		return v.types[event][id]
	}
	return ""
}

// Badge is a UID badge of an event, as the venue scope says.
type Badge struct {
	Event, ID, Name     string
	Zones               []string
	NotBefore, NotAfter time.Time
	Policy              string
}

// ErrUnknownBadge: no badge of the events asked about has the UID.
var ErrUnknownBadge = errors.New("gatedb: no such badge")

// BadgeByUID returns the badge of one of events whose UID has the lookup
// hash uidHash (wire.BadgeLookup), the first of events that has one.
func (d *DB) BadgeByUID(ctx context.Context, events []string, uidHash string) (Badge, error) {
	for _, ev := range events {
		b := Badge{Event: ev}
		var zones string
		var nb, na int64
		err := d.db.QueryRowContext(ctx, `SELECT id, name, zones, not_before, not_after, policy FROM venue_badges
			WHERE uid_hash = ? AND event_id = ? ORDER BY id LIMIT 1`, uidHash, ev).Scan(&b.ID, &b.Name, &zones, &nb, &na, &b.Policy)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return b, fmt.Errorf("gatedb: badge: %w", err)
		}
		b.Zones, b.NotBefore, b.NotAfter = parseList(zones), fromMS(nb), fromMS(na)
		return b, nil
	}
	return Badge{}, ErrUnknownBadge
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
