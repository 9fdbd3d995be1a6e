package sqlstore

import (
	"context"
	"crypto/ed25519"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
	"admit/ticket"
)

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
