// Command admit-demo runs a fleet and a simulated venue of gates on this
// machine (what "make run" starts): a real fleet node and real gate agents
// whose cameras, NFC readers, relays and LEDs are simulated, and attendees
// who hold up tickets, some of them invalid. It prints the console URL and
// each gate's status page, and stops cleanly on Ctrl-C.
//
// Its data (the fleet's store, every gate's database and identity) is
// demo data: keep -data apart from a real fleet's or gate's (the default,
// var/demo, is what "make clean-demo" removes).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"admit/internal/version"
	"admit/sim/venue"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "admit-demo:", err)
		}
		os.Exit(1)
	}
}

// run runs the demo until ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admit-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "fleet listen address")
	data := fs.String("data", "var/demo", "data directory for the fleet and the gates (demo data only)")
	gates := fs.Int("gates", 3, "number of gates")
	tickets := fs.Int("tickets", 2000, "tickets issued for the demo event")
	pace := fs.Duration("pace", 1500*time.Millisecond, "one attendee per gate every")
	verbose := fs.Bool("v", false, "log every decision")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *showVersion {
		version.Print(stdout, "admit-demo")
		return nil
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	v, err := venue.Start(ctx, venue.Config{Addr: *addr, DataDir: *data, Gates: *gates, Tickets: *tickets, Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "admit demo: fleet and %d gates running (data in %s)\n", *gates, *data)
	fmt.Fprintf(stdout, "console: %s/\n", v.Fleet.URL())
	// The demo fleet serves TLS with its own CA, as a real one does (the
	// gates pin it): a browser does not know that CA and warns once.
	fmt.Fprintf(stdout, "  the fleet's own CA signs its certificate: your browser will warn once (accept it for this demo, or trust %s);\n",
		filepath.Join(*data, "fleet", "tls", "ca.pem"))
	fmt.Fprintf(stdout, "  CA fingerprint (SHA-256) %x\n", v.Fleet.CAFingerprint)
	fmt.Fprintf(stdout, "  sign in as %s, password %s, then the TOTP code of secret %s\n", v.Login.Name, v.Login.Password, v.Login.TOTPSecret)
	fmt.Fprintf(stdout, "  (a code: oathtool --totp -b %s, or bin/admitctl otp %s, or add the secret to an authenticator app)\n", v.Login.TOTPSecret, v.Login.TOTPSecret)
	for _, g := range v.Gates {
		fmt.Fprintf(stdout, "  %s status: %s\n", g.Name, g.StatusURL)
	}
	fmt.Fprintf(stdout, "gate staff: sign in at a gate as %s, PIN %s (POST /staff/sign-in {\"staff\":%q,\"pin\":%q}, then force-admit, annul, look up)\n",
		v.Staff.Name, v.Staff.PIN, v.Staff.Name, v.Staff.PIN)
	fmt.Fprintln(stdout, "press Ctrl-C to stop")
	err = v.Attendees(ctx, *pace)
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if cerr := v.Close(shut); cerr != nil && err == nil {
		err = cerr
	}
	fmt.Fprintln(stdout, "admit demo: stopped")
	return err
}
