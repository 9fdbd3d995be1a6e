package api

import (
	"fmt"
	"net/http"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/qrimage"
)

// Ticket listings: a page of at most MaxTicketPage (default
// DefaultTicketPage), the next after ?after=<last id>.
const (
	DefaultTicketPage = 1000
	MaxTicketPage     = 10_000
)

// redact drops the codes and rotating-code secrets of ts unless the caller
// may read them on the event (least exposure: gate staff and viewers see
// holders and states, never what opens a gate).
func redact(r *http.Request, event string, ts []fleet.Ticket) []fleet.Ticket {
	if allowedOn(r, access.ReadTicketCodes, []string{event}) == nil {
		return ts
	}
	for i := range ts {
		ts[i].Code, ts[i].CodeSecret = "", nil
	}
	return ts
}

func (a *api) issue(w http.ResponseWriter, r *http.Request) {
	var req fleet.IssueRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	req.Event = r.PathValue("event")
	note(r, "issue %d of type %q (policy %q, rotating %v)", req.Count, req.Type, req.Policy, req.Rotating)
	ts, err := a.svc.Issue(r.Context(), req)
	a.reply(w, r, http.StatusCreated, ts, err)
}

func (a *api) importCSV(w http.ResponseWriter, r *http.Request) {
	ts, err := a.svc.ImportCSV(r.Context(), r.PathValue("event"), r.Body)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	note(r, "imported %d tickets", len(ts))
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
	ev := r.PathValue("event")
	n, err := page(r, DefaultTicketPage, MaxTicketPage)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var ts []fleet.Ticket
	if after, ok := r.URL.Query()["after"]; ok {
		ts, err = a.svc.Store.TicketPage(r.Context(), ev, after[0], n)
	} else {
		ts, err = a.svc.Store.Tickets(r.Context(), ev, n)
	}
	a.reply(w, r, http.StatusOK, redact(r, ev, firstN(ts, n)), err)
}

func (a *api) getTicket(w http.ResponseWriter, r *http.Request) {
	ev := r.PathValue("event")
	t, err := a.svc.Store.Ticket(r.Context(), ev, r.PathValue("id"))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, redact(r, ev, []fleet.Ticket{t})[0])
}

func (a *api) revoke(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Reason string `json:"reason"`
	}
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	note(r, "revoke (reason %q)", req.Reason)
	t, err := a.svc.Revoke(r.Context(), r.PathValue("event"), r.PathValue("id"), req.Reason)
	a.reply(w, r, http.StatusOK, t, err)
}

func (a *api) reissue(w http.ResponseWriter, r *http.Request) {
	t, err := a.svc.Reissue(r.Context(), r.PathValue("event"), r.PathValue("id"))
	if err == nil {
		note(r, "reissued as %s", t.ID)
	}
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
		a.fail(w, r, fmt.Errorf("qr: %w", err))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(png)
}
