package storetest

import (
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
)

// testVenueModel: an event's zones, gates, ticket types, settings, badges
// and partner keys are rows of its venue scope, logged in the
// transaction of the mutation (a snapshot of the scope and a replay of
// its log agree); a badge's UID is unique in its event; settings at
// their defaults take no row.
func testVenueModel(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	mustEvent(t, s, "gala")
	mustEvent(t, s, "cup")
	if err := s.PutZone(ctx, fleet.Zone{Event: "gala", ID: "floor", Name: "Floor"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGate(ctx, fleet.Gate{Event: "gala", ID: "north", Name: "North", Zones: []string{"floor"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTicketType(ctx, fleet.TicketType{Event: "gala", ID: "VIP", Name: "VIP", Zones: []string{"vip"}, Policy: "reentry"}); err != nil {
		t.Fatal(err)
	}
	uid := wire.BadgeLookup([]byte{4, 1, 2, 3})
	if err := s.PutBadge(ctx, fleet.Badge{Event: "gala", ID: "season-1", UIDHash: uid, Name: "Ada", Zones: []string{"floor"},
		NotBefore: t0, NotAfter: t0.Add(24 * time.Hour), Policy: "multi", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if err := s.PutPartnerKey(ctx, fleet.PartnerKey{Event: "gala", ID: "tix", Kid: "t1", Alg: wire.AlgEdDSA, Public: pub, Issuer: "tix", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	gala := venueState(t, s, "gala")
	want := []string{"badge/season-1", "gate/north", "jwt_key/tix", "ticket_type/VIP", "zone/floor"}
	var got []string
	for k := range gala {
		got = append(got, k)
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("gala's venue rows %v, want %v", got, want)
	}
	r := gala["badge/season-1"]
	if b, err := r.Badge(); err != nil || b.UID != uid || b.Name != "Ada" || !b.NotAfter.Equal(t0.Add(24*time.Hour)) || b.Policy != "multi" {
		t.Fatalf("badge row: %+v %v", b, err)
	}
	r = gala["jwt_key/tix"]
	if k, err := r.JWTKey(); err != nil || k.Kid != "t1" || string(k.Public) != string(pub) || k.Issuer != "tix" {
		t.Fatalf("partner key row: %+v %v", k, err)
	}
	r = gala["ticket_type/VIP"]
	if tt, err := r.TicketType(); err != nil || tt.Policy != "reentry" || !slices.Equal(tt.Zones, []string{"vip"}) {
		t.Fatalf("ticket type row: %+v %v", tt, err)
	}
	if len(venueState(t, s, "cup")) != 0 {
		t.Fatalf("cup's venue scope holds gala's model: %v", venueState(t, s, "cup"))
	}

	// The same UID twice in an event: refused; in another event: fine.
	err := s.PutBadge(ctx, fleet.Badge{Event: "gala", ID: "season-2", UIDHash: uid, CreatedAt: t0})
	if !errors.Is(err, fleet.ErrExists) {
		t.Fatalf("a second badge with the UID: %v, want ErrExists", err)
	}
	if err := s.PutBadge(ctx, fleet.Badge{Event: "cup", ID: "season-2", UIDHash: uid, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutBadge(ctx, fleet.Badge{Event: "nope", ID: "x", UIDHash: uid, CreatedAt: t0}); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("a badge of no event: %v", err)
	}
	if bs, err := s.Badges(ctx, "gala"); err != nil || len(bs) != 1 || bs[0].ID != "season-1" || bs[0].UIDHash != uid {
		t.Fatalf("badges of gala: %+v %v", bs, err)
	}

	// Settings: off takes a row, back on drops it (the default).
	if st, err := s.EventSettings(ctx, "gala"); err != nil || !st.AdmitOnSignature {
		t.Fatalf("settings of a new event: %+v %v (admission on signature is on by default)", st, err)
	}
	if err := s.PutEventSettings(ctx, fleet.EventSettings{Event: "gala", AdmitOnSignature: false}); err != nil {
		t.Fatal(err)
	}
	r, ok := venueState(t, s, "gala")["settings/event"]
	if st, err := r.Settings(); !ok || err != nil || st.AdmitsOnSignature() {
		t.Fatalf("settings row after turning it off: %+v %v %v", st, ok, err)
	}
	if err := s.PutEventSettings(ctx, fleet.EventSettings{Event: "gala", AdmitOnSignature: true}); err != nil {
		t.Fatal(err)
	}
	if _, ok := venueState(t, s, "gala")["settings/event"]; ok {
		t.Fatal("settings back at their defaults still take a row")
	}
	if err := s.PutEventSettings(ctx, fleet.EventSettings{Event: "nope"}); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("settings of no event: %v", err)
	}

	// Deletions are logged as such.
	if err := s.DeleteBadge(ctx, "gala", "season-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePartnerKey(ctx, "gala", "tix"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteBadge(ctx, "gala", "season-1"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("deleting a deleted badge: %v", err)
	}
	if ks, err := s.PartnerKeys(ctx, "gala"); err != nil || len(ks) != 0 {
		t.Fatalf("partner keys after the deletion: %+v %v", ks, err)
	}
	gala = venueState(t, s, "gala")
	if _, ok := gala["badge/season-1"]; ok || len(gala) != 3 {
		t.Fatalf("after the deletions: %v", gala)
	}
}

// testSyncPoint: the change log keeps, per change, the latest issue time
// of a ticket logged up to it (ChangePage.Issued, LogState.Issued, and
// the compaction point's); a ticket issued IssueSlack or more before one
// already logged is refused, all of its request with it.
func testSyncPoint(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	mustEvent(t, s, "gala")
	issue := func(at time.Time, ids ...string) error {
		var ts []fleet.Ticket
		for _, id := range ids {
			ts = append(ts, fleet.Ticket{Event: "gala", ID: id, Type: "GA", Code: "AD1:" + id, IssuedAt: at})
		}
		return s.AddTickets(ctx, ts)
	}
	if err := issue(time.Time{}, "OLD"); err != nil { // said nothing of when
		t.Fatal(err)
	}
	if st, _ := s.LogState(ctx, "gala"); !st.Issued.IsZero() {
		t.Fatalf("issued after a ticket without an issue time: %v", st.Issued)
	}
	if err := issue(t0, "A", "B"); err != nil {
		t.Fatal(err)
	}
	if err := issue(t0.Add(2*time.Hour), "C"); err != nil {
		t.Fatal(err)
	}
	// Within the slack of the latest: logged (a request that signed a
	// little before another one committed).
	if err := issue(t0.Add(2*time.Hour-fleet.IssueSlack+time.Minute), "D"); err != nil {
		t.Fatal(err)
	}
	if err := issue(t0.Add(2*time.Hour-fleet.IssueSlack), "E", "F"); !errors.Is(err, fleet.ErrIssueLate) {
		t.Fatalf("a ticket issued the slack before the latest: %v, want ErrIssueLate", err)
	}
	if _, err := s.Ticket(ctx, "gala", "E"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("a refused request stored its tickets: %v", err)
	}
	st, err := s.LogState(ctx, "gala")
	if err != nil || !st.Issued.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("log state: %+v %v", st, err)
	}
	page, err := s.Changes(ctx, "gala", 0, 100)
	if err != nil || len(page.Issued) != len(page.Changes) {
		t.Fatalf("changes: %+v %v", page, err)
	}
	// key, OLD, A, B, C, D
	want := []time.Time{{}, {}, t0, t0, t0.Add(2 * time.Hour), t0.Add(2 * time.Hour)}
	for i := range want {
		if !page.Issued[i].Equal(want[i]) {
			t.Fatalf("issued after change %d: %v, want %v", page.Changes[i].Seq, page.Issued[i], want[i])
		}
	}
	if err := s.Compact(ctx, "gala", 4); err != nil {
		t.Fatal(err)
	}
	if st, _ := s.LogState(ctx, "gala"); !st.CompactedIssued.Equal(t0) {
		t.Fatalf("compacted issued: %v, want %v", st.CompactedIssued, t0)
	}
	if !fleet.SyncPoint(t0).Equal(t0.Add(-fleet.IssueSlack)) || !fleet.SyncPoint(time.Time{}).IsZero() {
		t.Fatal("SyncPoint")
	}
}
