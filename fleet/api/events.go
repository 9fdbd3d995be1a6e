package api

import (
	"errors"
	"net/http"

	"admit/fleet"
	"admit/fleet/access"
)

// Page sizes of the small registries (events, devices, configs,
// operators, tokens): what one listing returns at most.
const (
	DefaultListPage = 1000
	MaxListPage     = 10_000
)

func (a *api) listEvents(w http.ResponseWriter, r *http.Request) {
	n, err := page(r, DefaultListPage, MaxListPage)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	evs, err := a.svc.Store.Events(r.Context())
	sc := scopeOf(r, access.ReadEvents)
	out := evs[:0]
	for _, e := range evs {
		if sc.Has(e.ID) {
			out = append(out, e)
		}
	}
	a.reply(w, r, http.StatusOK, firstN(out, n), err)
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
	note(r, "create event %q", e.ID)
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
	note(r, "compact up to %d", req.UpTo)
	if err := a.svc.Store.Compact(r.Context(), ev, req.UpTo); err != nil {
		a.fail(w, r, err)
		return
	}
	st, err := a.svc.Store.LogState(r.Context(), ev)
	a.reply(w, r, http.StatusOK, st, err)
}

func (a *api) listTypes(w http.ResponseWriter, r *http.Request) {
	ts, err := a.svc.Store.TicketTypes(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, firstN(ts, MaxListPage), err)
}

func (a *api) putType(w http.ResponseWriter, r *http.Request) {
	var t fleet.TicketType
	if err := readJSON(r, &t); err != nil {
		a.fail(w, r, err)
		return
	}
	t.Event, t.ID = r.PathValue("event"), r.PathValue("id")
	note(r, "ticket type %q: zones %v, policy %q", t.Name, t.Zones, t.Policy)
	a.reply(w, r, http.StatusOK, t, a.svc.PutTicketType(r.Context(), t))
}

func (a *api) listZones(w http.ResponseWriter, r *http.Request) {
	zs, err := a.svc.Store.Zones(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, firstN(zs, MaxListPage), err)
}

func (a *api) putZone(w http.ResponseWriter, r *http.Request) {
	var z fleet.Zone
	if err := readJSON(r, &z); err != nil {
		a.fail(w, r, err)
		return
	}
	z.Event, z.ID = r.PathValue("event"), r.PathValue("id")
	note(r, "zone %q", z.Name)
	a.reply(w, r, http.StatusOK, z, a.svc.PutZone(r.Context(), z))
}

func (a *api) listGates(w http.ResponseWriter, r *http.Request) {
	gs, err := a.svc.Store.Gates(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, firstN(gs, MaxListPage), err)
}

func (a *api) putGate(w http.ResponseWriter, r *http.Request) {
	var g fleet.Gate
	if err := readJSON(r, &g); err != nil {
		a.fail(w, r, err)
		return
	}
	g.Event, g.ID = r.PathValue("event"), r.PathValue("id")
	note(r, "gate %q: zones %v", g.Name, g.Zones)
	a.reply(w, r, http.StatusOK, g, a.svc.PutGate(r.Context(), g))
}

func (a *api) scans(w http.ResponseWriter, r *http.Request) {
	n, err := page(r, 100, 10_000)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sc := scopeOf(r, access.ReadScans)
	var scans []fleet.ScanRecord
	if sc.All {
		scans, err = a.svc.Store.RecentScans(r.Context(), n)
	} else {
		scans, err = a.svc.Store.EventScans(r.Context(), sc.Events, n)
	}
	a.reply(w, r, http.StatusOK, firstN(scans, n), err)
}
