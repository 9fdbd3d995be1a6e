package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"admit/agent/gatedb"
	"admit/agent/status"
)

// Status is what GET /status reports.
type Status struct {
	Device   string `json:"device"`
	Gate     string `json:"gate"`
	Firmware string `json:"firmware,omitempty"`
	Event    string `json:"event"` // the first of Events
	// Ready: every event served completed its first sync (before, the
	// gate decides nothing for the events that did not: Events says).
	Ready bool `json:"ready"`
	// Healthy is false when Unhealthy says why: revoked, not enrolled,
	// not synced, a config not applied, the database.
	Healthy   bool     `json:"healthy"`
	Unhealthy []string `json:"unhealthy,omitempty"`
	// Mode is ModeOnline only while the fleet answers within the
	// fallback thresholds; else ModeLocal.
	Mode           string        `json:"mode"`
	Uplink         bool          `json:"uplink"`
	Backlog        int           `json:"backlog"`                // journaled scans not yet acknowledged
	LastSeq        int64         `json:"last_seq"`               // newest journal seq
	Cursor         int64         `json:"replica_cursor"`         // replication cursor of Event
	VenueSynced    bool          `json:"venue_synced"`           // Event's venue data (peers' keys, staff, …) arrived
	Events         []EventStatus `json:"events"`                 // per event served
	Settings       settingsView  `json:"settings"`               // what the gate runs: its own, overlaid by the fleet's config
	ConfigError    string        `json:"config_error,omitempty"` // the last fleet config did not apply: why
	PeersConnected int           `json:"peers_connected"`        // peers this gate pushes to
	PeersInbound   int           `json:"peers_inbound"`          // peers pushing to this gate
	// Claims: whether the gate claims single-entry tickets from its peers
	// and how many take its claims, or that it decides alone (claim.go).
	Claims ClaimStatus `json:"claims"`
	// LastDecisions (ticket ids, what the gate showed) and GateLog (staff
	// sign-ins and lookups among its entries) only to a signed-in staff
	// member.
	LastDecisions []Decision        `json:"last_decisions,omitempty"`
	GateLog       []gatedb.LogEntry `json:"gate_log,omitempty"`
	Error         string            `json:"error,omitempty"`
}

// EventStatus is where the gate stands for one event it serves.
type EventStatus struct {
	Event       string    `json:"event"`
	Ready       bool      `json:"ready"` // its first sync completed: the gate decides for it
	Cursor      int64     `json:"replica_cursor"`
	VenueSynced bool      `json:"venue_synced"`
	SyncPoint   time.Time `json:"sync_point,omitzero"` // tickets issued after it may be admitted on their signature
}

// unhealthy says why the gate is not healthy (nil: it is): revoked by the
// fleet, not enrolled while a fleet is configured, an event never synced,
// the last fleet config not applied.
func (a *Agent) unhealthy(ctx context.Context) []string {
	var why []string
	if a.revoked.Load() {
		why = append(why, "revoked by the fleet: the replica is wiped, nothing is decided until the device is enrolled again")
	}
	if a.cfg.FleetURL != "" && a.cfg.Key == nil {
		why = append(why, "not enrolled: no device key while a fleet is configured")
	}
	for _, ev := range a.notReady() {
		why = append(why, "never synced: event "+ev+" has not completed its first sync (nothing is decided for it)")
	}
	a.cfgMu.Lock()
	if e := a.cfgErr; e != nil {
		why = append(why, e.Error())
	}
	a.cfgMu.Unlock()
	if _, err := a.db.Backlog(ctx); err != nil {
		why = append(why, "database: "+err.Error())
	}
	return why
}

// Status gathers the gate's status; forStaff adds the last decisions and
// the gate log.
func (a *Agent) Status(r *http.Request, forStaff bool) Status {
	ctx := r.Context()
	set := a.live.Load()
	s := Status{Device: a.cfg.Device, Gate: a.cfg.Gate, Firmware: a.cfg.Firmware, Event: set.events[0], Mode: a.Mode(), Uplink: a.Online(),
		VenueSynced: a.db.VenueSynced(set.events[0]), PeersConnected: a.gossip.Connected(), PeersInbound: a.gossip.Inbound(),
		Ready: a.allReady(), Settings: set.view(), Claims: a.claimStatus()}
	a.cfgMu.Lock()
	if a.cfgErr != nil {
		s.ConfigError = a.cfgErr.Error()
	}
	a.cfgMu.Unlock()
	if forStaff {
		s.LastDecisions = a.LastDecisions(20)
	}
	var errs []error
	var err error
	s.Backlog, err = a.db.Backlog(ctx)
	errs = append(errs, err)
	s.LastSeq, err = a.db.LastSeq(ctx)
	errs = append(errs, err)
	cur, err := a.db.Cursors(ctx)
	errs = append(errs, err)
	s.Cursor = cursorOf(cur, s.Event)
	for _, ev := range set.events {
		s.Events = append(s.Events, EventStatus{Event: ev, Ready: a.db.Ready(ev), Cursor: cursorOf(cur, ev),
			VenueSynced: a.db.VenueSynced(ev), SyncPoint: a.db.SyncPoint(ev)})
	}
	if forStaff {
		s.GateLog, err = a.db.GateLog(ctx, 10)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		s.Error = err.Error()
	}
	s.Unhealthy = a.unhealthy(ctx)
	s.Healthy = s.Error == "" && len(s.Unhealthy) == 0
	return s
}

// StaffRoute is one route of the gate's staff and status listener, as the
// handler registers it: what the route walk test enumerates.
type StaffRoute struct {
	Pattern string // "METHOD /path"
	// Staff: only a signed-in staff member (the session cookie; for a
	// change, its CSRF token too).
	Staff bool
	// Public is why a route needs no session ("" for the staff routes).
	Public string

	h http.HandlerFunc
}

// StaffRoutes lists the routes of StaffHandler.
func StaffRoutes() []StaffRoute { return (&Agent{}).staffRoutes() }

func (a *Agent) staffRoutes() []StaffRoute {
	public := func(pattern, why string, h http.HandlerFunc) StaffRoute {
		return StaffRoute{Pattern: pattern, Public: why, h: h}
	}
	staff := func(pattern string, h http.HandlerFunc) StaffRoute {
		return StaffRoute{Pattern: pattern, Staff: true, h: h}
	}
	return []StaffRoute{
		public("GET /healthz", "200, or 503 with why (revoked, not enrolled, not synced, config not applied): nothing of a ticket or staff", a.serveHealth),
		public("GET /metrics", "counts and gauges: no ticket id, holder or staff name in any label", a.serveMetrics),
		public("GET /status", "the gate's state; the last decisions and the gate log (ticket ids, staff names) only with a staff session", a.serveStatus),
		public("POST /staff/sign-in", "the PIN (or badge and PIN) authenticates it: locked out per staff member and per gate after failures", a.serveSignIn),
		staff("GET /staff/session", a.serveSession),
		staff("POST /staff/sign-out", a.serveSignOut),
		staff("GET /staff/ticket", a.serveLookup),
		staff("POST /staff/annul-last", a.serveAnnulLast),
		staff("POST /staff/force-admit", a.serveForceAdmit),
	}
}

// StaffHandler serves the gate's staff and status endpoints (StaffRoutes):
//
//	GET  /healthz              200 "ok" when healthy, else 503 and why, a line each
//	GET  /metrics              Prometheus text exposition
//	GET  /status               Status as JSON (decisions for staff only)
//	POST /staff/sign-in        {"staff": "ada", "pin": "…"} or {"badge": "04A1B2C3", "pin": "…"}
//	GET  /staff/session        the signed-in staff member and the CSRF token
//	POST /staff/sign-out       ends the session
//	GET  /staff/ticket?q=      lookup of a ticket id or text (holder names)
//	POST /staff/annul-last     {"reason": "..."}: annul the newest passage
//	POST /staff/force-admit    {"ticket": "id or text", "reason": "..."}
//
// Every request must name one of the gate's hosts (StatusHosts, loopback,
// the listener's address: a rebinding page's name is refused); every
// change must come from the gate's own origin, as JSON; staff routes need
// the session cookie and, for a change, its CSRF token
// (X-CSRF-Token, from sign-in or /staff/session).
func (a *Agent) StaffHandler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range a.staffRoutes() {
		mux.Handle(rt.Pattern, a.guard(rt))
	}
	return mux
}

// PeerHandler serves the peer endpoint, GET /peer (package peer), and
// nothing else: the listener other gates of the venue reach.
func (a *Agent) PeerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /peer", a.gossip.Handler())
	return mux
}

type ctxKey int

const sessionKey ctxKey = iota

// staffOf is the session the guard let through (nil on public routes
// without one).
func staffOf(r *http.Request) *StaffSession {
	s, _ := r.Context().Value(sessionKey).(*StaffSession)
	return s
}

func deny(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": msg, "code": code})
}

// maxStaffBody bounds a request body.
const maxStaffBody = 16 << 10

// guard checks a request before its route's handler: Host, origin, body
// type, session and CSRF token.
func (a *Agent) guard(rt StaffRoute) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")
		if !a.staff.hosts.allowed(r.Host) {
			deny(w, http.StatusForbidden, "forbidden_host", fmt.Sprintf("Host %q is not a name of this gate", r.Host))
			return
		}
		change := r.Method != http.MethodGet && r.Method != http.MethodHead
		if change {
			if err := checkOrigin(r); err != nil {
				deny(w, http.StatusForbidden, "forbidden_origin", err.Error())
				return
			}
			if rt.Public != "" && !isJSON(r) {
				// Before a session exists the body type is what keeps a
				// form of another site out (a forged sign-in).
				deny(w, http.StatusForbidden, "forbidden_content_type", "a change takes Content-Type application/json")
				return
			}
		}
		var sess *StaffSession
		if c, err := r.Cookie(staffCookie); err == nil {
			sess, _ = a.staff.session(c.Value)
		}
		if rt.Staff {
			if sess == nil {
				deny(w, http.StatusUnauthorized, "unauthenticated", "sign in as gate staff (POST /staff/sign-in)")
				return
			}
			if change && !checkCSRF(sess, r.Header.Get(staffCSRFHeader)) {
				deny(w, http.StatusForbidden, "forbidden_csrf", "a staff change carries the session's "+staffCSRFHeader+" header")
				return
			}
			if change && !isJSON(r) {
				deny(w, http.StatusUnsupportedMediaType, "unsupported_media_type", "a change takes Content-Type application/json")
				return
			}
		}
		if change {
			r.Body = http.MaxBytesReader(w, r.Body, maxStaffBody)
		}
		if sess != nil {
			r = r.WithContext(context.WithValue(r.Context(), sessionKey, sess))
		}
		rt.h(w, r)
	})
}

func isJSON(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// checkOrigin refuses a change another site's page sent: an Origin other
// than the request's own, or Sec-Fetch-Site saying cross-site or
// same-site. Requests without either (curl, the kiosk's own tools) pass.
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
		return fmt.Errorf("origin %q is not this gate's (%s)", origin, r.Host)
	}
	return nil
}

func (a *Agent) serveHealth(w http.ResponseWriter, r *http.Request) {
	if why := a.unhealthy(r.Context()); len(why) > 0 {
		http.Error(w, strings.Join(why, "\n"), http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

func (a *Agent) serveMetrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", status.ContentType)
	a.metrics.reg.Write(w)
}

func (a *Agent) serveStatus(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, a.Status(r, staffOf(r) != nil))
}

func (a *Agent) serveSignIn(w http.ResponseWriter, r *http.Request) {
	var c StaffCredentials
	if !readJSON(w, r, &c) {
		return
	}
	secret, sess, err := a.staff.signIn(r.Context(), c)
	var locked *StaffLockedError
	switch {
	case errors.As(err, &locked):
		w.Header().Set("Retry-After", strconv.Itoa(int(locked.RetryAfter().Seconds())))
		deny(w, http.StatusTooManyRequests, "locked", locked.Error())
		return
	case errors.Is(err, ErrStaffSignIn):
		deny(w, http.StatusUnauthorized, "bad_credentials", err.Error())
		return
	case errors.Is(err, ErrNoStaffYet):
		deny(w, http.StatusServiceUnavailable, "not_synced", err.Error())
		return
	case err != nil:
		a.cfg.Log.Error("agent: staff sign-in", "err", err)
		deny(w, http.StatusInternalServerError, "internal", "sign-in failed (see the gate's log)")
		return
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Value: secret, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil, MaxAge: int(StaffSessionMax.Seconds())})
	writeJSON(w, http.StatusOK, sess)
}

func (a *Agent) serveSession(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, staffOf(r))
}

func (a *Agent) serveSignOut(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(staffCookie); err == nil {
		a.staff.signOut(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: staffCookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

func (a *Agent) serveLookup(w http.ResponseWriter, r *http.Request) {
	l, err := a.Lookup(r.Context(), r.URL.Query().Get("q"))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		return
	}
	// Who read a holder's name, and when: the gate log keeps it.
	if err := a.db.Log(r.Context(), a.cfg.Clock.Now(), "staff_lookup", staffOf(r).Staff+" "+l.TicketID); err != nil {
		a.cfg.Log.Warn("agent: gate log", "err", err)
	}
	writeJSON(w, http.StatusOK, l)
}

func (a *Agent) serveAnnulLast(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Reason string `json:"reason"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	d, err := a.AnnulLast(r.Context(), staffOf(r).Staff, body.Reason)
	switch {
	case errors.Is(err, gatedb.ErrNoMark):
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "nothing to annul"})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, d)
	}
}

func (a *Agent) serveForceAdmit(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Ticket string `json:"ticket"`
		Reason string `json:"reason"`
	}
	if !readJSON(w, r, &body) {
		return
	}
	d, err := a.ForceAdmit(r.Context(), staffOf(r).Staff, body.Ticket, body.Reason)
	switch {
	case errors.Is(err, ErrNoReason):
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
	default:
		writeJSON(w, http.StatusOK, d)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return false
	}
	return true
}
