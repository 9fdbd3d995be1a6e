// Package node runs one fleet node: the store (SQLite in a data directory,
// or a PostgreSQL shared with other nodes), the replication hub, the
// online-decision endpoint (wire.DecidePath) and the HTTP API on one
// listener, over TLS when configured. admit-fleet, the demo
// venue and the end-to-end tests all start fleets through it.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"admit/clock"
	"admit/fleet"
	"admit/fleet/api"
	"admit/fleet/audit"
	"admit/fleet/operator"
	"admit/fleet/postgres"
	"admit/fleet/replicate"
	"admit/fleet/sqlite"
)

// Config configures a node.
type Config struct {
	DataDir string // holds fleet.db (SQLite) and the TLS CA
	// Postgres, when set, is the DSN of a PostgreSQL shared by several
	// nodes; the node then keeps no state in DataDir but its TLS files.
	Postgres string
	Addr     string // listen address, e.g. "127.0.0.1:8080" or ":0"
	Log      *slog.Logger
	// Clock is the node's one time source (service, hub, TLS certificates,
	// PostgreSQL reconnects); default clock.Real{}.
	Clock clock.Clock
	// RequireEnrollment refuses agents that are not enrolled (every hello
	// signed by the device's key). Off, unknown devices may still connect
	// unsigned (protocol 1 behaviour; the demo venue until it enrolls its
	// gates); enrolled devices must sign either way.
	RequireEnrollment bool
	// TLS: see TLSConfig. Zero value: plain HTTP.
	TLS TLSConfig
	// Hosts are the names and addresses operators reach the node by,
	// beyond localhost, the loopback addresses, the listen address, the
	// TLS Hosts and PublicURL's host (with a wildcard listen address, the
	// machine's own addresses): the API refuses any other Host header, so
	// a DNS-rebinding page cannot reach it.
	Hosts []string
	// PublicURL is the node's URL as links carry it (enrollment QRs,
	// setup links); default: the URL of the request, or URL().
	PublicURL string
	// Operators tunes sign-in (Store and Clock are filled in).
	Operators operator.Service
	// Hub tunes the replication hub (Store, Log and Clock are filled in;
	// AllowUnenrolled follows RequireEnrollment).
	Hub replicate.Options
}

// Node is a running fleet node.
type Node struct {
	Service   *fleet.Service
	Hub       *replicate.Hub
	Store     fleet.Store
	Operators *operator.Service
	Audit     audit.Store

	// CAFingerprint is the SHA-256 of the CA certificate agents pin, when
	// the node serves TLS with its own CA.
	CAFingerprint []byte

	scheme    string
	publicURL string
	ln        net.Listener
	srv       *http.Server
	served    chan error
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// Open opens the store and starts serving.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("fleet node: %w", err)
	}
	var store backend
	var pg *postgres.Store
	if cfg.Postgres != "" {
		s, err := postgres.Open(ctx, cfg.Postgres)
		if err != nil {
			return nil, fmt.Errorf("fleet node: %w", err)
		}
		store, pg = s, s
	} else {
		s, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "fleet.db"))
		if err != nil {
			return nil, fmt.Errorf("fleet node: %w", err)
		}
		store = s
	}
	hubOpts := cfg.Hub
	hubOpts.Store, hubOpts.Log, hubOpts.Clock = store, cfg.Log, cfg.Clock
	hubOpts.AllowUnenrolled = !cfg.RequireEnrollment
	hub := replicate.NewHub(hubOpts)
	svc := &fleet.Service{Store: store, Clock: cfg.Clock, Wake: hub.Wake}
	ops := cfg.Operators
	ops.Store, ops.Clock, ops.Wake = store, cfg.Clock, hub.Wake
	n := &Node{Service: svc, Hub: hub, Store: store, Operators: &ops, Audit: store, scheme: "http", publicURL: cfg.PublicURL, served: make(chan error, 1)}
	// Venue scopes hold what the devices and staff tables say: after an
	// upgrade (or a change another node made while none listened), bring
	// them up to date before any gate connects. A no-op otherwise.
	if err := svc.SyncVenues(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("fleet node: %w", err)
	}

	var tlsCfg *tls.Config
	if cfg.TLS.enabled() {
		var err error
		tlsCfg, n.CAFingerprint, err = cfg.TLS.load(cfg.DataDir, cfg.Addr, cfg.Clock.Now)
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("fleet node: %w", err)
		}
		n.scheme = "https"
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("fleet node: %w", err)
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	n.ln = ln
	// Online decisions next to the API, authenticated like the agent
	// stream; claims go through the store, so they hold across nodes.
	decide := replicate.NewDecideHandler(replicate.DecideOptions{
		Claimer: svc, Devices: store, AllowUnenrolled: !cfg.RequireEnrollment, Log: cfg.Log})
	handler := api.Handler(svc, hub, cfg.Log, api.Options{
		Operators: n.Operators, Audit: store, Decide: decide, Clock: cfg.Clock,
		Hosts: hostNames(cfg, ln.Addr()), PublicURL: cfg.PublicURL,
		CAFingerprint: n.CAFingerprint, Connected: hub.ConnectedDevice})
	n.srv = &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	if pg != nil {
		ready := make(chan struct{})
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			pg.Listen(runCtx, cfg.Clock, cfg.Log, ready, hub.Wake)
		}()
		select {
		case <-ready:
		case <-ctx.Done():
			cancel()
			n.wg.Wait()
			ln.Close()
			store.Close()
			return nil, ctx.Err()
		}
	}
	go func() { n.served <- n.srv.Serve(ln) }()
	return n, nil
}

// backend is what a node keeps in its store.
type backend interface {
	fleet.Store
	operator.Store
	audit.Store
}

// hostNames are the Host names the API answers to (see Config.Hosts).
func hostNames(cfg Config, addr net.Addr) []string {
	hosts := append(slices.Clone(cfg.Hosts), cfg.TLS.Hosts...)
	if h, _, err := net.SplitHostPort(cfg.Addr); err == nil && h != "" {
		hosts = append(hosts, h)
	}
	if ta, ok := addr.(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
		// Listening everywhere: the machine's own addresses are its
		// names too (an IP literal cannot be rebound to another site).
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					hosts = append(hosts, ipn.IP.String())
				}
			}
		}
	}
	return hosts
}

// SetupLink prepares the node's first start: when the store has no
// operator it creates the first admin and returns a one-time link (valid
// operator.SetupTTL) that sets its password and enrols its TOTP; after a
// restart before anyone used it, a fresh link. Otherwise "".
func (n *Node) SetupLink(ctx context.Context) (string, error) {
	token, err := n.Operators.Bootstrap(ctx)
	if err != nil || token == "" {
		return "", err
	}
	base := n.publicURL
	if base == "" {
		base = n.URL()
	}
	return api.SetupURL(strings.TrimRight(base, "/"), token), nil
}

// Addr is the address the node listens on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// URL is the node's base URL (http:// or https://).
func (n *Node) URL() string { return n.scheme + "://" + n.Addr() }

// AgentURL is the URL agents stream from (ws:// or wss://).
func (n *Node) AgentURL() string {
	if n.scheme == "https" {
		return "wss://" + n.Addr() + "/ws"
	}
	return "ws://" + n.Addr() + "/ws"
}

// Close stops serving (closing agent streams) and closes the store.
func (n *Node) Close(ctx context.Context) error {
	n.cancel()
	n.Hub.Close() // hijacked WebSockets are not closed by Shutdown
	var err error
	if n.srv != nil {
		err = n.srv.Shutdown(ctx)
		if serr := <-n.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
	}
	n.wg.Wait()
	return errors.Join(err, n.Store.Close())
}
