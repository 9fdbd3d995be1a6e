package sqlstore

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"fmt"

	"admit/fleet"
	"admit/fleet/wire"
)

func (s *Store) Snapshot(ctx context.Context, event, after string, limit int) (fleet.SnapshotPage, error) {
	if wire.IsVenueScope(event) {
		return s.venueSnapshot(ctx, event, after, limit)
	}
	var page fleet.SnapshotPage
	if after == "" {
		rows, err := s.db.QueryContext(ctx, s.q(`SELECT id, public, private, COALESCE(retired_at, 0) FROM signing_keys WHERE event_id = ? ORDER BY id`), event)
		if err != nil {
			return page, fmt.Errorf("snapshot of %q: %w", event, err)
		}
		for rows.Next() {
			var k wire.Key
			var priv []byte
			var retired int64
			if err := rows.Scan(&k.ID, &k.Public, &priv, &retired); err != nil {
				rows.Close()
				return page, fmt.Errorf("snapshot of %q: %w", event, err)
			}
			if len(k.Public) == 0 && len(priv) == ed25519.PrivateKeySize {
				// A plaintext key of an earlier version, not sealed yet.
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
