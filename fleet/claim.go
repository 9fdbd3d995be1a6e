package fleet

import (
	"context"
	"fmt"
	"time"

	"admit/fleet/wire"
	"admit/ticket"
)

// Online decisions: a gate in online mode asks the fleet before it opens
// (wire.DecidePath). The fleet rules with what only it knows — passages
// recorded at every gate of every node, revocations — and, when it admits,
// records the passage in the same transaction (Store.Claim), so that two
// gates asking at once, through the same node or two nodes on one
// PostgreSQL, cannot both be told yes.

// Passage is a recorded passage of a ticket that still counts (not
// annulled), as the online decision sees it.
type Passage struct {
	Device, Gate string
	At           time.Time
	Direction    string // wire.DirIn or wire.DirOut
}

// ClaimState is what the store knows of a ticket when a gate asks.
type ClaimState struct {
	Known    bool // on the fleet's allowlist
	Revoked  bool
	Passages []Passage // oldest first, annulled ones left out
}

// Rule applies the entry policy to a request:
//
//	allowed = exit OR multi-entry OR no prior entry OR (re-entry AND last passage an exit)
//
// and refuses a ticket the fleet revoked. A ticket the fleet does not know
// (an interop or legacy credential the gate verified by other means) is
// ruled on its passages alone. loc formats times in sentences.
func Rule(r wire.DecideRequest, st ClaimState, loc *time.Location) wire.DecideResponse {
	if loc == nil {
		loc = time.UTC
	}
	if st.Revoked {
		return wire.DecideResponse{Reason: string(ticket.ReasonRevoked), Sentence: ticket.SentenceOf(&ticket.Error{Reason: ticket.ReasonRevoked})}
	}
	if r.Direction == wire.DirOut || r.Policy == "multi" {
		return wire.DecideResponse{Admit: true}
	}
	at := r.At.Truncate(time.Millisecond)
	var last, lastEntry *Passage
	for i := range st.Passages {
		p := &st.Passages[i]
		if p.Device == r.Device && p.At.Equal(at) {
			return wire.DecideResponse{Admit: true} // this very request, retried
		}
		last = p
		if p.Direction != wire.DirOut {
			lastEntry = p
		}
	}
	if lastEntry == nil || (r.Policy == "reentry" && last.Direction == wire.DirOut) {
		return wire.DecideResponse{Admit: true}
	}
	when := lastEntry.At.In(loc).Format("15:04")
	if r.Policy == "reentry" {
		return wire.DecideResponse{Reason: "no_exit", Sentence: fmt.Sprintf("Already inside: entered at %s at %s", lastEntry.Gate, when)}
	}
	return wire.DecideResponse{Reason: "already_used", Sentence: fmt.Sprintf("Already used at %s at %s", lastEntry.Gate, when)}
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
