// Package sqlite is the fleet's embedded store: one SQLite file in WAL mode
// (checked; the database and its WAL and shared-memory files 0600),
// migrations embedded in the binary and recorded, the queries of
// fleet/sqlstore, and private keys sealed with a key-encryption key
// (fleet/kek) kept outside the database.
package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/mattn/go-sqlite3"

	"admit/fleet/kek"
	"admit/fleet/sqlstore"
	"admit/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the fleet store on SQLite.
type Store = sqlstore.Store

// KEKFile is the name of the key-encryption key file Open keeps beside
// the database: the embedded setup's default, created on first open.
const KEKFile = "kek"

// Open opens or creates the store at path, its private keys sealed with
// the key-encryption key in the file KEKFile beside it (created 0600 on
// first open). That is the embedded default: a copy of the database alone
// then holds no usable key, but a copy of the directory does; a
// production fleet keeps its KEK elsewhere (OpenWith).
func Open(ctx context.Context, path string) (*Store, error) {
	k, _, err := kek.LoadOrCreateFile(filepath.Join(filepath.Dir(path), KEKFile))
	if err != nil {
		return nil, fmt.Errorf("fleet store: %w", err)
	}
	return OpenWith(ctx, path, k)
}

// OpenWith opens or creates the store at path, its private keys sealed
// with k, and seals any plaintext key an earlier version left.
func OpenWith(ctx context.Context, path string, k *kek.Key) (*Store, error) {
	migrations, _ := fs.Sub(migrationFiles, "migrations")
	db, err := sqlitedb.Open(ctx, path, migrations, sqlitedb.SyncFull)
	if err != nil {
		return nil, fmt.Errorf("fleet store: %w", err)
	}
	s := sqlstore.New(db, sqlstore.Dialect{Name: "sqlite", IsUnique: isUnique, MaxParams: 32766, Local: true}, k)
	if _, err := s.SealPlaintext(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("fleet store: %w", err)
	}
	return s, nil
}

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint &&
		(se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}
