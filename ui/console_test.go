package ui_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"admit/agent/gatedb"
	"admit/agent/uplink"
	"admit/clock"
	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/api"
	"admit/fleet/api/apitest"
	"admit/fleet/node"
	"admit/fleet/operator"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
	"admit/internal/tlspin"
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

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// TestConsoleDevicesPanel starts a fleet node with four devices — one in
// sync with its group's config, one that failed to apply it (drift), one
// never connected, one revoked — signs an admin in, loads the console in
// headless Chromium and checks the devices panel: gate, state,
// applied/desired versions, drift highlighted with the failed version and
// the gate's reason, the firmware each reported.
func TestConsoleDevicesPanel(t *testing.T) {
	bin := chromium(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir := t.TempDir()
	nd, err := node.Open(ctx, node.Config{DataDir: filepath.Join(dir, "fleet"), Addr: "127.0.0.1:0", Log: quiet, RequireEnrollment: true,
		Operators: operator.Service{Argon2: apitest.FastArgon2}})
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
	if _, err := st.PutConfig(ctx, "group:lanes", json.RawMessage(`{"buzzer":true}`), now); err != nil {
		t.Fatal(err)
	}
	// north-1 applies the config; north-2 refuses it.
	var running atomic.Pointer[wire.GateConfig] // what north-1 runs
	for _, id := range []string{"north-1", "north-2"} {
		db, err := gatedb.Open(ctx, filepath.Join(dir, id+".db"), sqlitedb.SyncNormal)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		opts := uplink.Options{URL: nd.AgentURL(), CAFingerprint: nd.CAFingerprint, ReplicaKey: nd.ReplicaKey,
			Device: id, Key: keys[id], DB: db, Log: quiet, Firmware: "1.4.2"}
		// north-1 applies the config: it checks it as a gate does and runs
		// on it (all this stand-in of a gate has is the config it runs).
		opts.OnConfig = func(_ context.Context, _ int64, body json.RawMessage) error {
			c, err := wire.ParseGateConfig(body)
			if err == nil {
				running.Store(&c)
			}
			return err
		}
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

	pinned := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspin.Config(nd.CAFingerprint)}}
	admin := apitest.SignIn(t, nd.URL(), pinned, nd.Operators, time.Now(), "root", access.Grant{Role: access.Admin, Event: access.AllEvents})
	if c := running.Load(); c == nil || c.Buzzer == nil || !*c.Buzzer {
		t.Fatalf("north-1 runs %+v, want the group's config", c)
	}
	b := newBrowser(t, bin)
	b.setCookie(nd.URL(), api.SessionCookie, admin.Session)
	b.navigate(nd.URL() + "/")
	b.waitFor("the devices panel", `document.getElementById("dev-status").textContent.includes("devices,")`)
	var dom string
	b.eval(`document.documentElement.outerHTML`, &dom)
	row := func(id string) string {
		m := regexp.MustCompile(`(?s)<tr[^>]*data-device="` + regexp.QuoteMeta(id) + `"[^>]*>.*?</tr>`).FindString(dom)
		if m == "" {
			t.Fatalf("no row for %s in the devices panel:\n%s", id, dom)
		}
		return m
	}
	for id, want := range map[string][]string{
		"north-1":      {"North", "st-connected", "v1 / v1", "1.4.2"},
		"north-2":      {`class="drift"`, "North", "st-connected", "v0 / v1", "failed v1: no buzzer on this board", "1.4.2"},
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
	b.screenshot("console-devices")
}

// TestConsoleSignIn drives the console in headless Chromium on a node
// whose clock the test holds, so it computes the TOTP codes: the first
// admin's setup link (QR, password, code, recovery codes shown once); an
// operator's sign-in with password and code, a wrong code refused with a
// message, the pages its role cannot use hidden; sign-out; and the
// lock-out after repeated wrong codes. Screenshots of each step are saved.
func TestConsoleSignIn(t *testing.T) {
	bin := chromium(t)
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC))
	nd, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: quiet, Clock: clk,
		Operators: operator.Service{Argon2: apitest.FastArgon2}})
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close(context.Background())
	b := newBrowser(t, bin)

	// First start: the setup link enrols the first admin.
	link, err := nd.SetupLink(ctx)
	if err != nil || !strings.Contains(link, "/setup.html#token=") {
		t.Fatalf("setup link %q %v", link, err)
	}
	b.navigate(link)
	b.waitFor("the enrolment QR", `document.getElementById("qr").naturalWidth > 0`)
	if got := b.text("#operator"); got != "admin" {
		t.Fatalf("setup page for %q", got)
	}
	var hash string
	b.eval(`location.hash`, &hash)
	if hash != "" {
		t.Errorf("the setup token stays in the address bar: %q", hash)
	}
	seed, err := operator.ParseSecret(b.text("#secret"))
	if err != nil {
		t.Fatal(err)
	}
	b.screenshot("setup-qr")
	b.fill("#password", apitest.Password)
	b.fill("#password2", apitest.Password)
	b.fill("#code", operator.TOTP(seed, clk.Now()))
	b.click("#setup-form button")
	b.waitFor("the recovery codes", `document.querySelectorAll("#codes li").length === 10`)
	b.screenshot("setup-recovery-codes")
	b.navigate(nd.URL() + "/")
	b.waitFor("the admin's console", `!document.getElementById("app").classList.contains("hidden") && document.getElementById("who").textContent.includes("admin")`)
	if !b.visible("#operators-panel") || !b.visible("#audit-panel") {
		t.Error("the admin does not see the operators and audit panels")
	}
	b.click("#signout")
	b.waitFor("the sign-in form", `!document.getElementById("signin").classList.contains("hidden")`)

	// A viewer signs in: password, a wrong code (refused with a
	// message), the right one.
	clk.Advance(operator.TOTPStep)
	viewer := apitest.NewOperator(t, nd.Operators, "ada", access.Grant{Role: access.Viewer, Event: "gala"})
	signInUntilCode := func() {
		b.navigate(nd.URL() + "/")
		b.waitFor("the sign-in form", `!document.getElementById("signin").classList.contains("hidden")`)
		b.fill("#name", "ada")
		b.fill("#password", apitest.Password)
		b.click("#password-submit")
		b.waitFor("the code step", `!document.getElementById("code-form").classList.contains("hidden")`)
	}
	signInUntilCode()
	code := operator.TOTP(viewer, clk.Now())
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	b.fill("#code", wrong)
	b.click("#code-submit")
	b.waitFor("the wrong code refused", `document.getElementById("signin-error").textContent.includes("wrong code")`)
	b.screenshot("signin-wrong-code")
	b.fill("#code", code)
	b.click("#code-submit")
	b.waitFor("the viewer's console", `!document.getElementById("app").classList.contains("hidden")`)
	if who := b.text("#who"); !strings.Contains(who, "signed in as ada") {
		t.Fatalf("current user shown as %q", who)
	}
	if !b.visible("#scans-panel") || !b.visible("#devices-panel") || b.visible("#operators-panel") || b.visible("#tokens-panel") || b.visible("#audit-panel") {
		t.Error("a viewer sees the wrong panels")
	}
	var cookieVisible bool
	b.eval(`document.cookie.includes("admit")`, &cookieVisible)
	if cookieVisible {
		t.Error("the session cookie is readable by scripts")
	}
	b.screenshot("signed-in-viewer")
	b.click("#signout")
	b.waitFor("signed out", `document.getElementById("signin-error").textContent.includes("Signed out")`)

	// Repeated wrong codes lock the account, with the time to retry.
	clk.Advance(operator.TOTPStep)
	signInUntilCode()
	for i := 0; i < operator.AccountFailures; i++ {
		b.fill("#code", wrong)
		b.click("#code-submit")
		if i < operator.AccountFailures-1 {
			b.waitFor("the refusal", `document.getElementById("signin-error").textContent.includes("wrong code") && document.getElementById("code").value === ""`)
			b.eval(`document.getElementById("signin-error").textContent = ""`, nil)
		}
	}
	b.waitFor("the lock-out", `document.getElementById("signin-error").textContent.includes("locked, try again in 15m0s")`)
	b.screenshot("signin-locked")
	// Even the right code is refused now.
	b.fill("#password", apitest.Password)
	b.click("#password-submit")
	b.waitFor("still locked", `document.getElementById("signin-error").textContent.includes("locked")`)
}

// TestConsoleInsecureBanner: a node serving plain HTTP (-insecure) says so
// on every console page, in a red banner, before anyone signs in; a TLS
// node shows none.
func TestConsoleInsecureBanner(t *testing.T) {
	bin := chromium(t)
	ctx := context.Background()
	for _, insecure := range []bool{true, false} {
		nd, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: quiet, Insecure: insecure})
		if err != nil {
			t.Fatal(err)
		}
		b := newBrowser(t, bin)
		b.navigate(nd.URL() + "/")
		b.waitFor("the sign-in form", `!document.getElementById("signin").classList.contains("hidden")`)
		if insecure {
			b.waitFor("the insecure banner", `!document.getElementById("insecure").hidden`)
			if got := b.text("#insecure"); !strings.Contains(got, "INSECURE") {
				t.Fatalf("banner %q", got)
			}
			b.screenshot("console-insecure-banner")
		} else {
			// /api/node has answered once the sign-in form shows (it is
			// asked first); give it the same chance to show a banner.
			var shown bool
			b.eval(`fetch("/api/node").then(r => r.json()).then(() => !document.getElementById("insecure").hidden)`, &shown)
			if shown {
				t.Fatal("a TLS node shows the insecure banner")
			}
		}
		nd.Close(ctx)
	}
}

// TestConsoleContestsPanel: the contests gates reported (a claim lost at
// the same moment, a double admission across a partition) are listed in
// the console, the double admission highlighted.
func TestConsoleContestsPanel(t *testing.T) {
	bin := chromium(t)
	ctx := context.Background()
	nd, err := node.Open(ctx, node.Config{DataDir: filepath.Join(t.TempDir(), "fleet"), Addr: "127.0.0.1:0", Log: quiet,
		Operators: operator.Service{Argon2: apitest.FastArgon2}})
	if err != nil {
		t.Fatal(err)
	}
	defer nd.Close(context.Background())
	at := time.Now().UTC().Truncate(time.Millisecond)
	side := func(d, gate string) wire.ContestSide { return wire.ContestSide{Device: d, Gate: gate, At: at} }
	if err := nd.Service.Store.RecordContests(ctx, "north-2", []wire.Contest{
		{ID: 1, Event: "gala", TicketID: "T0001", Kind: wire.ContestClaim, First: side("north-1", "North 1"), Second: side("north-2", "North 2"), Noticed: at},
		{ID: 2, Event: "gala", TicketID: "T0002", Kind: wire.ContestEntry, First: side("north-1", "North 1"), Second: side("south-1", "South 1"), Noticed: at},
	}, at); err != nil {
		t.Fatal(err)
	}
	pinned := &http.Client{Transport: &http.Transport{TLSClientConfig: tlspin.Config(nd.CAFingerprint)}}
	admin := apitest.SignIn(t, nd.URL(), pinned, nd.Operators, time.Now(), "root", access.Grant{Role: access.Admin, Event: access.AllEvents})
	b := newBrowser(t, bin)
	b.setCookie(nd.URL(), api.SessionCookie, admin.Session)
	b.navigate(nd.URL() + "/")
	b.waitFor("the contests panel", `document.getElementById("contest-status").textContent.includes("contested")`)
	var dom string
	b.eval(`document.getElementById("contests-panel").outerHTML`, &dom)
	for _, want := range []string{"2 contested, 1 admitted twice", "gala / T0001", "claimed at two gates at once", "North 2 (north-2)",
		`class="contest-entry"`, "gala / T0002", "admitted twice: the gates could not reach each other", "South 1 (south-1)"} {
		if !strings.Contains(dom, want) {
			t.Errorf("the contests panel lacks %q:\n%s", want, dom)
		}
	}
	b.screenshot("console-contests")
}
