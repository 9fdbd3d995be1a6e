package gatedb_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
)

func venueRow(t *testing.T, kind, id string, v any) *wire.VenueRow {
	t.Helper()
	r, err := wire.NewVenueRow(kind, id, v)
	if err != nil {
		t.Fatal(err)
	}
	return &r
}

func venueBatch(from int64, prev uint64, rows ...*wire.VenueRow) *wire.Batch {
	b := &wire.Batch{Event: wire.VenueScope("gala"), From: from, To: from + int64(len(rows))}
	for i, r := range rows {
		b.Changes = append(b.Changes, wire.Change{Seq: from + int64(i) + 1, Kind: wire.KindVenue, Venue: r})
	}
	b.Running = wire.RunningChecksum(prev, b.Changes)
	b.Seal()
	return b
}

// TestVenueReplica: a gate serving an event tracks its venue scope; device
// keys and staff apply from batches (set, revoked, deleted) and from a
// snapshot, which replaces what was there; a kind the gate does not know
// is skipped but counted; the wipe of a revoked gate forgets it all.
func TestVenueReplica(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "gate.db")
	db, err := gatedb.Open(ctx, path, sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Serve(ctx, "gala"); err != nil {
		t.Fatal(err)
	}
	cur, _ := db.ReplicaCursors(ctx)
	if _, ok := cur[wire.VenueScope("gala")]; !ok {
		t.Fatalf("the hello would not ask for the venue scope: %v", cur)
	}
	if db.VenueSynced("gala") {
		t.Fatal("synced before anything arrived")
	}
	pubA, _, _ := ed25519.GenerateKey(nil)
	pubB, _, _ := ed25519.GenerateKey(nil)
	b1 := venueBatch(0, 0,
		venueRow(t, wire.VenueKindDevice, "gate-a", wire.VenueDevice{Gate: "Gate A", PublicKey: pubA}),
		venueRow(t, wire.VenueKindDevice, "gate-b", wire.VenueDevice{Gate: "Gate B", PublicKey: pubB}),
		venueRow(t, wire.VenueKindStaff, "ada", wire.VenueStaff{Name: "Ada", PINHash: "$argon2id$ada", Badge: wire.BadgeLookup([]byte{1, 2, 3, 4})}),
		&wire.VenueRow{Kind: "zone", ID: "floor", Data: []byte(`{"name":"Floor"}`)}, // a newer fleet's kind
	)
	if _, err := db.Apply(ctx, b1); err != nil {
		t.Fatal(err)
	}
	if d, ok := db.VenueDevice("gala", "gate-a"); !ok || !bytes.Equal(d.PublicKey, pubA) || d.Gate != "Gate A" || d.Revoked || !db.VenueSynced("gala") {
		t.Fatalf("gate-a: %+v %v", d, ok)
	}
	if s, err := db.StaffByBadge(ctx, "gala", wire.BadgeLookup([]byte{1, 2, 3, 4})); err != nil || s.ID != "ada" || s.PINHash != "$argon2id$ada" {
		t.Fatalf("staff by badge: %+v %v", s, err)
	}
	b2 := venueBatch(b1.To, b1.Running,
		venueRow(t, wire.VenueKindDevice, "gate-a", wire.VenueDevice{Gate: "Gate A", Revoked: true}),
		&wire.VenueRow{Kind: wire.VenueKindStaff, ID: "ada", Deleted: true},
	)
	if _, err := db.Apply(ctx, b2); err != nil {
		t.Fatal(err)
	}
	if d, ok := db.VenueDevice("gala", "gate-a"); !ok || !d.Revoked || d.PublicKey != nil {
		t.Fatalf("revoked gate-a: %+v %v", d, ok)
	}
	if _, err := db.StaffMember(ctx, "gala", "ada"); !errors.Is(err, gatedb.ErrUnknownStaff) {
		t.Fatalf("deleted staff: %v", err)
	}
	// A venue change in the ticket log is refused by the wire already; a
	// batch that diverges is not applied.
	bad := venueBatch(b2.To, b2.Running+1, venueRow(t, wire.VenueKindDevice, "gate-c", wire.VenueDevice{PublicKey: pubA}))
	if _, err := db.Apply(ctx, bad); !errors.Is(err, gatedb.ErrDiverged) {
		t.Fatalf("diverged venue batch: %v", err)
	}
	if _, ok := db.VenueDevice("gala", "gate-c"); ok {
		t.Fatal("a diverged batch was applied")
	}

	// A snapshot replaces the scope: gate-b is gone, gate-c there.
	snap := &wire.Snapshot{Event: wire.VenueScope("gala"), Seq: 9, Running: 42, Done: true,
		Venue: []wire.VenueRow{*venueRow(t, wire.VenueKindDevice, "gate-c", wire.VenueDevice{Gate: "Gate C", PublicKey: pubB})}}
	snap.Last = snap.Venue[0].Key()
	snap.Seal()
	if _, err := db.ApplySnapshot(ctx, snap); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.VenueDevice("gala", "gate-b"); ok {
		t.Fatal("the snapshot did not drop gate-b")
	}
	if d, ok := db.VenueDevice("gala", "gate-c"); !ok || !bytes.Equal(d.PublicKey, pubB) {
		t.Fatalf("gate-c after the snapshot: %+v %v", d, ok)
	}
	// Reopened: the keys are read back.
	db.Close()
	if db, err = gatedb.Open(ctx, path, sqlitedb.SyncNormal); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.VenueDevice("gala", "gate-c"); !ok || !db.VenueSynced("gala") {
		t.Fatal("venue keys lost on reopening")
	}
	if err := db.Revoke(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, ok := db.VenueDevice("gala", "gate-c"); ok || db.VenueSynced("gala") {
		t.Fatal("a wiped gate still knows its peers' keys")
	}
}

// TestStaffInJournal: the staff member behind a staff action is journaled
// and goes upstream with the scan.
func TestStaffInJournal(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	if _, err := db.Journal(ctx, "gate-1", gatedb.Entry{Scan: wire.Scan{Event: "gala", TicketID: "T1", Gate: "A", At: at, Outcome: wire.Admitted, Reason: "forced"},
		Forced: true, Mark: true, Staff: "ada"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := db.Annul(ctx, "gate-1", "gala", "T1", at, gatedb.Entry{Scan: wire.Scan{Event: "gala", TicketID: "T1", Gate: "A", At: at.Add(time.Second), Outcome: wire.Refused, Reason: "annulled"},
		Forced: true, Staff: "bob"}); err != nil {
		t.Fatal(err)
	}
	up, err := db.Pending(ctx, 0, 10)
	if err != nil || len(up) != 2 || up[0].Staff != "ada" || up[1].Staff != "bob" {
		t.Fatalf("upstream: %+v %v", up, err)
	}
}

// TestStaffThrottle: failures count within a window and lock at the
// maximum; a success clears them.
func TestStaffThrottle(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	t0 := time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)
	var th gatedb.StaffThrottle
	var err error
	for i := range 5 {
		at := t0.Add(time.Duration(i) * time.Minute)
		if th, err = db.StaffFailure(ctx, "staff:ada", at, at.Add(-15*time.Minute), 5, at.Add(15*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if th.Failures != 5 || !th.LockedUntil.Equal(t0.Add(19*time.Minute)) {
		t.Fatalf("after 5 failures: %+v", th)
	}
	if th, _ = db.StaffThrottle(ctx, "staff:ada"); th.Failures != 5 {
		t.Fatalf("read back: %+v", th)
	}
	// A failure after the window starts a new count.
	late := t0.Add(time.Hour)
	if th, _ = db.StaffFailure(ctx, "staff:ada", late, late.Add(-15*time.Minute), 5, late.Add(15*time.Minute)); th.Failures != 1 {
		t.Fatalf("after the window: %+v", th)
	}
	if err := db.ClearStaffThrottle(ctx, "staff:ada"); err != nil {
		t.Fatal(err)
	}
	if th, _ = db.StaffThrottle(ctx, "staff:ada"); th.Failures != 0 {
		t.Fatalf("cleared: %+v", th)
	}
}
