// Package decide holds a gate's decision rules for an authentic ticket:
// ticket type and zone allowed at this gate, gate direction, and the entry
// policy
//
//	allowed = exit OR multi-entry OR no prior entry OR (re-entry allowed AND last scan was an exit)
//
// over the ticket's passages anywhere in the venue. Signature, key,
// revocation, validity window and rotating code are checked before, by
// package ticket. decide does no I/O: the agent hands it the passages it
// read from its replica, so the rules are a pure function, tested as a
// table.
package decide

import (
	"fmt"
	"slices"
	"time"

	"admit/ticket"
)

// Direction is which way a gate (or one presentation) lets people through.
type Direction string

const (
	In   Direction = "in"   // an entry
	Out  Direction = "out"  // an exit
	Both Direction = "both" // a gate that is both; each reader has a side
)

// ParseDirection parses "in"/"entry", "out"/"exit" or "both".
func ParseDirection(s string) (Direction, error) {
	switch s {
	case "in", "entry":
		return In, nil
	case "out", "exit":
		return Out, nil
	case "both":
		return Both, nil
	}
	return "", fmt.Errorf("decide: unknown direction %q (want entry, exit or both)", s)
}

// Reasons added to those of package ticket. Each has a sentence.
const (
	ReasonUnknownTicket = "unknown_ticket" // authentic but not on the allowlist
	ReasonAlreadyUsed   = "already_used"   // single-entry ticket with an entry on record
	ReasonNoExit        = "no_exit"        // re-entry ticket whose last passage was an entry
	ReasonWrongZone     = "wrong_zone"     // the ticket's zones do not include this gate's
	ReasonWrongType     = "wrong_type"     // this gate does not take this ticket type
	ReasonGateError     = "gate_error"     // the gate could not decide (database fault)
	ReasonNoPassage     = "no_passage"     // admission annulled: the turnstile did not turn
	ReasonAnnulled      = "annulled"       // admission annulled by staff
	ReasonForced        = "forced"         // admitted by staff override
	ReasonFleet         = "fleet"          // refused by the fleet's authoritative decision
)

// Gate is what a gate admits.
type Gate struct {
	Name  string   // shown in sentences, e.g. "Gate 3"
	Zone  string   // the zone this gate leads into; "" = no zone check
	Types []string // ticket types admitted here; empty = every type
	// Direction of the gate. A Both gate learns each presentation's
	// direction from the reader that saw it.
	Direction Direction
	// Location formats times in sentences (the venue's zone); default UTC.
	Location *time.Location
}

// Passage is one recorded passage of a ticket through some gate.
type Passage struct {
	Gate      string
	At        time.Time
	Direction Direction // In or Out
	Annulled  bool      // an admission taken back: it does not count
}

// Verdict is the outcome of the rules.
type Verdict struct {
	Admit     bool
	Direction Direction // In or Out: how the passage is recorded
	Reason    string    // empty when admitted
	Sentence  string
}

func refuse(reason, sentence string, dir Direction) Verdict {
	return Verdict{Reason: reason, Sentence: sentence, Direction: dir}
}

// Decide applies the gate's rules to an authentic ticket c presented in
// direction dir (In or Out; for a one-way gate, the gate's own direction),
// with its passages oldest first.
func (g Gate) Decide(c ticket.Claims, dir Direction, passages []Passage) Verdict {
	if dir != Out {
		dir = In
	}
	if len(g.Types) > 0 && !slices.Contains(g.Types, c.Type) {
		return refuse(ReasonWrongType, fmt.Sprintf("%s tickets are not accepted at %s", typeName(c.Type), g.Name), dir)
	}
	if dir == In && g.Zone != "" && !c.AllowsZone(g.Zone) {
		return refuse(ReasonWrongZone, fmt.Sprintf("Ticket is not valid for %s", g.Zone), dir)
	}
	if dir == Out || c.Policy == ticket.MultiEntry {
		return Verdict{Admit: true, Direction: dir, Sentence: welcome(dir)}
	}
	var lastEntry, last *Passage
	for i := range passages {
		p := &passages[i]
		if p.Annulled {
			continue
		}
		if last == nil || !p.At.Before(last.At) {
			last = p
		}
		if p.Direction == In && (lastEntry == nil || !p.At.Before(lastEntry.At)) {
			lastEntry = p
		}
	}
	if lastEntry == nil {
		return Verdict{Admit: true, Direction: dir, Sentence: welcome(dir)}
	}
	if c.Policy == ticket.ReEntry {
		if last.Direction == Out {
			return Verdict{Admit: true, Direction: dir, Sentence: "Welcome back"}
		}
		return refuse(ReasonNoExit, fmt.Sprintf("Already inside: entered at %s at %s", lastEntry.Gate, g.clock(lastEntry.At)), dir)
	}
	return refuse(ReasonAlreadyUsed, fmt.Sprintf("Already used at %s at %s", lastEntry.Gate, g.clock(lastEntry.At)), dir)
}

func (g Gate) clock(t time.Time) string {
	loc := g.Location
	if loc == nil {
		loc = time.UTC
	}
	return t.In(loc).Format("15:04")
}

func welcome(dir Direction) string {
	if dir == Out {
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
