package sqlite

import (
	"context"
	"crypto/ed25519"
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"admit/fleet/wire"
	"admit/internal/sqlitedb"
)

// TestUpgradeToVenueScopes: a fleet database made before venue scopes —
// by the release before the signed fleet link (migrations up to 0006) or
// by the one with it (up to 0007, keys at rest) — keeps its ticket logs
// through 0008's rebuild of the change log, gains an empty venue scope per
// event, and a sync then publishes the devices it already had.
func TestUpgradeToVenueScopes(t *testing.T) {
	for _, before := range []string{"0007", "0008"} {
		t.Run("before "+before, func(t *testing.T) { testUpgradeToVenueScopes(t, before) })
	}
}

func testUpgradeToVenueScopes(t *testing.T, before string) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "fleet.db")
	old := fstest.MapFS{}
	names, _ := fs.Glob(migrationFiles, "migrations/*.sql")
	for _, n := range names {
		if base := filepath.Base(n); base < before {
			b, _ := fs.ReadFile(migrationFiles, n)
			old[base] = &fstest.MapFile{Data: b}
		}
	}
	db, err := sqlitedb.Open(ctx, path, old, sqlitedb.SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	for _, q := range []struct {
		q    string
		args []any
	}{
		{`INSERT INTO events (id, name, starts_at, ends_at, created_at, last_seq, running) VALUES ('gala', 'Gala', 1, 2, 1, 2, 77)`, nil},
		{`INSERT INTO change_log (event_id, seq, kind, body, running) VALUES ('gala', 1, 'revoke', '{"seq":1,"kind":"revoke","revoke":{"ticket_id":"T1"}}', 5), ('gala', 2, 'revoke', '{"seq":2,"kind":"revoke","revoke":{"ticket_id":"T2"}}', 77)`, nil},
		{`INSERT INTO devices (id, gate, events, public_key, created_at) VALUES ('gate-1', 'Gate A', '["gala"]', ?, 1)`, []any{[]byte(pub)}},
	} {
		if _, err := db.ExecContext(ctx, q.q, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	s, err := Open(ctx, path)
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
