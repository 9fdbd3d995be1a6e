package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Bulk inserts on PostgreSQL: one array per column, expanded by unnest,
// instead of a parameter per value (thousands of values, each encoded and
// sent on its own, in multi-row VALUES). It is a plain INSERT ... SELECT,
// so ON CONFLICT clauses and the transaction around it behave as with
// VALUES. SQLite keeps prepared multi-row VALUES statements (insertMany,
// 32 rows per execution): in process, binding is cheaper than SQLite's
// JSON functions (measured with json_each/jsonb_each: slower per scan
// than binding).

// blobColumns are the columns that hold bytes; a column whose values are
// all NULL takes its type from here.
var blobColumns = map[string]bool{"body": true, "code_secret": true, "public_key": true, "private": true, "token_hash": true}

// colKind is how a column's values travel in a bulk insert.
type colKind int

const (
	kindUnknown colKind = iota // only NULLs seen
	kindText
	kindInt
	kindBlob
	kindBool
)

// bulkColumns parses "INSERT INTO t (a, b, c) VALUES " into the statement
// head "INSERT INTO t (a, b, c)" and the column names.
func bulkColumns(prefix string) (head string, cols []string, ok bool) {
	head = strings.TrimSpace(prefix)
	head = strings.TrimSpace(strings.TrimSuffix(head, "VALUES"))
	open, end := strings.IndexByte(head, '('), strings.LastIndexByte(head, ')')
	if open < 0 || end != len(head)-1 {
		return "", nil, false
	}
	for _, c := range strings.Split(head[open+1:end], ",") {
		cols = append(cols, strings.TrimSpace(c))
	}
	return head, cols, true
}

// kinds returns each column's kind and whether it holds a NULL, or ok
// false when a value has a type the bulk path does not carry, or a string
// is not valid UTF-8 (PostgreSQL text must be).
func kinds(cols []string, rows [][]any) (ks []colKind, nulls []bool, ok bool) {
	ks, nulls = make([]colKind, len(cols)), make([]bool, len(cols))
	for _, r := range rows {
		if len(r) != len(cols) {
			return nil, nil, false
		}
		for i, v := range r {
			var k colKind
			switch v := v.(type) {
			case nil:
				nulls[i] = true
				continue
			case string:
				if !utf8.ValidString(v) {
					return nil, nil, false
				}
				k = kindText
			case int64, int:
				k = kindInt
			case []byte:
				if v == nil {
					nulls[i] = true
					continue
				}
				k = kindBlob
			case bool:
				k = kindBool
			default:
				return nil, nil, false
			}
			if ks[i] != kindUnknown && ks[i] != k {
				return nil, nil, false
			}
			ks[i] = k
		}
	}
	for i, k := range ks {
		if k == kindUnknown {
			if !blobColumns[cols[i]] {
				return nil, nil, false
			}
			ks[i] = kindBlob
		}
	}
	return ks, nulls, true
}

// bulkInsert inserts rows in one statement; ok false means it could not
// (the caller falls back to VALUES statements).
func (s *Store) bulkInsert(ctx context.Context, tx *sql.Tx, prefix string, rows [][]any, suffix string) (bool, error) {
	if s.d.Local || !s.d.Dollar {
		return false, nil
	}
	head, cols, ok := bulkColumns(prefix)
	if !ok || len(rows) == 0 {
		return false, nil
	}
	ks, nulls, ok := kinds(cols, rows)
	if !ok {
		return false, nil
	}
	for i, k := range ks {
		if nulls[i] && k != kindBlob { // unnest arrays here carry NULL only as bytes
			return false, nil
		}
	}
	return true, s.bulkUnnest(ctx, tx, head, ks, rows, suffix)
}

// bulkUnnest is the PostgreSQL path: INSERT ... SELECT * FROM
// unnest($1::text[], $2::bigint[], ...).
func (s *Store) bulkUnnest(ctx context.Context, tx *sql.Tx, head string, ks []colKind, rows [][]any, suffix string) error {
	var q strings.Builder
	q.WriteString(head)
	q.WriteString(" SELECT * FROM unnest(")
	args := make([]any, len(ks))
	for i, k := range ks {
		if i > 0 {
			q.WriteString(", ")
		}
		switch k {
		case kindText:
			col := make([]string, len(rows))
			for j, r := range rows {
				col[j], _ = r[i].(string)
			}
			args[i] = col
			fmt.Fprintf(&q, "$%d::text[]", i+1)
		case kindInt:
			col := make([]int64, len(rows))
			for j, r := range rows {
				switch v := r[i].(type) {
				case int64:
					col[j] = v
				case int:
					col[j] = int64(v)
				}
			}
			args[i] = col
			fmt.Fprintf(&q, "$%d::bigint[]", i+1)
		case kindBool:
			col := make([]bool, len(rows))
			for j, r := range rows {
				col[j], _ = r[i].(bool)
			}
			args[i] = col
			fmt.Fprintf(&q, "$%d::boolean[]", i+1)
		case kindBlob:
			col := make([][]byte, len(rows))
			for j, r := range rows {
				col[j], _ = r[i].([]byte)
			}
			args[i] = col
			fmt.Fprintf(&q, "$%d::bytea[]", i+1)
		}
	}
	q.WriteString(")")
	q.WriteString(suffix)
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}
