package agent

import (
	"encoding/json"
	"errors"
	"net/http"

	"admit/agent/gatedb"
	"admit/agent/status"
)

// Status is what GET /status reports.
type Status struct {
	Device         string            `json:"device"`
	Gate           string            `json:"gate"`
	Event          string            `json:"event"`
	Healthy        bool              `json:"healthy"`
	Mode           string            `json:"mode"` // ModeLocal or ModeOnline
	Uplink         bool              `json:"uplink"`
	Backlog        int               `json:"backlog"`         // journaled scans not yet acknowledged
	LastSeq        int64             `json:"last_seq"`        // newest journal seq
	Cursor         int64             `json:"replica_cursor"`  // replication cursor of the event
	PeersConnected int               `json:"peers_connected"` // peers this gate pushes to
	PeersInbound   int               `json:"peers_inbound"`   // peers pushing to this gate
	LastDecisions  []Decision        `json:"last_decisions"`
	GateLog        []gatedb.LogEntry `json:"gate_log"`
	Error          string            `json:"error,omitempty"`
}

// Status gathers the gate's status.
func (a *Agent) Status(r *http.Request) Status {
	ctx := r.Context()
	s := Status{Device: a.cfg.Device, Gate: a.cfg.Gate, Event: a.cfg.Event, Mode: a.Mode(), Uplink: a.Online(),
		PeersConnected: a.gossip.Connected(), PeersInbound: a.gossip.Inbound(), LastDecisions: a.LastDecisions(20)}
	var errs []error
	var err error
	s.Backlog, err = a.db.Backlog(ctx)
	errs = append(errs, err)
	s.LastSeq, err = a.db.LastSeq(ctx)
	errs = append(errs, err)
	cur, err := a.db.Cursors(ctx)
	errs = append(errs, err)
	s.Cursor = cursorOf(cur, a.cfg.Event)
	s.GateLog, err = a.db.GateLog(ctx, 10)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		s.Error = err.Error()
	}
	s.Healthy = s.Error == ""
	return s
}

// Handler serves the gate's local endpoints:
//
//	GET  /healthz              200 "ok" when the database answers, else 503
//	GET  /status               Status as JSON
//	GET  /metrics              Prometheus text exposition
//	GET  /staff/ticket?q=      Lookup of a ticket id or text
//	POST /staff/annul-last     {"reason": "..."}: annul the newest passage
//	POST /staff/force-admit    {"ticket": "id or text", "reason": "..."}
//	GET  /peer                 WebSocket for peer gates (package peer)
//
// It listens on the device (Config.StatusAddr); put it on the gate LAN,
// not on the Internet.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if _, err := a.db.Backlog(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, a.Status(r))
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", status.ContentType)
		a.metrics.reg.Write(w)
	})
	mux.HandleFunc("GET /staff/ticket", func(w http.ResponseWriter, r *http.Request) {
		l, err := a.Lookup(r.Context(), r.URL.Query().Get("q"))
		if err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, l)
	})
	mux.HandleFunc("POST /staff/annul-last", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Reason string `json:"reason"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		d, err := a.AnnulLast(r.Context(), body.Reason)
		switch {
		case errors.Is(err, gatedb.ErrNoMark):
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "nothing to annul"})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, d)
		}
	})
	mux.HandleFunc("POST /staff/force-admit", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Ticket string `json:"ticket"`
			Reason string `json:"reason"`
		}
		if !readJSON(w, r, &body) {
			return
		}
		d, err := a.ForceAdmit(r.Context(), body.Ticket, body.Reason)
		switch {
		case errors.Is(err, ErrNoReason):
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		case err != nil:
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
		default:
			writeJSON(w, http.StatusOK, d)
		}
	})
	mux.Handle("GET /peer", a.gossip.Handler())
	return mux
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 16<<10)).Decode(v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return false
	}
	return true
}
