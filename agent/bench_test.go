package agent_test

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"admit/agent"
	"admit/agent/gatedb"
	"admit/hal"
	"admit/internal/sqlitedb"
	"admit/internal/testwait"
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
//
// The peers= variants put the gate among 1, 4 or 16 peer gates, real
// agents on loopback in this process (peer links, signed gossip), and
// present a fresh single-entry ticket every time (run with -benchtime
// 2000x or fewer: beyond, tickets come round again and are refused): with
// claims=on each admission first claims the ticket from every peer
// (claim.go), with claims=off it does not (Config.NoClaims), as before
// peer protocol 3. "claim-" is the claim's own share: from the claim to
// the last peer's answer.
func BenchmarkDecisionPath(b *testing.B) {
	for _, sync := range []sqlitedb.Sync{sqlitedb.SyncFull, sqlitedb.SyncNormal} {
		b.Run("sync="+string(sync), func(b *testing.B) { benchDecisionPath(b, sync) })
	}
	for _, n := range []int{1, 4, 16} {
		for _, claims := range []bool{false, true} {
			name := fmt.Sprintf("peers=%d/claims=off", n)
			if claims {
				name = fmt.Sprintf("peers=%d/claims=on", n)
			}
			b.Run(name, func(b *testing.B) { benchDecisionAmongPeers(b, n, claims) })
		}
	}
}

// claimBenchTickets is how many fresh tickets a peers= variant has.
const claimBenchTickets = 2000

func benchDecisionAmongPeers(b *testing.B, n int, claims bool) {
	ev := newEvent(b, time.Now(), claimBenchTickets, "single")
	// ADMIT_BENCH_DIR, as above, for every gate's database.
	parent := b.TempDir()
	if d := os.Getenv("ADMIT_BENCH_DIR"); d != "" {
		var err error
		if parent, err = os.MkdirTemp(d, "admit-bench-"); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(parent) })
	}
	for i := range n + 1 {
		if _, ok := ev.devices[fmt.Sprintf("gate-%d", i)]; !ok {
			_, k, _ := ed25519.GenerateKey(nil)
			ev.devices[fmt.Sprintf("gate-%d", i)] = k
		}
	}
	gates := seededPeers(b, ev, n+1, func(i int, cfg *agent.Config) {
		cfg.DataDir = filepath.Join(parent, cfg.Device)
		cfg.NoClaims = i == 0 && !claims
		// The gate decides as fast as it can, far beyond what a
		// turnstile presents (the default bound, 50 claims a second
		// per link, would set the pace).
		cfg.PeerClaimRate, cfg.PeerClaimBurst = 1e6, 1e6
	})
	a := gates[0]
	if claims {
		testwait.For(b, "every peer to take claims", func() bool { return a.ClaimPeers() == n })
	}
	ctx := context.Background()
	durations := make([]time.Duration, 0, b.N)
	claimed := make([]time.Duration, 0, b.N)
	admitted := 0
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		cred := hal.Credential{Source: "nfc0", Payload: []byte(ev.tickets[i%claimBenchTickets].Code)}
		t0 := time.Now()
		d, err := a.Present(ctx, cred)
		durations = append(durations, time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
		if d.Admitted {
			admitted++
		}
		if d.Claimed > 0 {
			claimed = append(claimed, d.Claimed)
		}
	}
	b.StopTimer()
	if claims && len(claimed) < admitted {
		b.Fatalf("%d admissions, %d claimed", admitted, len(claimed))
	}
	reportPercentiles(b, "", durations)
	reportPercentiles(b, "claim-", claimed)
	b.ReportMetric(float64(admitted)/float64(len(durations)), "admit-ratio")
}

func benchDecisionPath(b *testing.B, sync sqlitedb.Sync) {
	const tickets = 2000
	ev := newEvent(b, time.Now(), tickets, "single")
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
	cfg := agent.Config{Device: "gate-1", Gate: "Gate 1", Event: ev.event, DataDir: dir, Sync: sync, Log: quiet}
	seededGate(b, ev, cfg).stop() // no fleet: measure the decision, not the uplink
	a, err := agent.Open(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	creds := make([]hal.Credential, tickets)
	for i, tk := range ev.tickets {
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

// BenchmarkPeerPropagation measures how soon gate B refuses a ticket gate
// A just admitted, over the peer WebSocket on loopback with no fleet: from the moment A's decision is durable (its journal commit
// returned; A's relay and publish come after it) to the first moment B's
// decision path refuses the ticket as used at Gate A. B is asked through
// Lookup's verdict, which is B's decision path (verify, lookup with the
// peers' marks, rules) without a journal row, as soon as B reports the
// mark's arrival (Config.OnPeerMark; polling on a timer would measure the
// timer), and again until it refuses; then B is presented the ticket for
// real, untimed, and must refuse it. Each
// iteration uses a fresh single-entry ticket (at most peerBenchTickets:
// run with -benchtime Nx). The unprefixed p50/p99 are A-durable to
// B-refuses; they include one full evaluation of B's decision path after
// the mark arrived, plus Lookup's own second read (so they err long).
// "counts-" ends instead when the mark counts for B's decisions (in B's
// in-memory index); "scan-" starts at A's presentation instead, so it
// includes A's journal fsync.
func BenchmarkPeerPropagation(b *testing.B) {
	ctx := context.Background()
	ev := newEvent(b, time.Now(), peerBenchTickets, "single")
	type arrival struct {
		id string
		at time.Time
	}
	arrived := make(chan arrival, peerBenchTickets)
	gates := seededPeers(b, ev, 2, func(i int, cfg *agent.Config) {
		if i == 1 {
			cfg.OnPeerMark = func(m gatedb.Mark) {
				select {
				case arrived <- arrival{m.TicketID, time.Now()}:
				default:
				}
			}
		}
	})
	a, g := gates[0], gates[1]
	durable := make([]time.Duration, 0, peerBenchTickets)
	scan := make([]time.Duration, 0, peerBenchTickets)
	counts := make([]time.Duration, 0, peerBenchTickets)
	i := 0
	for b.Loop() {
		if i == len(ev.tickets) {
			b.Fatalf("more than %d iterations: run with -benchtime %dx or fewer", len(ev.tickets), len(ev.tickets))
		}
		tk := ev.tickets[i]
		i++
		t0 := time.Now()
		d := a.present(b, tk.Code)
		if !d.Admitted {
			b.Fatalf("gate A: %+v", d)
		}
		// Present's own clock starts after t0, so this is no later than
		// the commit's return: the figure errs long, never short.
		t1 := t0.Add(d.Took)
		timeout := time.After(10 * time.Second)
		var got arrival
		for got.id != tk.ID {
			select {
			case got = <-arrived:
			case <-timeout:
				b.Fatal("the passage never reached gate B")
			}
		}
		for {
			l, err := g.Lookup(ctx, tk.Code)
			if err != nil {
				b.Fatal(err)
			}
			if v := l.Verdict; v != nil && !v.Admitted {
				if v.Reason != agent.ReasonAlreadyUsed {
					b.Fatalf("gate B refuses %s for another reason: %+v", tk.ID, v)
				}
				break
			}
			if time.Since(t1) > 10*time.Second {
				b.Fatal("gate B never refused the ticket")
			}
			time.Sleep(20 * time.Microsecond) // yield the CPU to the gossip
		}
		now := time.Now()
		durable = append(durable, now.Sub(t1))
		counts = append(counts, got.at.Sub(t1))
		scan = append(scan, now.Sub(t0))
		b.StopTimer()
		if d := g.present(b, tk.Code); d.Admitted || d.Reason != agent.ReasonAlreadyUsed {
			b.Fatalf("gate B: %+v, want refused as used", d)
		}
		b.StartTimer()
	}
	b.StopTimer()
	reportPercentiles(b, "", durable)
	reportPercentiles(b, "scan-", scan)
	reportPercentiles(b, "counts-", counts)
}

// peerBenchTickets bounds BenchmarkPeerPropagation's iterations.
const peerBenchTickets = 500
