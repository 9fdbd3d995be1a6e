package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestConfigFile: the flags come from /etc/admit/fleet.json's stand-in
// where the command line does not set them; -host takes a list; a DSN
// (which may hold a password) in a file others can read is refused.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "fleet.json")
	if err := os.WriteFile(cfg, []byte(`{"data": "/var/lib/admit/fleet", "addr": "0.0.0.0:8443", "host": ["fleet.example", "10.1.2.3"], "public-url": "https://fleet.example:8443"}`), 0o640); err != nil {
		t.Fatal(err)
	}
	m := &Main{DefaultConfig: cfg}
	if err := m.ParseFlags([]string{"-addr", "127.0.0.1:9000"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if m.Config != cfg || m.DataDir != "/var/lib/admit/fleet" || m.Addr != "127.0.0.1:9000" || m.PublicURL != "https://fleet.example:8443" ||
		!slices.Equal(m.Hosts, []string{"fleet.example", "10.1.2.3"}) {
		t.Fatalf("from the file: %+v", m)
	}
	if err := os.WriteFile(cfg, []byte(`{"postgres": "postgres://admit:secret@db/admit"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (&Main{DefaultConfig: cfg}).ParseFlags(nil, io.Discard); err == nil {
		t.Fatal("a DSN in a world-readable config file was accepted")
	}
}
