package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"admit/fleet/kek"
	"admit/internal/testwait"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// output collects what the program prints, from its goroutine.
type output struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (o *output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}

// start runs admit-fleet with args until it has printed its replica key
// (it is serving), and returns what it printed and how to stop it; Run's
// error ends the test unless it started.
func start(t *testing.T, env map[string]string, args ...string) (*output, func() error) {
	t.Helper()
	m := &Main{Log: quiet, Env: func(k string) string { return env[k] }}
	if err := m.ParseFlags(args, io.Discard); err != nil {
		t.Fatalf("ParseFlags %v: %v", args, err)
	}
	out := &output{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, out) }()
	var err error
	testwait.For(t, "admit-fleet to serve", func() bool {
		select {
		case err = <-done:
			return true
		default:
			return strings.Contains(out.String(), "admit-fleet: replica key")
		}
	})
	if err != nil {
		t.Fatalf("admit-fleet %v: %v", args, err)
	}
	return out, func() error { cancel(); return <-done }
}

// TestTLSByDefault: with no TLS flag the node serves HTTPS with its own CA
// and prints which names its certificate covers; listening on every
// address it covers the machine's addresses too. Its key-encryption key
// is created 0600 in the data directory, and its database is 0600.
func TestTLSByDefault(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "fleet")
	out, stop := start(t, nil, "-data", dir, "-addr", "0.0.0.0:0")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	for _, want := range []string{"console https://", "agents wss://", "TLS certificate for localhost, 127.0.0.1", "CA fingerprint (SHA-256)"} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "INSECURE") {
		t.Errorf("a TLS node printed an insecure warning:\n%s", text)
	}
	for _, name := range []string{"kek", "fleet.db"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want 0600", name, st.Mode(), err)
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data directory %v %v, want 0700", st.Mode(), err)
	}
	// An existing directory open to everyone is closed to others.
	open := t.TempDir()
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	_, stop = start(t, nil, "-data", open, "-addr", "127.0.0.1:0")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(open); err != nil || st.Mode().Perm() != 0o750 {
		t.Errorf("a data directory left 0755: now %v %v, want 0750", st.Mode(), err)
	}
}

// TestInsecureIsLoud: plain HTTP only with -insecure, which prints its
// warning, louder still when the node is reachable from the network.
func TestInsecureIsLoud(t *testing.T) {
	out, stop := start(t, nil, "-data", t.TempDir(), "-addr", "127.0.0.1:0", "-insecure")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if text := out.String(); !strings.Contains(text, "INSECURE") || !strings.Contains(text, "console http://") || strings.Contains(text, "reachable from the network") {
		t.Fatalf("insecure on loopback:\n%s", text)
	}
	out, stop = start(t, nil, "-data", t.TempDir(), "-addr", "0.0.0.0:0", "-insecure")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if text := out.String(); !strings.Contains(text, "INSECURE and reachable from the network") {
		t.Fatalf("insecure on every address:\n%s", text)
	}
	if err := (&Main{}).ParseFlags([]string{"-insecure", "-tls-cert", "c.pem", "-tls-key", "k.pem"}, io.Discard); err == nil {
		t.Fatal("-insecure with a certificate: accepted")
	}
}

// TestKEKSourcesAndRotation: the KEK comes from -kek-file or ADMIT_KEK
// (not both); "admit-fleet kek rotate" re-seals the store's keys under a
// new one, after which the node starts with the new KEK and no longer
// with the old.
func TestKEKSourcesAndRotation(t *testing.T) {
	dir := t.TempDir()
	oldFile := filepath.Join(t.TempDir(), "kek.old")
	out, stop := start(t, nil, "-data", dir, "-addr", "127.0.0.1:0", "-kek-file", oldFile)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	replicaLine := lineWith(out.String(), "admit-fleet: replica key")
	if _, err := os.Stat(filepath.Join(dir, "kek")); err == nil {
		t.Fatal("a default KEK was made beside the database although -kek-file was given")
	}
	oldText, err := os.ReadFile(oldFile)
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Log: quiet, Env: func(string) string { return string(oldText) }, KEKFile: oldFile}
	if err := m.Run(context.Background(), io.Discard); err == nil || !strings.Contains(err.Error(), "both") {
		t.Fatalf("-kek-file and ADMIT_KEK at once: %v", err)
	}
	// ADMIT_KEK alone opens the same store.
	out, stop = start(t, map[string]string{kek.EnvVar: string(oldText)}, "-data", dir, "-addr", "127.0.0.1:0")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := lineWith(out.String(), "admit-fleet: replica key"); got != replicaLine {
		t.Fatalf("through ADMIT_KEK: %q, want %q", got, replicaLine)
	}

	newFile := filepath.Join(t.TempDir(), "kek.new")
	var rot bytes.Buffer
	if err := kekMain(context.Background(), []string{"rotate", "-data", dir, "-kek-file", oldFile, "-new-kek-file", newFile}, &rot, io.Discard); err != nil {
		t.Fatalf("kek rotate: %v\n%s", err, rot.String())
	}
	if !strings.Contains(rot.String(), "1 private keys re-sealed") { // the replica key: no event yet
		t.Fatalf("kek rotate said:\n%s", rot.String())
	}
	out, stop = start(t, nil, "-data", dir, "-addr", "127.0.0.1:0", "-kek-file", newFile)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := lineWith(out.String(), "admit-fleet: replica key"); got != replicaLine {
		t.Fatalf("after rotation: %q, want %q", got, replicaLine)
	}
	m = &Main{Log: quiet, DataDir: dir, Addr: "127.0.0.1:0", KEKFile: oldFile}
	if err := m.Run(context.Background(), io.Discard); err == nil || !strings.Contains(err.Error(), "another key-encryption key") {
		t.Fatalf("the old KEK after rotation: %v", err)
	}
}

func lineWith(text, s string) string {
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return l
		}
	}
	return ""
}
