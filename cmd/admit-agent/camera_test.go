package main

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"admit/agent/gatedb"
	"admit/fleet/qrimage"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
	"admit/internal/testwait"
)

// syncBuffer is a log sink the test reads while the gate writes.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCameraFolder: -camera with a folder of images reads the code in it
// as a presentation from "camera0", then stops that reader at the end of
// the folder while the gate runs on.
func TestCameraFolder(t *testing.T) {
	pics := t.TempDir()
	png, err := qrimage.PNG("AD1:NOT-A-TICKET", 300)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pics, "a.png"), png, 0o600); err != nil {
		t.Fatal(err)
	}
	// The gate has synced once (an empty event): it decides.
	data := filepath.Join(t.TempDir(), "gate")
	if err := os.MkdirAll(data, 0o750); err != nil {
		t.Fatal(err)
	}
	db, err := gatedb.Open(context.Background(), filepath.Join(data, "gate.db"), sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	first := &wire.Snapshot{Event: "gala", Done: true}
	first.Seal()
	if err := db.Serve(context.Background(), "gala"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ApplySnapshot(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	db.Close()
	var logs syncBuffer
	m := &Main{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	args := []string{"-device", "gate-1", "-event", "gala", "-data", data,
		"-fleet", "", "-camera", pics, "-sim-pins", "-status-addr", "", "-peer-addr", ""}
	if err := m.ParseFlags(args, &logs); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	testwait.For(t, "a decision on the camera's code", func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			if strings.Contains(line, "msg=decision") && strings.Contains(line, "source=camera0") {
				return true
			}
		}
		return false
	})
	testwait.For(t, "the camera's stream to end", func() bool { return strings.Contains(logs.String(), "reader stream ended") })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v\n%s", err, logs.String())
	}
}
