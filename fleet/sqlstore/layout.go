package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"admit/fleet"
)

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

// The layout (ticket types, zones, gates) is replicated in the event's
// venue scope: each Put brings it up to date in its transaction.

func (s *Store) PutTicketType(ctx context.Context, t fleet.TicketType) error {
	return s.inVenueTx(ctx, t.Event, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO ticket_types (event_id, id, name, zones, policy) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, zones = excluded.zones, policy = excluded.policy`),
			t.Event, t.ID, t.Name, zonesJSON(t.Zones), t.Policy)
		if err != nil {
			return fmt.Errorf("ticket type %s/%s: %w", t.Event, t.ID, err)
		}
		return nil
	})
}

// inVenueTx runs f in a transaction, then brings event's venue scope up
// to date in it, and commits.
func (s *Store) inVenueTx(ctx context.Context, event string, f func(tx *sql.Tx) error) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("venue of %q: %w", event, err)
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	if err := s.syncVenueTx(ctx, tx, event); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("venue of %q: %w", event, err)
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
	return s.inVenueTx(ctx, z.Event, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO zones (event_id, id, name) VALUES (?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name`), z.Event, z.ID, z.Name)
		if err != nil {
			return fmt.Errorf("zone %s/%s: %w", z.Event, z.ID, err)
		}
		return nil
	})
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
	return s.inVenueTx(ctx, g.Event, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, s.q(`INSERT INTO gates (event_id, id, name, zones) VALUES (?, ?, ?, ?)
		ON CONFLICT (event_id, id) DO UPDATE SET name = excluded.name, zones = excluded.zones`),
			g.Event, g.ID, g.Name, zonesJSON(g.Zones))
		if err != nil {
			return fmt.Errorf("gate %s/%s: %w", g.Event, g.ID, err)
		}
		return nil
	})
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
