package api

import (
	"context"
	"fmt"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"admit/fleet/access"
	"admit/fleet/audit"
	"admit/fleet/operator"
)

// Route is one registered route as the table declares it.
type Route struct {
	Pattern string // "METHOD /path/{wildcard}"
	// Perm is what the caller's grants must carry, on the events Scope
	// names; "" for a public or a self route.
	Perm  access.Perm
	Scope string // ScopeEvent, ScopeFleet, ScopeListed, ScopeDevice, ScopeConfig, ScopeBody
	// Self: any signed-in operator or token, about itself.
	Self bool
	// Public is why a route needs no operator ("" for the others), and
	// Caller who does call it: CallerBrowser (host and origin checked)
	// or CallerDevice (authenticated by its own keys or token).
	Public string
	Caller string
	// Body is the media type a state change takes ("" for
	// application/json).
	Body string

	h     http.Handler
	scope func(*http.Request) ([]string, error)
}

// Scopes: where a route's permission must hold.
const (
	ScopeEvent  = "event"  // the {event} of the path
	ScopeFleet  = "fleet"  // the fleet as a whole: a grant on all events
	ScopeListed = "listed" // any event: the handler lists what the caller's scope covers
	ScopeDevice = "device" // the events the {id} device serves
	ScopeConfig = "config" // a device config: its device's events; a group config: the fleet
	ScopeBody   = "body"   // the events the request body names, checked by the handler
)

// Callers of public routes.
const (
	CallerBrowser = "browser"
	CallerDevice  = "device"
)

// Request headers and cookies of a session.
const (
	CSRFHeader    = "X-CSRF-Token"
	SessionCookie = "__Host-admit-session"
	PendingCookie = "__Host-admit-signin" // between the password and the code
)

func stateChange(method string) bool {
	return method != http.MethodGet && method != http.MethodHead && method != http.MethodOptions
}

type ctxKey int

const (
	principalKey ctxKey = iota
	noteKey
)

// who is the caller the guard let through (zero for public routes).
func who(r *http.Request) operator.Principal {
	p, _ := r.Context().Value(principalKey).(operator.Principal)
	return p
}

// auditNote is what a handler adds to its audit entry.
type auditNote struct {
	summary string
	actor   *operator.Principal // set by sign-in routes: who it turned out to be
	claimed string              // the name an anonymous caller gave
}

// note sets the summary of the call's audit entry; never put a secret in it.
func note(r *http.Request, format string, args ...any) {
	if n, ok := r.Context().Value(noteKey).(*auditNote); ok {
		n.summary = fmt.Sprintf(format, args...)
	}
}

func noteActor(r *http.Request, p operator.Principal) {
	if n, ok := r.Context().Value(noteKey).(*auditNote); ok {
		n.actor = &p
	}
}

func noteClaimed(r *http.Request, name string) {
	if n, ok := r.Context().Value(noteKey).(*auditNote); ok {
		n.claimed = name
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// deny writes a refusal.
func deny(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, apiError{Code: code, Message: msg})
}

// guard wraps a route's handler with its checks and its audit entry.
func (a *api) guard(rt Route) http.Handler {
	device := rt.Public != "" && rt.Caller == CallerDevice
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if device {
			// Devices authenticate with their keys or a one-time token;
			// their Host is whatever fleet URL they were given.
			if stateChange(r.Method) {
				r.Body = http.MaxBytesReader(w, r.Body, MaxBody)
				a.audited(w, r, rt, operator.Principal{}, rt.h.ServeHTTP)
				return
			}
			rt.h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if !a.hosts.allowed(r.Host) {
			deny(w, http.StatusForbidden, "forbidden_host", fmt.Sprintf("Host %q is not a name of this fleet node (start it with -host to add one)", r.Host))
			return
		}
		var p operator.Principal
		run := func(w http.ResponseWriter, r *http.Request) {
			r = r.WithContext(context.WithValue(r.Context(), principalKey, p))
			rt.h.ServeHTTP(w, r)
		}
		if !stateChange(r.Method) {
			if rt.Public == "" {
				var status int
				var msg string
				if p, _, status, msg = a.authenticate(r); status != 0 {
					deny(w, status, "unauthenticated", msg)
					return
				}
				if err := a.authorize(r, rt, p); err != nil {
					a.fail(w, r, err)
					return
				}
			}
			run(w, r)
			return
		}
		a.audited(w, r, rt, p, func(w http.ResponseWriter, r *http.Request) {
			if err := checkOrigin(r); err != nil {
				deny(w, http.StatusForbidden, "forbidden_origin", err.Error())
				return
			}
			var session string
			if rt.Public == "" {
				var status int
				var msg string
				if p, session, status, msg = a.authenticate(r); status != 0 {
					deny(w, status, "unauthenticated", msg)
					return
				}
				noteActor(r, p)
				if session != "" && !operator.CheckCSRF(session, r.Header.Get(CSRFHeader)) {
					deny(w, http.StatusForbidden, "forbidden_csrf", "a signed-in console's change carries its "+CSRFHeader+" header")
					return
				}
			}
			if err := checkBody(r, rt.Body); err != nil {
				deny(w, http.StatusUnsupportedMediaType, "unsupported_media_type", err.Error())
				return
			}
			if rt.Public == "" {
				if err := a.authorize(r, rt, p); err != nil {
					a.fail(w, r, err)
					return
				}
			}
			limit := int64(MaxBody)
			if rt.Body == "text/csv" {
				limit = MaxImport
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			run(w, r)
		})
	})
}

// audited runs h and records the call in the audit log.
func (a *api) audited(w http.ResponseWriter, r *http.Request, rt Route, p operator.Principal, h func(http.ResponseWriter, *http.Request)) {
	n := &auditNote{}
	if p.Name != "" {
		n.actor = &p
	}
	sw := &statusWriter{ResponseWriter: w}
	h(sw, r.WithContext(context.WithValue(r.Context(), noteKey, n)))
	e := audit.Entry{At: a.opts.Clock.Now().UTC(), ActorKind: audit.ActorAnonymous, Actor: n.claimed, Method: r.Method,
		Route: strings.TrimPrefix(rt.Pattern, r.Method+" "), Target: targetOf(r, rt.Pattern), Summary: n.summary,
		Remote: remoteAddr(r), Status: sw.status}
	if n.actor != nil {
		e.ActorKind, e.Actor = n.actor.Kind, n.actor.Name
	}
	if err := a.opts.Audit.RecordAudit(context.WithoutCancel(r.Context()), e); err != nil {
		a.log.Error("audit", "route", rt.Pattern, "err", err)
	}
}

var wildcard = regexp.MustCompile(`\{([a-z]+)\}`)

// targetOf names the ids a request's path gave: "event=gala id=T1".
func targetOf(r *http.Request, pattern string) string {
	var parts []string
	for _, m := range wildcard.FindAllStringSubmatch(pattern, -1) {
		parts = append(parts, m[1]+"="+r.PathValue(m[1]))
	}
	return strings.Join(parts, " ")
}

// remoteAddr is the caller's address (the TCP peer: the node trusts no
// forwarding header).
func remoteAddr(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}

// authenticate finds the caller: an API token in Authorization, else the
// session cookie. It returns the session's secret for the CSRF check
// (empty for a token), or a 401 status and message.
func (a *api) authenticate(r *http.Request) (operator.Principal, string, int, string) {
	if h := r.Header.Get("Authorization"); h != "" {
		secret, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return operator.Principal{}, "", http.StatusUnauthorized, "Authorization takes a Bearer API token"
		}
		p, err := a.ops.AuthenticateToken(r.Context(), strings.TrimSpace(secret))
		if err != nil {
			return p, "", http.StatusUnauthorized, "API token unknown, expired or revoked"
		}
		return p, "", 0, ""
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return operator.Principal{}, "", http.StatusUnauthorized, "sign in, or send an API token (Authorization: Bearer)"
	}
	p, err := a.ops.Authenticate(r.Context(), c.Value)
	if err != nil {
		return p, "", http.StatusUnauthorized, "session ended: sign in again"
	}
	return p, c.Value, 0, ""
}

// authorize asks the policy whether p may call rt on the request's target.
func (a *api) authorize(r *http.Request, rt Route, p operator.Principal) error {
	if rt.Self {
		return nil
	}
	if rt.scope == nil { // listed or body: the handler narrows; the caller needs the permission somewhere
		if access.AllowsSome(p.Grants, rt.Perm) {
			return nil
		}
		return fmt.Errorf("%s %s lacks %s: %w", p.Kind, p.Name, rt.Perm, errForbidden)
	}
	events, err := rt.scope(r)
	if err != nil {
		return err
	}
	if !access.Allows(p.Grants, rt.Perm, events) {
		where := "the whole fleet"
		if len(events) > 0 {
			where = "event " + strings.Join(events, ", ")
		}
		return fmt.Errorf("%s %s lacks %s on %s: %w", p.Kind, p.Name, rt.Perm, where, errForbidden)
	}
	return nil
}

// allowedOn is the same question a handler asks about a target it reads
// from the body or a listing.
func allowedOn(r *http.Request, perm access.Perm, events []string) error {
	p := who(r)
	if !access.Allows(p.Grants, perm, events) {
		where := "the whole fleet"
		if len(events) > 0 {
			where = "event " + strings.Join(events, ", ")
		}
		return fmt.Errorf("%s %s lacks %s on %s: %w", p.Kind, p.Name, perm, where, errForbidden)
	}
	return nil
}

// scopeOf is where the caller holds perm (for narrowing listings).
func scopeOf(r *http.Request, perm access.Perm) access.Scope {
	return access.ScopeOf(who(r).Grants, perm)
}

// checkOrigin refuses a state change another site's page sent: an Origin
// other than the request's own, or Sec-Fetch-Site saying cross-site or
// same-site. Requests without either (admitctl, scripts) pass: they carry
// no cookie a browser would add.
func checkOrigin(r *http.Request) error {
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		return fmt.Errorf("a %s request may not change anything (Sec-Fetch-Site)", site)
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
		return fmt.Errorf("origin %q is not this node's (%s)", origin, r.Host)
	}
	if (r.TLS != nil) != (u.Scheme == "https") {
		return fmt.Errorf("origin %q: scheme differs from this node's", origin)
	}
	return nil
}

// checkBody refuses a state change whose body is not of the route's
// media type: application/json, or text/csv for the import. An HTML form
// can send neither without a script, and a script of another origin
// cannot send them without a CORS preflight, which this node never
// grants.
func checkBody(r *http.Request, want string) error {
	if want == "" {
		want = "application/json"
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != want {
		return fmt.Errorf("a change takes Content-Type %s, not %q", want, r.Header.Get("Content-Type"))
	}
	return nil
}

// hostSet is the names and addresses a node answers to.
type hostSet map[string]bool

func newHostSet(hosts []string, publicURL string) hostSet {
	s := hostSet{"localhost": true, "127.0.0.1": true, "::1": true}
	for _, h := range hosts {
		s[strings.ToLower(stripPort(h))] = true
	}
	if u, err := url.Parse(publicURL); err == nil && u.Host != "" {
		s[strings.ToLower(u.Hostname())] = true
	}
	return s
}

func stripPort(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.Trim(h, "[]")
}

func (s hostSet) allowed(host string) bool {
	return host != "" && s[strings.ToLower(stripPort(host))]
}

// noteDevice names the device a device call turned out to be from.
func noteDevice(r *http.Request, id string) {
	noteActor(r, operator.Principal{Kind: audit.ActorDevice, Name: id})
}
