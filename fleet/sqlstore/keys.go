package sqlstore

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"admit/fleet"
	"admit/fleet/kek"
	"admit/fleet/wire"
	"admit/ticket"
)

// Private keys at rest: every private key this store keeps (event signing
// keys in signing_keys, the fleet's own keys in fleet_keys) is sealed with
// the store's key-encryption key (kek) under a label naming its row. A
// 64-byte value is a plaintext key an earlier version wrote: SealPlaintext
// seals those when a backend opens the store, and reads still take one
// meanwhile (a node of the earlier version may write one during a rolling
// upgrade).

// ErrNoKEK: the store was opened without a key-encryption key, so it can
// neither store nor use a private key.
var ErrNoKEK = errors.New("fleet store: no key-encryption key")

func signingKeyLabel(event, id string) string { return "signing_key/" + event + "/" + id }
func fleetKeyLabel(name string) string        { return "fleet_key/" + name }

// seal seals a private key for the row label names.
func (s *Store) seal(priv []byte, label string) ([]byte, error) {
	if s.kek == nil {
		return nil, ErrNoKEK
	}
	return s.kek.Seal(priv, label), nil
}

// open returns the private key stored as stored in the row label names.
func (s *Store) open(stored []byte, label string) (ed25519.PrivateKey, error) {
	var priv []byte
	switch {
	case len(stored) == ed25519.PrivateKeySize:
		priv = stored // plaintext from an earlier version, sealed at the next start
	case s.kek == nil:
		return nil, ErrNoKEK
	default:
		var err error
		if priv, err = s.kek.Open(stored, label); err != nil {
			return nil, fmt.Errorf("%s: %w", label, err)
		}
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%s: a private key of %d bytes", label, len(priv))
	}
	return ed25519.PrivateKey(priv), nil
}

func (s *Store) AddSigningKey(ctx context.Context, k ticket.SigningKey, at time.Time) error {
	sealed, err := s.seal(k.Private, signingKeyLabel(k.Event, k.ID))
	if err != nil {
		return fmt.Errorf("add key %s/%s: %w", k.Event, k.ID, err)
	}
	pub := k.Public()
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("add key: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO signing_keys (event_id, id, private, public, created_at) VALUES (?, ?, ?, ?, ?)`),
		k.Event, k.ID, sealed, []byte(pub.Key), ms(at)); err != nil {
		return s.wrapUnique(err, fmt.Sprintf("add key %s/%s", k.Event, k.ID))
	}
	if err := s.appendChanges(ctx, tx, k.Event, []wire.Change{{Kind: wire.KindKey, Key: &wire.Key{ID: k.ID, Public: pub.Key}}}); err != nil {
		return fmt.Errorf("add key %s/%s: %w", k.Event, k.ID, err)
	}
	return tx.Commit()
}

func (s *Store) SigningKey(ctx context.Context, event string) (ticket.SigningKey, error) {
	var k ticket.SigningKey
	var stored []byte
	err := s.db.QueryRowContext(ctx, s.q(`SELECT id, private FROM signing_keys WHERE event_id = ? AND retired_at IS NULL
		ORDER BY created_at DESC, id DESC LIMIT 1`), event).Scan(&k.ID, &stored)
	if errors.Is(err, sql.ErrNoRows) {
		return k, fmt.Errorf("signing key of %q: %w", event, fleet.ErrNotFound)
	}
	if err != nil {
		return k, fmt.Errorf("signing key of %q: %w", event, err)
	}
	priv, err := s.open(stored, signingKeyLabel(event, k.ID))
	if err != nil {
		return k, fmt.Errorf("signing key of %q: %w", event, err)
	}
	k.Event, k.Private = event, priv
	return k, nil
}

// ReplicaKeyName names the replica key in fleet_keys.
const ReplicaKeyName = "replica"

func (s *Store) ReplicaKey(ctx context.Context, at time.Time) (ed25519.PrivateKey, error) {
	for range 2 {
		var stored []byte
		err := s.db.QueryRowContext(ctx, s.q(`SELECT private FROM fleet_keys WHERE name = ?`), ReplicaKeyName).Scan(&stored)
		if err == nil {
			priv, err := s.open(stored, fleetKeyLabel(ReplicaKeyName))
			if err != nil {
				return nil, fmt.Errorf("replica key: %w", err)
			}
			return priv, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("replica key: %w", err)
		}
		// None yet: make one. Nodes starting together may race; the first
		// insert wins and everyone reads it back.
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("replica key: %w", err)
		}
		sealed, err := s.seal(priv, fleetKeyLabel(ReplicaKeyName))
		if err != nil {
			return nil, fmt.Errorf("replica key: %w", err)
		}
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO fleet_keys (name, public, private, created_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (name) DO NOTHING`), ReplicaKeyName, []byte(pub), sealed, ms(at)); err != nil {
			return nil, fmt.Errorf("replica key: %w", err)
		}
	}
	return nil, errors.New("replica key: created, then not found")
}

// sealedRow is a private key as a table stores it.
type sealedRow struct {
	table, where string
	args         []any
	label        string
	stored       []byte
}

// privateRows lists every private key the store keeps.
func (s *Store) privateRows(ctx context.Context) ([]sealedRow, error) {
	var out []sealedRow
	rows, err := s.db.QueryContext(ctx, `SELECT event_id, id, private FROM signing_keys`)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var ev, id string
		var stored []byte
		if err := rows.Scan(&ev, &id, &stored); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, sealedRow{"signing_keys", "event_id = ? AND id = ?", []any{ev, id}, signingKeyLabel(ev, id), stored})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = s.db.QueryContext(ctx, `SELECT name, private FROM fleet_keys`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var stored []byte
		if err := rows.Scan(&name, &stored); err != nil {
			return nil, err
		}
		out = append(out, sealedRow{"fleet_keys", "name = ?", []any{name}, fleetKeyLabel(name), stored})
	}
	return out, rows.Err()
}

// SealPlaintext seals the private keys an earlier version stored in
// plaintext (and fills in their public halves); it returns how many. The
// backends call it when they open the store, so a database upgraded to
// this version keeps no plaintext key past its first start.
func (s *Store) SealPlaintext(ctx context.Context) (int, error) {
	rows, err := s.privateRows(ctx)
	if err != nil {
		return 0, fmt.Errorf("seal plaintext keys: %w", err)
	}
	n := 0
	for _, r := range rows {
		if len(r.stored) != ed25519.PrivateKeySize {
			continue
		}
		sealed, err := s.seal(r.stored, r.label)
		if err != nil {
			return n, fmt.Errorf("seal plaintext keys: %w", err)
		}
		set := `private = ?`
		args := []any{sealed}
		if r.table == "signing_keys" {
			set += `, public = ?`
			args = append(args, []byte(ed25519.PrivateKey(r.stored).Public().(ed25519.PublicKey)))
		}
		// Only if still the plaintext read: another node may have sealed it.
		args = append(append(args, r.args...), r.stored)
		if _, err := s.db.ExecContext(ctx, s.q(`UPDATE `+r.table+` SET `+set+` WHERE `+r.where+` AND private = ?`), args...); err != nil {
			return n, fmt.Errorf("seal plaintext keys: %w", err)
		}
		n++
	}
	return n, nil
}

// Rewrap re-seals every private key of the store under to, in one
// transaction, and makes to the store's KEK: key rotation. Every key must
// open under the current KEK (or be plaintext); otherwise nothing changes.
// It returns how many keys it re-sealed.
func (s *Store) Rewrap(ctx context.Context, to *kek.Key) (int, error) {
	if s.kek == nil || to == nil {
		return 0, ErrNoKEK
	}
	rows, err := s.privateRows(ctx)
	if err != nil {
		return 0, fmt.Errorf("rewrap: %w", err)
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("rewrap: %w", err)
	}
	defer tx.Rollback()
	for _, r := range rows {
		priv, err := s.open(r.stored, r.label)
		if err != nil {
			return 0, fmt.Errorf("rewrap: %w", err)
		}
		args := append(append([]any{to.Seal(priv, r.label)}, r.args...), r.stored)
		res, err := tx.ExecContext(ctx, s.q(`UPDATE `+r.table+` SET private = ? WHERE `+r.where+` AND private = ?`), args...)
		if err != nil {
			return 0, fmt.Errorf("rewrap: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return 0, fmt.Errorf("rewrap: %s changed while re-sealing it; run again", r.label)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("rewrap: %w", err)
	}
	s.kek = to
	return len(rows), nil
}
