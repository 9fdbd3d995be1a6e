package agent_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"admit/agent"
	"admit/hal"
	"admit/internal/sqlitedb"
)

// reportPercentiles reports p50 and p99 of durations as benchmark metrics.
func reportPercentiles(b *testing.B, prefix string, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	at := func(q float64) float64 { return float64(ds[min(len(ds)-1, int(q*float64(len(ds))))].Microseconds()) }
	b.ReportMetric(at(0.50), prefix+"p50-µs")
	b.ReportMetric(at(0.99), prefix+"p99-µs")
}

// BenchmarkDecisionPath measures one presentation end to end on the gate:
// parse and verify the signed ticket, look it up in the replica (row,
// rotating-code secret, passages), apply the rules, and commit the journal
// row and the passage mark with the power-loss-safe setting (SQLite WAL,
// synchronous=FULL: an fsync per decision). The first pass over the
// tickets admits them; later passes refuse them as already used (same
// path, one row fewer). Run with -cpu 1 for the one-core figure.
func BenchmarkDecisionPath(b *testing.B) {
	for _, sync := range []sqlitedb.Sync{sqlitedb.SyncFull, sqlitedb.SyncNormal} {
		b.Run("sync="+string(sync), func(b *testing.B) { benchDecisionPath(b, sync) })
	}
}

func benchDecisionPath(b *testing.B, sync sqlitedb.Sync) {
	const tickets = 2000
	f := startFleet(b, b.TempDir(), tickets, "single")
	// ADMIT_BENCH_DIR puts the gate database elsewhere (e.g. /dev/shm, to
	// separate the decision path from the storage's fsync latency).
	parent := b.TempDir()
	if d := os.Getenv("ADMIT_BENCH_DIR"); d != "" {
		var err error
		if parent, err = os.MkdirTemp(d, "admit-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(parent) })
	}
	dir := filepath.Join(parent, "gate")
	cfg := agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, FleetURL: f.wsURL(), DataDir: dir, Sync: sync, Log: quiet}
	g := startGate(b, cfg)
	g.waitReplica(b, f)
	g.stop()
	cfg.FleetURL = "" // measure the decision, not the uplink
	a, err := agent.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	creds := make([]hal.Credential, tickets)
	for i, tk := range f.tickets {
		creds[i] = hal.Credential{Source: "nfc0", Payload: []byte(tk.Code)}
	}
	durations := make([]time.Duration, 0, b.N)
	admitted := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		t0 := time.Now()
		d, err := a.Present(ctx, creds[i%tickets])
		durations = append(durations, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if d.Admitted {
			admitted++
		}
	}
	b.StopTimer()
	reportPercentiles(b, "", durations)
	b.ReportMetric(float64(admitted)/float64(len(durations)), "admit-ratio")
}

// BenchmarkPeerPropagation measures the time from an admission at gate A
// to its passage being in gate B's database, over the peer WebSocket on
// loopback with the fleet unreachable.
func BenchmarkPeerPropagation(b *testing.B) {
	ctx := context.Background()
	f := startFleet(b, b.TempDir(), 1, "multi")
	px := newProxy(b, f.node.Addr())
	gates := startPeers(b, f, px, 2)
	px.SetUp(false)
	waitFor(b, "both uplinks to drop", func() bool { return !gates[0].Online() && !gates[1].Online() })
	tk := f.tickets[0]
	durations := make([]time.Duration, 0, b.N)
	n := 0
	for b.Loop() {
		t0 := time.Now()
		if d := gates[0].present(b, tk.Code); !d.Admitted {
			b.Fatalf("gate A: %+v", d)
		}
		n++
		for {
			ms, err := gates[1].DB().Marks(ctx, f.event, tk.ID)
			if err != nil {
				b.Fatal(err)
			}
			if len(ms) >= n {
				break
			}
			if time.Since(t0) > 10*time.Second {
				b.Fatal("the passage never reached gate B")
			}
			time.Sleep(50 * time.Microsecond)
		}
		durations = append(durations, time.Since(t0))
	}
	reportPercentiles(b, "", durations)
}
