// Package node runs one fleet node: the store (SQLite in a data directory,
// or a PostgreSQL shared with other nodes), the replication hub, the
// online-decision endpoint (wire.DecidePath) and the HTTP API on one
// listener, over TLS unless told to be insecure. admit-fleet, the demo
// venue and the end-to-end tests all start fleets through it.
//
// A node is bounded for the internet: TLS by default (its own CA unless
// given a certificate), full HTTP server timeouts (Config.HTTP), the
// agent stream's connection caps and pre-hello limits (replicate.Options),
// private keys sealed at rest with a key-encryption key kept outside the
// database (Config.KEK, fleet/kek), and the data directory 0700.
package node

import (
	"context"
	"crypto/ed25519"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
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
	"admit/fleet/kek"
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
	// TLS: see TLSConfig. Zero value: the node's own CA (AutoCA).
	TLS TLSConfig
	// Insecure serves plain HTTP and WS instead: agents' tokens, operators'
	// sessions and every ticket travel in the clear (replica data stays
	// signed). Said loudly: logged at every start, and shown on the
	// console. It excludes TLS settings.
	Insecure bool
	// KEK seals the private keys the store keeps (fleet/kek). Nil: with
	// SQLite, the file "kek" in DataDir (created 0600 on first start, with
	// a warning: in production it belongs elsewhere); with PostgreSQL,
	// required (every node on the database needs the same one).
	KEK *kek.Key
	// HTTP bounds the HTTP server; zero fields take DefaultHTTP's.
	HTTP HTTPLimits
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

// HTTPLimits are the HTTP server's timeouts. A WebSocket (the agent
// stream) clears its connection's deadlines once upgraded and keeps its
// own (pings, replicate.Options).
type HTTPLimits struct {
	// ReadHeaderTimeout bounds the request line and headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds a whole request, body included: a body trickled
	// in to hold a connection open is cut.
	ReadTimeout time.Duration
	// ImportTimeout replaces ReadTimeout for a ticket import (a CSV of up
	// to 128 MiB).
	ImportTimeout time.Duration
	// WriteTimeout bounds writing a response (nothing the API sends
	// streams).
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle that long.
	IdleTimeout time.Duration
}

// DefaultHTTP are the limits a node serves with.
var DefaultHTTP = HTTPLimits{
	ReadHeaderTimeout: 10 * time.Second,
	ReadTimeout:       30 * time.Second,
	ImportTimeout:     10 * time.Minute,
	WriteTimeout:      60 * time.Second,
	IdleTimeout:       60 * time.Second,
}

func (l HTTPLimits) orDefault() HTTPLimits {
	or := func(v, d time.Duration) time.Duration {
		if v > 0 {
			return v
		}
		return d
	}
	return HTTPLimits{
		ReadHeaderTimeout: or(l.ReadHeaderTimeout, DefaultHTTP.ReadHeaderTimeout),
		ReadTimeout:       or(l.ReadTimeout, DefaultHTTP.ReadTimeout),
		ImportTimeout:     or(l.ImportTimeout, DefaultHTTP.ImportTimeout),
		WriteTimeout:      or(l.WriteTimeout, DefaultHTTP.WriteTimeout),
		IdleTimeout:       or(l.IdleTimeout, DefaultHTTP.IdleTimeout),
	}
}

// InsecureWarning is what an insecure node logs at start and the console
// shows.
const InsecureWarning = "INSECURE: this fleet node serves plain HTTP (-insecure). Operators' sessions, enrollment tokens and tickets cross the network in the clear; anyone on the path can read them. Replica data stays signed, so gates that hold the replica key still refuse forged data. Serve TLS (the default) outside a lab."

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
	// CertNames are the names and addresses the node's certificate
	// covers (TLS only).
	CertNames []string
	// ReplicaKey is the public half of the fleet's replica key: what a
	// gate checks replica data against (given at enrollment).
	ReplicaKey ed25519.PublicKey
	// Insecure: the node serves plain HTTP (Config.Insecure).
	Insecure bool

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
	if cfg.Insecure && cfg.TLS.enabled() {
		return nil, errors.New("fleet node: insecure (plain HTTP) and TLS settings exclude each other")
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("fleet node: %w", err)
	}
	if st, err := os.Stat(cfg.DataDir); err == nil && st.Mode().Perm()&0o007 != 0 {
		// It holds the store, the CA's key and (by default) the KEK:
		// others lose their access; the group keeps its own.
		perm := st.Mode().Perm() &^ 0o007
		if err := os.Chmod(cfg.DataDir, perm); err != nil {
			return nil, fmt.Errorf("fleet node: the data directory is open to every user of this machine: %w", err)
		}
		cfg.Log.Warn("fleet node: the data directory was open to every user of this machine; closed to others", "dir", cfg.DataDir,
			"was", fmt.Sprintf("%04o", st.Mode().Perm()), "now", fmt.Sprintf("%04o", perm))
	}
	store, pg, err := openStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	replicaKey, err := store.ReplicaKey(ctx, cfg.Clock.Now())
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("fleet node: %w", err)
	}
	hubOpts := cfg.Hub
	hubOpts.Store, hubOpts.Log, hubOpts.Clock = store, cfg.Log, cfg.Clock
	hubOpts.AllowUnenrolled = !cfg.RequireEnrollment
	hubOpts.ReplicaKey = replicaKey
	hub := replicate.NewHub(hubOpts)
	svc := &fleet.Service{Store: store, Clock: cfg.Clock, Wake: hub.Wake}
	ops := cfg.Operators
	ops.Store, ops.Clock, ops.Wake = store, cfg.Clock, hub.Wake
	n := &Node{Service: svc, Hub: hub, Store: store, Operators: &ops, Audit: store, scheme: "http", publicURL: cfg.PublicURL, served: make(chan error, 1),
		ReplicaKey: replicaKey.Public().(ed25519.PublicKey), Insecure: cfg.Insecure}
	// Venue scopes hold what the devices and staff tables say: after an
	// upgrade (or a change another node made while none listened), bring
	// them up to date before any gate connects. A no-op otherwise.
	if err := svc.SyncVenues(ctx); err != nil {
		store.Close()
		return nil, fmt.Errorf("fleet node: %w", err)
	}

	var tlsCfg *tls.Config
	if cfg.Insecure {
		cfg.Log.Error(InsecureWarning, "addr", cfg.Addr, "reachable_from_the_network", !loopbackOnly(cfg.Addr))
	} else {
		tc := cfg.TLS
		if !tc.enabled() {
			tc.AutoCA = true // the default: the node's own CA
		}
		if u, err := url.Parse(cfg.PublicURL); err == nil && u.Hostname() != "" {
			tc.Hosts = append(slices.Clone(tc.Hosts), u.Hostname()) // the name links carry
		}
		tlsCfg, n.CAFingerprint, n.CertNames, err = tc.load(cfg.DataDir, cfg.Addr, cfg.Clock.Now)
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("fleet node: %w", err)
		}
		n.scheme = "https"
		cfg.Log.Info("fleet node: serving TLS", "certificate_for", n.CertNames, "own_ca", len(n.CAFingerprint) > 0)
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
	// stream and answered signed; claims go through the store, so they
	// hold across nodes.
	decide := replicate.NewDecideHandler(replicate.DecideOptions{
		Claimer: svc, Devices: store, AllowUnenrolled: !cfg.RequireEnrollment, ReplicaKey: replicaKey, Log: cfg.Log})
	var warning string
	if cfg.Insecure {
		warning = InsecureWarning
	}
	handler := api.Handler(svc, hub, cfg.Log, api.Options{
		Operators: n.Operators, Audit: store, Decide: decide, Clock: cfg.Clock,
		Hosts: hostNames(cfg, ln.Addr()), PublicURL: cfg.PublicURL,
		CAFingerprint: n.CAFingerprint, ReplicaKey: n.ReplicaKey, InsecureWarning: warning, Connected: hub.ConnectedDevice})
	limits := cfg.HTTP.orDefault()
	n.srv = &http.Server{
		Handler:           importDeadline(handler, limits.ImportTimeout),
		ReadHeaderTimeout: limits.ReadHeaderTimeout,
		ReadTimeout:       limits.ReadTimeout,
		WriteTimeout:      limits.WriteTimeout,
		IdleTimeout:       limits.IdleTimeout,
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

// openStore opens the node's store with its key-encryption key.
func openStore(ctx context.Context, cfg Config) (backend, *postgres.Store, error) {
	if cfg.Postgres != "" {
		if cfg.KEK == nil {
			return nil, nil, fmt.Errorf("fleet node: PostgreSQL needs the fleet's key-encryption key (%s or a KEK file), the same on every node", kek.EnvVar)
		}
		s, err := postgres.Open(ctx, cfg.Postgres, cfg.KEK)
		if err != nil {
			return nil, nil, fmt.Errorf("fleet node: %w", err)
		}
		return s, s, nil
	}
	k := cfg.KEK
	if k == nil {
		path := filepath.Join(cfg.DataDir, sqlite.KEKFile)
		var created bool
		var err error
		if k, created, err = kek.LoadOrCreateFile(path); err != nil {
			return nil, nil, fmt.Errorf("fleet node: %w", err)
		}
		if created {
			cfg.Log.Warn("fleet node: created a key-encryption key beside the database; a copy of the data directory holds both, so in production keep the KEK elsewhere (-kek-file on another volume, or "+kek.EnvVar+")", "file", path)
		}
	}
	s, err := sqlite.OpenWith(ctx, filepath.Join(cfg.DataDir, "fleet.db"), k)
	if err != nil {
		return nil, nil, fmt.Errorf("fleet node: %w", err)
	}
	return s, nil, nil
}

// backend is what a node keeps in its store.
type backend interface {
	fleet.Store
	operator.Store
	audit.Store
}

// importDeadline gives a ticket import (POST .../tickets/import, a CSV of
// up to 128 MiB) more time to arrive than the server's ReadTimeout.
func importDeadline(h http.Handler, d time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/tickets/import") {
			_ = http.NewResponseController(w).SetReadDeadline(clock.Deadline(d))
		}
		h.ServeHTTP(w, r)
	})
}

// loopbackOnly reports whether addr listens on a loopback address only.
func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
