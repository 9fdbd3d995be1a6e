package postgres

import (
	"context"
	"crypto/ed25519"
	"io/fs"
	"path"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"admit/fleet/kek"
	"admit/fleet/postgres/pgtest"
	"admit/fleet/wire"
)

// TestUpgradeToVenueScopes: a fleet database of the release before venue
// scopes (migrations up to 0007: keys at rest, the signed fleet link)
// keeps its ticket logs through 0008, gains an empty venue scope per
// event, and a sync then publishes the devices it already had.
func TestUpgradeToVenueScopes(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (name TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	names, _ := fs.Glob(migrationFiles, "migrations/*.sql")
	for _, n := range names {
		if path.Base(n) >= "0008" {
			continue
		}
		body, _ := fs.ReadFile(migrationFiles, n)
		if _, err := db.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, n); err != nil {
			t.Fatal(err)
		}
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	for _, q := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO events (id, name, starts_at, ends_at, created_at, last_seq, running) VALUES ('gala', 'Gala', 1, 2, 1, 2, 77)`, nil},
		{`INSERT INTO change_log (event_id, seq, kind, body, running) VALUES ('gala', 1, 'revoke', '{"seq":1,"kind":"revoke","revoke":{"ticket_id":"T1"}}', 5), ('gala', 2, 'revoke', '{"seq":2,"kind":"revoke","revoke":{"ticket_id":"T2"}}', 77)`, nil},
		{`INSERT INTO devices (id, gate, events, public_key, created_at) VALUES ('gate-1', 'Gate A', '["gala"]', $1, 1)`, []any{[]byte(pub)}},
	} {
		if _, err := db.ExecContext(ctx, q.q, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	k, _, err := kek.Generate()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, dsn, k)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	page, err := s.Changes(ctx, "gala", 0, 10)
	if err != nil || len(page.Changes) != 2 || page.Running != 77 || page.Changes[1].Revoke.TicketID != "T2" {
		t.Fatalf("gala's log after the upgrade: %+v %v", page, err)
	}
	if st, err := s.LogState(ctx, wire.VenueScope("gala")); err != nil || st.Last != 0 {
		t.Fatalf("gala's venue scope after the upgrade: %+v %v", st, err)
	}
	if err := s.SyncVenue(ctx, "gala"); err != nil {
		t.Fatal(err)
	}
	v, err := s.Snapshot(ctx, wire.VenueScope("gala"), "", 10)
	if err != nil || len(v.Venue) != 1 || v.Venue[0].ID != "gate-1" {
		t.Fatalf("gala's venue rows after a sync: %+v %v", v, err)
	}
}
