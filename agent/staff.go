package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/hal"
	"admit/ticket"
	"admit/ticket/entry"
)

// ErrNoReason: a staff override must say why.
var ErrNoReason = errors.New("agent: a reason is required")

// AnnulLast annuls the newest passage of this gate that is still standing
// (staff on a handheld: "that one did not go through"), on the authority
// of staff (the signed-in staff member, journaled with it). It returns the
// journaled annulment; gatedb.ErrNoMark if there is nothing to annul.
func (a *Agent) AnnulLast(ctx context.Context, staff, why string) (Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	m, err := a.db.LastMark(ctx, a.cfg.Device)
	if err != nil {
		return Decision{}, fmt.Errorf("agent: annul last: %w", err)
	}
	sentence := decide.Sentence(decide.ReasonAnnulled)
	if why = strings.TrimSpace(why); why != "" {
		sentence += ": " + why
	}
	return a.annul(ctx, m.Event, m.TicketID, m.At, decide.ReasonAnnulled, sentence, true, staff)
}

// ForceAdmit admits a ticket on the authority of staff (the signed-in
// staff member), whatever the rules say: credential is a ticket text (it
// need not verify; its id is used if it parses) or a bare ticket id. The
// override is journaled with its reason (reason "forced") and the staff
// member, reported upstream and gossiped like any entry.
func (a *Agent) ForceAdmit(ctx context.Context, staff, credential, why string) (Decision, error) {
	why = strings.TrimSpace(why)
	if why == "" {
		return Decision{}, ErrNoReason
	}
	id := strings.TrimSpace(credential)
	event := a.live.Load().events[0]
	if c, err := ticket.ParseUnverified(id); err == nil {
		id = c.ID
		if slices.Contains(a.live.Load().events, c.Event) {
			event = c.Event
		}
	}
	if id == "" || len(id) > ticket.MaxFieldLen {
		return Decision{}, fmt.Errorf("agent: force admit: no ticket id in %q", credential)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.stampLocked()
	d := Decision{Admitted: true, Reason: decide.ReasonForced, Sentence: "Admitted by staff: " + why, TicketID: id, Event: event,
		Source: "staff", Direction: entry.In, Forced: true, Staff: staff, At: now}
	begin := a.cfg.Clock.Now()
	scan := wire.Scan{Event: event, TicketID: id, Gate: a.cfg.Gate, At: now, Outcome: wire.Admitted,
		Reason: decide.ReasonForced, Sentence: d.Sentence, Staff: staff}
	e := gatedb.Entry{Scan: scan, Direction: entry.In, Source: "staff", Forced: true, Mark: true, Staff: staff}
	seq, err := a.db.Journal(ctx, a.cfg.Device, e)
	if err != nil {
		a.setIndicatorLocked(hal.Red)
		return d, fmt.Errorf("agent: journal: %w", err)
	}
	d.Seq, d.Took = seq, a.cfg.Clock.Now().Sub(begin)
	a.afterJournalLocked(ctx, d, e)
	return d, nil
}

// Lookup is what staff see about one ticket.
type Lookup struct {
	TicketID string        `json:"ticket_id"`
	Known    bool          `json:"known"` // on the allowlist
	Type     string        `json:"type,omitempty"`
	Holder   string        `json:"holder,omitempty"`
	Revoked  bool          `json:"revoked"`
	Rotating bool          `json:"rotating"` // has a rotating-code secret
	Marks    []gatedb.Mark `json:"marks"`
	// Verdict is what this gate would decide now if the credential were
	// presented at an entry (only when a ticket text was given).
	Verdict *Decision `json:"verdict,omitempty"`
}

// Lookup looks a ticket up by text or id without deciding anything: no
// journal row, no relay.
func (a *Agent) Lookup(ctx context.Context, credential string) (Lookup, error) {
	credential = strings.TrimSpace(credential)
	l := Lookup{TicketID: credential}
	var verdict *Decision
	event := a.live.Load().events[0]
	if c, err := ticket.ParseUnverified(credential); err == nil {
		l.TicketID = c.ID
		if slices.Contains(a.live.Load().events, c.Event) {
			event = c.Event
		}
		a.mu.Lock()
		d, _, _ := a.decideLocked(ctx, a.live.Load(), hal.Credential{Source: "staff", Payload: []byte(credential)}, a.cfg.Clock.Now().UTC())
		a.mu.Unlock()
		verdict = &d
	}
	st, err := a.db.State(ctx, event, l.TicketID)
	if errors.Is(err, gatedb.ErrUnknownTicket) {
		l.Verdict = verdict
		return l, nil
	}
	if err != nil {
		return l, fmt.Errorf("agent: lookup: %w", err)
	}
	l.Known, l.Type, l.Holder, l.Revoked, l.Rotating = true, st.Type, st.Holder, st.Revoked, len(st.CodeSecret) > 0
	l.Marks, l.Verdict = st.Marks, verdict
	return l, nil
}
