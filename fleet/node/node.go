// Package node runs one fleet node: the store in a data directory, the
// replication hub and the HTTP API on one listener. admit-fleet, the demo
// venue and the end-to-end tests all start fleets through it.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"admit/fleet"
	"admit/fleet/api"
	"admit/fleet/replicate"
	"admit/fleet/sqlite"
)

// Config configures a node.
type Config struct {
	DataDir string // holds fleet.db
	Addr    string // listen address, e.g. "127.0.0.1:8080" or ":0"
	Log     *slog.Logger
	Now     func() time.Time
}

// Node is a running fleet node.
type Node struct {
	Service *fleet.Service
	Hub     *replicate.Hub

	store  *sqlite.Store
	ln     net.Listener
	srv    *http.Server
	served chan error
}

// Open opens the store and starts serving.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("fleet node: %w", err)
	}
	store, err := sqlite.Open(ctx, filepath.Join(cfg.DataDir, "fleet.db"))
	if err != nil {
		return nil, fmt.Errorf("fleet node: %w", err)
	}
	hub := replicate.NewHub(replicate.Options{Store: store, Log: cfg.Log, Now: cfg.Now})
	svc := &fleet.Service{Store: store, Now: cfg.Now, Notify: hub.Notify}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("fleet node: %w", err)
	}
	n := &Node{
		Service: svc, Hub: hub, store: store, ln: ln,
		srv: &http.Server{
			Handler:           api.Handler(svc, hub, cfg.Log),
			ReadHeaderTimeout: 10 * time.Second,
			ErrorLog:          slog.NewLogLogger(cfg.Log.Handler(), slog.LevelWarn),
		},
		served: make(chan error, 1),
	}
	go func() { n.served <- n.srv.Serve(ln) }()
	return n, nil
}

// Addr is the address the node listens on.
func (n *Node) Addr() string { return n.ln.Addr().String() }

// URL is the node's base URL.
func (n *Node) URL() string { return "http://" + n.Addr() }

// Close stops serving (closing agent streams) and closes the store.
func (n *Node) Close(ctx context.Context) error {
	n.Hub.Close() // hijacked WebSockets are not closed by Shutdown
	err := n.srv.Shutdown(ctx)
	if serr := <-n.served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return errors.Join(err, n.store.Close())
}
