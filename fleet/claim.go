package fleet

import (
	"context"
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
// request retried, admitted again. A ticket the fleet does not know (an
// interop or legacy credential the gate verified by other means) is ruled
// on its passages alone. A policy the request does not name correctly is
// ruled as single entry. loc formats times in sentences (nil: UTC).
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
	policy, err := ticket.ParsePolicy(r.Policy)
	if err != nil {
		policy = ticket.SingleEntry
	}
	res := entry.Allowed(policy, asked.Direction, st.Passages, asked.At)
	if res.Admit {
		return wire.DecideResponse{Admit: true}
	}
	return wire.DecideResponse{Reason: res.Reason, Sentence: res.Sentence(loc)}
}

// Claim rules on a gate's online request and, when it admits, records the
// passage (the gate's scan of it, arriving later, is then fanned out as
// usual). It implements replicate.Claimer. A request repeated by the same
// device for the same moment (a retry) gets the same answer.
func (s *Service) Claim(ctx context.Context, r wire.DecideRequest) (wire.DecideResponse, error) {
	loc := s.Location
	if loc == nil {
		loc = time.Local
	}
	return s.Store.Claim(ctx, r, func(st ClaimState) wire.DecideResponse { return Rule(r, st, loc) })
}
