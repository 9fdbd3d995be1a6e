package storetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/audit"
	"admit/fleet/operator"
	"admit/fleet/wire"
)

// venueState replays a venue scope's log from the start (checking that the
// log's running checksum is the CRC of its changes) and reads its snapshot
// page by page; both must give the same rows, which it returns by key.
func venueState(t *testing.T, s fleet.Store, event string) map[string]wire.VenueRow {
	t.Helper()
	ctx := context.Background()
	scope := wire.VenueScope(event)
	st, err := s.LogState(ctx, scope)
	if err != nil {
		t.Fatal(err)
	}
	replayed := map[string]wire.VenueRow{}
	page, err := s.Changes(ctx, scope, st.Compacted, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if st.Compacted == 0 {
		if got := wire.RunningChecksum(0, page.Changes); got != st.Running {
			t.Fatalf("%s: running checksum %x, CRC of the log %x", scope, st.Running, got)
		}
		for _, c := range page.Changes {
			if c.Kind != wire.KindVenue || c.Venue == nil {
				t.Fatalf("%s: change %+v", scope, c)
			}
			if c.Venue.Deleted {
				delete(replayed, c.Venue.Key())
			} else {
				replayed[c.Venue.Key()] = *c.Venue
			}
		}
	}
	snap := map[string]wire.VenueRow{}
	after := ""
	for {
		p, err := s.Snapshot(ctx, scope, after, 1) // one row a page: the paging is exercised
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Tickets) > 0 || len(p.Keys) > 0 || len(p.Used) > 0 {
			t.Fatalf("%s: ticket rows in a venue snapshot", scope)
		}
		for _, r := range p.Venue {
			if r.Key() <= after {
				t.Fatalf("%s: snapshot row %s after %s", scope, r.Key(), after)
			}
			snap[r.Key()] = r
			after = r.Key()
		}
		if p.Done {
			break
		}
	}
	if st.Compacted == 0 && !maps.EqualFunc(replayed, snap, func(a, b wire.VenueRow) bool { return bytes.Equal(a.Data, b.Data) }) {
		t.Fatalf("%s: the log says %v, the snapshot %v", scope, replayed, snap)
	}
	return snap
}

func deviceRow(t *testing.T, rows map[string]wire.VenueRow, id string) (wire.VenueDevice, bool) {
	t.Helper()
	r, ok := rows[wire.VenueKindDevice+"/"+id]
	if !ok {
		return wire.VenueDevice{}, false
	}
	d, err := r.Device()
	if err != nil {
		t.Fatal(err)
	}
	return d, true
}

// testVenue: an event's venue scope holds the keys of the devices that
// serve it (fleet.Device.Serves: a device naming no event serves none),
// follows revocation, re-keying and a device's events, and leaves the
// ticket log alone; it pages as a snapshot and compacts like any log.
func testVenue(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	mustEvent(t, s, "gala")
	mustEvent(t, s, "cup")
	ticketLog, _ := s.LogState(ctx, "gala")
	if st, err := s.LogState(ctx, wire.VenueScope("gala")); err != nil || st.Last != 0 {
		t.Fatalf("a new event's venue scope: %+v %v", st, err)
	}
	pub1, _, _ := ed25519.GenerateKey(nil)
	pub2, _, _ := ed25519.GenerateKey(nil)
	pub3, _, _ := ed25519.GenerateKey(nil)
	for _, d := range []fleet.Device{
		{ID: "gate-1", Name: "Gate one", Gate: "Gate A", Events: []string{"gala"}, PublicKey: pub1},
		{ID: "gate-2", Gate: "Gate B", PublicKey: pub2}, // names no event: serves none
		{ID: "gate-3", Gate: "Gate C", Events: []string{"cup"}, PublicKey: pub3},
		{ID: "gate-4", Gate: "Gate D", Events: []string{"later"}, PublicKey: pub3}, // an event not created yet
	} {
		d.CreatedAt = t0
		if err := s.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	gala := venueState(t, s, "gala")
	if d, ok := deviceRow(t, gala, "gate-1"); !ok || !bytes.Equal(d.PublicKey, pub1) || d.Gate != "Gate A" || d.Name != "Gate one" || d.Revoked {
		t.Fatalf("gala's gate-1: %+v %v", d, ok)
	}
	if _, ok := deviceRow(t, gala, "gate-2"); ok || len(gala) != 1 {
		t.Fatalf("gala holds %v, want gate-1 only (gate-2 serves no event)", slices.Collect(maps.Keys(gala)))
	}
	if _, ok := deviceRow(t, venueState(t, s, "cup"), "gate-3"); !ok || len(venueState(t, s, "cup")) != 1 {
		t.Fatalf("cup holds %v, want gate-3", slices.Collect(maps.Keys(venueState(t, s, "cup"))))
	}
	// Named for gala too, gate-2 serves it: its key is there.
	if err := s.PutDevice(ctx, fleet.Device{ID: "gate-2", Gate: "Gate B", Events: []string{"gala"}, PublicKey: pub2, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if d, ok := deviceRow(t, venueState(t, s, "gala"), "gate-2"); !ok || !bytes.Equal(d.PublicKey, pub2) {
		t.Fatalf("gala's gate-2 once named for gala: %+v %v", d, ok)
	}

	// Revoked: flagged, without its key; re-keyed: the new key.
	if err := s.RevokeDevice(ctx, "gate-1", t0); err != nil {
		t.Fatal(err)
	}
	if d, _ := deviceRow(t, venueState(t, s, "gala"), "gate-1"); !d.Revoked || len(d.PublicKey) != 0 {
		t.Fatalf("revoked gate-1: %+v", d)
	}
	if err := s.RekeyDevice(ctx, "gate-1", pub3); err != nil {
		t.Fatal(err)
	}
	if d, _ := deviceRow(t, venueState(t, s, "gala"), "gate-1"); d.Revoked || !bytes.Equal(d.PublicKey, pub3) {
		t.Fatalf("re-keyed gate-1: %+v", d)
	}
	// It moves to cup: gone from gala's scope, in cup's.
	if err := s.PutDevice(ctx, fleet.Device{ID: "gate-1", Gate: "Gate A", Events: []string{"cup"}, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if _, ok := deviceRow(t, venueState(t, s, "gala"), "gate-1"); ok {
		t.Fatal("gate-1 left gala but its key is still there")
	}
	if _, ok := deviceRow(t, venueState(t, s, "cup"), "gate-1"); !ok {
		t.Fatal("gate-1 serves cup but its key is not there")
	}
	// A sync with nothing to do logs nothing; the ticket log never moved.
	before, _ := s.LogState(ctx, wire.VenueScope("gala"))
	if err := s.SyncVenue(ctx, "gala"); err != nil {
		t.Fatal(err)
	}
	if after, _ := s.LogState(ctx, wire.VenueScope("gala")); after.Last != before.Last {
		t.Fatalf("an idle sync logged %d changes", after.Last-before.Last)
	}
	if st, _ := s.LogState(ctx, "gala"); st.Last != ticketLog.Last || st.Running != ticketLog.Running {
		t.Fatalf("device changes moved gala's ticket log: %+v, was %+v", st, ticketLog)
	}
	if err := s.SyncVenue(ctx, "nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("sync of an unknown event: %v", err)
	}
	// An event created later starts with the devices that serve it.
	if err := s.CreateEvent(ctx, fleet.Event{ID: "later", Name: "later", StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if later := venueState(t, s, "later"); len(later) != 1 {
		t.Fatalf("later holds %v, want gate-4", slices.Collect(maps.Keys(later)))
	}
	if _, ok := deviceRow(t, venueState(t, s, "later"), "gate-4"); !ok {
		t.Fatal("later's venue scope lacks gate-4, enrolled for it ahead of the event")
	}

	// Compaction: a replica behind it gets the snapshot, which still
	// holds every row.
	st, _ := s.LogState(ctx, wire.VenueScope("cup"))
	if err := s.Compact(ctx, wire.VenueScope("cup"), st.Last); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Changes(ctx, wire.VenueScope("cup"), 0, 10); !errors.Is(err, fleet.ErrCompacted) {
		t.Fatalf("changes behind the compaction point: %v", err)
	}
	if cup := venueState(t, s, "cup"); len(cup) != 2 {
		t.Fatalf("cup after compaction: %v", slices.Collect(maps.Keys(cup)))
	}
}

// testStaff: an operator signs in at an event's gates while it holds the
// gate staff role there (or everywhere) and has a credential for the event;
// the venue scope carries the hash, and follows the grant and the
// credential.
func testStaff(t *testing.T, fs fleet.Store) {
	ctx := context.Background()
	ops := operators(t, fs)
	mustEvent(t, fs, "gala")
	mustEvent(t, fs, "cup")
	for name, g := range map[string]access.Grant{"ada": {Role: access.GateStaff, Event: "gala"}, "bob": {Role: access.Viewer, Event: "gala"}} {
		if err := ops.CreateOperator(ctx, operator.Operator{Name: name, Grants: []access.Grant{g}, CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	cred := fleet.StaffCredential{Event: "gala", Operator: "ada", PINHash: "$argon2id$ada", BadgeHash: wire.BadgeLookup([]byte{4, 1, 2, 3}), SetAt: t0, SetBy: "root"}
	if err := fs.PutStaffCredential(ctx, cred); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct {
		c    fleet.StaffCredential
		want error
	}{
		{fleet.StaffCredential{Event: "gala", Operator: "bob", PINHash: "x", SetAt: t0}, fleet.ErrNotStaff},
		{fleet.StaffCredential{Event: "cup", Operator: "ada", PINHash: "x", SetAt: t0}, fleet.ErrNotStaff},
		{fleet.StaffCredential{Event: "gala", Operator: "nobody", PINHash: "x", SetAt: t0}, fleet.ErrNotFound},
	} {
		if err := fs.PutStaffCredential(ctx, bad.c); !errors.Is(err, bad.want) {
			t.Errorf("credential %+v: %v, want %v", bad.c, err, bad.want)
		}
	}
	staffRow := func(event string) (wire.VenueStaff, bool) {
		r, ok := venueState(t, fs, event)[wire.VenueKindStaff+"/ada"]
		if !ok {
			return wire.VenueStaff{}, false
		}
		st, err := r.Staff()
		if err != nil {
			t.Fatal(err)
		}
		return st, true
	}
	if st, ok := staffRow("gala"); !ok || st.PINHash != cred.PINHash || st.Badge != cred.BadgeHash {
		t.Fatalf("gala's staff row: %+v %v", st, ok)
	}
	if _, ok := staffRow("cup"); ok {
		t.Fatal("ada's gala credential reached cup")
	}
	staff, err := fs.Staff(ctx, "gala")
	if err != nil || len(staff) != 1 || staff[0].Operator != "ada" || !staff[0].PIN || !staff[0].Badge || staff[0].SetBy != "root" || !staff[0].SetAt.Equal(t0) {
		t.Fatalf("Staff(gala): %+v %v", staff, err)
	}
	// The role goes: so does the row (the credential stays, inert); it
	// comes back with the role on all events.
	if err := ops.SetGrants(ctx, "ada", []access.Grant{{Role: access.Viewer, Event: "gala"}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := staffRow("gala"); ok {
		t.Fatal("ada lost the staff role but still signs in at gala's gates")
	}
	if err := ops.SetGrants(ctx, "ada", []access.Grant{{Role: access.GateStaff, Event: access.AllEvents}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := staffRow("gala"); !ok {
		t.Fatal("staff on all events, but not at gala's gates")
	}
	if staff, _ := fs.Staff(ctx, "cup"); len(staff) != 1 || staff[0].PIN {
		t.Fatalf("Staff(cup): %+v (staff everywhere, no credential for cup)", staff)
	}
	if err := fs.DeleteStaffCredential(ctx, "gala", "ada"); err != nil {
		t.Fatal(err)
	}
	if _, ok := staffRow("gala"); ok {
		t.Fatal("a cleared credential is still at the gates")
	}
	if err := fs.DeleteStaffCredential(ctx, "gala", "ada"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("clearing twice: %v", err)
	}
}

// testStaffScans: a scan carries the staff member behind a staff action;
// the fleet keeps it, and records the action in the audit log once, even
// when the gate sends the scan again.
func testStaffScans(t *testing.T, fs fleet.Store) {
	ctx := context.Background()
	mustEvent(t, fs, "gala")
	au, ok := fs.(audit.Store)
	if !ok {
		t.Fatalf("%T is not an audit.Store", fs)
	}
	scans := []wire.Scan{
		{Seq: 1, Event: "gala", TicketID: "T1", Gate: "Gate A", At: t0, Outcome: wire.Admitted, Reason: "forced", Sentence: "Admitted by staff: VIP", Staff: "ada"},
		{Seq: 2, Event: "gala", TicketID: "T1", Gate: "Gate A", At: t0.Add(time.Second), Outcome: wire.Refused, Reason: "annulled", Annuls: t0, Staff: "ada"},
		{Seq: 3, Event: "gala", TicketID: "T2", Gate: "Gate A", At: t0.Add(2 * time.Second), Outcome: wire.Admitted},
	}
	for range 2 { // the second time: a resend after a lost ack
		if _, err := fs.RecordScans(ctx, "gate-1", scans, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := fs.RecentScans(ctx, 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("RecentScans: %+v %v", got, err)
	}
	byStaff := 0
	for _, r := range got {
		if r.Staff == "ada" {
			byStaff++
		}
	}
	if byStaff != 2 {
		t.Fatalf("scans by staff: %d, want 2: %+v", byStaff, got)
	}
	es, err := au.AuditLog(ctx, audit.Filter{Kind: audit.ActorStaff})
	if err != nil || len(es) != 2 {
		t.Fatalf("staff actions in the audit log: %+v %v, want 2", es, err)
	}
	routes := []string{es[0].Route, es[1].Route}
	slices.Sort(routes)
	if es[0].Actor != "ada" || es[0].Method != "GATE" || !slices.Equal(routes, []string{"/staff/annul-last", "/staff/force-admit"}) ||
		es[0].Target != "device=gate-1 event=gala ticket=T1" {
		t.Fatalf("audit entries: %+v", es)
	}
}
