// Package api is the fleet's HTTP JSON API, used by the console and
// admitctl, plus the console's static files, the agent stream endpoint and
// the agents' enrollment call.
//
// Errors are JSON {"code", "message"}: 400 bad_request, 404 not_found,
// 409 exists, 410 bad_token / revoked, 500 internal.
package api

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"admit/fleet"
	"admit/fleet/qrimage"
	"admit/fleet/wire"
	"admit/ui"
)

// Options configures the handler.
type Options struct {
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
	// PublicURL is the base URL put in enrollment QRs; default: the
	// scheme and host of the request that created the token.
	PublicURL string
	// Connected, when set, reports whether a device has a stream open to
	// this node; device listings then carry "connected".
	Connected func(device string) bool
}

// deviceView is a device as the API shows it: its status and whether it
// has a stream open to this node (absent when the node cannot tell).
type deviceView struct {
	fleet.DeviceStatus
	Connected *bool `json:"connected,omitempty"`
}

func (a *api) view(d fleet.DeviceStatus) deviceView {
	v := deviceView{DeviceStatus: d}
	if a.opts.Connected != nil {
		c := a.opts.Connected(d.ID)
		v.Connected = &c
	}
	return v
}

// Handler returns the fleet's HTTP handler. agents serves /ws.
func Handler(svc *fleet.Service, agents http.Handler, log *slog.Logger, opts Options) http.Handler {
	a := &api{svc: svc, log: log, opts: opts}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", agents)
	mux.HandleFunc("POST "+wire.EnrollPath, a.enroll)
	mux.HandleFunc("GET /api/node", a.nodeInfo)

	mux.HandleFunc("GET /api/events", a.listEvents)
	mux.HandleFunc("POST /api/events", a.createEvent)
	mux.HandleFunc("GET /api/events/{event}", a.getEvent)
	mux.HandleFunc("GET /api/events/{event}/log", a.logState)
	mux.HandleFunc("POST /api/events/{event}/compact", a.compact)

	mux.HandleFunc("POST /api/events/{event}/tickets", a.issue)
	mux.HandleFunc("POST /api/events/{event}/tickets/import", a.importCSV)
	mux.HandleFunc("GET /api/events/{event}/tickets", a.listTickets)
	mux.HandleFunc("GET /api/events/{event}/tickets/{id}", a.getTicket)
	mux.HandleFunc("POST /api/events/{event}/tickets/{id}/revoke", a.revoke)
	mux.HandleFunc("POST /api/events/{event}/tickets/{id}/reissue", a.reissue)
	mux.HandleFunc("GET /api/events/{event}/tickets/{id}/qr.png", a.ticketQR)

	mux.HandleFunc("GET /api/events/{event}/types", a.listTypes)
	mux.HandleFunc("PUT /api/events/{event}/types/{id}", a.putType)
	mux.HandleFunc("GET /api/events/{event}/zones", a.listZones)
	mux.HandleFunc("PUT /api/events/{event}/zones/{id}", a.putZone)
	mux.HandleFunc("GET /api/events/{event}/gates", a.listGates)
	mux.HandleFunc("PUT /api/events/{event}/gates/{id}", a.putGate)

	mux.HandleFunc("GET /api/devices", a.listDevices)
	mux.HandleFunc("GET /api/devices/{id}", a.getDevice)
	mux.HandleFunc("PUT /api/devices/{id}", a.preEnroll)
	mux.HandleFunc("POST /api/devices/{id}/revoke", a.revokeDevice)
	mux.HandleFunc("POST /api/enrollments", a.createEnrollment)

	mux.HandleFunc("GET /api/configs", a.listConfigs)
	mux.HandleFunc("PUT /api/configs/{scope}", a.putConfig)

	mux.HandleFunc("GET /api/scans", a.scans)
	mux.Handle("GET /", http.FileServerFS(ui.Console()))
	return mux
}

type api struct {
	svc  *fleet.Service
	log  *slog.Logger
	opts Options
}

// maxBody bounds a JSON request body; maxImport a CSV import.
const (
	maxBody   = 1 << 20
	maxImport = 128 << 20
)

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (a *api) fail(w http.ResponseWriter, r *http.Request, err error) {
	status, code := http.StatusInternalServerError, "internal"
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		status, code = http.StatusNotFound, "not_found"
	case errors.Is(err, fleet.ErrExists):
		status, code = http.StatusConflict, "exists"
	case errors.Is(err, fleet.ErrBadToken):
		status, code = http.StatusGone, "bad_token"
	case errors.Is(err, fleet.ErrRevoked):
		status, code = http.StatusGone, "revoked"
	case errors.Is(err, errBadRequest), errors.Is(err, fleet.ErrInvalid), errors.Is(err, wire.ErrInvalid):
		status, code = http.StatusBadRequest, "bad_request"
	}
	if status == http.StatusInternalServerError {
		a.log.Error("api", "path", r.URL.Path, "err", err)
	}
	writeJSON(w, status, apiError{Code: code, Message: err.Error()})
}

var errBadRequest = errors.New("bad request")

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func readJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
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

func (a *api) listEvents(w http.ResponseWriter, r *http.Request) {
	evs, err := a.svc.Store.Events(r.Context())
	a.reply(w, r, http.StatusOK, nonNil(evs), err)
}

func (a *api) getEvent(w http.ResponseWriter, r *http.Request) {
	e, err := a.svc.Store.Event(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, e, err)
}

func (a *api) createEvent(w http.ResponseWriter, r *http.Request) {
	var e fleet.Event
	if err := readJSON(r, &e); err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.svc.CreateEvent(r.Context(), e)
	if err != nil && !errors.Is(err, fleet.ErrExists) {
		err = errors.Join(errBadRequest, err)
	}
	a.reply(w, r, http.StatusCreated, e, err)
}

func (a *api) logState(w http.ResponseWriter, r *http.Request) {
	st, err := a.svc.Store.LogState(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, st, err)
}

func (a *api) compact(w http.ResponseWriter, r *http.Request) {
	var req struct {
		UpTo int64 `json:"up_to"`
	}
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	ev := r.PathValue("event")
	if err := a.svc.Store.Compact(r.Context(), ev, req.UpTo); err != nil {
		a.fail(w, r, err)
		return
	}
	st, err := a.svc.Store.LogState(r.Context(), ev)
	a.reply(w, r, http.StatusOK, st, err)
}

func (a *api) issue(w http.ResponseWriter, r *http.Request) {
	var req fleet.IssueRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	req.Event = r.PathValue("event")
	ts, err := a.svc.Issue(r.Context(), req)
	a.reply(w, r, http.StatusCreated, ts, err)
}

func (a *api) importCSV(w http.ResponseWriter, r *http.Request) {
	ts, err := a.svc.ImportCSV(r.Context(), r.PathValue("event"), io.LimitReader(r.Body, maxImport))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	type summary struct {
		Imported int            `json:"imported"`
		Tickets  []fleet.Ticket `json:"tickets,omitempty"`
	}
	out := summary{Imported: len(ts)}
	if r.URL.Query().Get("codes") != "0" && len(ts) <= 10_000 {
		out.Tickets = ts
	}
	writeJSON(w, http.StatusCreated, out)
}

func (a *api) listTickets(w http.ResponseWriter, r *http.Request) {
	ev, n := r.PathValue("event"), limit(r, 1000, 100_000)
	var ts []fleet.Ticket
	var err error
	if after, ok := r.URL.Query()["after"]; ok {
		ts, err = a.svc.Store.TicketPage(r.Context(), ev, after[0], n)
	} else {
		ts, err = a.svc.Store.Tickets(r.Context(), ev, n)
	}
	a.reply(w, r, http.StatusOK, nonNil(ts), err)
}

func (a *api) getTicket(w http.ResponseWriter, r *http.Request) {
	t, err := a.svc.Store.Ticket(r.Context(), r.PathValue("event"), r.PathValue("id"))
	a.reply(w, r, http.StatusOK, t, err)
}

func (a *api) revoke(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if r.ContentLength != 0 {
		if err := readJSON(r, &req); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	t, err := a.svc.Revoke(r.Context(), r.PathValue("event"), r.PathValue("id"), req.Reason)
	a.reply(w, r, http.StatusOK, t, err)
}

func (a *api) reissue(w http.ResponseWriter, r *http.Request) {
	t, err := a.svc.Reissue(r.Context(), r.PathValue("event"), r.PathValue("id"))
	a.reply(w, r, http.StatusCreated, t, err)
}

func (a *api) ticketQR(w http.ResponseWriter, r *http.Request) {
	t, err := a.svc.Store.Ticket(r.Context(), r.PathValue("event"), r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	png, err := qrimage.PNG(t.Code, 400)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(png)
}

func (a *api) listTypes(w http.ResponseWriter, r *http.Request) {
	ts, err := a.svc.Store.TicketTypes(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, nonNil(ts), err)
}

func (a *api) putType(w http.ResponseWriter, r *http.Request) {
	var t fleet.TicketType
	if err := readJSON(r, &t); err != nil {
		a.fail(w, r, err)
		return
	}
	t.Event, t.ID = r.PathValue("event"), r.PathValue("id")
	a.reply(w, r, http.StatusOK, t, a.svc.PutTicketType(r.Context(), t))
}

func (a *api) listZones(w http.ResponseWriter, r *http.Request) {
	zs, err := a.svc.Store.Zones(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, nonNil(zs), err)
}

func (a *api) putZone(w http.ResponseWriter, r *http.Request) {
	var z fleet.Zone
	if err := readJSON(r, &z); err != nil {
		a.fail(w, r, err)
		return
	}
	z.Event, z.ID = r.PathValue("event"), r.PathValue("id")
	a.reply(w, r, http.StatusOK, z, a.svc.PutZone(r.Context(), z))
}

func (a *api) listGates(w http.ResponseWriter, r *http.Request) {
	gs, err := a.svc.Store.Gates(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, nonNil(gs), err)
}

func (a *api) putGate(w http.ResponseWriter, r *http.Request) {
	var g fleet.Gate
	if err := readJSON(r, &g); err != nil {
		a.fail(w, r, err)
		return
	}
	g.Event, g.ID = r.PathValue("event"), r.PathValue("id")
	a.reply(w, r, http.StatusOK, g, a.svc.PutGate(r.Context(), g))
}

func (a *api) listDevices(w http.ResponseWriter, r *http.Request) {
	ds, err := a.svc.Devices(r.Context())
	views := make([]deviceView, len(ds))
	for i, d := range ds {
		views[i] = a.view(d)
	}
	a.reply(w, r, http.StatusOK, views, err)
}

func (a *api) getDevice(w http.ResponseWriter, r *http.Request) {
	d, err := a.svc.Store.Device(r.Context(), r.PathValue("id"))
	v := struct {
		fleet.Device
		Connected *bool `json:"connected,omitempty"`
	}{Device: d, Connected: a.view(fleet.DeviceStatus{Device: d}).Connected}
	a.reply(w, r, http.StatusOK, v, err)
}

func (a *api) preEnroll(w http.ResponseWriter, r *http.Request) {
	var d fleet.Device
	if err := readJSON(r, &d); err != nil {
		a.fail(w, r, err)
		return
	}
	d.ID = r.PathValue("id")
	d, err := a.svc.PreEnroll(r.Context(), d)
	a.reply(w, r, http.StatusOK, d, err)
}

func (a *api) revokeDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.svc.RevokeDevice(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.svc.Store.Device(r.Context(), id)
	a.reply(w, r, http.StatusOK, d, err)
}

// EnrollmentRequest asks for a one-time enrollment token.
type EnrollmentRequest struct {
	Device     string `json:"device"`
	Name       string `json:"name,omitempty"`
	Group      string `json:"group,omitempty"`
	Gate       string `json:"gate,omitempty"`
	TTLSeconds int    `json:"ttl_seconds,omitempty"` // default 24 h
}

// EnrollmentToken is the token, shown once, with its QR.
type EnrollmentToken struct {
	Token     string    `json:"token"`
	URI       string    `json:"uri"`    // the QR's text (wire.EnrollURI)
	QRPNG     string    `json:"qr_png"` // base64 PNG of the URI
	Device    string    `json:"device"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (a *api) createEnrollment(w http.ResponseWriter, r *http.Request) {
	var req EnrollmentRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	token, e, err := a.svc.CreateEnrollment(r.Context(), fleet.Enrollment{Device: req.Device, Name: req.Name, Group: req.Group, Gate: req.Gate},
		time.Duration(req.TTLSeconds)*time.Second)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	base := a.opts.PublicURL
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	uri := wire.EnrollURI{Fleet: base, Token: token, CAFingerprint: a.opts.CAFingerprint, ReplicaKey: a.opts.ReplicaKey}.String()
	png, err := qrimage.PNG(uri, 400)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, EnrollmentToken{Token: token, URI: uri, QRPNG: base64.StdEncoding.EncodeToString(png), Device: e.Device, ExpiresAt: e.ExpiresAt})
}

func (a *api) enroll(w http.ResponseWriter, r *http.Request) {
	var req wire.EnrollRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := req.Validate(); err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.svc.Enroll(r.Context(), req.Token, req.PublicKey)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	a.log.Info("device enrolled", "device", d.ID)
	writeJSON(w, http.StatusOK, wire.EnrollResponse{Device: d.ID, Name: d.Name, Gate: d.Gate, CAFingerprint: a.opts.CAFingerprint,
		ReplicaKey: a.opts.ReplicaKey})
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

func (a *api) listConfigs(w http.ResponseWriter, r *http.Request) {
	cs, err := a.svc.Store.Configs(r.Context())
	a.reply(w, r, http.StatusOK, nonNil(cs), err)
}

func (a *api) putConfig(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		a.fail(w, r, errors.Join(errBadRequest, err))
		return
	}
	c, err := a.svc.PutConfig(r.Context(), r.PathValue("scope"), body)
	a.reply(w, r, http.StatusOK, c, err)
}

func (a *api) scans(w http.ResponseWriter, r *http.Request) {
	scans, err := a.svc.Store.RecentScans(r.Context(), limit(r, 100, 10_000))
	a.reply(w, r, http.StatusOK, nonNil(scans), err)
}

func limit(r *http.Request, def, max int) int {
	n, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || n <= 0 {
		return def
	}
	return min(n, max)
}

func nonNil[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}
