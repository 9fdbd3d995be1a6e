// Package postgres is the fleet store on PostgreSQL (through pgx), for
// several fleet nodes sharing one database. The queries are those of
// fleet/sqlstore; this package adds the migrations and the wake-ups
// between nodes: a transaction that logs changes, changes a device or sets
// a config sends a NOTIFY on channel "admit" when it commits, and Listen
// delivers those payloads to a node. The notification is only a wake-up;
// the change log stays in its table, and a node that missed a
// notification still finds every change there.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"admit/clock"
	"admit/fleet/kek"
	"admit/fleet/sqlstore"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Channel is the NOTIFY channel nodes wake each other on.
const Channel = "admit"

// Store is the fleet store on PostgreSQL.
type Store struct {
	*sqlstore.Store
	dsn string
}

// Open connects to dsn (a libpq URL or key=value string; set search_path
// there to use a schema other than public), applies the migrations not
// yet recorded, under an advisory lock so that nodes starting together do
// not race, and seals any plaintext private key an earlier version left.
// k seals the private keys (fleet/kek): every node on one database needs
// the same one, and it is never stored in the database.
func Open(ctx context.Context, dsn string, k *kek.Key) (*Store, error) {
	if k == nil {
		return nil, fmt.Errorf("postgres: %w: every node needs the fleet's key-encryption key", sqlstore.ErrNoKEK)
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{
		Store: sqlstore.New(db, sqlstore.Dialect{Name: "postgres", Dollar: true, IsUnique: isUnique, Notify: notify, MaxParams: 65535}, k),
		dsn:   dsn,
	}
	if _, err := s.SealPlaintext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return s, nil
}

func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func notify(ctx context.Context, tx *sql.Tx, payload string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, Channel, payload); err != nil {
		return fmt.Errorf("postgres: notify: %w", err)
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	const lockID = 0x61646d6974 // "admit"
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, lockID); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, lockID)
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)`); err != nil {
		return fmt.Errorf("create schema_migrations: %w", err)
	}
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(names)
	for _, name := range names {
		if err := migrateOne(ctx, conn, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	return nil
}

func migrateOne(ctx context.Context, conn *sql.Conn, name string) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = $1`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := fs.ReadFile(migrationFiles, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name); err != nil {
		return err
	}
	return tx.Commit()
}

// Listen delivers the payloads of notifications on Channel to fn until ctx
// ends, reconnecting after errors (after a second on clk, honouring ctx). It
// calls fn with "" after each (re)connect, since notifications sent while
// disconnected are lost: the caller should then look at its tables.
// ready, when not nil, is closed once the first LISTEN is in place.
func (s *Store) Listen(ctx context.Context, clk clock.Clock, log *slog.Logger, ready chan<- struct{}, fn func(payload string)) error {
	for {
		err := s.listenOnce(ctx, &ready, fn)
		if ctx.Err() != nil {
			return nil
		}
		log.Warn("postgres: listen connection lost", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-clk.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, ready *chan<- struct{}, fn func(string)) error {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	if *ready != nil {
		close(*ready)
		*ready = nil
	}
	fn("")
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}
