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
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"crypto/sha256"
	"encoding/hex"
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
	"runtime/pprof"
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
	"admit/fleet/kek"
	"admit/fleet/node"
	"admit/fleet/postgres"
	"admit/fleet/replicate"
	"admit/fleet/sqlite"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
	"admit/internal/version"
)

func main() {
	gates := flag.Int("n", 1000, "simulated gates")
	changes := flag.Int("changes", 200, "changes whose propagation is measured")
	snapshot := flag.Int("snapshot", 1_000_000, "tickets in the snapshot measurement (0: skip)")
	scans := flag.Int("scans", 200_000, "scans in the ingestion measurement (0: skip)")
	pg := flag.String("postgres", "", "PostgreSQL DSN for the PostgreSQL ingestion measurement (a scratch schema is created and dropped)")
	child := flag.String("child", "", "internal: run the gates against this agent URL")
	replicaKey := flag.String("replica-key", "", "internal: the replica key (hex) the gates check batches against")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of this process (the node side, or the gates with -child) to this file")
	childProfile = flag.String("gates-cpuprofile", "", "write a CPU profile of the gates process to this file")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		version.Print(os.Stdout, "admit-loadgen")
		return
	}
	ctx := context.Background()
	var err error
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "admit-loadgen:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	if *child != "" {
		var rk []byte
		if rk, err = hex.DecodeString(*replicaKey); err == nil {
			err = runGates(ctx, *child, rk, *gates, *changes)
		}
	} else {
		err = run(ctx, *gates, *changes, *snapshot, *scans, *pg)
	}
	if err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "admit-loadgen:", err)
		os.Exit(1)
	}
}

var (
	childProfile *string
	pace         = flag.Duration("pace", 20*time.Millisecond, "pause between two measured changes")
)

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
	// Plain WS on loopback: the measurements are of the node's replication
	// (signed batches included), not of TLS. Every gate comes from
	// 127.0.0.1, so the per-address caps are lifted to n.
	limit := n + 64
	nd, err := node.Open(ctx, node.Config{DataDir: filepath.Join(dir, "fleet"), Addr: "127.0.0.1:0", Log: quiet, RequireEnrollment: true,
		Insecure: true, Hub: replicate.Options{MaxConns: limit, MaxConnsPerIP: limit, MaxPending: limit, MaxPendingPerIP: limit}})
	if err != nil {
		return err
	}
	defer nd.Close(context.Background())
	fmt.Println("setup: the node serves plain WS on loopback (-insecure); batches are signed (protocol 5) and checked by every gate")
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
		if err := svc.Store.PutDevice(ctx, fleet.Device{ID: id, Events: []string{"gala"}, PublicKey: key.Public().(ed25519.PublicKey), CreatedAt: time.Now()}); err != nil {
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
	if err := st.PutDevice(ctx, fleet.Device{ID: id, Events: []string{"big"}, PublicKey: key.Public().(ed25519.PublicKey), CreatedAt: now}); err != nil {
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
	cl := uplink.New(uplink.Options{URL: nd.AgentURL(), Device: id, Key: key, DB: db, Log: quiet, Insecure: true, ReplicaKey: nd.ReplicaKey,
		OnApplied: func(ev string, cur int64) {
			if cur >= log.Last {
				once.Do(func() { close(done) })
			}
		}})
	runCtx, cancel := context.WithCancel(ctx)
	finished := make(chan error, 1)
	runtime.GC() // the setup's garbage is not the snapshot's
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
	Connected int `json:"connected"`
	// Applied maps each measured change (its ticket id) to the Unix
	// nanosecond at which each gate had it applied.
	Applied map[string][]int64 `json:"applied,omitempty"`
	// Bad counts batches a gate refused (checksum or running checksum).
	Bad int `json:"bad,omitempty"`
}

// measurePropagation measures, for every change and every gate, the time
// from the change's commit at the fleet (the store call returned) to its
// application at the gate (frame read, decoded, batch checksum checked and
// the gate's running checksum advanced and matched against the fleet's).
func measurePropagation(ctx context.Context, nd *node.Node, n, changes int) error {
	before := heap()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{"-child", nd.AgentURL(), "-replica-key", hex.EncodeToString(nd.ReplicaKey), "-n", strconv.Itoa(n), "-changes", strconv.Itoa(changes)}
	if *childProfile != "" {
		args = append(args, "-cpuprofile", *childProfile)
	}
	cmd := exec.CommandContext(ctx, self, args...)
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
	sc.Buffer(nil, 256<<20)
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

	committed := make(map[string]int64, changes)
	for i := range changes {
		t := fleet.Ticket{Event: "gala", ID: fmt.Sprintf("P%06d", i), Type: "GA", Code: "x", IssuedAt: time.Now()}
		if err := nd.Service.Store.AddTickets(ctx, []fleet.Ticket{t}); err != nil {
			return err
		}
		committed[t.ID] = time.Now().UnixNano()
		nd.Hub.Notify("gala") // what fleet.Service does after a commit
		time.Sleep(*pace)     // one change at a time
	}
	in.Close() // tells the gates process the last change was made
	if !sc.Scan() {
		return fmt.Errorf("no report from the gates process")
	}
	var rep childReport
	if err := json.Unmarshal(sc.Bytes(), &rep); err != nil {
		return err
	}
	var lat []float64
	for id, ats := range rep.Applied {
		c, ok := committed[id]
		if !ok {
			return fmt.Errorf("gates applied %s, which was never committed", id)
		}
		for _, at := range ats {
			lat = append(lat, float64(at-c)/1e6)
		}
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		return fmt.Errorf("no latencies")
	}
	pct := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Printf("propagation (commit at the fleet → applied at the gate): %d deliveries (%d changes × %d gates): p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		len(lat), changes, n, pct(0.50), pct(0.99), lat[len(lat)-1])
	if rep.Bad > 0 {
		return fmt.Errorf("gates refused %d batches", rep.Bad)
	}
	if want := changes * n; len(lat) != want {
		return fmt.Errorf("%d deliveries, want %d", len(lat), want)
	}
	return nil
}

// runGates is the child: n raw protocol clients that sync, then note when
// each measured change (tickets P…) is applied.
func runGates(ctx context.Context, url string, replicaKey ed25519.PublicKey, n, changes int) error {
	checked := &signatures{ok: map[string]*verdict{}}
	// The simulated gates keep little garbage; collecting it less often
	// leaves the shared cores to the node being measured.
	debug.SetGCPercent(400)
	var mu sync.Mutex
	rep := childReport{Connected: n, Applied: map[string][]int64{}}
	var wg sync.WaitGroup
	synced := make(chan error, n)
	stop := make(chan struct{})
	got := make(chan struct{}, n*changes+n)
	for i := range n {
		id, key := deviceKey(i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := gateLoop(url, replicaKey, checked, id, key, synced, stop, func(ticket string, at int64, bad bool) {
				mu.Lock()
				if bad {
					rep.Bad++
				} else {
					rep.Applied[ticket] = append(rep.Applied[ticket], at)
				}
				mu.Unlock()
				if !bad {
					got <- struct{}{}
				}
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
wait:
	for range n * changes {
		select {
		case <-got:
		case <-deadline:
			break wait
		}
	}
	close(stop)
	wg.Wait()
	return enc.Encode(&rep)
}

// signatures verifies each distinct signed frame once for all the
// simulated gates. Every gate of the event receives the very same signed
// batch frame; a real gate verifies it on its own CPU, but a thousand
// simulated ones verifying it on the two cores they share with the node
// would measure this process, not the node. So the first gate to receive a
// frame verifies it (wire.Trust.Decode) while the others wait for that
// verdict, then parse it as the unsigned frame it wraps (wire.Decode:
// bounds, order, checksum), as before protocol 5.
type signatures struct {
	mu sync.Mutex // guards ok
	ok map[string]*verdict
}

type verdict struct {
	once sync.Once
	err  error
}

// check verifies frame with trust, once per distinct frame.
func (s *signatures) check(trust *wire.Trust, frame []byte) error {
	s.mu.Lock()
	v := s.ok[string(frame)]
	if v == nil {
		v = &verdict{}
		s.ok[string(frame)] = v
	}
	s.mu.Unlock()
	v.once.Do(func() { _, v.err = trust.Decode(frame) })
	return v.err
}

// gateLoop is one simulated gate: it keeps its replica's running checksum
// in memory and applies every batch as a gate does (signature verified —
// once per distinct frame, see signatures — checksums checked, running
// checksum advanced and compared with the fleet's).
func gateLoop(url string, replicaKey ed25519.PublicKey, checked *signatures, id string, key ed25519.PrivateKey, synced chan<- error, stop <-chan struct{}, applied func(ticket string, at int64, bad bool)) error {
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		return err
	}
	go func() { <-stop; ws.Close() }()
	var ch wire.Message
	if err := ws.ReadJSON(&ch); err != nil || ch.Challenge == nil {
		return fmt.Errorf("%s: no challenge: %v", id, err)
	}
	nonce := make([]byte, 32)
	crand.Read(nonce)
	h := &wire.Hello{Protocol: wire.ProtocolVersion, Device: id, Cursors: map[string]wire.Cursor{"gala": {}}, Nonce: nonce}
	h.Signature = ed25519.Sign(key, h.SigningBytes(ch.Challenge.Nonce))
	if err := ws.WriteJSON(&wire.Message{Type: wire.TypeHello, Hello: h}); err != nil {
		return err
	}
	trust := &wire.Trust{ReplicaKey: replicaKey, Session: wire.Session{Device: id, Nonce: nonce}}
	first := true
	var cursor int64
	var running uint64
	var buf bytes.Buffer // reused: 1,000 gates share two cores with the node
	for {
		_, r, err := ws.NextReader()
		if err == nil {
			buf.Reset()
			_, err = buf.ReadFrom(r)
		}
		data := buf.Bytes()
		if err != nil {
			select {
			case <-stop:
				return nil
			default:
				return fmt.Errorf("%s: %w", id, err)
			}
		}
		var m *wire.Message
		if len(data) > 1+ed25519.SignatureSize && data[0] == 0x03 { // a signed batch (wire's sign.go)
			if err := checked.check(trust, data); err != nil {
				return err
			}
			// The batch's own frame follows the type byte and signature.
			m, err = wire.Decode(data[1+ed25519.SignatureSize:]) // validates the batch checksum
		} else {
			m, err = trust.Decode(data)
		}
		if err != nil {
			return err
		}
		b := m.Batch
		if b == nil {
			continue
		}
		if b.From != cursor {
			applied("", 0, true)
			continue
		}
		run := wire.RunningChecksum(running, b.Changes)
		if run != b.Running {
			applied("", 0, true)
			continue
		}
		cursor, running = b.To, run
		now := time.Now().UnixNano()
		if first {
			first = false
			synced <- nil // the initial log (the event's key) arrived
		}
		for _, c := range b.Changes {
			if c.Ticket != nil && strings.HasPrefix(c.Ticket.ID, "P") {
				applied(c.Ticket.ID, now, false)
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
	k, _, err := kek.Generate() // a scratch schema: a scratch key
	if err != nil {
		return 0, err
	}
	st, err := postgres.Open(ctx, dsn+sep+"search_path="+schema, k)
	if err != nil {
		return 0, err
	}
	defer st.Close()
	return measureIngestion(ctx, st, total)
}
