package systemd

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"admit/clock"
	"admit/internal/testwait"
)

// listen is systemd's end of the notification socket.
func listen(t *testing.T) (*net.UnixConn, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, path
}

func receive(t *testing.T, conn *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	_ = conn.SetReadDeadline(clock.Deadline(10 * time.Second))
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNotify(t *testing.T) {
	conn, path := listen(t)
	n, err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "42"}), 42)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Ready("admitting to gala"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "READY=1\nSTATUS=admitting to gala" {
		t.Fatalf("datagram %q", got)
	}
	if n.WatchdogInterval() != 20*time.Second {
		t.Fatalf("watchdog %v", n.WatchdogInterval())
	}
	// The watchdog of another process (WATCHDOG_PID) is not ours.
	n, _ = NewNotifier(env(map[string]string{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "41"}), 42)
	if n.WatchdogInterval() != 0 {
		t.Fatal("took another process's watchdog")
	}
	// Not under systemd: nil, and every call is a no-op.
	n, err = NewNotifier(env(nil), 42)
	if n != nil || err != nil || n.Ready("x") != nil || n.WatchdogInterval() != 0 {
		t.Fatalf("outside systemd: %v %v", n, err)
	}
	for _, bad := range []map[string]string{{"NOTIFY_SOCKET": "relative"}, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "0"}, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "soon"}} {
		if _, err := NewNotifier(env(bad), 42); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	name := "@admit-systemd-test-" + strconv.Itoa(os.Getpid())
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n, err := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": name}), 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Notify("STOPPING=1"); err != nil {
		t.Fatal(err)
	}
	if got := receive(t, conn); got != "STOPPING=1" {
		t.Fatalf("datagram %q", got)
	}
}

// The watchdog is fed only while alive answers: a wedged or failing
// decision loop stops the keep-alives.
func TestWatchdogFollowsLiveness(t *testing.T) {
	conn, path := listen(t)
	n, _ := NewNotifier(env(map[string]string{"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "10000000"}), 1)
	clk := clock.NewFake(time.Unix(0, 0))
	var healthy atomic.Bool
	healthy.Store(true)
	probes := make(chan struct{}, 10)
	alive := func(ctx context.Context) error {
		probes <- struct{}{}
		if !healthy.Load() {
			return errors.New("decision loop stuck")
		}
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Watchdog(ctx, n, clk, alive, slog.New(slog.NewTextHandler(io.Discard, nil))) }()

	tick := func() {
		testwait.For(t, "the watchdog to wait", func() bool { return clk.Pending() == 1 })
		clk.Advance(5 * time.Second) // half of WatchdogSec
		<-probes
	}
	tick()
	if got := receive(t, conn); got != "WATCHDOG=1" {
		t.Fatalf("keep-alive %q", got)
	}
	healthy.Store(false)
	tick()
	tick() // a second probe: the failed one sent nothing in between
	healthy.Store(true)
	tick()
	if got := receive(t, conn); got != "WATCHDOG=1" {
		t.Fatalf("keep-alive %q", got)
	}
	_ = conn.SetReadDeadline(clock.Deadline(50 * time.Millisecond))
	if _, err := conn.Read(make([]byte, 64)); err == nil {
		t.Fatal("a keep-alive was sent while not alive")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// No watchdog: returns at once.
	if err := Watchdog(context.Background(), nil, clk, alive, nil); err != nil {
		t.Fatal(err)
	}
}

func TestJournalHandler(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(NewJournalHandler(&out, nil)).With("device", "gate-1")
	log.Info("decision", "admitted", true)
	log.Warn("uplink down")
	log.Error("journal", "err", "disk full")
	want := "<6>level=INFO msg=decision device=gate-1 admitted=true\n" +
		"<4>level=WARN msg=\"uplink down\" device=gate-1\n" +
		"<3>level=ERROR msg=journal device=gate-1 err=\"disk full\"\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// Logger uses the journal's format only when stderr is the stream
// JOURNAL_STREAM names.
func TestLoggerDetectsJournal(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stream := streamOf(t, f)
	Logger(f, env(map[string]string{"JOURNAL_STREAM": stream})).Info("hello")
	Logger(f, env(map[string]string{"JOURNAL_STREAM": "1:2"})).Info("plain")
	data, _ := os.ReadFile(f.Name())
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "<6>level=INFO msg=hello") || !strings.HasPrefix(lines[1], "time=") {
		t.Fatalf("lines %q", lines)
	}
}

func TestDeviceDropIn(t *testing.T) {
	got := DeviceDropIn([]string{"generated"}, []DeviceRule{{"/dev/i2c-1", "rw"}, {"char-gpiochip", "rw"}})
	want := "# generated\n[Service]\nDeviceAllow=/dev/i2c-1 rw\nDeviceAllow=char-gpiochip rw\n"
	if got != want {
		t.Fatalf("got\n%s", got)
	}
}
