package ui_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"admit/agent/gatedb"
	"admit/agent/uplink"
	"admit/fleet"
	"admit/fleet/node"
	"admit/internal/sqlitedb"
)

// chromium finds a headless-capable Chromium.
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("no Chromium on PATH: CI must run the browser test (make test installs Debian's chromium)")
	}
	t.Skip("no Chromium on PATH (apt-get install chromium, or run make test)")
	return ""
}

// runChromium runs a headless Chromium with args plus the page URL and
// returns its standard output.
func runChromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + t.TempDir()}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return string(out)
}

// TestConsoleDevicesPanel starts a fleet node with four devices — one in
// sync with its group's config, one that failed to apply it (drift), one
// never connected, one revoked — loads the console in headless Chromium and
// checks the devices panel: gate, state, applied/desired versions, drift
// highlighted.
func TestConsoleDevicesPanel(t *testing.T) {
	bin := chromium(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	nd, err := node.Open(ctx, node.Config{DataDir: filepath.Join(dir, "fleet"), Addr: "127.0.0.1:0", Log: quiet, RequireEnrollment: true})
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close(context.Background())
	st := nd.Service.Store
	now := time.Now()
	keys := map[string]ed25519.PrivateKey{}
	for _, d := range []fleet.Device{
		{ID: "north-1", Name: "North lane 1", Gate: "North", Group: "lanes"},
		{ID: "north-2", Name: "North lane 2", Gate: "North", Group: "lanes"},
		{ID: "vip-handheld", Gate: "VIP", Group: "handhelds"},
		{ID: "old-3", Gate: "South", Group: "lanes"},
	} {
		seed := make([]byte, ed25519.SeedSize)
		copy(seed, d.ID)
		keys[d.ID] = ed25519.NewKeyFromSeed(seed)
		d.PublicKey, d.CreatedAt = keys[d.ID].Public().(ed25519.PublicKey), now
		if err := st.PutDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RevokeDevice(ctx, "old-3", now); err != nil {
		t.Fatal(err)
	}
	if _, err := st.PutConfig(ctx, "group:lanes", json.RawMessage(`{"beep":true}`), now); err != nil {
		t.Fatal(err)
	}
	// north-1 applies the config; north-2 refuses it.
	for _, id := range []string{"north-1", "north-2"} {
		db, err := gatedb.Open(ctx, filepath.Join(dir, id+".db"), sqlitedb.SyncNormal)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		opts := uplink.Options{URL: nd.AgentURL(), CAFingerprint: nd.CAFingerprint, ReplicaKey: nd.ReplicaKey,
			Device: id, Key: keys[id], DB: db, Log: quiet, Firmware: "1.4.2"}
		if id == "north-2" {
			opts.OnConfig = func(context.Context, int64, json.RawMessage) error { return errors.New("no buzzer on this board") }
		}
		cl := uplink.New(opts)
		done := make(chan struct{})
		go func() { defer close(done); cl.Run(ctx) }()
		defer func() { cancel(); <-done }()
	}
	// Wait (bounded) until both gates have reported on the config.
	deadline := time.Now().Add(20 * time.Second)
	for {
		ds, err := nd.Service.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range ds {
			if (d.ID == "north-1" && d.ConfigVersion == 1) || (d.ID == "north-2" && d.ConfigError != "") {
				n++
			}
		}
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gates did not report their config: %+v", ds)
		}
		time.Sleep(20 * time.Millisecond)
	}

	url := nd.URL() + "/"
	// The node's own CA is not the browser's: an operator trusts it once
	// (or the node has a public certificate); the test lets it through.
	dom := runChromium(t, bin, "--ignore-certificate-errors", "--virtual-time-budget=5000", "--dump-dom", url)
	row := func(id string) string {
		m := regexp.MustCompile(`(?s)<tr[^>]*data-device="` + regexp.QuoteMeta(id) + `"[^>]*>.*?</tr>`).FindString(dom)
		if m == "" {
			t.Fatalf("no row for %s in the devices panel:\n%s", id, dom)
		}
		return m
	}
	for id, want := range map[string][]string{
		"north-1":      {"North", "st-connected", "v1 / v1", "1.4.2"},
		"north-2":      {`class="drift"`, "North", "st-connected", "v0 / v1", "drift: no buzzer on this board"},
		"vip-handheld": {"VIP", "never connected", "v0 / v0"},
		"old-3":        {"South", "revoked"},
	} {
		r := row(id)
		for _, w := range want {
			if !strings.Contains(r, w) {
				t.Errorf("row of %s lacks %q:\n%s", id, w, r)
			}
		}
	}
	if r := row("north-1"); strings.Contains(r, "drift") {
		t.Errorf("north-1 is in sync, shown drifting:\n%s", r)
	}
	if !strings.Contains(dom, "4 devices, 1 drifting") {
		t.Errorf("devices summary missing:\n%s", dom)
	}
	if shot := os.Getenv("ADMIT_UI_SCREENSHOT"); shot != "" {
		runChromium(t, bin, "--ignore-certificate-errors", "--virtual-time-budget=5000", "--window-size=1100,700", "--screenshot="+shot, url)
	}
}

// TestConsoleInsecureBanner: a node serving plain HTTP (-insecure) shows
// it on every console page, in a red banner; a TLS node shows none.
func TestConsoleInsecureBanner(t *testing.T) {
	bin := chromium(t)
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	banner := regexp.MustCompile(`<div id="insecure"( hidden="")?>([^<]*)</div>`)
	for _, insecure := range []bool{true, false} {
		nd, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: quiet, Insecure: insecure})
		if err != nil {
			t.Fatal(err)
		}
		dom := runChromium(t, bin, "--ignore-certificate-errors", "--virtual-time-budget=3000", "--dump-dom", nd.URL()+"/")
		nd.Close(ctx)
		m := banner.FindStringSubmatch(dom)
		if m == nil {
			t.Fatalf("insecure=%v: no banner element in\n%s", insecure, dom)
		}
		shown := m[1] == "" && strings.Contains(m[2], "INSECURE")
		if shown != insecure {
			t.Fatalf("insecure=%v: banner %q", insecure, m[0])
		}
	}
}
