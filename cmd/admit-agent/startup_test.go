package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"admit/clock"
	"admit/decode"
	"admit/fleet"
	"admit/fleet/node"
	"admit/fleet/qrimage"
	"admit/fleet/wire"
	"admit/internal/systemd"
	"admit/internal/testwait"
)

// TestEnrollByQRThenAdmit: a gate with no identity and no -enroll shows
// "not enrolled" and reads its camera; the enrollment QR admitctl prints,
// held up to its (virtual) camera, enrolls it with a real fleet node over
// pinned TLS; it then streams, takes the event's tickets and admits one
// shown to the same camera, which the fleet records.
func TestEnrollByQRThenAdmit(t *testing.T) {
	ctx := context.Background()
	n, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: quiet, RequireEnrollment: true})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	if _, err := n.Service.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		t.Fatal(err)
	}
	tickets, err := n.Service.Issue(ctx, fleet.IssueRequest{Event: "gala", Type: "GA", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	token, _, err := n.Service.CreateEnrollment(ctx, fleet.Enrollment{Device: "gate-7", Gate: "Gate 7", Events: []string{"gala"}}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	code := wire.EnrollURI{Fleet: n.URL(), Token: token, CAFingerprint: n.CAFingerprint, ReplicaKey: n.ReplicaKey}.String()

	cam := decode.NewVirtualCamera()
	defer cam.Close()
	dir := filepath.Join(t.TempDir(), "gate")
	var logs syncBuffer
	m := &Main{Log: slog.New(slog.NewTextHandler(&logs, nil)), CameraSource: cam}
	defer func() {
		if t.Failed() {
			t.Logf("gate log:\n%s", logs.String())
		}
	}()
	if err := m.ParseFlags([]string{"-event", "gala", "-data", dir, "-camera", "", "-sim-pins", "-status-addr", "", "-peer-addr", "", "-debounce", "1ms"}, io.Discard); err != nil {
		t.Fatalf("no identity, a camera: %v", err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- m.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	show := func(text string) {
		img, err := qrimage.Render(text, 480)
		if err != nil {
			t.Fatal(err)
		}
		if err := cam.Show(img); err != nil {
			t.Fatal(err)
		}
	}
	show("AD1:A-TICKET-BEFORE-ENROLLMENT") // not an enrollment code: refused, still waiting
	show(code)
	testwait.For(t, "the gate enrolled by QR to stream", func() bool { return n.Hub.ConnectedDevice("gate-7") })
	st, err := os.Stat(filepath.Join(dir, identityFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file: %v %v", st, err)
	}
	id, err := loadIdentity(dir)
	if err != nil || id.Device != "gate-7" || id.Gate != "Gate 7" || !bytes.Equal(id.ReplicaKey, n.ReplicaKey) {
		t.Fatalf("identity %+v %v", id, err)
	}

	// The ticket, shown until the replica has it and the gate admits it.
	testwait.For(t, "the fleet to record the ticket admitted at gate-7", func() bool {
		scans, err := n.Service.Store.RecentScans(ctx, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range scans {
			if s.Device == "gate-7" && s.TicketID == tickets[0].ID && s.Outcome == wire.Admitted {
				return true
			}
		}
		show(tickets[0].Code)
		return false
	})
}

// TestConfigFile: the flags come from the config file where the command
// line does not set them; an unknown key is refused, naming it.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "agent.json")
	write := func(body string) {
		if err := os.WriteFile(cfg, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"device": "gate-1", "event": "gala", "data": "` + filepath.Join(dir, "gate") + `", "camera": "", "sim-pins": true,
	        "status-addr": "", "peer-addr": "", "debounce": "2s", "peers": ["ws://a:8182/peer", "ws://b:8182/peer"]}`)
	m := &Main{DefaultConfig: cfg}
	if err := m.ParseFlags([]string{"-debounce", "5s"}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if m.Config != cfg || m.Event != "gala" || m.Device != "gate-1" || !m.SimPins || m.Camera != "" || m.Debounce != 5*time.Second ||
		m.Peers != "ws://a:8182/peer,ws://b:8182/peer" {
		t.Fatalf("from the file: %+v", m)
	}
	write(`{"event": "gala", "evnet": "cup"}`)
	var stderr bytes.Buffer
	if err := (&Main{}).ParseFlags([]string{"-config", cfg}, &stderr); err == nil || !strings.Contains(stderr.String(), `unknown key "evnet"`) {
		t.Fatalf("unknown key: %v %s", err, stderr.String())
	}
	// An enrollment code in a file others can read is refused.
	write(`{"event": "gala", "enroll": "admit-enroll:?fleet=https://f&token=t"}`)
	if err := os.Chmod(cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := (&Main{}).ParseFlags([]string{"-config", cfg}, io.Discard); err == nil {
		t.Fatal("a secret in a world-readable config file was accepted")
	}
}

// TestDevicesDropIn: admit-agent devices prints the DeviceAllow= lines of
// the configured board and camera.
func TestDevicesDropIn(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(cfg, []byte(`{"event": "gala", "board": "../../build/boards/handheld-spi.json", "camera": "0"}`), 0o640); err != nil {
		t.Fatal(err)
	}
	var out, stderr bytes.Buffer
	if code := devicesMain([]string{"-config", cfg}, &out, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"[Service]\n", "DeviceAllow=/dev/gpiomem rw\n", "DeviceAllow=/dev/i2c-1 rw\n", "DeviceAllow=/dev/spidev0.0 rw\n",
		"DeviceAllow=char-gpiochip rw\n", "DeviceAllow=/dev/video0 rw\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("drop-in lacks %q:\n%s", want, out.String())
		}
	}
}

// TestSystemdNotify: under systemd the gate says READY=1 once it runs,
// feeds the watchdog from its decision loop, and says STOPPING=1 when it
// stops.
func TestSystemdNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	env := map[string]string{"NOTIFY_SOCKET": sock, "WATCHDOG_USEC": "200000"}
	n, err := systemd.NewNotifier(func(k string) string { return env[k] }, os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Log: quiet, Notifier: n}
	if err := m.ParseFlags([]string{"-device", "gate-1", "-event", "gala", "-data", filepath.Join(t.TempDir(), "gate"), "-fleet", "",
		"-camera", "", "-sim-pins", "-status-addr", "", "-peer-addr", ""}, io.Discard); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx) }()
	next := func() string {
		buf := make([]byte, 1024)
		_ = conn.SetReadDeadline(clock.Deadline(10 * time.Second))
		k, err := conn.Read(buf)
		if err != nil {
			t.Fatalf("no notification: %v", err)
		}
		return string(buf[:k])
	}
	if got := next(); got != "READY=1\nSTATUS=gate gate-1 admitting to gala" {
		t.Fatalf("first notification %q", got)
	}
	for range 2 {
		if got := next(); got != "WATCHDOG=1" {
			t.Fatalf("keep-alive %q", got)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for {
		if got := next(); got == "STOPPING=1" {
			break
		} else if got != "WATCHDOG=1" {
			t.Fatalf("at stop: %q", got)
		}
	}
}
