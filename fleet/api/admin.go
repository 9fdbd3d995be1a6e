package api

import (
	"fmt"
	"net/http"
	"strconv"
	"time"

	"admit/fleet/access"
	"admit/fleet/audit"
	"admit/fleet/operator"
)

func (a *api) listOperators(w http.ResponseWriter, r *http.Request) {
	n, err := page(r, DefaultListPage, MaxListPage)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ops, err := a.ops.Operators(r.Context())
	a.reply(w, r, http.StatusOK, firstN(ops, n), err)
}

// OperatorRequest creates an operator.
type OperatorRequest struct {
	Name   string         `json:"name"`
	Grants []access.Grant `json:"grants"`
}

// SetupLink is a one-time link with which an operator sets a password and
// enrols TOTP; shown once.
type SetupLink struct {
	Operator operator.Operator `json:"operator"`
	Token    string            `json:"token"`
	URL      string            `json:"url"`
}

// SetupURL is the console's setup page for a setup token. The token is in
// the fragment, which browsers never send to a server or a proxy log.
func SetupURL(base, token string) string { return base + "/setup.html#token=" + token }

func (a *api) createOperator(w http.ResponseWriter, r *http.Request) {
	var req OperatorRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	note(r, "create operator %q with %v", req.Name, req.Grants)
	o, token, err := a.ops.CreateOperator(r.Context(), req.Name, req.Grants, who(r).Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, SetupLink{Operator: o, Token: token, URL: SetupURL(a.baseURL(r), token)})
}

func (a *api) setGrants(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Grants []access.Grant `json:"grants"`
	}
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	note(r, "grants %v", req.Grants)
	o, err := a.ops.SetGrants(r.Context(), r.PathValue("name"), req.Grants)
	a.reply(w, r, http.StatusOK, o, err)
}

func (a *api) unlock(w http.ResponseWriter, r *http.Request) {
	note(r, "unlock sign-in")
	if err := a.ops.Unlock(r.Context(), r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) resetOperator(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	note(r, "reset: password, TOTP and sessions cleared, new setup link")
	token, err := a.ops.ResetOperator(r.Context(), name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	o, err := a.ops.Store.Operator(r.Context(), name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, SetupLink{Operator: o, Token: token, URL: SetupURL(a.baseURL(r), token)})
}

func (a *api) operatorSessions(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if _, err := a.ops.Store.Operator(r.Context(), name); err != nil {
		a.fail(w, r, err)
		return
	}
	ss, err := a.ops.Sessions(r.Context(), name, who(r).Session)
	a.reply(w, r, http.StatusOK, firstN(ss, MaxListPage), err)
}

func (a *api) revokeOperatorSession(w http.ResponseWriter, r *http.Request) {
	note(r, "end a session")
	if err := a.ops.RevokeSession(r.Context(), r.PathValue("name"), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) listTokens(w http.ResponseWriter, r *http.Request) {
	n, err := page(r, DefaultListPage, MaxListPage)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ts, err := a.ops.Tokens(r.Context())
	a.reply(w, r, http.StatusOK, firstN(ts, n), err)
}

// TokenRequest creates an API token.
type TokenRequest struct {
	Name       string       `json:"name"`
	Grant      access.Grant `json:"grant"`
	TTLSeconds int64        `json:"ttl_seconds,omitempty"` // 0: until revoked
}

// NewToken is a created token with its secret, shown this once.
type NewToken struct {
	operator.Token
	Secret string `json:"secret"`
}

func (a *api) createToken(w http.ResponseWriter, r *http.Request) {
	var req TokenRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	note(r, "create token %q: %s, life %ds", req.Name, req.Grant, req.TTLSeconds)
	secret, t, err := a.ops.CreateToken(r.Context(), req.Name, req.Grant, time.Duration(req.TTLSeconds)*time.Second, who(r).Kind+":"+who(r).Name)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, NewToken{Token: t, Secret: secret})
}

func (a *api) revokeToken(w http.ResponseWriter, r *http.Request) {
	note(r, "revoke token")
	t, err := a.ops.RevokeToken(r.Context(), r.PathValue("id"))
	a.reply(w, r, http.StatusOK, t, err)
}

// auditLog answers GET /api/audit: filters actor, kind, route, target
// (substring), since and until (RFC 3339), before (an id, to page), limit
// (default 100, at most 10,000); format json (default), jsonl or csv (the
// last two as a download).
func (a *api) auditLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	n, err := page(r, audit.DefaultLimit, audit.MaxLimit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	f := audit.Filter{Actor: q.Get("actor"), Kind: q.Get("kind"), Route: q.Get("route"), Target: q.Get("target"), Limit: n}
	for _, t := range []struct {
		name string
		to   *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(t.name); v != "" {
			if *t.to, err = time.Parse(time.RFC3339, v); err != nil {
				a.fail(w, r, fmt.Errorf("%s: an RFC 3339 time: %w", t.name, errBadRequest))
				return
			}
		}
	}
	if v := q.Get("before"); v != "" {
		if f.Before, err = strconv.ParseInt(v, 10, 64); err != nil {
			a.fail(w, r, fmt.Errorf("before: an entry id: %w", errBadRequest))
			return
		}
	}
	es, err := a.opts.Audit.AuditLog(r.Context(), f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	switch format := q.Get("format"); format {
	case "", "json":
		writeJSON(w, http.StatusOK, firstN(es, n))
	case "jsonl":
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Content-Disposition", `attachment; filename="admit-audit.jsonl"`)
		audit.WriteJSONLines(w, es)
	case "csv":
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="admit-audit.csv"`)
		audit.WriteCSV(w, es)
	default:
		a.fail(w, r, fmt.Errorf("format %q: json, jsonl or csv: %w", format, errBadRequest))
	}
}
