package api

import (
	"net/http"

	"admit/fleet"
	"admit/fleet/access"
)

// contests lists the contests on tickets the gates reported (newest
// first, ?limit= up to 10,000, default 100): two gates that claimed one
// ticket at once (one refused), or that both admitted it while they could
// not reach each other. Read-only, with the permission that reads scans,
// narrowed to the caller's events.
func (a *api) contests(w http.ResponseWriter, r *http.Request) {
	n, err := page(r, 100, 10_000)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sc := scopeOf(r, access.ReadScans)
	events := sc.Events
	if sc.All {
		events = nil
	} else if events == nil {
		events = []string{}
	}
	var cs []fleet.ContestRecord
	cs, err = a.svc.Store.Contests(r.Context(), events, n)
	a.reply(w, r, http.StatusOK, firstN(cs, n), err)
}
