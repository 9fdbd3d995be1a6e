// Package decide holds a gate's decision rules for an authentic ticket:
// ticket type and zone allowed at this gate, gate direction, and the entry
// policy
//
//	allowed = exit OR multi-entry OR no prior entry OR (re-entry allowed AND last scan was an exit)
//
// over the ticket's passages anywhere in the venue. The entry policy itself
// is package ticket/entry's (entry.Allowed), the one the fleet's online
// ruling applies too; decide adds what only a gate checks and the words it
// shows. Signature, key, revocation, validity window and rotating code are
// checked before, by package ticket. decide does no I/O: the agent hands it
// the passages it read from its replica, so the rules are a pure function,
// tested as a table.
package decide

import (
	"fmt"
	"slices"
	"time"

	"admit/ticket"
	"admit/ticket/entry"
)

// Reasons added to those of package ticket. Each has a sentence.
const (
	ReasonUnknownTicket = "unknown_ticket"        // authentic but not on the allowlist
	ReasonAlreadyUsed   = entry.ReasonAlreadyUsed // single-entry ticket with an entry on record
	ReasonNoExit        = entry.ReasonNoExit      // re-entry ticket whose last passage was an entry
	ReasonWrongZone     = "wrong_zone"            // the ticket's zones do not include this gate's
	ReasonWrongType     = "wrong_type"            // this gate does not take this ticket type
	ReasonGateError     = "gate_error"            // the gate could not decide (database fault)
	ReasonNoPassage     = "no_passage"            // admission annulled: the turnstile did not turn
	ReasonAnnulled      = "annulled"              // admission annulled by staff
	ReasonForced        = "forced"                // admitted by staff override
	ReasonFleet         = "fleet"                 // refused by the fleet's authoritative decision
	ReasonInUse         = "in_use"                // another gate's claim on the ticket stands (it is admitting it)
)

// Gate is what a gate admits.
type Gate struct {
	Name  string   // shown in sentences, e.g. "Gate 3"
	Zone  string   // the zone this gate leads into; "" = no zone check
	Types []string // ticket types admitted here; empty = every type
	// ZoneName is Zone as sentences say it (the venue's name for it);
	// empty: Zone.
	ZoneName string
	// Direction of the gate. A Both gate learns each presentation's
	// direction from the reader that saw it.
	Direction entry.Direction
	// Location formats times in sentences (the venue's zone); default UTC.
	Location *time.Location
}

// Verdict is the outcome of the rules.
type Verdict struct {
	Admit     bool
	Direction entry.Direction // In or Out: how the passage is recorded
	Reason    string          // empty when admitted
	Sentence  string
	// Ahead is entry.Result.Ahead: how far the ticket's latest passage is
	// dated after the presentation, by this gate's clock (0 when it is not,
	// or the entry policy did not read the history).
	Ahead time.Duration
}

func refuse(reason, sentence string, dir entry.Direction) Verdict {
	return Verdict{Reason: reason, Sentence: sentence, Direction: dir}
}

// Decide applies the gate's rules to an authentic ticket c presented in
// direction dir (In or Out; for a one-way gate, the gate's own direction)
// at now, by this gate's clock, with its passages in any order (annulled
// ones included or not: they do not count).
func (g Gate) Decide(c ticket.Claims, dir entry.Direction, passages []entry.Passage, now time.Time) Verdict {
	if dir != entry.Out {
		dir = entry.In
	}
	if len(g.Types) > 0 && !slices.Contains(g.Types, c.Type) {
		return refuse(ReasonWrongType, fmt.Sprintf("%s tickets are not accepted at %s", typeName(c.Type), g.Name), dir)
	}
	if dir == entry.In && g.Zone != "" && !c.AllowsZone(g.Zone) {
		name := g.ZoneName
		if name == "" {
			name = g.Zone
		}
		return refuse(ReasonWrongZone, fmt.Sprintf("Ticket is not valid for %s", name), dir)
	}
	r := entry.Allowed(c.Policy, dir, passages, now)
	if !r.Admit {
		v := refuse(r.Reason, r.Sentence(g.Location), dir)
		v.Ahead = r.Ahead
		return v
	}
	v := Verdict{Admit: true, Direction: dir, Sentence: welcome(dir), Ahead: r.Ahead}
	if r.Returning() {
		v.Sentence = "Welcome back"
	}
	return v
}

func welcome(dir entry.Direction) string {
	if dir == entry.Out {
		return "Goodbye"
	}
	return "Welcome"
}

func typeName(t string) string {
	if t == "" {
		return "Untyped"
	}
	return t
}

// InUse is the sentence of a refusal for ReasonInUse: another gate is
// admitting the ticket at this moment ("Being used at Gate A").
func InUse(gate string) string { return "Being used at " + gate }

// Sentence returns the default sentence of the reasons of this package
// that carry no details ("" for the others).
func Sentence(reason string) string {
	switch reason {
	case ReasonUnknownTicket:
		return "Ticket not on the allowlist"
	case ReasonGateError:
		return "Gate error: ask staff"
	case ReasonNoPassage:
		return "Entry annulled: the turnstile did not turn"
	case ReasonAnnulled:
		return "Entry annulled by staff"
	}
	return ""
}
