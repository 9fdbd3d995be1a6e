// Package api is the fleet's HTTP surface: the JSON API the console and
// admitctl use, the console's static files, operator sign-in, and the
// endpoints devices call (the agent stream, online decisions,
// enrollment).
//
// Every route is registered in routes.go with the permission it needs
// (fleet/access) or, for a public route, the reason it is public. The
// guard in front of every operator route checks, in order: the Host
// header is one of the node's names (DNS rebinding); the caller is an
// operator's session (cookie) or an API token (Authorization: Bearer); a
// session's state change comes from the console's own origin (Origin,
// Sec-Fetch-Site) and carries its CSRF token (X-CSRF-Token); a state
// change's body is application/json (text/csv for the import); the
// caller's grants carry the permission on the route's target. Every
// state change is recorded in the audit log, refused or not.
//
// Errors are JSON {"code", "message"}: 400 bad_request, 401
// unauthenticated / bad_credentials / bad_code, 403 forbidden, 404
// not_found, 409 exists, 410 bad_token / revoked, 413 too_large, 415
// unsupported_media_type, 429 locked (with Retry-After), 500 internal.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"admit/clock"
	"admit/fleet"
	"admit/fleet/audit"
	"admit/fleet/operator"
	"admit/fleet/wire"
)

// Options configures the handler.
type Options struct {
	// Operators signs operators in and authenticates sessions and API
	// tokens (required).
	Operators *operator.Service
	// Audit records every state change (required).
	Audit audit.Store
	// Hosts are the names and addresses the node answers to: a request
	// whose Host is none of them is refused (a DNS-rebinding page).
	// localhost and loopback addresses are always in; so is PublicURL's
	// host.
	Hosts []string
	// Decide serves online decisions (wire.DecidePath); nil: not served.
	Decide http.Handler
	// Clock stamps audit entries; nil: clock.Real{}.
	Clock clock.Clock
	// CAFingerprint is given to enrolling agents (and put in enrollment
	// QRs) when the node serves TLS with its own CA.
	CAFingerprint []byte
	// ReplicaKey is the fleet's replica key (public), given to enrolling
	// agents and put in enrollment QRs: what gates check replica data
	// against.
	ReplicaKey []byte
	// InsecureWarning, when set, says the node serves plain HTTP: GET
	// /api/node reports it and the console shows it on a banner.
	InsecureWarning string
	// PublicURL is the base URL put in enrollment QRs and setup links;
	// default: the scheme and host of the request.
	PublicURL string
	// Connected, when set, reports whether a device has a stream open to
	// this node; device listings then carry "connected".
	Connected func(device string) bool
}

// Handler returns the fleet's HTTP handler. agents serves /ws.
func Handler(svc *fleet.Service, agents http.Handler, log *slog.Logger, opts Options) http.Handler {
	if opts.Operators == nil || opts.Audit == nil {
		panic("api: Options.Operators and Options.Audit are required")
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	a := &api{svc: svc, ops: opts.Operators, log: log, opts: opts, hosts: newHostSet(opts.Hosts, opts.PublicURL)}
	mux := http.NewServeMux()
	for _, rt := range a.routes(agents) {
		mux.Handle(rt.Pattern, a.guard(rt))
	}
	return mux
}

type api struct {
	svc   *fleet.Service
	ops   *operator.Service
	log   *slog.Logger
	opts  Options
	hosts hostSet
}

// Body limits: a JSON body, a CSV import (bytes; fleet.MaxImport bounds
// its rows).
const (
	MaxBody   = 1 << 20
	MaxImport = 128 << 20
)

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var (
	errBadRequest = errors.New("bad request")
	errForbidden  = errors.New("forbidden")
)

func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, "internal"
	var locked *operator.LockedError
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &locked):
		status, code = http.StatusTooManyRequests, "locked"
		w.Header().Set("Retry-After", strconv.Itoa(int(locked.RetryAfter().Seconds())))
	case errors.As(err, &tooBig):
		status, code = http.StatusRequestEntityTooLarge, "too_large"
		err = fmt.Errorf("request body over the limit of %d bytes", tooBig.Limit)
	case errors.Is(err, errForbidden):
		status, code = http.StatusForbidden, "forbidden"
	case errors.Is(err, fleet.ErrNotFound), errors.Is(err, operator.ErrNotFound):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, fleet.ErrExists), errors.Is(err, operator.ErrExists):
		status, code = http.StatusConflict, "exists"
	case errors.Is(err, fleet.ErrNotStaff):
		status, code = http.StatusConflict, "not_staff"
	case errors.Is(err, fleet.ErrBadToken), errors.Is(err, operator.ErrBadToken):
		status, code = http.StatusGone, "bad_token"
	case errors.Is(err, fleet.ErrRevoked):
		status, code = http.StatusGone, "revoked"
	case errors.Is(err, operator.ErrBadCredentials):
		status, code = http.StatusUnauthorized, "bad_credentials"
	case errors.Is(err, operator.ErrBadCode):
		status, code = http.StatusUnauthorized, "bad_code"
	case errors.Is(err, errBadRequest), errors.Is(err, fleet.ErrInvalid), errors.Is(err, wire.ErrInvalid), errors.Is(err, operator.ErrInvalid):
		status, code = http.StatusBadRequest, "bad_request"
	}
	msg := err.Error()
	if status == http.StatusInternalServerError {
		a.log.Error("api", "path", r.URL.Path, "err", err)
		msg = "internal error (see the fleet's log)"
	}
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// readJSON decodes the request body (the guard bounds it to MaxBody) into
// v; an empty body leaves v as it is.
func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return err
		}
		return errors.Join(errBadRequest, err)
	}
	return nil
}

// reply writes v (status on success) or the error.
func (a *api) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, status, v)
}

// page reads ?limit: def when absent, a 400 naming the maximum when over it.
func page(r *http.Request, def, max int) (int, error) {
	s := r.URL.Query().Get("limit")
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("limit %q: a positive number: %w", s, errBadRequest)
	}
	if n > max {
		return 0, fmt.Errorf("limit %d above the maximum page size of %d: %w", n, max, errBadRequest)
	}
	return n, nil
}

// firstN bounds a listing to n items.
func firstN[T any](xs []T, n int) []T {
	if xs == nil {
		return []T{}
	}
	return xs[:min(n, len(xs))]
}

// NodeInfo is what GET /api/node says of the node: whether it serves TLS,
// and the warning the console shows when it does not. Anyone may read it:
// it tells nothing a connection to the node does not.
type NodeInfo struct {
	TLS     bool   `json:"tls"`
	Warning string `json:"warning,omitempty"`
}

func (a *api) nodeInfo(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, NodeInfo{TLS: a.opts.InsecureWarning == "", Warning: a.opts.InsecureWarning})
}
