package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"errors"
	"fmt"
	"time"

	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/hal"
	"admit/ticket"
	"admit/ticket/entry"
)

// Credentials beyond the gate's own signed tickets, from the venue scope:
//
//   - UID badges (staff cards, season cards): a UID a reader reports
//     (hal.Credential Kind "uid") that one of the served events' badge
//     allowlist holds opens the gate, in the badge's window and zones,
//     under its entry policy (multi by default: staff come and go),
//     journaled as a passage of "badge:<id>" with reason wire.ReasonBadge,
//     its mark travelling like a ticket's. A UID on no list is what it
//     was before: not an admit ticket. UIDs clone: a badge opens only
//     what it was given for.
//   - Partners' JWT tickets: the keys the fleet replicates go into the
//     keyring for their event (syncPartnerKeysLocked); such a ticket, on
//     no allowlist of ours, is admitted on the partner key's signature
//     (wire.ReasonPartnerSignature), its passages counted like any.
//   - Tickets newer than the replica: see admitOnSignature.

// UIDKind is the Kind of a credential that is a card's UID.
const UIDKind = "uid"

// badgeTicket is the ticket id under which a badge's passages are
// journaled, marked and sent to the fleet.
func badgeTicket(id string) string { return "badge:" + id }

// badgeLocked decides a UID credential found on a served event's badge
// allowlist; ok false when no badge has the UID (the caller decides the
// credential as it would any other).
func (a *Agent) badgeLocked(ctx context.Context, set *settings, cred hal.Credential, now time.Time) (d Decision, ev string, ok bool) {
	var ready []string
	for _, e := range set.events {
		if a.db.Ready(e) {
			ready = append(ready, e)
		}
	}
	b, err := a.db.BadgeByUID(ctx, ready, wire.BadgeLookup(cred.Payload))
	if errors.Is(err, gatedb.ErrUnknownBadge) {
		return d, "", false
	}
	dir := a.directionOf(set, cred.Source)
	id := badgeTicket(b.ID)
	if err != nil {
		a.cfg.Log.Error("agent: badge lookup", "err", err)
		return Decision{Reason: decide.ReasonGateError, Sentence: decide.Sentence(decide.ReasonGateError), Direction: dir}, "", true
	}
	switch {
	case !b.NotBefore.IsZero() && now.Before(b.NotBefore):
		return Decision{Reason: string(ticket.ReasonNotYetValid), Sentence: "Badge not valid yet", TicketID: id, Direction: dir}, b.Event, true
	case !b.NotAfter.IsZero() && now.After(b.NotAfter):
		return Decision{Reason: string(ticket.ReasonExpired), Sentence: "Badge expired", TicketID: id, Direction: dir}, b.Event, true
	}
	policy := ticket.MultiEntry
	if b.Policy != "" {
		if policy, err = ticket.ParsePolicy(b.Policy); err != nil {
			policy = ticket.SingleEntry
		}
	}
	st, err := a.hot.State(ctx, b.Event, id)
	if err != nil && !errors.Is(err, gatedb.ErrUnknownTicket) {
		a.cfg.Log.Error("agent: badge passages", "err", err)
		return Decision{Reason: decide.ReasonGateError, Sentence: decide.Sentence(decide.ReasonGateError), TicketID: id, Direction: dir}, b.Event, true
	}
	gate := set.gate
	gate.Types = nil // a badge is no ticket type: its zones say where it opens
	gate.Location = a.cfg.Location
	gate.ZoneName = a.db.ZoneName(b.Event, gate.Zone)
	claims := ticket.Claims{ID: id, Event: b.Event, Type: "badge", Zones: b.Zones, Policy: policy}
	v := gate.Decide(claims, dir, gatedb.Passages(st.Marks), now)
	d = Decision{Admitted: v.Admit, Reason: v.Reason, Sentence: v.Sentence, TicketID: id, Direction: v.Direction}
	if v.Admit {
		d.Reason = wire.ReasonBadge
		if b.Name != "" {
			d.Sentence = fmt.Sprintf("%s, %s", v.Sentence, b.Name)
		}
	}
	return d, b.Event, true
}

// syncPartnerKeysLocked brings the keyring's partner JWT keys in line
// with the venue scopes', when they changed since the last look.
func (a *Agent) syncPartnerKeysLocked() {
	gen := a.db.VenueGen()
	if gen == a.partnerGen && a.partnerLoaded {
		return
	}
	a.partnerGen, a.partnerLoaded = gen, true
	want := map[[2]string]bool{}
	for _, k := range a.db.JWTKeys() {
		var pub any
		switch k.Alg {
		case wire.AlgEdDSA:
			pub = ed25519.PublicKey(k.Public)
		case wire.AlgES256:
			p, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), k.Public)
			if err != nil {
				a.cfg.Log.Error("agent: partner key", "event", k.Event, "key", k.ID, "err", err)
				continue
			}
			pub = p
		}
		if err := a.keyring.AddJWT(ticket.JWTKey{Event: k.Event, ID: k.Kid, Issuer: k.Issuer, Key: pub, RetiredAt: k.RetiredAt}); err != nil {
			a.cfg.Log.Error("agent: partner key", "event", k.Event, "key", k.ID, "err", err)
			continue
		}
		want[[2]string{k.Event, k.Kid}] = true
	}
	for _, k := range a.keyring.JWTKeys() {
		if !want[[2]string{k.Event, k.ID}] {
			a.keyring.RemoveJWT(k.Event, k.ID)
		}
	}
}

// Reasons of what admitOnSignature lets through, with their sentences.
const (
	sentenceOnSignature      = "Welcome (admitted on signature: issued after last sync)"
	sentencePartnerSignature = "Welcome (partner ticket: admitted on its signature)"
)

// admitOnSignature says whether a ticket that verified (signature, key,
// event) but is not on the replica may still be admitted on its
// signature, and under which reason:
//
//   - a partner's JWT ticket: always (no allowlist of ours holds it);
//   - one of ours: when the event's settings allow it (on by default),
//     it says when it was issued (ticket claim 10) and that is after
//     the replica's sync point — the fleet's word that every ticket
//     issued up to then is on the replica. A ticket without the claim,
//     or issued before, is refused as unknown: it should be here.
//
// Revocations the gate has not received cannot be checked: that is the
// trade-off (docs/tickets.md).
func (a *Agent) admitOnSignature(c ticket.Claims, format ticket.Format) string {
	if format == ticket.FormatJWT {
		return wire.ReasonPartnerSignature
	}
	if !a.db.Settings(c.Event).AdmitsOnSignature() || c.IssuedAt.IsZero() {
		return ""
	}
	if c.IssuedAt.After(a.db.SyncPoint(c.Event)) {
		return wire.ReasonOnSignature
	}
	return ""
}

// directionOf is the direction of a presentation seen by source under
// settings set.
func (a *Agent) directionOf(set *settings, source string) entry.Direction {
	switch set.gate.Direction {
	case entry.Out:
		return entry.Out
	case entry.Both:
		if d, ok := set.readerSides[source]; ok && d == entry.Out {
			return entry.Out
		}
	}
	return entry.In
}
