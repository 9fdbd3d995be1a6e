package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"admit/fleet/kek"
	"admit/fleet/postgres"
	"admit/fleet/sqlite"
	"admit/fleet/sqlstore"
)

// kekMain is "admit-fleet kek rotate": re-seal every private key of the
// store (event signing keys, the replica key) under a new key-encryption
// key, in one transaction. Run it with every node of the fleet stopped:
// a node still running holds the old KEK and could neither open the keys
// nor seal new ones the others can read. Then start the nodes with the new
// KEK, and destroy the old one once they run (it opens every backup taken
// before the rotation).
func kekMain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(stderr, "usage: admit-fleet kek rotate [-data DIR | -postgres DSN] [-kek-file OLD] -new-kek-file NEW")
		return flag.ErrHelp
	}
	fs := flag.NewFlagSet("admit-fleet kek rotate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data", "var/fleet", "the node's data directory (SQLite)")
	pg := fs.String("postgres", "", "PostgreSQL DSN of the fleet (instead of -data)")
	oldFile := fs.String("kek-file", "", "file of the current key-encryption key; default: $"+kek.EnvVar+", else <data>/kek")
	newFile := fs.String("new-kek-file", "", "file of the new key-encryption key (created 0600 when missing)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *newFile == "" {
		return errors.New("rotate: -new-kek-file is required")
	}
	m := &Main{KEKFile: *oldFile}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	old, err := m.loadKEK(log)
	if err != nil {
		return fmt.Errorf("rotate: the current key: %w", err)
	}
	defaultFile := ""
	if old == nil {
		if *pg != "" {
			return fmt.Errorf("rotate: PostgreSQL: give the current key (-kek-file or %s)", kek.EnvVar)
		}
		defaultFile = filepath.Join(*dataDir, sqlite.KEKFile)
		if old, err = kek.ReadFile(defaultFile); err != nil {
			return fmt.Errorf("rotate: the current key: %w", err)
		}
	}
	next, created, err := kek.LoadOrCreateFile(*newFile)
	if err != nil {
		return fmt.Errorf("rotate: the new key: %w", err)
	}
	if next.ID() == old.ID() {
		return errors.New("rotate: the new key is the current one")
	}
	var st *sqlstore.Store
	if *pg != "" {
		p, err := postgres.Open(ctx, *pg, old)
		if err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
		st = p.Store
	} else {
		if st, err = sqlite.OpenWith(ctx, filepath.Join(*dataDir, "fleet.db"), old); err != nil {
			return fmt.Errorf("rotate: %w", err)
		}
	}
	defer st.Close()
	n, err := st.Rewrap(ctx, next)
	if err != nil {
		return fmt.Errorf("rotate: nothing changed: %w", err)
	}
	if created {
		fmt.Fprintf(stdout, "admit-fleet kek: new key-encryption key %s written to %s\n", next.ID(), *newFile)
	}
	fmt.Fprintf(stdout, "admit-fleet kek: %d private keys re-sealed under key %s (was %s)\n", n, next.ID(), old.ID())
	switch {
	case defaultFile != "":
		fmt.Fprintf(stdout, "admit-fleet kek: start the node with -kek-file %s (or move it over %s); the old key opens only backups taken before now\n", *newFile, defaultFile)
	default:
		fmt.Fprintf(stdout, "admit-fleet kek: start every node with the new key (-kek-file %s, or %s set to its contents); destroy the old one once they run\n", *newFile, kek.EnvVar)
	}
	return nil
}
