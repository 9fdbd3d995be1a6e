package entry

import (
	"cmp"
	"fmt"
	"time"

	"admit/ticket"
)

// Direction is which way a gate, or one presentation, lets people
// through. Its values are also the text form every encoding uses ("in",
// "out", "both").
type Direction string

const (
	In   Direction = "in"   // an entry
	Out  Direction = "out"  // an exit
	Both Direction = "both" // a gate that is both: each reader has a side
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
	return "", fmt.Errorf("entry: unknown direction %q (want entry, exit or both)", s)
}

// Passage is one recorded passage of a ticket through a gate.
type Passage struct {
	Device string    // the device that recorded it
	Gate   string    // the gate's name, shown in sentences
	At     time.Time // when, by the recording device's clock
	// Direction is Out for an exit; any other value (In, or "" in an
	// encoding that leaves it out) counts as an entry.
	Direction Direction
	// Annulled: the admission was taken back (no passage within the
	// timeout, or staff). It never counts.
	Annulled bool
}

// Exit reports whether p is an exit.
func (p Passage) Exit() bool { return p.Direction == Out }

// Same reports whether p and q record the same passage: the same device at
// the same millisecond (what every store keeps).
func (p Passage) Same(q Passage) bool {
	return p.Device == q.Device && p.At.UnixMilli() == q.At.UnixMilli()
}

// Merge returns the one passage that two records of the same passage
// (Same) make: p, annulled if either record is (an annulment is sticky).
func (p Passage) Merge(q Passage) Passage {
	p.Annulled = p.Annulled || q.Annulled
	return p
}

// later reports whether p comes after q in the order the rule reads
// passages: by time, then an entry after an exit, then by device, then by
// gate name, then by the direction's text (which tells apart only records
// that no store keeps side by side: one device, one instant). See the
// package documentation.
func later(p, q *Passage) bool {
	if c := p.At.Compare(q.At); c != 0 {
		return c > 0
	}
	if p.Exit() != q.Exit() {
		return !p.Exit()
	}
	if c := cmp.Compare(p.Device, q.Device); c != 0 {
		return c > 0
	}
	if p.Gate != q.Gate {
		return p.Gate > q.Gate
	}
	return p.Direction > q.Direction
}

// Reasons of a refusal by the entry rule (machine-readable; Sentence has
// the human form).
const (
	ReasonAlreadyUsed = "already_used" // single-entry ticket with an entry on record
	ReasonNoExit      = "no_exit"      // re-entry ticket whose latest passage is an entry
)

// Result is the entry rule's ruling.
type Result struct {
	Admit  bool
	Reason string // "" when admitted; ReasonAlreadyUsed or ReasonNoExit
	// Entry is the latest entry that counts, when the ruling rests on one:
	// the entry a refusal names, or, for a re-entry admitted after an
	// exit, the entry before that exit. Nil for an exit, a multi-entry
	// ticket and a first entry. It is a copy.
	Entry *Passage
	// Ahead is how far the latest passage that counts lies after now, when
	// the rule read the history and that passage is dated after now (a
	// clock ahead of the caller's recorded it); 0 otherwise.
	Ahead time.Duration
}

// Returning reports whether r admits a re-entry: the ticket entered
// before and went out since.
func (r Result) Returning() bool { return r.Admit && r.Entry != nil }

// Allowed applies the entry rule
//
//	allowed = exit OR multi-entry OR no prior entry OR (re-entry allowed AND the latest passage was an exit)
//
// to a ticket of the given policy presented in direction dir (Out is an
// exit; In, and anything else, an entry), with the ticket's passages in any
// order. Annulled passages never count. A policy other than MultiEntry and
// ReEntry is ruled as SingleEntry. now is the moment of the presentation
// by the caller's clock: it filters nothing and only sets Result.Ahead
// (see the package documentation).
func Allowed(policy ticket.Policy, dir Direction, passages []Passage, now time.Time) Result {
	if dir == Out || policy == ticket.MultiEntry {
		return Result{Admit: true}
	}
	var last, lastEntry *Passage
	for i := range passages {
		p := &passages[i]
		if p.Annulled {
			continue
		}
		if last == nil || later(p, last) {
			last = p
		}
		if !p.Exit() && (lastEntry == nil || later(p, lastEntry)) {
			lastEntry = p
		}
	}
	if lastEntry == nil {
		return Result{Admit: true, Ahead: ahead(last, now)}
	}
	e := *lastEntry
	r := Result{Entry: &e, Ahead: ahead(last, now)}
	switch {
	case policy == ticket.ReEntry && last.Exit():
		r.Admit = true
	case policy == ticket.ReEntry:
		r.Reason = ReasonNoExit
	default:
		r.Reason = ReasonAlreadyUsed
	}
	return r
}

func ahead(p *Passage, now time.Time) time.Duration {
	if p == nil || !p.At.After(now) {
		return 0
	}
	return p.At.Sub(now)
}

// Sentence is what a refusal shows: "Already used at Gate B at 19:04",
// "Already inside: entered at Gate A at 19:44", with the time of the entry
// it rests on in loc (the venue's zone; nil means UTC). It is "" for an
// admission: the welcome is the gate's to word.
func (r Result) Sentence(loc *time.Location) string {
	if r.Admit || r.Entry == nil {
		return ""
	}
	if loc == nil {
		loc = time.UTC
	}
	when := r.Entry.At.In(loc).Format("15:04")
	if r.Reason == ReasonNoExit {
		return fmt.Sprintf("Already inside: entered at %s at %s", r.Entry.Gate, when)
	}
	return fmt.Sprintf("Already used at %s at %s", r.Entry.Gate, when)
}
