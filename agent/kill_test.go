package agent_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"admit/agent"
	"admit/fleet/wire"
	"admit/hal"
)

// The kill test (TestKill9DuringBurst, with the other end-to-end tests in
// fleet_e2e_test.go) re-executes this test binary as a child that runs a
// real gate against the test's fleet node (TestMain dispatches on
// childEnv) and SIGKILLs it. This file is the child.
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
	pin, err := hex.DecodeString(os.Getenv("KILL_PIN"))
	if err != nil {
		return fail(err)
	}
	rk, err := hex.DecodeString(os.Getenv("KILL_REPLICA_KEY"))
	if err != nil {
		return fail(err)
	}
	a, err := agent.Open(ctx, agent.Config{
		Device: "gate-k", Gate: "Gate K", Event: os.Getenv("KILL_EVENT"), DataDir: filepath.Join(dir, "gate"),
		FleetURL: os.Getenv("KILL_FLEET"), CAFingerprint: pin, ReplicaKey: rk,
		Relay: syncRelay{filepath.Join(dir, "pulses")}, Log: quiet,
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
