// Command admit-fleet runs a fleet node: the embedded SQLite store in a data
// directory (or a PostgreSQL shared with other nodes), the agent stream, the
// HTTP API and the operators' console, over HTTPS/WSS when asked.
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
	DataDir        string
	Addr           string
	Postgres       string
	TLSCert        string
	TLSKey         string
	TLSAuto        bool
	InsecureAgents bool
	Hosts          []string
	PublicURL      string
}

// ParseFlags reads the command line.
func (m *Main) ParseFlags(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("admit-fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&m.DataDir, "data", "var/fleet", "data directory (holds fleet.db)")
	fs.StringVar(&m.Addr, "addr", "127.0.0.1:8080", "HTTP listen address")
	fs.StringVar(&m.Postgres, "postgres", "", "PostgreSQL DSN shared by several nodes (default: SQLite in -data)")
	fs.StringVar(&m.TLSCert, "tls-cert", "", "serve HTTPS/WSS with this certificate (PEM)")
	fs.StringVar(&m.TLSKey, "tls-key", "", "private key of -tls-cert (PEM)")
	fs.BoolVar(&m.TLSAuto, "tls-auto", false, "serve HTTPS/WSS with the node's own CA (created in -data/tls on first start; agents pin it at enrollment)")
	fs.BoolVar(&m.InsecureAgents, "insecure-agents", false, "accept unsigned hellos from devices that are not enrolled (demos only)")
	fs.Func("host", "a name or address operators reach the node by (repeat for several); the API refuses other Host headers", func(v string) error {
		m.Hosts = append(m.Hosts, v)
		return nil
	})
	fs.StringVar(&m.PublicURL, "public-url", "", "the node's URL as operators and gates reach it (setup links, enrollment QRs); its host is accepted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if (m.TLSCert == "") != (m.TLSKey == "") {
		err := fmt.Errorf("-tls-cert and -tls-key go together")
		fmt.Fprintln(stderr, "admit-fleet:", err)
		return err
	}
	return nil
}

// Run serves until ctx ends.
func (m *Main) Run(ctx context.Context, stdout io.Writer) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	n, err := node.Open(ctx, node.Config{
		DataDir: m.DataDir, Addr: m.Addr, Log: log, Postgres: m.Postgres,
		RequireEnrollment: !m.InsecureAgents,
		TLS:               node.TLSConfig{CertFile: m.TLSCert, KeyFile: m.TLSKey, AutoCA: m.TLSAuto, Hosts: m.Hosts},
		Hosts:             m.Hosts, PublicURL: m.PublicURL,
	})
	if err != nil {
		return err
	}
	link, err := n.SetupLink(ctx)
	if err != nil {
		n.Close(context.Background())
		return err
	}
	if link != "" {
		fmt.Fprintf(stdout, "admit-fleet: no operator has signed in yet. Open this one-time link within 24 h to set the first admin's password and TOTP:\n  %s\n", link)
	}
	fmt.Fprintf(stdout, "admit-fleet: console %s/  agents %s\n", n.URL(), n.AgentURL())
	if len(n.CAFingerprint) > 0 {
		fmt.Fprintf(stdout, "admit-fleet: CA fingerprint (SHA-256) %x\n", n.CAFingerprint)
	}
	<-ctx.Done()
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Close(shut)
}
