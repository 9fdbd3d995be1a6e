package agent_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"admit/agent"
	"admit/fleet/wire"
	"admit/hal"
	"admit/internal/testwait"
)

// The kill test re-executes this test binary as a child that runs a real
// gate (TestMain dispatches on childEnv) and SIGKILLs it.
const childEnv = "ADMIT_AGENT_KILL_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(killChild())
	}
	os.Exit(m.Run())
}

// appendSync appends one line to path with O_SYNC, so the line is on disk
// before the call returns and survives the kill that may follow.
func appendSync(path, line string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_SYNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(line + "\n")
	return err
}

// syncRelay records every pulse before it returns: a pulse is the gate
// acting on a decision.
type syncRelay struct{ path string }

func (r syncRelay) Pulse(ctx context.Context, d time.Duration) error {
	return appendSync(r.path, "pulse")
}

// killChild is the child's main: a gate presenting every code of the burst
// in order, recording each decision it acted on, until killed; once the
// burst is done and the journal drained, it writes "done".
func killChild() int {
	dir := os.Getenv("KILL_DIR")
	fail := func(err error) int {
		appendSync(filepath.Join(dir, "child-errors"), err.Error())
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	raw, err := os.ReadFile(filepath.Join(dir, "codes"))
	if err != nil {
		return fail(err)
	}
	codes := strings.Split(string(raw), "\n") // base45 has spaces: one code a line
	decisions := filepath.Join(dir, "decisions")
	a, err := agent.Open(ctx, agent.Config{
		Device: "gate-k", Gate: "Gate K", Event: os.Getenv("KILL_EVENT"), DataDir: filepath.Join(dir, "gate"),
		FleetURL: os.Getenv("KILL_FLEET"), Relay: syncRelay{filepath.Join(dir, "pulses")}, Log: quiet,
		OnDecision: func(d agent.Decision) {
			out := wire.Refused
			if d.Admitted {
				out = wire.Admitted
			}
			if err := appendSync(decisions, fmt.Sprintf("%d %s %s", d.Seq, out, d.TicketID)); err != nil {
				panic(err)
			}
		},
	})
	if err != nil {
		return fail(err)
	}
	defer a.Close()
	done := make(chan struct{})
	go func() { defer close(done); a.Run(ctx) }()
	last := codes[len(codes)-1]
	for {
		st, _ := a.DB().State(ctx, os.Getenv("KILL_EVENT"), lastID(last))
		if st.Type != "" {
			break
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(2 * time.Millisecond):
		}
	}
	for _, c := range codes {
		if _, err := a.Present(ctx, hal.Credential{Source: "nfc0", Payload: []byte(c)}); err != nil {
			return fail(err)
		}
	}
	for {
		n, err := a.DB().Backlog(ctx)
		if err != nil {
			return fail(err)
		}
		if n == 0 {
			break
		}
		select {
		case <-ctx.Done():
			return 0
		case <-time.After(2 * time.Millisecond):
		}
	}
	appendSync(filepath.Join(dir, "done"), "done")
	<-ctx.Done()
	<-done
	return 0
}

// lastID is set by the parent through KILL_LAST_ID (the child cannot
// parse claims without verifying).
func lastID(string) string { return os.Getenv("KILL_LAST_ID") }

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

// TestKill9DuringBurst: a gate is SIGKILLed at random points of a scan
// burst, several times, then left to finish. Every decision it acted on is
// in the journal and reaches the fleet exactly once; no ticket is admitted
// twice; the relay never pulsed for a decision the fleet has not recorded.
func TestKill9DuringBurst(t *testing.T) {
	const burst = 40
	f := startFleet(t, t.TempDir(), burst, "single")
	dir := t.TempDir()
	var codes []string
	for _, tk := range f.tickets {
		codes = append(codes, tk.Code)
	}
	// Each run presents the whole burst again: the already-used ones are
	// refused, which journals more decisions to be killed in the middle of.
	if err := os.WriteFile(filepath.Join(dir, "codes"), []byte(strings.Join(codes, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	decisions := filepath.Join(dir, "decisions")
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", "KILL_DIR="+dir, "KILL_FLEET="+f.wsURL(),
			"KILL_EVENT="+f.event, "KILL_LAST_ID="+f.tickets[burst-1].ID)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	const kills = 5
	for i := range kills {
		before := countLines(decisions)
		cmd := start()
		target := before + 1 + rng.IntN(burst)
		testwait.For(t, "decisions before the kill", func() bool {
			return countLines(decisions) >= target || countLines(filepath.Join(dir, "child-errors")) > 0
		})
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		t.Logf("kill %d after %d decisions", i+1, countLines(decisions)-before)
	}
	cmd := start()
	testwait.For(t, "the last run to finish and drain", func() bool {
		return countLines(filepath.Join(dir, "done")) > 0 || countLines(filepath.Join(dir, "child-errors")) > 0
	})
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if b, err := os.ReadFile(filepath.Join(dir, "child-errors")); err == nil {
		t.Fatalf("child failed: %s", b)
	}

	fleetBySeq := map[int64]wire.Scan{}
	admitted := map[string]int{}
	for _, s := range f.scans(t) {
		if s.Device != "gate-k" {
			continue
		}
		fleetBySeq[s.Seq] = s.Scan
		if s.Outcome == wire.Admitted {
			admitted[s.TicketID]++
		}
	}
	fh, err := os.Open(decisions)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	acted := 0
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			t.Fatalf("torn decision line %q", sc.Text())
		}
		seq, _ := strconv.ParseInt(fields[0], 10, 64)
		s, ok := fleetBySeq[seq]
		if !ok {
			t.Fatalf("decision %q was acted on but never reached the fleet", sc.Text())
		}
		id := ""
		if len(fields) > 2 {
			id = fields[2]
		}
		if s.Outcome != fields[1] || s.TicketID != id {
			t.Fatalf("decision %q recorded by the fleet as %+v", sc.Text(), s)
		}
		acted++
	}
	for id, n := range admitted {
		if n != 1 {
			t.Fatalf("ticket %s admitted %d times", id, n)
		}
	}
	reasons := map[string]int{}
	for _, s := range fleetBySeq {
		reasons[s.Outcome+"/"+s.Reason]++
	}
	t.Logf("fleet: %v", reasons)
	if len(admitted) != burst {
		t.Fatalf("%d tickets admitted at the fleet, want all %d", len(admitted), burst)
	}
	total := 0
	for range admitted {
		total++
	}
	if p := countLines(filepath.Join(dir, "pulses")); p > total {
		t.Fatalf("relay pulsed %d times, fleet recorded %d admissions", p, total)
	}
	// The gate's journal was compacted after the fleet acknowledged it.
	t.Logf("%d decisions acted on, %d scans at the fleet, %d pulses", acted, len(fleetBySeq), countLines(filepath.Join(dir, "pulses")))
}
