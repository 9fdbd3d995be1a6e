package postgres_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/postgres"
	"admit/fleet/postgres/pgtest"
	"admit/fleet/storetest"
	"admit/fleet/wire"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) fleet.Store {
		s, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// TestRacingDuplicateScans: two nodes on one database record the same
// scans of one device at once, many times over (a gate that reconnected to
// the other node and replays its journal). Whichever transaction loses the
// race on a (device, seq) or a used mark falls back to the careful path:
// every scan is recorded once and logs one used mark, and no call fails.
func TestRacingDuplicateScans(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var nodes [2]*postgres.Store
	for i := range nodes {
		s, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes[i] = s
	}
	t0 := time.Date(2026, 11, 28, 19, 0, 0, 0, time.UTC)
	if err := nodes[0].CreateEvent(ctx, fleet.Event{ID: "gala", Name: "Gala", StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	start, _ := nodes[0].LogState(ctx, "gala")
	const rounds, per = 20, 50
	var wg sync.WaitGroup
	errc := make(chan error, 8*rounds)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range rounds {
				scans := make([]wire.Scan, per)
				for i := range scans {
					seq := int64(r*per + i + 1)
					scans[i] = wire.Scan{Seq: seq, Event: "gala", TicketID: fmt.Sprintf("T%05d", seq), Gate: "A", At: t0.Add(time.Duration(seq) * time.Millisecond), Outcome: wire.Admitted}
				}
				if _, err := nodes[w%2].RecordScans(ctx, "dev1", scans, t0); err != nil {
					errc <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	end, err := nodes[0].LogState(ctx, "gala")
	if err != nil {
		t.Fatal(err)
	}
	if got := end.Last - start.Last; got != rounds*per {
		t.Fatalf("%d used marks logged for %d distinct scans", got, rounds*per)
	}
	recent, err := nodes[1].RecentScans(ctx, 10*rounds*per)
	if err != nil || len(recent) != rounds*per {
		t.Fatalf("RecentScans: %d scans, want %d (%v)", len(recent), rounds*per, err)
	}
}
