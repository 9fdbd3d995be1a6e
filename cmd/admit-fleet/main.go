// Command admit-fleet runs a fleet node: the embedded SQLite store in a data
// directory (or a PostgreSQL shared with other nodes), the agent stream, the
// HTTP API and the operators' console, over HTTPS/WSS — with the node's own
// CA unless given a certificate; plain HTTP only with -insecure, loudly.
//
// "admit-fleet kek rotate" re-seals the store's private keys under a new
// key-encryption key (see kek.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"admit/fleet/kek"
	"admit/fleet/node"
	"admit/internal/flagfile"
	"admit/internal/systemd"
	"admit/internal/version"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 2 && os.Args[1] == "kek" {
		if err := kekMain(ctx, os.Args[2:], os.Stdout, os.Stderr); err != nil {
			if !errors.Is(err, flag.ErrHelp) {
				fmt.Fprintln(os.Stderr, "admit-fleet kek:", err)
			}
			os.Exit(1)
		}
		return
	}
	notifier, err := systemd.NewNotifier(os.Getenv, os.Getpid())
	if err != nil {
		fmt.Fprintln(os.Stderr, "admit-fleet:", err)
	}
	m := &Main{DefaultConfig: DefaultConfig, Notifier: notifier}
	if err := m.ParseFlags(os.Args[1:], os.Stderr); err != nil {
		os.Exit(2)
	}
	if m.ShowVersion {
		version.Print(os.Stdout, "admit-fleet")
		return
	}
	if err := m.Run(ctx, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "admit-fleet:", err)
		os.Exit(1)
	}
}

// Main is the program, separate from main() so tests can run it.
type Main struct {
	ShowVersion    bool // -version: print the build's version and exit
	DataDir        string
	Addr           string
	Postgres       string
	TLSCert        string
	TLSKey         string
	Insecure       bool
	InsecureAgents bool
	Hosts          []string
	PublicURL      string
	// KEKFile is where the key-encryption key is (-kek-file); empty: the
	// ADMIT_KEK environment variable, else (SQLite) <data>/kek.
	KEKFile string
	// Config is the config file read (-config), "" when none.
	Config string
	// DefaultConfig is the config file read when -config is not given
	// and it exists (main sets DefaultConfig; tests leave it empty).
	DefaultConfig string
	// Notifier tells systemd when the node serves; nil outside systemd.
	Notifier *systemd.Notifier
	// Log, when set, receives the node's log (tests); default stderr
	// (the journal's format under systemd).
	Log *slog.Logger
	// Env reads the environment (tests); default os.Getenv.
	Env func(string) string
	// HTTP bounds the HTTP server (tests shorten it); zero: the node's
	// defaults.
	HTTP node.HTTPLimits
}

// DefaultConfig is the config file admit-fleet reads when present.
const DefaultConfig = "/etc/admit/fleet.json"

// ParseFlags reads the command line, then the config file (-config,
// default DefaultConfig when it exists) for every flag the command line
// did not set. "postgres" is a secret there (a DSN may hold a password).
func (m *Main) ParseFlags(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("admit-fleet", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&m.Config, "config", m.DefaultConfig, "config file: a JSON object whose keys are these flags' names (\"data\", \"addr\", \"host\": [...], ...); the command line overrides it; read when present")
	fs.StringVar(&m.DataDir, "data", "var/fleet", "data directory (holds fleet.db, the TLS CA and, by default, the key-encryption key)")
	fs.StringVar(&m.Addr, "addr", "127.0.0.1:8080", "HTTPS listen address")
	fs.StringVar(&m.Postgres, "postgres", "", "PostgreSQL DSN shared by several nodes (default: SQLite in -data); every node needs the same key-encryption key")
	fs.StringVar(&m.TLSCert, "tls-cert", "", "serve HTTPS/WSS with this certificate (PEM) instead of the node's own CA")
	fs.StringVar(&m.TLSKey, "tls-key", "", "private key of -tls-cert (PEM)")
	fs.Bool("tls-auto", true, "serve HTTPS/WSS with the node's own CA (created in -data/tls on first start; agents pin it at enrollment): the default, kept for old scripts")
	fs.BoolVar(&m.Insecure, "insecure", false, "INSECURE: serve plain HTTP and WS, no TLS: operators' sessions, enrollment tokens and tickets cross the network in the clear")
	fs.BoolVar(&m.InsecureAgents, "insecure-agents", false, "accept unsigned hellos from devices that are not enrolled (demos only)")
	fs.StringVar(&m.KEKFile, "kek-file", "", "file holding the key-encryption key that seals the store's private keys (64 hex digits; created 0600 if missing); default: $"+kek.EnvVar+", else <data>/kek")
	fs.Func("host", "a name or address operators reach the node by (repeat for several, or a comma-separated list); the API refuses other Host headers and the certificate of the node's own CA covers it", func(v string) error {
		for _, h := range strings.Split(v, ",") {
			if h = strings.TrimSpace(h); h != "" {
				m.Hosts = append(m.Hosts, h)
			}
		}
		return nil
	})
	fs.BoolVar(&m.ShowVersion, "version", false, "print the version and exit")
	fs.StringVar(&m.PublicURL, "public-url", "", "the node's URL as operators and gates reach it (setup links, enrollment QRs); its host is accepted")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if !m.ShowVersion {
		if m.Config, err = flagfile.Use(fs, "config", flagfile.Options{Secrets: []string{"postgres"}, Refuse: []string{"version"}}); err != nil {
			fmt.Fprintln(stderr, "admit-fleet:", err)
			return err
		}
	}
	switch {
	case (m.TLSCert == "") != (m.TLSKey == ""):
		err = errors.New("-tls-cert and -tls-key go together")
	case m.Insecure && m.TLSCert != "":
		err = errors.New("-insecure serves no TLS: drop -tls-cert and -tls-key, or -insecure")
	}
	if err != nil {
		fmt.Fprintln(stderr, "admit-fleet:", err)
		return err
	}
	return nil
}

// loadKEK returns the key-encryption key the flags and environment name:
// nil lets the node use its default (<data>/kek with SQLite).
func (m *Main) loadKEK(log *slog.Logger) (*kek.Key, error) {
	getenv := m.Env
	if getenv == nil {
		getenv = os.Getenv
	}
	env := getenv(kek.EnvVar)
	switch {
	case env != "" && m.KEKFile != "":
		return nil, fmt.Errorf("both -kek-file and %s are set: say which key-encryption key to use", kek.EnvVar)
	case env != "":
		return kek.Parse(env)
	case m.KEKFile != "":
		k, created, err := kek.LoadOrCreateFile(m.KEKFile)
		if created {
			log.Warn("admit-fleet: created a new key-encryption key; back it up apart from the database: without it the store's keys are lost", "file", m.KEKFile)
		}
		return k, err
	}
	return nil, nil
}

// Run serves until ctx ends.
func (m *Main) Run(ctx context.Context, stdout io.Writer) error {
	log := m.Log
	if log == nil {
		log = systemd.Logger(os.Stderr, os.Getenv)
	}
	if m.Config != "" {
		log.Info("config file", "path", m.Config)
	}
	k, err := m.loadKEK(log)
	if err != nil {
		return err
	}
	n, err := node.Open(ctx, node.Config{
		DataDir: m.DataDir, Addr: m.Addr, Log: log, Postgres: m.Postgres,
		RequireEnrollment: !m.InsecureAgents,
		TLS:               node.TLSConfig{CertFile: m.TLSCert, KeyFile: m.TLSKey, Hosts: m.Hosts},
		Hosts:             m.Hosts,
		PublicURL:         m.PublicURL,
		Insecure:          m.Insecure,
		KEK:               k,
		HTTP:              m.HTTP,
	})
	if err != nil {
		return err
	}
	if m.Insecure {
		fmt.Fprintf(stdout, "admit-fleet: %s\n", node.InsecureWarning)
		if !loopback(n.Addr()) {
			fmt.Fprintf(stdout, "admit-fleet: INSECURE and reachable from the network on %s: anyone on the path reads every session and token.\n", n.Addr())
		}
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
	if len(n.CertNames) > 0 {
		fmt.Fprintf(stdout, "admit-fleet: TLS certificate for %s\n", strings.Join(n.CertNames, ", "))
	}
	if len(n.CAFingerprint) > 0 {
		fmt.Fprintf(stdout, "admit-fleet: CA fingerprint (SHA-256) %x (enrollment codes carry it; admitctl -pin takes it)\n", n.CAFingerprint)
	}
	fmt.Fprintf(stdout, "admit-fleet: replica key %x (gates check replica data against it)\n", []byte(n.ReplicaKey))
	if err := m.Notifier.Ready("serving " + n.URL()); err != nil {
		log.Warn("admit-fleet: systemd notification", "err", err)
	}
	<-ctx.Done()
	_ = m.Notifier.Stopping()
	shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return n.Close(shut)
}

// loopback reports whether addr is a loopback address.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}
