package api_test

import (
	"context"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/wire"
)

// TestContestsThroughTheAPI: the contests gates reported are listed newest
// first, to an admin all of them, to a viewer of one event that event's
// only.
func TestContestsThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	admin := f.signIn(t, "root", access.Grant{Role: access.Admin, Event: access.AllEvents})
	viewer := f.signIn(t, "watcher", access.Grant{Role: access.Viewer, Event: "cup"})
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	side := func(d string) wire.ContestSide { return wire.ContestSide{Device: d, Gate: "Gate " + d, At: at} }
	if err := f.svc.Store.RecordContests(context.Background(), "gate-b", []wire.Contest{
		{ID: 1, Event: "gala", TicketID: "T1", Kind: wire.ContestClaim, First: side("gate-a"), Second: side("gate-b"), Noticed: at},
		{ID: 2, Event: "cup", TicketID: "T9", Kind: wire.ContestEntry, First: side("gate-a"), Second: side("gate-b"), Noticed: at},
	}, at); err != nil {
		t.Fatal(err)
	}
	var all, cup []fleet.ContestRecord
	admin.must("GET", "/api/contests", "", 200, &all)
	if len(all) != 2 || all[0].Event != "cup" || all[1].Kind != wire.ContestClaim || all[1].ReportedBy != "gate-b" || all[1].First.Gate != "Gate gate-a" {
		t.Fatalf("the admin sees %+v", all)
	}
	viewer.must("GET", "/api/contests?limit=10", "", 200, &cup)
	if len(cup) != 1 || cup[0].TicketID != "T9" {
		t.Fatalf("a viewer of cup sees %+v", cup)
	}
}
