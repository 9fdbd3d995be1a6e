package storetest

import (
	"context"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
)

// testContests: contests are kept once however often and by however many
// devices they are reported, newest first, filtered by event.
func testContests(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	side := func(d string, ms int) wire.ContestSide {
		return wire.ContestSide{Device: d, Gate: "Gate " + d, At: t0.Add(time.Duration(ms) * time.Millisecond)}
	}
	claim := wire.Contest{ID: 1, Event: "gala", TicketID: "T1", Kind: wire.ContestClaim, First: side("gate-a", 0), Second: side("gate-b", 1),
		By: "gate-c", Noticed: t0.Add(time.Second)}
	double := wire.Contest{ID: 2, Event: "gala", TicketID: "T2", Kind: wire.ContestEntry, First: side("gate-a", 5), Second: side("gate-b", 9),
		Noticed: t0.Add(time.Minute)}
	other := wire.Contest{ID: 3, Event: "cup", TicketID: "T1", Kind: wire.ContestEntry, First: side("gate-x", 0), Second: side("gate-y", 0),
		Noticed: t0.Add(time.Minute)}
	if err := s.RecordContests(ctx, "gate-b", []wire.Contest{claim, double}, t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	// The other end of the partition reports the same double admission,
	// and gate-b sends its contests again (its acknowledgement was lost).
	again := double
	again.ID, again.Noticed = 7, t0.Add(time.Hour)
	if err := s.RecordContests(ctx, "gate-a", []wire.Contest{again}, t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordContests(ctx, "gate-b", []wire.Contest{claim, double, other}, t0.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	all, err := s.Contests(ctx, nil, 10)
	if err != nil || len(all) != 3 {
		t.Fatalf("contests %+v (%v), want 3", all, err)
	}
	if all[0].Event != "cup" || all[1].TicketID != "T2" || all[2].TicketID != "T1" {
		t.Fatalf("contests %+v: want newest first", all)
	}
	got := all[1]
	if got.Kind != wire.ContestEntry || got.First != double.First || got.Second != double.Second || !got.Noticed.Equal(double.Noticed) ||
		got.ReportedBy != "gate-b" || !got.ReceivedAt.Equal(t0.Add(2*time.Minute)) || got.By != "" {
		t.Fatalf("double admission recorded as %+v", got)
	}
	if c := all[2]; c.Kind != wire.ContestClaim || c.By != "gate-c" || c.First != claim.First || c.Second != claim.Second {
		t.Fatalf("claim recorded as %+v", c)
	}
	gala, err := s.Contests(ctx, []string{"gala"}, 10)
	if err != nil || len(gala) != 2 {
		t.Fatalf("gala's contests %+v (%v)", gala, err)
	}
	if one, err := s.Contests(ctx, nil, 1); err != nil || len(one) != 1 || one[0].Event != "cup" {
		t.Fatalf("the newest contest: %+v (%v)", one, err)
	}
	if none, err := s.Contests(ctx, []string{}, 10); err != nil || len(none) != 0 {
		t.Fatalf("no events: %+v (%v)", none, err)
	}
}
