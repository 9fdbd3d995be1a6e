// Package audit is the fleet's record of every change: who (an operator, an
// API token, a device), when, what (the route, its target ids, a short
// summary that never holds a secret), from where, and how it ended (the
// HTTP status). fleet/api records every mutating call through a Recorder;
// other parts of the fleet (the agent link, the gates' staff actions)
// record theirs the same way. Admins read it through GET /api/audit and
// export it as CSV or JSON lines.
package audit

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Actor kinds.
const (
	ActorOperator  = "operator"
	ActorToken     = "token"
	ActorDevice    = "device"
	ActorAnonymous = "anonymous"
	// ActorStaff is gate staff (an operator signed in at a gate with its
	// PIN) whose action at the gate — a forced admission, an annulment —
	// reached the fleet with a scan: Method "GATE", the gate's route,
	// Target naming the device, event and ticket.
	ActorStaff = "staff"
)

// Entry is one recorded change.
type Entry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	ActorKind string    `json:"actor_kind"` // operator, token, device, staff, anonymous
	Actor     string    `json:"actor"`      // operator name, token id, device id; for anonymous calls the name claimed, if any
	Method    string    `json:"method"`
	Route     string    `json:"route"`            // the route's pattern, e.g. /api/events/{event}/tickets
	Target    string    `json:"target,omitempty"` // the ids the call named: "event=gala id=T1"
	Summary   string    `json:"summary,omitempty"`
	Remote    string    `json:"remote"` // the caller's address
	Status    int       `json:"status"` // the HTTP status it ended with
}

// Limits of one entry's text fields; longer values are cut.
const (
	MaxField   = 256
	MaxSummary = 512
)

// Clip cuts e's text fields to their limits.
func (e Entry) Clip() Entry {
	e.ActorKind, e.Actor = cut(e.ActorKind, MaxField), cut(e.Actor, MaxField)
	e.Method, e.Route, e.Target = cut(e.Method, 16), cut(e.Route, MaxField), cut(e.Target, MaxField)
	e.Summary, e.Remote = cut(e.Summary, MaxSummary), cut(e.Remote, MaxField)
	return e
}

func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// Filter selects entries, newest first.
type Filter struct {
	Actor  string    // exact actor, or ""
	Kind   string    // exact actor kind, or ""
	Route  string    // exact route pattern, or ""
	Target string    // substring of the target, or ""
	Since  time.Time // at or after; zero: no bound
	Until  time.Time // before; zero: no bound
	Before int64     // id below (paging); 0: no bound
	Limit  int       // at most; 0 means DefaultLimit, capped at MaxLimit
}

// Default and maximum page sizes of a query.
const (
	DefaultLimit = 100
	MaxLimit     = 10_000
)

// Recorder records entries.
type Recorder interface {
	RecordAudit(ctx context.Context, e Entry) error
}

// Store keeps the log.
type Store interface {
	Recorder
	// AuditLog returns entries matching f, newest first.
	AuditLog(ctx context.Context, f Filter) ([]Entry, error)
}

// PageSize is f's limit within bounds.
func (f Filter) PageSize() int {
	if f.Limit <= 0 {
		return DefaultLimit
	}
	return min(f.Limit, MaxLimit)
}

// WriteJSONLines writes one JSON object per line.
func WriteJSONLines(w io.Writer, es []Entry) error {
	enc := json.NewEncoder(w)
	for _, e := range es {
		if err := enc.Encode(e); err != nil {
			return fmt.Errorf("audit: %w", err)
		}
	}
	return nil
}

// CSVHeader is the first line of WriteCSV.
var CSVHeader = []string{"id", "at", "actor_kind", "actor", "method", "route", "target", "summary", "remote", "status"}

// WriteCSV writes a header and one row per entry (times in RFC 3339, UTC).
func WriteCSV(w io.Writer, es []Entry) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, e := range es {
		cw.Write([]string{strconv.FormatInt(e.ID, 10), e.At.UTC().Format(time.RFC3339Nano), e.ActorKind, csvSafe(e.Actor),
			e.Method, e.Route, csvSafe(e.Target), csvSafe(e.Summary), e.Remote, strconv.Itoa(e.Status)})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// csvSafe keeps a spreadsheet from reading a cell as a formula (actors,
// targets and summaries hold names operators typed).
func csvSafe(s string) string {
	if s != "" && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@') {
		return "'" + s
	}
	return s
}
