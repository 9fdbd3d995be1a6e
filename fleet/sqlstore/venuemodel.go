package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"admit/fleet"
	"admit/fleet/wire"
)

// The venue model's own rows — an event's settings for its gates, its
// UID badges, its partners' JWT keys — and the venue sources of every
// kind the model adds to a venue scope (venue.go's venueSources): zones,
// gates, ticket types, settings, badges, partner keys.

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (s *Store) PutEventSettings(ctx context.Context, st fleet.EventSettings) error {
	return s.inVenueTx(ctx, st.Event, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`UPDATE events SET admit_on_signature = ? WHERE id = ?`), b2i(st.AdmitOnSignature), st.Event)
		if err != nil {
			return fmt.Errorf("settings of %q: %w", st.Event, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("settings of %q: %w", st.Event, fleet.ErrNotFound)
		}
		return nil
	})
}

func (s *Store) EventSettings(ctx context.Context, event string) (fleet.EventSettings, error) {
	st := fleet.EventSettings{Event: event}
	var on int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT admit_on_signature FROM events WHERE id = ?`), event).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("settings of %q: %w", event, fleet.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("settings of %q: %w", event, err)
	}
	st.AdmitOnSignature = on != 0
	return st, nil
}

func (s *Store) PutBadge(ctx context.Context, b fleet.Badge) error {
	return s.inVenueTx(ctx, b.Event, func(tx *sql.Tx) error {
		if err := s.eventExistsTx(ctx, tx, b.Event); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM badges WHERE event_id = ? AND id <> ?`), b.Event, b.ID).Scan(&n); err != nil {
			return fmt.Errorf("badge %s/%s: %w", b.Event, b.ID, err)
		}
		if n >= fleet.MaxBadges {
			return fmt.Errorf("badge %s/%s: the event has %d badges, the most it may: %w", b.Event, b.ID, n, fleet.ErrInvalid)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO badges (event_id, id, uid_hash, name, zones, not_before, not_after, policy, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (event_id, id) DO UPDATE SET uid_hash = excluded.uid_hash, name = excluded.name, zones = excluded.zones,
			not_before = excluded.not_before, not_after = excluded.not_after, policy = excluded.policy`),
			b.Event, b.ID, b.UIDHash, b.Name, zonesJSON(b.Zones), ms(b.NotBefore), ms(b.NotAfter), b.Policy, ms(b.CreatedAt))
		if err != nil {
			return s.wrapUnique(err, fmt.Sprintf("badge %s/%s (another badge of the event has this UID)", b.Event, b.ID))
		}
		return nil
	})
}

func (s *Store) DeleteBadge(ctx context.Context, event, id string) error {
	return s.inVenueTx(ctx, event, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM badges WHERE event_id = ? AND id = ?`), event, id)
		if err != nil {
			return fmt.Errorf("badge %s/%s: %w", event, id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("badge %s/%s: %w", event, id, fleet.ErrNotFound)
		}
		return nil
	})
}

func (s *Store) Badges(ctx context.Context, event string) ([]fleet.Badge, error) {
	return s.badges(ctx, s.db, event)
}

// querier is a *sql.DB or a *sql.Tx.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *Store) badges(ctx context.Context, q querier, event string) ([]fleet.Badge, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT id, uid_hash, name, zones, not_before, not_after, policy, created_at FROM badges
		WHERE event_id = ? ORDER BY id`), event)
	if err != nil {
		return nil, fmt.Errorf("badges of %q: %w", event, err)
	}
	defer rows.Close()
	out := []fleet.Badge{}
	for rows.Next() {
		b := fleet.Badge{Event: event}
		var zones string
		var nb, na, created int64
		if err := rows.Scan(&b.ID, &b.UIDHash, &b.Name, &zones, &nb, &na, &b.Policy, &created); err != nil {
			return nil, fmt.Errorf("badges of %q: %w", event, err)
		}
		b.Zones, b.NotBefore, b.NotAfter, b.CreatedAt = parseZones(zones), fromMS(nb), fromMS(na), fromMS(created)
		out = append(out, b)
	}
	return out, rows.Err()
}

func (s *Store) PutPartnerKey(ctx context.Context, k fleet.PartnerKey) error {
	return s.inVenueTx(ctx, k.Event, func(tx *sql.Tx) error {
		if err := s.eventExistsTx(ctx, tx, k.Event); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM partner_keys WHERE event_id = ? AND id <> ?`), k.Event, k.ID).Scan(&n); err != nil {
			return fmt.Errorf("partner key %s/%s: %w", k.Event, k.ID, err)
		}
		if n >= fleet.MaxPartnerKeys {
			return fmt.Errorf("partner key %s/%s: the event has %d partner keys, the most it may: %w", k.Event, k.ID, n, fleet.ErrInvalid)
		}
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO partner_keys (event_id, id, kid, alg, public, issuer, retired_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (event_id, id) DO UPDATE SET kid = excluded.kid, alg = excluded.alg, public = excluded.public,
			issuer = excluded.issuer, retired_at = excluded.retired_at`),
			k.Event, k.ID, k.Kid, k.Alg, k.Public, k.Issuer, ms(k.RetiredAt), ms(k.CreatedAt))
		if err != nil {
			return fmt.Errorf("partner key %s/%s: %w", k.Event, k.ID, err)
		}
		return nil
	})
}

func (s *Store) DeletePartnerKey(ctx context.Context, event, id string) error {
	return s.inVenueTx(ctx, event, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, s.q(`DELETE FROM partner_keys WHERE event_id = ? AND id = ?`), event, id)
		if err != nil {
			return fmt.Errorf("partner key %s/%s: %w", event, id, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("partner key %s/%s: %w", event, id, fleet.ErrNotFound)
		}
		return nil
	})
}

func (s *Store) PartnerKeys(ctx context.Context, event string) ([]fleet.PartnerKey, error) {
	return s.partnerKeys(ctx, s.db, event)
}

func (s *Store) partnerKeys(ctx context.Context, q querier, event string) ([]fleet.PartnerKey, error) {
	rows, err := q.QueryContext(ctx, s.q(`SELECT id, kid, alg, public, issuer, retired_at, created_at FROM partner_keys
		WHERE event_id = ? ORDER BY id`), event)
	if err != nil {
		return nil, fmt.Errorf("partner keys of %q: %w", event, err)
	}
	defer rows.Close()
	out := []fleet.PartnerKey{}
	for rows.Next() {
		k := fleet.PartnerKey{Event: event}
		var retired, created int64
		if err := rows.Scan(&k.ID, &k.Kid, &k.Alg, &k.Public, &k.Issuer, &retired, &created); err != nil {
			return nil, fmt.Errorf("partner keys of %q: %w", event, err)
		}
		k.RetiredAt, k.CreatedAt = fromMS(retired), fromMS(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// venueRows turns rows of one kind into a source's map, checking each
// with the wire's own validation (a row the gates would refuse is left
// out, never logged).
func venueRows[T any](kind string, items []T, id func(T) string, data func(T) any) (map[string][]byte, error) {
	out := make(map[string][]byte, len(items))
	for _, it := range items {
		r, err := wire.NewVenueRow(kind, id(it), data(it))
		if errors.Is(err, wire.ErrInvalid) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[r.ID] = r.Data
	}
	return out, nil
}

// venueZones: the event's zones.
func (s *Store) venueZones(ctx context.Context, tx *sql.Tx, event string) (map[string][]byte, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, name FROM zones WHERE event_id = ?`), event)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var zs []fleet.Zone
	for rows.Next() {
		var z fleet.Zone
		if err := rows.Scan(&z.ID, &z.Name); err != nil {
			return nil, err
		}
		zs = append(zs, z)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return venueRows(wire.VenueKindZone, zs, func(z fleet.Zone) string { return z.ID },
		func(z fleet.Zone) any { return wire.VenueZone{Name: z.Name} })
}

// venueGates: the event's gates.
func (s *Store) venueGates(ctx context.Context, tx *sql.Tx, event string) (map[string][]byte, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, name, zones FROM gates WHERE event_id = ?`), event)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var gs []fleet.Gate
	for rows.Next() {
		var g fleet.Gate
		var zones string
		if err := rows.Scan(&g.ID, &g.Name, &zones); err != nil {
			return nil, err
		}
		g.Zones = parseZones(zones)
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return venueRows(wire.VenueKindGate, gs, func(g fleet.Gate) string { return g.ID },
		func(g fleet.Gate) any { return wire.VenueGate{Name: g.Name, Zones: g.Zones} })
}

// venueTicketTypes: the event's ticket types.
func (s *Store) venueTicketTypes(ctx context.Context, tx *sql.Tx, event string) (map[string][]byte, error) {
	rows, err := tx.QueryContext(ctx, s.q(`SELECT id, name, zones, policy FROM ticket_types WHERE event_id = ?`), event)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ts []fleet.TicketType
	for rows.Next() {
		var t fleet.TicketType
		var zones string
		if err := rows.Scan(&t.ID, &t.Name, &zones, &t.Policy); err != nil {
			return nil, err
		}
		t.Zones = parseZones(zones)
		ts = append(ts, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return venueRows(wire.VenueKindTicketType, ts, func(t fleet.TicketType) string { return t.ID },
		func(t fleet.TicketType) any {
			return wire.VenueTicketType{Name: t.Name, Zones: t.Zones, Policy: t.Policy}
		})
}

// venueSettings: the event's settings row, when they differ from the
// defaults (wire.VenueSettings: nil fields are the defaults, which the
// gates apply without a row): an event that never changed them has none.
func (s *Store) venueSettings(ctx context.Context, tx *sql.Tx, event string) (map[string][]byte, error) {
	var on int64
	if err := tx.QueryRowContext(ctx, s.q(`SELECT admit_on_signature FROM events WHERE id = ?`), event).Scan(&on); err != nil {
		return nil, err
	}
	var st wire.VenueSettings
	if on == 0 {
		off := false
		st.AdmitOnSignature = &off
	}
	if st == (wire.VenueSettings{}) {
		return nil, nil
	}
	b, err := json.Marshal(st)
	if err != nil {
		return nil, err
	}
	return map[string][]byte{wire.VenueSettingsID: b}, nil
}

// venueBadges: the event's UID badges.
func (s *Store) venueBadges(ctx context.Context, tx *sql.Tx, event string) (map[string][]byte, error) {
	bs, err := s.badges(ctx, tx, event)
	if err != nil {
		return nil, err
	}
	return venueRows(wire.VenueKindBadge, bs, func(b fleet.Badge) string { return b.ID },
		func(b fleet.Badge) any {
			return wire.VenueBadge{UID: b.UIDHash, Name: b.Name, Zones: b.Zones, NotBefore: b.NotBefore, NotAfter: b.NotAfter, Policy: b.Policy}
		})
}

// venuePartnerKeys: the event's partners' JWT keys.
func (s *Store) venuePartnerKeys(ctx context.Context, tx *sql.Tx, event string) (map[string][]byte, error) {
	ks, err := s.partnerKeys(ctx, tx, event)
	if err != nil {
		return nil, err
	}
	return venueRows(wire.VenueKindJWTKey, ks, func(k fleet.PartnerKey) string { return k.ID },
		func(k fleet.PartnerKey) any {
			return wire.VenueJWTKey{Kid: k.Kid, Alg: k.Alg, Public: k.Public, Issuer: k.Issuer, RetiredAt: k.RetiredAt}
		})
}
