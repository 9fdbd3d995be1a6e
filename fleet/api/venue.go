package api

import (
	"net/http"

	"admit/fleet"
)

// The venue model's own routes: an event's settings for its gates, its UID
// badges (staff and season cards: the card's UID is taken here, hashed,
// and in no response), its partners' JWT keys. Zones, gates and ticket
// types are in events.go. Each change reaches the event's gates through
// its venue scope.

func (a *api) getSettings(w http.ResponseWriter, r *http.Request) {
	st, err := a.svc.Store.EventSettings(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, st, err)
}

func (a *api) putSettings(w http.ResponseWriter, r *http.Request) {
	var st fleet.EventSettings
	if err := readJSON(r, &st); err != nil {
		a.fail(w, r, err)
		return
	}
	st.Event = r.PathValue("event")
	note(r, "gate settings: admit on signature %v", st.AdmitOnSignature)
	st, err := a.svc.PutEventSettings(r.Context(), st)
	a.reply(w, r, http.StatusOK, st, err)
}

func (a *api) listBadges(w http.ResponseWriter, r *http.Request) {
	n, err := page(r, DefaultListPage, fleet.MaxBadges)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	bs, err := a.svc.Store.Badges(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, firstN(bs, n), err)
}

func (a *api) putBadge(w http.ResponseWriter, r *http.Request) {
	var req fleet.BadgeRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	id := r.PathValue("id")
	note(r, "badge %q (%s): zones %v, policy %q", id, req.Name, req.Zones, req.Policy)
	b, err := a.svc.PutBadge(r.Context(), r.PathValue("event"), id, req)
	a.reply(w, r, http.StatusOK, b, err)
}

func (a *api) deleteBadge(w http.ResponseWriter, r *http.Request) {
	note(r, "delete badge %q", r.PathValue("id"))
	if err := a.svc.DeleteBadge(r.Context(), r.PathValue("event"), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *api) listPartnerKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := a.svc.Store.PartnerKeys(r.Context(), r.PathValue("event"))
	a.reply(w, r, http.StatusOK, firstN(ks, fleet.MaxPartnerKeys), err)
}

func (a *api) putPartnerKey(w http.ResponseWriter, r *http.Request) {
	var k fleet.PartnerKey
	if err := readJSON(r, &k); err != nil {
		a.fail(w, r, err)
		return
	}
	k.Event, k.ID = r.PathValue("event"), r.PathValue("id")
	note(r, "partner JWT key %q: %s, kid %q, issuer %q", k.ID, k.Alg, k.Kid, k.Issuer)
	k, err := a.svc.PutPartnerKey(r.Context(), k)
	a.reply(w, r, http.StatusOK, k, err)
}

func (a *api) deletePartnerKey(w http.ResponseWriter, r *http.Request) {
	note(r, "delete partner JWT key %q", r.PathValue("id"))
	if err := a.svc.DeletePartnerKey(r.Context(), r.PathValue("event"), r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
