package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"admit/internal/venue"
)

func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admitctl demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "fleet listen address")
	data := fs.String("data", "var/demo", "data directory for the fleet and the gates")
	gates := fs.Int("gates", 3, "number of gates")
	pace := fs.Duration("pace", 1500*time.Millisecond, "one attendee per gate every")
	verbose := fs.Bool("v", false, "log every decision")
	if err := fs.Parse(args); err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	v, err := venue.Start(ctx, venue.Config{Addr: *addr, DataDir: *data, Gates: *gates, Tickets: 2000, Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "admit demo: fleet and %d gates running (data in %s)\n", *gates, *data)
	fmt.Fprintf(stdout, "console: %s/\n", v.Fleet.URL())
	for _, g := range v.Gates {
		fmt.Fprintf(stdout, "  %s status: %s\n", g.Name, g.StatusURL)
	}
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
