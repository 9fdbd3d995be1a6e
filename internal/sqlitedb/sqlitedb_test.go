package sqlitedb

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
)

func TestOpenMigratesOnceAndUsesWAL(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	m := fstest.MapFS{
		"0001_a.sql": {Data: []byte(`CREATE TABLE a (id INTEGER PRIMARY KEY);`)},
		"0002_b.sql": {Data: []byte(`INSERT INTO a (id) VALUES (1);`)},
	}
	for i := 0; i < 2; i++ { // the second open must not re-run anything
		db, err := Open(ctx, path, m, SyncFull)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM a`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("open %d: rows=%d err=%v", i, n, err)
		}
		var mode string
		db.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
		var fk int
		db.QueryRow(`PRAGMA foreign_keys`).Scan(&fk)
		if mode != "wal" || fk != 1 {
			t.Fatalf("journal_mode=%s foreign_keys=%d", mode, fk)
		}
		db.Close()
	}
}

func TestFailedMigrationLeavesNoTrace(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	m := fstest.MapFS{"0001_bad.sql": {Data: []byte(`CREATE TABLE a (id INTEGER); SELECT nonsense FROM nowhere;`)}}
	if _, err := Open(ctx, path, m, SyncFull); err == nil {
		t.Fatal("bad migration accepted")
	}
	db, err := Open(ctx, path, fstest.MapFS{}, SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	db.QueryRow(`SELECT COUNT(*) FROM sqlite_master WHERE name = 'a'`).Scan(&n)
	if n != 0 {
		t.Fatal("half-applied migration left table a behind")
	}
}

// TestFilesOwnerOnly: the database, its WAL and its shared-memory file
// are 0600, whatever the umask lets SQLite do by itself; a database an
// earlier version left readable is made 0600 when opened.
func TestFilesOwnerOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	m := fstest.MapFS{"0001_a.sql": {Data: []byte(`CREATE TABLE a (id INTEGER PRIMARY KEY);`)}}
	db, err := Open(ctx, path, m, SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`INSERT INTO a (id) VALUES (1)`); err != nil { // the WAL and SHM exist now
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		st, err := os.Stat(p)
		if err != nil || st.Mode().Perm() != Mode {
			t.Errorf("%s: %v %v, want %04o", filepath.Base(p), st.Mode(), err, Mode)
		}
	}
	db.Close()
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err = Open(ctx, path, m, SyncFull)
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	if st, _ := os.Stat(path); st.Mode().Perm() != Mode {
		t.Errorf("reopened: %v", st.Mode())
	}
}
