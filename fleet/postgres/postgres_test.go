package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/kek"
	"admit/fleet/postgres"
	"admit/fleet/postgres/pgtest"
	"admit/fleet/storetest"
	"admit/fleet/wire"
)

// testKEK is the key-encryption key of the test stores.
var testKEK, _, _ = kek.Generate()

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) fleet.Store {
		s, err := postgres.Open(context.Background(), pgtest.DSN(t), testKEK)
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
		s, err := postgres.Open(ctx, dsn, testKEK)
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

// TestReplicaKeySharedAndKEKRequired: two nodes on one database share one
// replica key, made by whichever asked first, even asking at once; a node
// without the fleet's KEK does not open the store, and one with another
// KEK cannot use the keys.
func TestReplicaKeySharedAndKEKRequired(t *testing.T) {
	ctx := context.Background()
	dsn := pgtest.DSN(t)
	var nodes [4]*postgres.Store
	for i := range nodes {
		s, err := postgres.Open(ctx, dsn, testKEK)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		nodes[i] = s
	}
	keys := make(chan []byte, len(nodes))
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			k, err := n.ReplicaKey(ctx, time.Now())
			if err != nil {
				t.Error(err)
			}
			keys <- k
		}()
	}
	wg.Wait()
	close(keys)
	var first []byte
	for k := range keys {
		if first == nil {
			first = k
		}
		if string(k) != string(first) {
			t.Fatal("nodes on one database hold different replica keys")
		}
	}
	if _, err := postgres.Open(ctx, dsn, nil); err == nil {
		t.Fatal("opened without a key-encryption key")
	}
	other, _, _ := kek.Generate()
	s, err := postgres.Open(ctx, dsn, other)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ReplicaKey(ctx, time.Now()); !errors.Is(err, kek.ErrWrongKey) {
		t.Fatalf("replica key under another KEK: %v, want ErrWrongKey", err)
	}
}
