package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/sqlite"
	"admit/fleet/storetest"
	"admit/fleet/wire"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) fleet.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fleet.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func BenchmarkRecordScans(b *testing.B) {
	ctx := context.Background()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "fleet.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	at := time.Now().UTC()
	if err := s.CreateEvent(ctx, fleet.Event{ID: "e", Name: "e", StartsAt: at, EndsAt: at.Add(time.Hour), CreatedAt: at}); err != nil {
		b.Fatal(err)
	}
	const batch = 1000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		scans := make([]wire.Scan, batch)
		for j := range scans {
			seq := int64(i*batch + j + 1)
			scans[j] = wire.Scan{Seq: seq, Event: "e", TicketID: fmt.Sprintf("T%09d", seq), Gate: "G", At: at, Outcome: wire.Admitted}
		}
		if _, err := s.RecordScans(ctx, "dev", scans, at); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "scans/s")
}
