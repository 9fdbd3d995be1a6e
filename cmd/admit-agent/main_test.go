package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/node"
	"admit/fleet/wire"
	"admit/internal/testwait"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// run parses args and runs the program until stop is called.
func run(t *testing.T, args ...string) (stop func() error) {
	t.Helper()
	m := &Main{Log: quiet}
	if err := m.ParseFlags(args, io.Discard); err != nil {
		t.Fatalf("ParseFlags %v: %v", args, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	return func() error { cancel(); return <-done }
}

// TestEnrollThenRestart: admit-agent -enroll QRTEXT enrolls with a fleet
// that requires enrollment and serves TLS from its own CA, keeps the key
// and the CA pin in its data directory (0600), and streams; started again
// without the code (and without -device or -fleet), it uses them.
func TestEnrollThenRestart(t *testing.T) {
	ctx := context.Background()
	n, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: quiet, RequireEnrollment: true,
		TLS: node.TLSConfig{AutoCA: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	if _, err := n.Service.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		t.Fatal(err)
	}
	token, _, err := n.Service.CreateEnrollment(ctx, fleet.Enrollment{Device: "gate-1", Gate: "Gate 1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	code := wire.EnrollURI{Fleet: n.URL(), Token: token, CAFingerprint: n.CAFingerprint}.String()
	dir := filepath.Join(t.TempDir(), "gate")
	common := []string{"-event", "gala", "-data", dir, "-camera", "", "-sim-pins", "-status-addr", "", "-peer-addr", ""}

	if err := (&Main{}).ParseFlags(common, io.Discard); err == nil {
		t.Fatal("neither -device nor -enroll nor an identity: accepted")
	}
	stop := run(t, append([]string{"-enroll", code}, common...)...)
	testwait.For(t, "the enrolled gate's stream", func() bool { return n.Hub.ConnectedDevice("gate-1") })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, identityFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v %v", st.Mode(), err)
	}
	id, err := loadIdentity(dir)
	if err != nil || id.Device != "gate-1" || id.Gate != "Gate 1" || id.Fleet != n.AgentURL() || len(id.pin()) != 32 {
		t.Fatalf("identity %+v %v", id, err)
	}
	testwait.For(t, "the fleet to see the first session end", func() bool { return !n.Hub.ConnectedDevice("gate-1") })

	// Later starts: the stored key and pin (the token is spent).
	stop = run(t, common...)
	testwait.For(t, "the restarted gate's stream", func() bool { return n.Hub.ConnectedDevice("gate-1") })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	// A wrong -device for this identity is refused.
	m := &Main{Log: quiet}
	if err := m.ParseFlags(append([]string{"-device", "gate-2"}, common...), io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(ctx); err == nil {
		t.Fatal("ran as gate-2 with gate-1's identity")
	}
}
