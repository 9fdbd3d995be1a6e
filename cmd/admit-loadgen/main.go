// Command admit-loadgen measures a fleet node on loopback: it starts a node
// (SQLite in a temporary directory), connects N simulated gates from a
// child process (so the node's memory is measured alone), and reports:
//
//   - snapshot: time for one real gate (gatedb + uplink, in this process)
//     to receive and apply a snapshot of an event with -snapshot tickets;
//   - propagation: latency p50/p99 from issuing a ticket on the node to
//     its arrival at each of the N gates, over -changes changes;
//   - memory: node heap+stack growth per connected gate;
//   - ingestion: scans/s recorded by the store in batches of 1,000 (the
//     most one stream message carries), on SQLite and, with -postgres, on
//     PostgreSQL.
//
// Every loop is bounded; everything runs on 127.0.0.1.
package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"

	"admit/agent/gatedb"
	"admit/agent/uplink"
	"admit/fleet"
	"admit/fleet/node"
	"admit/fleet/postgres"
	"admit/fleet/sqlite"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
)

func main() {
	gates := flag.Int("n", 1000, "simulated gates")
	changes := flag.Int("changes", 200, "changes whose propagation is measured")
	snapshot := flag.Int("snapshot", 1_000_000, "tickets in the snapshot measurement (0: skip)")
	scans := flag.Int("scans", 200_000, "scans in the ingestion measurement (0: skip)")
	pg := flag.String("postgres", "", "PostgreSQL DSN for the PostgreSQL ingestion measurement (a scratch schema is created and dropped)")
	child := flag.String("child", "", "internal: run the gates against this agent URL")
	flag.Parse()
	ctx := context.Background()
	var err error
	if *child != "" {
		err = runGates(ctx, *child, *gates, *changes)
	} else {
		err = run(ctx, *gates, *changes, *snapshot, *scans, *pg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "admit-loadgen:", err)
		os.Exit(1)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func deviceKey(i int) (string, ed25519.PrivateKey) {
	seed := sha256.Sum256([]byte("admit-loadgen/" + strconv.Itoa(i)))
	return fmt.Sprintf("sim-%05d", i), ed25519.NewKeyFromSeed(seed[:])
}

func run(ctx context.Context, n, changes, snapshot, scans int, pg string) error {
	dir, err := os.MkdirTemp("", "admit-loadgen-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("admit-loadgen: %d gates, %d changes, %d-ticket snapshot, %d scans; GOMAXPROCS=%d\n", n, changes, snapshot, scans, runtime.GOMAXPROCS(0))
	nd, err := node.Open(ctx, node.Config{DataDir: filepath.Join(dir, "fleet"), Addr: "127.0.0.1:0", Log: quiet, RequireEnrollment: true})
	if err != nil {
		return err
	}
	defer nd.Close(context.Background())
	svc := nd.Service
	if _, err := svc.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		return err
	}
	if snapshot > 0 {
		if err := measureSnapshot(ctx, nd, dir, snapshot); err != nil {
			return err
		}
	}
	for i := range n {
		id, key := deviceKey(i)
		if err := svc.Store.PutDevice(ctx, fleet.Device{ID: id, PublicKey: key.Public().(ed25519.PublicKey), CreatedAt: time.Now()}); err != nil {
			return err
		}
	}
	if err := measurePropagation(ctx, nd, n, changes); err != nil {
		return err
	}
	if scans > 0 {
		st, err := sqlite.Open(ctx, filepath.Join(dir, "ingest.db"))
		if err != nil {
			return err
		}
		rate, err := measureIngestion(ctx, st, scans)
		st.Close()
		if err != nil {
			return err
		}
		fmt.Printf("ingestion sqlite:    %.0f scans/s (%d scans, batches of 1000 from 16 gates at once, all admissions: scan + used mark + log entry)\n", rate, scans)
		if pg != "" {
			rate, err := ingestPostgres(ctx, pg, scans)
			if err != nil {
				return err
			}
			fmt.Printf("ingestion postgres:  %.0f scans/s (%d scans, batches of 1000 from 16 gates at once)\n", rate, scans)
		}
	}
	return nil
}

func measureSnapshot(ctx context.Context, nd *node.Node, dir string, count int) error {
	st := nd.Service.Store
	if _, err := nd.Service.CreateEvent(ctx, fleet.Event{ID: "big"}); err != nil {
		return err
	}
	start := time.Now()
	const per = 100_000
	now := time.Now().UTC()
	for done := 0; done < count; done += per {
		ts := make([]fleet.Ticket, 0, per)
		for i := done; i < min(count, done+per); i++ {
			id := fmt.Sprintf("B%09d", i)
			ts = append(ts, fleet.Ticket{Event: "big", ID: id, Type: "GA", Code: "AD1:" + id, IssuedAt: now})
		}
		if err := st.AddTickets(ctx, ts); err != nil {
			return err
		}
	}
	fmt.Printf("setup: %d tickets stored in %v\n", count, time.Since(start).Round(time.Millisecond))
	id, key := "snap-gate", ed25519.NewKeyFromSeed(make([]byte, 32))
	if err := st.PutDevice(ctx, fleet.Device{ID: id, PublicKey: key.Public().(ed25519.PublicKey), CreatedAt: now}); err != nil {
		return err
	}
	db, err := gatedb.Open(ctx, filepath.Join(dir, "snap-gate.db"), sqlitedb.SyncFull)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Serve(ctx, "big"); err != nil {
		return err
	}
	log, _ := st.LogState(ctx, "big")
	done := make(chan struct{})
	var once sync.Once
	cl := uplink.New(uplink.Options{URL: nd.AgentURL(), Device: id, Key: key, DB: db, Log: quiet,
		OnApplied: func(ev string, cur int64) {
			if cur >= log.Last {
				once.Do(func() { close(done) })
			}
		}})
	runCtx, cancel := context.WithCancel(ctx)
	finished := make(chan error, 1)
	start = time.Now()
	go func() { finished <- cl.Run(runCtx) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		cancel()
		<-finished
		return fmt.Errorf("snapshot not applied within 5 minutes")
	}
	took := time.Since(start)
	cancel()
	<-finished
	if _, err := db.Ticket(ctx, "big", fmt.Sprintf("B%09d", count-1)); err != nil {
		return fmt.Errorf("snapshot incomplete: %w", err)
	}
	fmt.Printf("snapshot: %d tickets received and applied by one gate (gatedb, synchronous=FULL) in %v\n", count, took.Round(time.Millisecond))
	return nil
}

func heap() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse + m.StackInuse
}

type childReport struct {
	Connected int       `json:"connected"`
	Latencies []float64 `json:"latencies_ms,omitempty"`
}

func measurePropagation(ctx context.Context, nd *node.Node, n, changes int) error {
	before := heap()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, self, "-child", nd.AgentURL(), "-n", strconv.Itoa(n), "-changes", strconv.Itoa(changes))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Wait()
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 64<<20)
	if !sc.Scan() {
		return fmt.Errorf("gates process ended early")
	}
	var ready childReport
	if err := json.Unmarshal(sc.Bytes(), &ready); err != nil {
		return err
	}
	deadline := time.Now().Add(time.Minute)
	for nd.Hub.Connected() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	after := heap()
	fmt.Printf("memory: %d gates connected; node heap+stack %.1f MiB → %.1f MiB: %.1f KiB per connected gate\n",
		nd.Hub.Connected(), float64(before)/(1<<20), float64(after)/(1<<20), float64(int64(after)-int64(before))/1024/float64(n))

	for i := range changes {
		t := fleet.Ticket{Event: "gala", ID: fmt.Sprintf("P%06d", i), Type: "GA", Code: "x",
			Holder: strconv.FormatInt(time.Now().UnixNano(), 10), IssuedAt: time.Now()}
		if err := nd.Service.Store.AddTickets(ctx, []fleet.Ticket{t}); err != nil {
			return err
		}
		nd.Hub.Notify("gala")
		time.Sleep(20 * time.Millisecond) // one change at a time, as an operator makes them
	}
	in.Close() // tells the gates process the last change was made
	if !sc.Scan() {
		return fmt.Errorf("no report from the gates process")
	}
	var rep childReport
	if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
		return err
	}
	lat := rep.Latencies
	slices.Sort(lat)
	if len(lat) == 0 {
		return fmt.Errorf("no latencies")
	}
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("propagation: %d deliveries (%d changes × %d gates): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		len(lat), changes, n, pct(0.50), pct(0.99), lat[len(lat)-1])
	if want := changes * n; len(lat) != want {
		return fmt.Errorf("%d deliveries, want %d", len(lat), want)
	}
	return nil
}

// runGates is the child: n raw protocol clients that sync, then record
// the latency of every ticket change whose holder is a send timestamp.
func runGates(ctx context.Context, url string, n, changes int) error {
	var mu sync.Mutex
	var lat []float64
	var wg sync.WaitGroup
	synced := make(chan error, n)
	stop := make(chan struct{})
	got := make(chan struct{}, n*changes+n)
	for i := range n {
		id, key := deviceKey(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := gateLoop(url, id, key, synced, stop, func(ms float64) {
				mu.Lock()
				lat = append(lat, ms)
				mu.Unlock()
				got <- struct{}{}
			})
			if err != nil {
				synced <- err
			}
		}()
	}
	for range n {
		if err := <-synced; err != nil {
			return err
		}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.Encode(childReport{Connected: n})
	io.Copy(io.Discard, os.Stdin) // the parent makes its changes, then closes stdin
	deadline := time.After(time.Minute)
	for range n * changes {
		select {
		case <-got:
		case <-deadline:
			close(stop)
			wg.Wait()
			return enc.Encode(childReport{Connected: n, Latencies: lat})
		}
	}
	close(stop)
	wg.Wait()
	return enc.Encode(childReport{Connected: n, Latencies: lat})
}

func gateLoop(url, id string, key ed25519.PrivateKey, synced chan<- error, stop <-chan struct{}, record func(ms float64)) error {
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return err
	}
	go func() { <-stop; ws.Close() }()
	var ch wire.Message
	if err := ws.ReadJSON(&ch); err != nil || ch.Challenge == nil {
		return fmt.Errorf("%s: no challenge: %v", id, err)
	}
	h := &wire.Hello{Protocol: wire.ProtocolVersion, Device: id, Cursors: map[string]wire.Cursor{"gala": {}},
		Signature: ed25519.Sign(key, wire.HelloSigningBytes(ch.Challenge.Nonce, id))}
	if err := ws.WriteJSON(&wire.Message{Type: wire.TypeHello, Hello: h}); err != nil {
		return err
	}
	first := true
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			select {
			case <-stop:
				return nil
			default:
				return fmt.Errorf("%s: %w", id, err)
			}
		}
		now := time.Now().UnixNano()
		m, err := wire.Decode(data)
		if err != nil {
			return err
		}
		if m.Batch == nil {
			continue
		}
		if first {
			first = false
			synced <- nil // the initial log (the event's key) arrived
		}
		for _, c := range m.Batch.Changes {
			if c.Ticket != nil && strings.HasPrefix(c.Ticket.ID, "P") {
				sent, _ := strconv.ParseInt(c.Ticket.Holder, 10, 64)
				record(float64(now-sent) / 1e6)
			}
		}
	}
}

func measureIngestion(ctx context.Context, st fleet.Store, total int) (float64, error) {
	if err := st.CreateEvent(ctx, fleet.Event{ID: "ingest", Name: "ingest", StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour), CreatedAt: time.Now()}); err != nil {
		return 0, err
	}
	const batch = 1000
	at := time.Now().UTC()
	batches := make([][]wire.Scan, 0, total/batch)
	for b := 0; b*batch < total; b++ {
		s := make([]wire.Scan, 0, batch)
		for i := range min(batch, total-b*batch) {
			seq := int64(b*batch + i + 1)
			s = append(s, wire.Scan{Seq: seq, Event: "ingest", TicketID: fmt.Sprintf("I%09d", seq), Gate: "G", At: at, Outcome: wire.Admitted})
		}
		batches = append(batches, s)
	}
	// 16 gates send at once, each its batches in order, as 16 streams would.
	const senders = 16
	start := time.Now()
	var wg sync.WaitGroup
	errc := make(chan error, senders)
	for g := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := g; i < len(batches); i += senders {
				if _, err := st.RecordScans(ctx, fmt.Sprintf("dev-%d", g), batches[i], at); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	if err := <-errc; err != nil {
		return 0, err
	}
	return float64(total) / time.Since(start).Seconds(), nil
}

func ingestPostgres(ctx context.Context, dsn string, total int) (float64, error) {
	schema := fmt.Sprintf("admit_loadgen_%d", time.Now().UnixNano())
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return 0, err
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return 0, err
	}
	defer admin.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	st, err := postgres.Open(ctx, dsn+sep+"search_path="+schema)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return measureIngestion(ctx, st, total)
}
