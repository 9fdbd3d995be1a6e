package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
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
	n, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: quiet, RequireEnrollment: true}) // TLS, its own CA: the default
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	if _, err := n.Service.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		t.Fatal(err)
	}
	token, _, err := n.Service.CreateEnrollment(ctx, fleet.Enrollment{Device: "gate-1", Gate: "Gate 1", Events: []string{"gala"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	code := wire.EnrollURI{Fleet: n.URL(), Token: token, CAFingerprint: n.CAFingerprint, ReplicaKey: n.ReplicaKey}.String()
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
	if err != nil || id.Device != "gate-1" || id.Gate != "Gate 1" || id.Fleet != n.AgentURL() || len(id.pin()) != 32 ||
		!bytes.Equal(id.ReplicaKey, n.ReplicaKey) {
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

// TestReplicaKeyTakenOverPinnedTLS: a gate enrolled before protocol 5
// holds no replica key; it takes the fleet's over its pinned TLS link and
// keeps it in its identity file, for every later start.
func TestReplicaKeyTakenOverPinnedTLS(t *testing.T) {
	ctx := context.Background()
	n, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: quiet, RequireEnrollment: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	if _, err := n.Service.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		t.Fatal(err)
	}
	pub, key, _ := ed25519.GenerateKey(nil)
	if _, err := n.Service.PreEnroll(ctx, fleet.Device{ID: "gate-1", Gate: "Gate 1", Events: []string{"gala"}, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "gate")
	old := &identity{Device: "gate-1", Gate: "Gate 1", Key: key, CAFingerprint: hex.EncodeToString(n.CAFingerprint), Fleet: n.AgentURL()}
	if err := old.save(dir); err != nil {
		t.Fatal(err)
	}
	stop := run(t, "-event", "gala", "-data", dir, "-camera", "", "-sim-pins", "-status-addr", "", "-peer-addr", "")
	testwait.For(t, "the replica key in the identity file", func() bool {
		id, err := loadIdentity(dir)
		return err == nil && bytes.Equal(id.ReplicaKey, n.ReplicaKey)
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestPlainFleetNeedsInsecure: an enrollment code naming a plain http://
// fleet is refused (the token would cross the network in the clear), and
// so is a ws:// fleet URL, unless the gate is started with -insecure.
func TestPlainFleetNeedsInsecure(t *testing.T) {
	ctx := context.Background()
	n, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: quiet, RequireEnrollment: true, Insecure: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	if _, err := n.Service.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		t.Fatal(err)
	}
	token, _, err := n.Service.CreateEnrollment(ctx, fleet.Enrollment{Device: "gate-1", Gate: "Gate 1", Events: []string{"gala"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	code := wire.EnrollURI{Fleet: n.URL(), Token: token, ReplicaKey: n.ReplicaKey}.String()
	dir := filepath.Join(t.TempDir(), "gate")
	common := []string{"-event", "gala", "-data", dir, "-camera", "", "-sim-pins", "-status-addr", "", "-peer-addr", ""}
	m := &Main{Log: quiet}
	if err := m.ParseFlags(append([]string{"-enroll", code}, common...), io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(ctx); err == nil || !strings.Contains(err.Error(), "in the clear") {
		t.Fatalf("enrolling over http:// without -insecure: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, identityFile)); err == nil {
		t.Fatal("an identity was saved")
	}
	m = &Main{Log: quiet}
	if err := m.ParseFlags(append([]string{"-device", "gate-x", "-fleet", n.AgentURL()}, common...), io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := m.Run(ctx); err == nil || !strings.Contains(err.Error(), "not TLS") {
		t.Fatalf("a ws:// fleet without -insecure: %v", err)
	}
	stop := run(t, append([]string{"-insecure", "-enroll", code}, common...)...)
	testwait.For(t, "the gate enrolled over http:// with -insecure", func() bool { return n.Hub.ConnectedDevice("gate-1") })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestVersionFlag: -version needs no other flag (no event, no enrolled
// identity) and asks main to print the version instead of running a gate.
func TestVersionFlag(t *testing.T) {
	var m Main
	if err := m.ParseFlags([]string{"-version", "-data", t.TempDir()}, io.Discard); err != nil {
		t.Fatalf("-version alone: %v", err)
	}
	if !m.ShowVersion {
		t.Fatal("-version not recorded")
	}
}
