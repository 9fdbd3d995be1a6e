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

	"admit/fleet/qrimage"
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
	var logs syncBuffer
	m := &Main{Log: slog.New(slog.NewTextHandler(&logs, nil))}
	args := []string{"-device", "gate-1", "-event", "gala", "-data", filepath.Join(t.TempDir(), "gate"),
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
