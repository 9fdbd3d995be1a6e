package fleet

import (
	"context"
	"errors"
	"fmt"
	"time"

	"admit/fleet/wire"
	"admit/ticket"
	"admit/ticket/entry"
)

// Online decisions: a gate in online mode asks the fleet before it opens
// (wire.DecidePath). The fleet rules with what only it knows — passages
// recorded at every gate of every node, revocations — and, when it admits,
// records the passage in the same transaction (Store.Claim), so that two
// gates asking at once, through the same node or two nodes on one
// PostgreSQL, cannot both be told yes.

// ClaimState is what the store knows of a ticket when a gate asks.
type ClaimState struct {
	Known   bool // on the fleet's allowlist
	Revoked bool
	// Policy is the entry policy the fleet issued the ticket with (read
	// from the signed code it keeps); Known tickets only.
	Policy ticket.Policy
	// Passages of the ticket at every gate, in any order; annulled ones
	// may be left out or included (they never count).
	Passages []entry.Passage
}

// RequestedPassage is the passage r asks to record: its device, gate and
// time (to the millisecond, as the stores keep it), and its direction
// (wire.DirOut is an exit; anything else, "" included, an entry).
func RequestedPassage(r wire.DecideRequest) entry.Passage {
	p := entry.Passage{Device: r.Device, Gate: r.Gate, At: r.At.Truncate(time.Millisecond), Direction: entry.In}
	if r.Direction == wire.DirOut {
		p.Direction = entry.Out
	}
	return p
}

// Rule rules on a request with the entry policy (entry.Allowed, the rule a
// gate applies offline):
//
//	allowed = exit OR multi-entry OR no prior entry OR (re-entry AND latest passage an exit)
//
// and, before it, what only the fleet's claim adds: a ticket the fleet
// revoked is refused, and a request repeated by the same device for the
// same instant — a passage on record that is not annulled — is this
// request retried, admitted again. The policy of a ticket the fleet knows
// is the one it issued (st.Policy), whatever the request says. A ticket
// the fleet does not know (an interop or legacy credential the gate
// verified by other means) is ruled on its passages alone, with the
// policy the gate read from the credential (the fleet has no record of
// it; a single-entry policy when the request names none correctly). loc
// formats times in sentences (nil: UTC).
func Rule(r wire.DecideRequest, st ClaimState, loc *time.Location) wire.DecideResponse {
	if st.Revoked {
		return wire.DecideResponse{Reason: string(ticket.ReasonRevoked), Sentence: ticket.SentenceOf(&ticket.Error{Reason: ticket.ReasonRevoked})}
	}
	asked := RequestedPassage(r)
	for _, p := range st.Passages {
		if !p.Annulled && p.Same(asked) {
			return wire.DecideResponse{Admit: true} // this very request, retried
		}
	}
	policy := st.Policy
	if !st.Known {
		var err error
		if policy, err = ticket.ParsePolicy(r.Policy); err != nil {
			policy = ticket.SingleEntry
		}
	}
	res := entry.Allowed(policy, asked.Direction, st.Passages, asked.At)
	if res.Admit {
		return wire.DecideResponse{Admit: true}
	}
	return wire.DecideResponse{Reason: res.Reason, Sentence: res.Sentence(loc)}
}

// MaxClockSkew is how far from the fleet's clock the time of an online
// request may be: a gate's clock may drift that much; a request further
// off (a gate with a wrong clock, or one trying to record a passage in
// the past or the future) is refused.
const MaxClockSkew = 5 * time.Minute

// ErrClockSkew: an online request's time is more than MaxClockSkew from
// the fleet's clock.
var ErrClockSkew = fmt.Errorf("%w: time too far from the fleet's clock", ErrInvalid)

// Claim rules on a gate's online request and, when it admits, records the
// passage (the gate's scan of it, arriving later, is then fanned out as
// usual). It implements replicate.Claimer. A request repeated by the same
// device for the same moment (a retry) gets the same answer.
//
// It takes nothing from the request on trust that the fleet knows better:
// the time must be within MaxClockSkew of the fleet's clock
// (ErrClockSkew), an enrolled device must serve the event (ServesEvent;
// ErrNotServed), and a known ticket is ruled with the policy the fleet
// issued it with (Rule). The caller authenticates the device.
func (s *Service) Claim(ctx context.Context, r wire.DecideRequest) (wire.DecideResponse, error) {
	if skew := r.At.Sub(s.now()); skew > MaxClockSkew || skew < -MaxClockSkew {
		return wire.DecideResponse{}, fmt.Errorf("claim by %q: its time %s is %s from the fleet's (at most ±%s): %w",
			r.Device, r.At.UTC().Format(time.RFC3339), skew.Round(time.Second), MaxClockSkew, ErrClockSkew)
	}
	switch d, err := s.Store.Device(ctx, r.Device); {
	case errors.Is(err, ErrNotFound):
		// An unenrolled device, which only a fleet that allows them lets
		// through (the caller's check): the fleet has no record to hold
		// its event against.
	case err != nil:
		return wire.DecideResponse{}, err
	case !d.Serves(r.Event):
		return wire.DecideResponse{}, fmt.Errorf("claim by %q for event %q: %w", r.Device, r.Event, ErrNotServed)
	}
	loc := s.Location
	if loc == nil {
		loc = time.Local
	}
	return s.Store.Claim(ctx, r, func(st ClaimState) wire.DecideResponse { return Rule(r, st, loc) })
}
