// Package sqlstore implements fleet.Store once, over database/sql, for the
// SQL backends the fleet runs on: fleet/sqlite and fleet/postgres open a
// database, apply their own migrations and hand it here with a Dialect.
//
// The two schemas have the same tables and columns; times are Unix
// milliseconds in 64-bit integers, checksums are stored as int64 bit
// patterns, lists are JSON text. Queries are written with ? placeholders
// and rebound to $n for PostgreSQL.
//
// The change log is per event: an append locks the event's row (an UPDATE
// that changes nothing), so seqs are dense and commit in order on both
// backends, which is what lets a reader trust "nothing after seq n yet".
package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"admit/fleet"
	"admit/fleet/kek"
)

// Dialect is what differs between backends.
type Dialect struct {
	Name string
	// Dollar rebinds ? placeholders to $1, $2, ... (PostgreSQL).
	Dollar bool
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique func(error) bool
	// Notify, when set, is called inside a transaction that logged changes,
	// changed a device or set a config (payloads "e:<event>",
	// "d:<device>", "c:<scope>"), so other nodes wake up when it commits.
	Notify func(ctx context.Context, tx *sql.Tx, payload string) error
	// MaxParams bounds the parameters of one statement.
	MaxParams int
	// Local says the database is in-process (SQLite): inserts then go
	// through statements prepared once per call and executed per 32 rows
	// (insertMany), and one committer writes scans; over a network
	// (PostgreSQL) one statement per many rows saves round trips.
	Local bool
}

// Store is a fleet.Store over a *sql.DB.
type Store struct {
	db  *sql.DB
	d   Dialect
	kek *kek.Key // seals private keys (keys.go); nil: none can be stored or used

	scanq   chan *scanReq // to the group committer
	stop    chan struct{} // closed by Close
	stopped chan struct{} // closed when the committer returned
}

var _ fleet.Store = (*Store)(nil)

// New wraps an open, migrated database. k seals the private keys the
// store keeps (see keys.go); without one it can neither store nor use them.
func New(db *sql.DB, d Dialect, k *kek.Key) *Store {
	if d.MaxParams <= 0 {
		d.MaxParams = 999
	}
	s := &Store{db: db, d: d, kek: k, scanq: make(chan *scanReq), stop: make(chan struct{}), stopped: make(chan struct{})}
	go s.writeScans()
	return s
}

// DB returns the underlying database (for backend-specific extras).
func (s *Store) DB() *sql.DB { return s.db }

// Close stops the scan writer and closes the database.
func (s *Store) Close() error {
	close(s.stop)
	<-s.stopped
	return s.db.Close()
}

// q rebinds a query for the dialect.
func (s *Store) q(query string) string {
	if !s.d.Dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

func (s *Store) notify(ctx context.Context, tx *sql.Tx, payload string) error {
	if s.d.Notify == nil {
		return nil
	}
	return s.d.Notify(ctx, tx, payload)
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func (s *Store) wrapUnique(err error, what string) error {
	if err == nil {
		return nil
	}
	if s.d.IsUnique != nil && s.d.IsUnique(err) {
		return fmt.Errorf("%s: %w", what, fleet.ErrExists)
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (s *Store) begin(ctx context.Context) (*sql.Tx, error) {
	return s.db.BeginTx(ctx, nil)
}

// insertMany inserts rows of ncol values: on PostgreSQL in one bulk
// statement (bulk.go) when the values allow, else with multi-row VALUES
// statements (prepared once per call on SQLite).
func (s *Store) insertMany(ctx context.Context, tx *sql.Tx, prefix string, ncol int, rows [][]any, suffix string) error {
	if len(rows) > 1 {
		if done, err := s.bulkInsert(ctx, tx, prefix, rows, suffix); done || err != nil {
			return err
		}
	}
	tuple := "(" + strings.TrimSuffix(strings.Repeat("?, ", ncol), ", ") + ")"
	if s.d.Local && len(rows) > 0 {
		// In process: prepared statements of many rows each (one
		// execution through database/sql per chunk, not per row), the
		// rest one row at a time.
		const per = 32 // measured: less CPU per row than 1 or 128
		if len(rows) >= per {
			st, err := tx.PrepareContext(ctx, prefix+strings.TrimSuffix(strings.Repeat(tuple+", ", per), ", ")+suffix)
			if err != nil {
				return err
			}
			defer st.Close()
			args := make([]any, 0, per*ncol)
			for len(rows) >= per {
				args = args[:0]
				for _, r := range rows[:per] {
					args = append(args, r...)
				}
				if _, err := st.ExecContext(ctx, args...); err != nil {
					return err
				}
				rows = rows[per:]
			}
		}
		if len(rows) > 0 {
			st, err := tx.PrepareContext(ctx, prefix+tuple+suffix)
			if err != nil {
				return err
			}
			defer st.Close()
			for _, r := range rows {
				if _, err := st.ExecContext(ctx, r...); err != nil {
					return err
				}
			}
		}
		return nil
	}
	per := max(1, min(1000, s.d.MaxParams/ncol))
	for len(rows) > 0 {
		n := min(per, len(rows))
		var b strings.Builder
		b.WriteString(prefix)
		args := make([]any, 0, n*ncol)
		for i := range n {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(tuple)
			args = append(args, rows[i]...)
		}
		b.WriteString(suffix)
		if _, err := tx.ExecContext(ctx, s.q(b.String()), args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}
