// Package systemd is what a service of ours says to systemd: readiness
// and watchdog keep-alives over the notification socket (the sd_notify
// protocol: datagrams of "KEY=value" lines to $NOTIFY_SOCKET), and log
// lines the journal reads well when stderr is the journal (a priority
// prefix per line, no timestamp of our own: the journal stamps them).
// Outside systemd every call is a no-op, and the log is plain text.
package systemd

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"admit/clock"
)

// Notifier sends state changes to systemd. A nil *Notifier (not started
// by systemd, or Type= not notify) sends nothing.
type Notifier struct {
	socket   string        // $NOTIFY_SOCKET: a path, or "@name" in the abstract namespace
	watchdog time.Duration // $WATCHDOG_USEC, when it is meant for this process
}

// NewNotifier reads the environment systemd gives a service (getenv is
// os.Getenv; pid is os.Getpid()). It returns nil when NOTIFY_SOCKET is
// not set.
func NewNotifier(getenv func(string) string, pid int) (*Notifier, error) {
	socket := getenv("NOTIFY_SOCKET")
	if socket == "" {
		return nil, nil
	}
	if !strings.HasPrefix(socket, "/") && !strings.HasPrefix(socket, "@") {
		return nil, fmt.Errorf("systemd: NOTIFY_SOCKET %q is neither a path nor an abstract socket", socket)
	}
	n := &Notifier{socket: socket}
	if usec := getenv("WATCHDOG_USEC"); usec != "" {
		v, err := strconv.ParseUint(usec, 10, 63)
		if err != nil || v == 0 {
			return nil, fmt.Errorf("systemd: WATCHDOG_USEC %q", usec)
		}
		// WATCHDOG_PID, when set, names the process the watchdog is for.
		if p := getenv("WATCHDOG_PID"); p == "" || p == strconv.Itoa(pid) {
			n.watchdog = time.Duration(v) * time.Microsecond
		}
	}
	return n, nil
}

// Notify sends the state lines ("READY=1", "STATUS=enrolling") as one
// datagram.
func (n *Notifier) Notify(state ...string) error {
	if n == nil {
		return nil
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("systemd: notify: %w", err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte(strings.Join(state, "\n"))); err != nil {
		return fmt.Errorf("systemd: notify: %w", err)
	}
	return nil
}

// Ready tells systemd the service is up (READY=1) with a status line.
func (n *Notifier) Ready(status string) error {
	return n.Notify("READY=1", "STATUS="+status)
}

// Status sets the status line systemctl status shows.
func (n *Notifier) Status(status string) error { return n.Notify("STATUS=" + status) }

// Stopping tells systemd the service is shutting down.
func (n *Notifier) Stopping() error { return n.Notify("STOPPING=1") }

// WatchdogInterval is the service's WatchdogSec=, zero when it has none.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil {
		return 0
	}
	return n.watchdog
}

// Watchdog keeps systemd's watchdog fed while the service is alive: every
// half of WatchdogSec it asks alive, and sends WATCHDOG=1 only when alive
// answered nil. alive must return when ctx ends. A wedged alive (a
// decision loop that no longer turns) stops the keep-alives, and systemd
// restarts the service when WatchdogSec has passed. It returns when ctx
// ends, at once when there is no watchdog.
func Watchdog(ctx context.Context, n *Notifier, clk clock.Clock, alive func(context.Context) error, log *slog.Logger) error {
	every := n.WatchdogInterval() / 2
	if every <= 0 {
		return nil
	}
	if clk == nil {
		clk = clock.Real{}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-clk.After(every):
		}
		if err := alive(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			log.Error("systemd watchdog: not alive: no keep-alive sent", "err", err)
			continue
		}
		if err := n.Notify("WATCHDOG=1"); err != nil {
			log.Warn("systemd watchdog", "err", err)
		}
	}
}
