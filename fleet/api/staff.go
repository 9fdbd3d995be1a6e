package api

import (
	"net/http"

	"admit/fleet"
)

// Gate staff: operators with the gate staff role on an event sign in at its
// gates with a PIN (or a badge and the PIN) an admin or the event's
// manager sets here. The fleet keeps an argon2id hash, never the PIN, and
// replicates the hash to the event's gates; the PIN is in no response and
// no audit entry.

func (a *api) listStaff(w http.ResponseWriter, r *http.Request) {
	n, err := page(r, DefaultListPage, MaxListPage)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	staff, err := a.svc.Staff(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, firstN(staff, n), err)
}

func (a *api) setStaff(w http.ResponseWriter, r *http.Request) {
	var req fleet.StaffRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	name := r.PathValue("name")
	if req.Badge != "" {
		note(r, "set the gate sign-in of %q: badge and PIN", name)
	} else {
		note(r, "set the gate sign-in of %q: PIN", name)
	}
	m, err := a.svc.SetStaffCredential(r.Context(), r.PathValue("event"), name, req, who(r).Kind+":"+who(r).Name)
	a.reply(w, r, http.StatusOK, m, err)
}

func (a *api) clearStaff(w http.ResponseWriter, r *http.Request) {
	note(r, "clear the gate sign-in of %q", r.PathValue("name"))
	if err := a.svc.ClearStaffCredential(r.Context(), r.PathValue("event"), r.PathValue("name")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
