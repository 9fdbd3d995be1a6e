package gatedb_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
)

// TestReadiness: a replica is ready for an event once the first snapshot
// of its ticket log completed — not after batches alone, not after a
// venue scope, not mid-snapshot — and stays ready across a restart and a
// divergence; a wipe (a revoked gate) is the one thing that undoes it.
func TestReadiness(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gate.db")
	db, err := gatedb.Open(ctx, path, sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Serve(ctx, "gala"); err != nil {
		t.Fatal(err)
	}
	if db.Ready("gala") {
		t.Fatal("ready before anything arrived")
	}
	if _, err := db.Apply(ctx, batch(0, 2, 0)); err != nil {
		t.Fatal(err)
	}
	if db.Ready("gala") {
		t.Fatal("ready after batches alone")
	}
	if _, err := db.ApplySnapshot(ctx, &wire.Snapshot{Event: wire.VenueScope("gala"), Seq: 0, Done: true}); err != nil {
		t.Fatal(err)
	}
	if db.Ready("gala") {
		t.Fatal("ready after the venue scope's snapshot")
	}
	if _, err := db.ApplySnapshot(ctx, chunk(5, "", "A", false, "A")); err != nil {
		t.Fatal(err)
	}
	if db.Ready("gala") {
		t.Fatal("ready in the middle of a snapshot")
	}
	done := chunk(5, "A", "C", true, "B", "C")
	done.AsOf = time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)
	done.Seal()
	if _, err := db.ApplySnapshot(ctx, done); err != nil {
		t.Fatal(err)
	}
	if !db.Ready("gala") || !db.SyncPoint("gala").Equal(done.AsOf) {
		t.Fatalf("after the snapshot: ready %v, sync point %v", db.Ready("gala"), db.SyncPoint("gala"))
	}
	// A divergence asks for a new snapshot; the gate stays ready.
	bad := batch(5, 6, 0)
	if _, err := db.Apply(ctx, bad); !errors.Is(err, gatedb.ErrDiverged) {
		t.Fatalf("diverging batch: %v", err)
	}
	if !db.Ready("gala") {
		t.Fatal("not ready after a divergence")
	}
	db.Close()
	if db, err = gatedb.Open(ctx, path, sqlitedb.SyncNormal); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if !db.Ready("gala") || !db.SyncPoint("gala").Equal(done.AsOf) {
		t.Fatalf("after a restart: ready %v, sync point %v", db.Ready("gala"), db.SyncPoint("gala"))
	}
	if err := db.Revoke(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if db.Ready("gala") || !db.SyncPoint("gala").IsZero() {
		t.Fatal("ready after the wipe of a revoked gate")
	}
}

// TestSyncPointFollowsBatches: each batch's sync point is kept with the
// cursor, never moving back (a batch with none keeps the last).
func TestSyncPointFollowsBatches(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	at := time.Date(2026, 11, 28, 17, 0, 0, 0, time.UTC)
	b := batch(0, 2, 0)
	b.AsOf = at
	if _, err := db.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	if !db.SyncPoint("gala").Equal(at) {
		t.Fatalf("sync point %v, want %v", db.SyncPoint("gala"), at)
	}
	b2 := batch(2, 3, b.Running)
	if _, err := db.Apply(ctx, b2); err != nil {
		t.Fatal(err)
	}
	if !db.SyncPoint("gala").Equal(at) {
		t.Fatalf("a batch without a sync point moved it to %v", db.SyncPoint("gala"))
	}
	b3 := batch(3, 4, b2.Running)
	b3.AsOf = at.Add(time.Hour)
	if _, err := db.Apply(ctx, b3); err != nil {
		t.Fatal(err)
	}
	if !db.SyncPoint("gala").Equal(at.Add(time.Hour)) {
		t.Fatalf("sync point %v after a later batch", db.SyncPoint("gala"))
	}
	if err := db.Unserve(ctx, "gala"); err != nil {
		t.Fatal(err)
	}
	if cur, _ := db.ReplicaCursors(ctx); len(cur) != 0 {
		t.Fatalf("cursors after unserving the only event: %v", cur)
	}
}

// TestVenueModelReplica: zones, gates, ticket types, settings, badges and
// partner keys apply from a venue batch into their tables; the decision
// path reads names, settings and keys from memory and badges by their
// UID's hash; a deletion removes them; a snapshot replaces them.
func TestVenueModelReplica(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	off := false
	at := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	uid := []byte{4, 1, 2, 3}
	pub := make([]byte, 32)
	pub[0] = 9
	gen := db.VenueGen()
	b := venueBatch(0, 0,
		venueRow(t, wire.VenueKindZone, "floor", wire.VenueZone{Name: "the Floor"}),
		venueRow(t, wire.VenueKindGate, "north", wire.VenueGate{Name: "North", Zones: []string{"floor"}}),
		venueRow(t, wire.VenueKindTicketType, "VIP", wire.VenueTicketType{Name: "Very important", Policy: wire.PolicyReentry}),
		venueRow(t, wire.VenueKindSettings, wire.VenueSettingsID, wire.VenueSettings{AdmitOnSignature: &off}),
		venueRow(t, wire.VenueKindBadge, "season-7", wire.VenueBadge{UID: wire.BadgeLookup(uid), Name: "Ada", Zones: []string{"floor"}, NotAfter: at}),
		venueRow(t, wire.VenueKindJWTKey, "tix", wire.VenueJWTKey{Kid: "t1", Alg: wire.AlgEdDSA, Public: pub, Issuer: "tix"}),
	)
	if _, err := db.Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	if db.VenueGen() == gen {
		t.Fatal("the venue data changed, its generation did not")
	}
	if db.ZoneName("gala", "floor") != "the Floor" || db.TypeName("gala", "VIP") != "Very important" || !db.HasZones("gala") {
		t.Fatalf("names: %q %q", db.ZoneName("gala", "floor"), db.TypeName("gala", "VIP"))
	}
	if db.Settings("gala").AdmitsOnSignature() || !db.Settings("cup").AdmitsOnSignature() {
		t.Fatal("settings: gala's turned admission on signature off; cup has the default")
	}
	if ks := db.JWTKeys(); len(ks) != 1 || ks[0].Event != "gala" || ks[0].Kid != "t1" || ks[0].Issuer != "tix" || ks[0].Public[0] != 9 {
		t.Fatalf("partner keys: %+v", ks)
	}
	bg, err := db.BadgeByUID(ctx, []string{"cup", "gala"}, wire.BadgeLookup(uid))
	if err != nil || bg.ID != "season-7" || bg.Event != "gala" || bg.Name != "Ada" || !bg.NotAfter.Equal(at) || len(bg.Zones) != 1 {
		t.Fatalf("badge: %+v %v", bg, err)
	}
	if _, err := db.BadgeByUID(ctx, []string{"gala"}, wire.BadgeLookup([]byte{1, 2, 3, 4})); !errors.Is(err, gatedb.ErrUnknownBadge) {
		t.Fatalf("unknown badge: %v", err)
	}
	if _, err := db.BadgeByUID(ctx, []string{"cup"}, wire.BadgeLookup(uid)); !errors.Is(err, gatedb.ErrUnknownBadge) {
		t.Fatalf("a badge of an event not asked about: %v", err)
	}
	del := venueBatch(6, b.Running,
		&wire.VenueRow{Kind: wire.VenueKindBadge, ID: "season-7", Deleted: true},
		&wire.VenueRow{Kind: wire.VenueKindJWTKey, ID: "tix", Deleted: true},
		&wire.VenueRow{Kind: wire.VenueKindSettings, ID: wire.VenueSettingsID, Deleted: true},
	)
	if _, err := db.Apply(ctx, del); err != nil {
		t.Fatal(err)
	}
	if _, err := db.BadgeByUID(ctx, []string{"gala"}, wire.BadgeLookup(uid)); !errors.Is(err, gatedb.ErrUnknownBadge) {
		t.Fatalf("deleted badge: %v", err)
	}
	if len(db.JWTKeys()) != 0 || !db.Settings("gala").AdmitsOnSignature() {
		t.Fatal("deleted key or settings still there")
	}
	// A snapshot replaces the model: the zone it does not hold goes.
	s := &wire.Snapshot{Event: wire.VenueScope("gala"), Seq: 20, Done: true}
	s.Venue = []wire.VenueRow{*venueRow(t, wire.VenueKindZone, "vip", wire.VenueZone{Name: "VIP deck"})}
	s.Last = s.Venue[0].Key()
	s.Seal()
	if _, err := db.ApplySnapshot(ctx, s); err != nil {
		t.Fatal(err)
	}
	if db.ZoneName("gala", "floor") != "" || db.ZoneName("gala", "vip") != "VIP deck" || db.TypeName("gala", "VIP") != "" {
		t.Fatal("the snapshot did not replace the model")
	}
}
