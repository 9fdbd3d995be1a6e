// Package sqlitedb opens the SQLite files of admit (the fleet's embedded
// store and each gate's local database) the one way we trust: WAL checked,
// foreign keys on, a busy timeout, migrations embedded in the binary, each
// applied in its own transaction and recorded, and files only their owner
// may read (0600: the database, and so its WAL and shared-memory files,
// which SQLite creates with the database's mode).
package sqlitedb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strings"

	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

// Sync is SQLite's synchronous setting: how hard a commit pushes to disk.
type Sync string

const (
	// SyncFull fsyncs the WAL on every commit: a committed transaction
	// survives power loss. The default.
	SyncFull Sync = "FULL"
	// SyncNormal fsyncs at checkpoints only: a commit survives a process
	// crash, and the last commits may be lost on power loss.
	SyncNormal Sync = "NORMAL"
)

// Open opens (creating if needed) the database at path and applies the
// *.sql files of migrations in name order, skipping those already recorded.
func Open(ctx context.Context, path string, migrations fs.FS, sync Sync) (*sql.DB, error) {
	if sync == "" {
		sync = SyncFull
	}
	if err := ownerOnly(path); err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "10000")
	q.Set("_synchronous", string(sync))
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	if err := setup(ctx, db, migrations); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite %s: %w", path, err)
	}
	return db, nil
}

// Mode is the permission of every SQLite file we create.
const Mode = 0o600

// ownerOnly creates the database file with Mode before SQLite does (which
// would use 0644 less the umask), so that SQLite gives its WAL and
// shared-memory files the same mode, and takes group and other access away
// from files an earlier version created.
func ownerOnly(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, Mode)
	if err != nil {
		return err
	}
	f.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		if st.Mode().Perm()&^Mode != 0 {
			if err := os.Chmod(p, Mode); err != nil {
				return err
			}
		}
	}
	return nil
}

func setup(ctx context.Context, db *sql.DB, migrations fs.FS) error {
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return fmt.Errorf("read journal_mode: %w", err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("journal_mode is %q, not wal (is the file on a filesystem without shared memory?)", mode)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrations, "*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		if err := migrate(ctx, db, migrations, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB, migrations fs.FS, name string) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := fs.ReadFile(migrations, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES (?)`, name); err != nil {
		return err
	}
	return tx.Commit()
}
