package sqlite_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/kek"
	"admit/fleet/sqlite"
	"admit/fleet/storetest"
	"admit/fleet/wire"
	"admit/ticket"
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

// TestKEKBesideTheDatabase: the embedded default keeps its KEK in a file
// beside the database, made 0600 on the first open and read at the next;
// the database is 0600 too. Opened with another KEK (the database copied
// without its key), the store cannot use its keys.
func TestKEKBesideTheDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "fleet.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateEvent(ctx, fleet.Event{ID: "gala", Name: "Gala", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	k, _ := ticket.GenerateSigningKey("gala", "k1")
	if err := s.AddSigningKey(ctx, k, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, name := range []string{sqlite.KEKFile, "fleet.db"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v, want 0600", name, st.Mode(), err)
		}
	}
	s, err = sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.SigningKey(ctx, "gala"); err != nil || !got.Private.Equal(k.Private) {
		t.Fatalf("reopened with its KEK file: %v", err)
	}
	s.Close()
	other, _, _ := kek.Generate()
	s, err = sqlite.OpenWith(ctx, path, other)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.SigningKey(ctx, "gala"); !errors.Is(err, kek.ErrWrongKey) {
		t.Fatalf("another KEK: %v, want ErrWrongKey", err)
	}
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
