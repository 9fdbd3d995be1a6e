package api

import (
	"errors"
	"net/http"
	"strings"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/wire"
	"admit/ui"
)

// Routes describes every route of the handler, as registered: what a test
// walks and what the docs list.
func Routes() []Route { return (&api{}).routes(nil) }

// table collects routes as they are declared.
type table struct {
	a  *api
	rs []Route
}

// handle registers an operator route: perm on the events scope names.
func (t *table) handle(pattern string, perm access.Perm, scope string, h http.HandlerFunc) *Route {
	t.rs = append(t.rs, Route{Pattern: pattern, Perm: perm, Scope: scope, h: h, scope: t.a.scopeFunc(scope)})
	return &t.rs[len(t.rs)-1]
}

// self registers a route any signed-in operator or token may call about
// itself.
func (t *table) self(pattern string, h http.HandlerFunc) {
	t.rs = append(t.rs, Route{Pattern: pattern, Self: true, h: h})
}

// public registers a route that needs no operator, saying why and who
// calls it.
func (t *table) public(pattern string, caller, why string, h http.Handler) {
	t.rs = append(t.rs, Route{Pattern: pattern, Public: why, Caller: caller, h: h})
}

func (a *api) routes(agents http.Handler) []Route {
	t := &table{a: a}
	decide := a.opts.Decide
	if decide == nil {
		decide = http.NotFoundHandler()
	}

	// Devices: they hold no operator's credentials and prove themselves.
	t.public("GET /ws", CallerDevice, "the agent stream: a device signs its hello with its enrolled key", agents)
	t.public("GET "+wire.DecidePath, CallerDevice, "the online-decision health probe: answers 204, reveals nothing", decide)
	t.public("POST "+wire.DecidePath, CallerDevice, "online decisions: the body is signed with the device's enrolled key", decide)
	t.public("POST "+wire.EnrollPath, CallerDevice, "enrollment: a one-time token an operator created authenticates it", http.HandlerFunc(a.enroll))

	// Browsers before sign-in.
	t.public("GET /", CallerBrowser, "the console's static files: the page signs in through the routes below", consoleFiles())
	t.public("GET /api/node", CallerBrowser, "whether the node serves TLS, for the console's insecure banner: nothing a connection does not tell", http.HandlerFunc(a.nodeInfo))
	t.public("POST /api/login", CallerBrowser, "sign-in, password step: throttled per account and address", http.HandlerFunc(a.login))
	t.public("POST /api/login/code", CallerBrowser, "sign-in, second step: the pending sign-in cookie and a TOTP or recovery code", http.HandlerFunc(a.loginCode))
	t.public("POST /api/setup/begin", CallerBrowser, "a setup link's one-time token authenticates it", http.HandlerFunc(a.setupBegin))
	t.public("POST /api/setup/finish", CallerBrowser, "a setup link's one-time token authenticates it", http.HandlerFunc(a.setupFinish))

	// The caller itself.
	t.self("GET /api/me", a.me)
	t.self("POST /api/logout", a.logout)
	t.self("GET /api/me/sessions", a.mySessions)
	t.self("POST /api/me/sessions/{id}/revoke", a.revokeMySession)

	// Events, their change log and layout.
	t.handle("GET /api/events", access.ReadEvents, ScopeListed, a.listEvents)
	t.handle("POST /api/events", access.CreateEvents, ScopeFleet, a.createEvent)
	t.handle("GET /api/events/{event}", access.ReadEvents, ScopeEvent, a.getEvent)
	t.handle("GET /api/events/{event}/log", access.ReadEvents, ScopeEvent, a.logState)
	t.handle("POST /api/events/{event}/compact", access.ManageEvents, ScopeEvent, a.compact)
	t.handle("GET /api/events/{event}/types", access.ReadLayout, ScopeEvent, a.listTypes)
	t.handle("PUT /api/events/{event}/types/{id}", access.ManageLayout, ScopeEvent, a.putType)
	t.handle("GET /api/events/{event}/zones", access.ReadLayout, ScopeEvent, a.listZones)
	t.handle("PUT /api/events/{event}/zones/{id}", access.ManageLayout, ScopeEvent, a.putZone)
	t.handle("GET /api/events/{event}/gates", access.ReadLayout, ScopeEvent, a.listGates)
	t.handle("PUT /api/events/{event}/gates/{id}", access.ManageLayout, ScopeEvent, a.putGate)

	// The event's settings for its gates, its UID badges and its
	// partners' JWT keys (venue.go): replicated to its gates.
	t.handle("GET /api/events/{event}/settings", access.ReadEvents, ScopeEvent, a.getSettings)
	t.handle("PUT /api/events/{event}/settings", access.ManageEvents, ScopeEvent, a.putSettings)
	t.handle("GET /api/events/{event}/badges", access.ManageBadges, ScopeEvent, a.listBadges)
	t.handle("PUT /api/events/{event}/badges/{id}", access.ManageBadges, ScopeEvent, a.putBadge)
	t.handle("POST /api/events/{event}/badges/{id}/delete", access.ManageBadges, ScopeEvent, a.deleteBadge)
	t.handle("GET /api/events/{event}/partner-keys", access.ReadLayout, ScopeEvent, a.listPartnerKeys)
	t.handle("PUT /api/events/{event}/partner-keys/{id}", access.ManagePartnerKeys, ScopeEvent, a.putPartnerKey)
	t.handle("POST /api/events/{event}/partner-keys/{id}/delete", access.ManagePartnerKeys, ScopeEvent, a.deletePartnerKey)

	// Gate staff of an event and their sign-in at its gates (a PIN, or a
	// badge and the PIN; hashed, replicated to the event's gates).
	t.handle("GET /api/events/{event}/staff", access.ManageStaff, ScopeEvent, a.listStaff)
	t.handle("PUT /api/events/{event}/staff/{name}", access.ManageStaff, ScopeEvent, a.setStaff)
	t.handle("POST /api/events/{event}/staff/{name}/clear", access.ManageStaff, ScopeEvent, a.clearStaff)

	// Tickets. Listings and lookups show codes and secrets only to
	// ReadTicketCodes.
	t.handle("POST /api/events/{event}/tickets", access.ManageTickets, ScopeEvent, a.issue)
	t.handle("POST /api/events/{event}/tickets/import", access.ManageTickets, ScopeEvent, a.importCSV).Body = "text/csv"
	t.handle("GET /api/events/{event}/tickets", access.ListTickets, ScopeEvent, a.listTickets)
	t.handle("GET /api/events/{event}/tickets/{id}", access.LookupTickets, ScopeEvent, a.getTicket)
	t.handle("POST /api/events/{event}/tickets/{id}/revoke", access.ManageTickets, ScopeEvent, a.revoke)
	t.handle("POST /api/events/{event}/tickets/{id}/reissue", access.ManageTickets, ScopeEvent, a.reissue)
	t.handle("GET /api/events/{event}/tickets/{id}/qr.png", access.ReadTicketCodes, ScopeEvent, a.ticketQR)

	// Devices and their configs.
	t.handle("GET /api/devices", access.ReadDevices, ScopeListed, a.listDevices)
	t.handle("GET /api/devices/{id}", access.ReadDevices, ScopeDevice, a.getDevice)
	t.handle("PUT /api/devices/{id}", access.ManageDevices, ScopeBody, a.preEnroll)
	t.handle("POST /api/devices/{id}/revoke", access.ManageDevices, ScopeDevice, a.revokeDevice)
	t.handle("POST /api/devices/{id}/rekey", access.RekeyDevices, ScopeFleet, a.rekeyDevice)
	t.handle("POST /api/devices/{id}/unrevoke", access.RekeyDevices, ScopeFleet, a.unrevokeDevice)
	t.handle("POST /api/enrollments", access.ManageDevices, ScopeBody, a.createEnrollment)
	t.handle("GET /api/configs", access.ReadConfigs, ScopeListed, a.listConfigs)
	t.handle("PUT /api/configs/{scope}", access.ManageConfigs, ScopeConfig, a.putConfig)

	t.handle("GET /api/scans", access.ReadScans, ScopeListed, a.scans)
	// Contests on tickets the gates reported (issue 16): read-only.
	t.handle("GET /api/contests", access.ReadScans, ScopeListed, a.contests)

	// Operators, tokens, audit: admins.
	t.handle("GET /api/operators", access.ManageOperators, ScopeFleet, a.listOperators)
	t.handle("POST /api/operators", access.ManageOperators, ScopeFleet, a.createOperator)
	t.handle("PUT /api/operators/{name}/grants", access.ManageOperators, ScopeFleet, a.setGrants)
	t.handle("POST /api/operators/{name}/unlock", access.ManageOperators, ScopeFleet, a.unlock)
	t.handle("POST /api/operators/{name}/reset", access.ManageOperators, ScopeFleet, a.resetOperator)
	t.handle("GET /api/operators/{name}/sessions", access.ManageOperators, ScopeFleet, a.operatorSessions)
	t.handle("POST /api/operators/{name}/sessions/{id}/revoke", access.ManageOperators, ScopeFleet, a.revokeOperatorSession)
	t.handle("GET /api/tokens", access.ManageTokens, ScopeFleet, a.listTokens)
	t.handle("POST /api/tokens", access.ManageTokens, ScopeFleet, a.createToken)
	t.handle("POST /api/tokens/{id}/revoke", access.ManageTokens, ScopeFleet, a.revokeToken)
	t.handle("GET /api/audit", access.ReadAudit, ScopeFleet, a.auditLog)
	return t.rs
}

// scopeFunc returns how a route finds the events its permission must hold
// on; nil for listed and body scopes, which the handler narrows itself.
func (a *api) scopeFunc(scope string) func(*http.Request) ([]string, error) {
	switch scope {
	case ScopeEvent:
		return func(r *http.Request) ([]string, error) { return []string{r.PathValue("event")}, nil }
	case ScopeFleet:
		return func(*http.Request) ([]string, error) { return nil, nil }
	case ScopeDevice:
		return func(r *http.Request) ([]string, error) { return a.deviceEvents(r, r.PathValue("id")) }
	case ScopeConfig:
		return func(r *http.Request) ([]string, error) {
			if id, ok := strings.CutPrefix(r.PathValue("scope"), "device:"); ok {
				return a.deviceEvents(r, id)
			}
			return nil, nil
		}
	case ScopeListed, ScopeBody:
		return nil
	}
	panic("api: unknown scope " + scope)
}

// deviceEvents are the events a device serves; none (the fleet as a whole)
// for an unknown device.
func (a *api) deviceEvents(r *http.Request, id string) ([]string, error) {
	d, err := a.svc.Store.Device(r.Context(), id)
	if errors.Is(err, fleet.ErrNotFound) {
		return nil, nil
	}
	return d.Events, err
}

// consoleFiles serves the console with a content security policy: its own
// scripts and styles only, never framed (clickjacking), forms and links
// to itself.
func consoleFiles() http.Handler {
	files := http.FileServerFS(ui.Console())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "+
			"script-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
		w.Header().Set("Referrer-Policy", "no-referrer")
		files.ServeHTTP(w, r)
	})
}
