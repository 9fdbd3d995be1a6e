package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"admit/fleet/api/apitest"
	"admit/fleet/operator"
	"admit/internal/testwait"
	"admit/internal/tlspin"
)

// syncBuffer is an output the test reads while the demo writes.
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

// TestRun: the demo prints where its data is, the console URL (which
// answers) and each gate's status URL, then stops cleanly when its
// context ends, as Ctrl-C does.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	var out syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-data", dir, "-gates", "2", "-tickets", "5", "-pace", "50ms"}, &out, io.Discard)
	}()
	testwait.For(t, "the demo to start", func() bool { return strings.Contains(out.String(), "press Ctrl-C to stop") })
	text := out.String()
	if !strings.Contains(text, "fleet and 2 gates running (data in "+dir+")") {
		t.Errorf("no data location in\n%s", text)
	}
	console := regexp.MustCompile(`(?m)^console: (https://127\.0\.0\.1:\d+/)$`).FindStringSubmatch(text)
	if console == nil {
		t.Fatalf("no console URL in\n%s", text)
	}
	fp := regexp.MustCompile(`(?m)^  CA fingerprint \(SHA-256\) ([0-9a-f]{64})$`).FindStringSubmatch(text)
	if fp == nil {
		t.Fatalf("no CA fingerprint in\n%s", text)
	}
	pin, _ := hex.DecodeString(fp[1])
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspin.Config(pin)}}
	resp, err := client.Get(console[1])
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("console: %s", resp.Status)
	}
	// The printed login signs in (password, then the TOTP code of the
	// printed secret).
	login := regexp.MustCompile(`(?m)^  sign in as (\S+), password (\S+), then the TOTP code of secret (\S+)$`).FindStringSubmatch(text)
	if login == nil {
		t.Fatalf("no demo login in\n%s", text)
	}
	seed, err := operator.ParseSecret(login[3])
	if err != nil {
		t.Fatal(err)
	}
	c, err := apitest.Login(strings.TrimSuffix(console[1], "/"), client, login[1], login[2], operator.TOTP(seed, time.Now()))
	if err != nil {
		t.Fatalf("the demo login does not sign in: %v", err)
	}
	if st, _, err := c.Do("GET", "/api/operators", nil, nil); err != nil || st != http.StatusOK {
		t.Fatalf("the demo operator is not an admin: %d %v", st, err)
	}
	for _, gate := range []string{"Gate A", "Gate B"} {
		if !regexp.MustCompile(`(?m)^  ` + gate + ` status: http://127\.0\.0\.1:\d+/status$`).MatchString(text) {
			t.Errorf("no status URL for %s in\n%s", gate, text)
		}
	}
	// The printed staff PIN signs in at a gate (once the gate has its
	// venue data from the fleet).
	staff := regexp.MustCompile(`(?m)^gate staff: sign in at a gate as (\S+), PIN (\d+) `).FindStringSubmatch(text)
	gateA := regexp.MustCompile(`(?m)^  Gate A status: (http://127\.0\.0\.1:\d+)/status$`).FindStringSubmatch(text)
	if staff == nil || gateA == nil {
		t.Fatalf("no staff sign-in or Gate A in\n%s", text)
	}
	testwait.For(t, "Gate A to have its venue data", func() bool {
		resp, err := http.Get(gateA[1] + "/status")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var st struct {
			VenueSynced bool `json:"venue_synced"`
		}
		return json.NewDecoder(resp.Body).Decode(&st) == nil && st.VenueSynced
	})
	resp, err = http.Post(gateA[1]+"/staff/sign-in", "application/json", strings.NewReader(`{"staff":"`+staff[1]+`","pin":"`+staff[2]+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the demo staff's sign-in at Gate A: %s", resp.Status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.HasSuffix(out.String(), "admit demo: stopped\n") {
		t.Errorf("not stopped cleanly:\n%s", out.String())
	}
}
