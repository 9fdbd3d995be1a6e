// Command admit-fleet runs a fleet node: the embedded SQLite store in a data
// directory, the agent stream, the HTTP API and the operators' console.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"admit/fleet/node"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	m := &Main{}
	if err := m.ParseFlags(os.Args[1:], os.Stderr); err != nil {
		os.Exit(2)
	}
	if err := m.Run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "admit-fleet:", err)
		os.Exit(1)
	}
}

// Main is the program, separate from main() so tests can run it.
type Main struct {
	DataDir string
	Addr    string
}

// ParseFlags reads the command line.
func (m *Main) ParseFlags(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("admit-fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&m.DataDir, "data", "var/fleet", "data directory (holds fleet.db)")
	fs.StringVar(&m.Addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	return fs.Parse(args)
}

// Run serves until ctx ends.
func (m *Main) Run(ctx context.Context, stdout io.Writer) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	n, err := node.Open(ctx, node.Config{DataDir: m.DataDir, Addr: m.Addr, Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "admit-fleet: console %s/  agents %s\n", n.URL(), "ws://"+n.Addr()+"/ws")
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Close(shut)
}
