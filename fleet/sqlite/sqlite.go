// Package sqlite is the fleet's embedded store: one SQLite file in WAL mode
// (checked), migrations embedded in the binary and recorded, the queries of
// fleet/sqlstore.
package sqlite

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/mattn/go-sqlite3"

	"admit/fleet/sqlstore"
	"admit/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is the fleet store on SQLite.
type Store = sqlstore.Store

// Open opens or creates the store at path.
func Open(ctx context.Context, path string) (*Store, error) {
	migrations, _ := fs.Sub(migrationFiles, "migrations")
	db, err := sqlitedb.Open(ctx, path, migrations, sqlitedb.SyncFull)
	if err != nil {
		return nil, fmt.Errorf("fleet store: %w", err)
	}
	return sqlstore.New(db, sqlstore.Dialect{Name: "sqlite", IsUnique: isUnique, MaxParams: 32766, Local: true}), nil
}

func isUnique(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && se.Code == sqlite3.ErrConstraint &&
		(se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey)
}
