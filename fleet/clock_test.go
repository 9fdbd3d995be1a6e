package fleet_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"admit/clock"
	"admit/fleet"
	"admit/fleet/sqlite"
)

// TestServiceFollowsClock: what the service stamps — an event's creation
// and default start, a ticket's issue, a revocation — is the time of its
// clock, not the wall clock's.
func TestServiceFollowsClock(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "fleet.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2031, 5, 17, 19, 0, 0, 0, time.UTC)
	clk := clock.NewFake(at)
	svc := &fleet.Service{Store: st, Clock: clk}
	ev, err := svc.CreateEvent(ctx, fleet.Event{ID: "gala"})
	if err != nil {
		t.Fatal(err)
	}
	if !ev.CreatedAt.Equal(at) || !ev.StartsAt.Equal(at) {
		t.Fatalf("event created %v, starting %v; want %v", ev.CreatedAt, ev.StartsAt, at)
	}
	clk.Advance(time.Hour)
	ts, err := svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Type: "GA", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !ts[0].IssuedAt.Equal(at.Add(time.Hour)) {
		t.Fatalf("ticket issued %v, want %v", ts[0].IssuedAt, at.Add(time.Hour))
	}
	clk.Advance(time.Minute)
	rev, err := svc.Revoke(ctx, "gala", ts[0].ID, "lost")
	if err != nil {
		t.Fatal(err)
	}
	if !rev.RevokedAt.Equal(at.Add(time.Hour + time.Minute)) {
		t.Fatalf("ticket revoked %v, want %v", rev.RevokedAt, at.Add(time.Hour+time.Minute))
	}
}
