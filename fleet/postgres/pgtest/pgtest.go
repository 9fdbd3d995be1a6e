// Package pgtest gives tests of the PostgreSQL store a fresh schema on the
// CI database.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// DefaultTestURL is the database tests use unless ADMIT_TEST_POSTGRES says
// otherwise.
const DefaultTestURL = "postgres://root@127.0.0.1:5432/test?sslmode=disable"

// DSN creates a fresh schema for one test on the test database and
// returns a DSN whose search_path selects it; the schema is dropped when the
// test ends. Without a reachable PostgreSQL it skips the test, unless the
// CI environment variable is set: then it fails it.
func DSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv("ADMIT_TEST_POSTGRES")
	if base == "" {
		base = DefaultTestURL
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("postgres at %s: %v (CI is set, so the PostgreSQL suite must run)", base, err)
		}
		t.Skipf("no PostgreSQL at %s (%v); set CI to make this a failure", base, err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "admit_test_" + hex.EncodeToString(b[:])
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		conn.Close(ctx)
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
		conn.Close(context.Background())
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
