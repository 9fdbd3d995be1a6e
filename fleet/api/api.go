// Package api is the fleet's HTTP JSON API, used by the console and
// admitctl, plus the console's static files and the agent stream endpoint.
package api

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"

	"admit/fleet"
	"admit/fleet/qrimage"
	"admit/ui"
)

// Handler returns the fleet's HTTP handler. agents serves /ws.
func Handler(svc *fleet.Service, agents http.Handler, log *slog.Logger) http.Handler {
	a := &api{svc: svc, log: log}
	mux := http.NewServeMux()
	mux.Handle("GET /ws", agents)
	mux.HandleFunc("GET /api/events", a.listEvents)
	mux.HandleFunc("POST /api/events", a.createEvent)
	mux.HandleFunc("POST /api/events/{event}/tickets", a.issue)
	mux.HandleFunc("GET /api/events/{event}/tickets", a.listTickets)
	mux.HandleFunc("GET /api/events/{event}/tickets/{id}/qr.png", a.ticketQR)
	mux.HandleFunc("GET /api/scans", a.scans)
	mux.Handle("GET /", http.FileServerFS(ui.Console()))
	return mux
}

type api struct {
	svc *fleet.Service
	log *slog.Logger
}

// maxBody bounds a request body.
const maxBody = 1 << 20

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
	case errors.Is(err, errBadRequest):
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

func (a *api) listEvents(w http.ResponseWriter, r *http.Request) {
	evs, err := a.svc.Store.Events(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(evs))
}

func (a *api) createEvent(w http.ResponseWriter, r *http.Request) {
	var e fleet.Event
	if err := readJSON(r, &e); err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.svc.CreateEvent(r.Context(), e)
	if err != nil {
		if !errors.Is(err, fleet.ErrExists) {
			err = errors.Join(errBadRequest, err)
		}
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, e)
}

func (a *api) issue(w http.ResponseWriter, r *http.Request) {
	var req fleet.IssueRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	req.Event = r.PathValue("event")
	ts, err := a.svc.Issue(r.Context(), req)
	if err != nil {
		if !errors.Is(err, fleet.ErrNotFound) && !errors.Is(err, fleet.ErrExists) {
			err = errors.Join(errBadRequest, err)
		}
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, ts)
}

func (a *api) listTickets(w http.ResponseWriter, r *http.Request) {
	ts, err := a.svc.Store.Tickets(r.Context(), r.PathValue("event"), limit(r, 1000, 100_000))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(ts))
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

func (a *api) scans(w http.ResponseWriter, r *http.Request) {
	scans, err := a.svc.Store.RecentScans(r.Context(), limit(r, 100, 10_000))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, nonNil(scans))
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
