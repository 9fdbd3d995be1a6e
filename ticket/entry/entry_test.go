package entry

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"admit/ticket"
)

var t0 = time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)

func in(dev string, m int) Passage {
	return Passage{Device: dev, Gate: "Gate " + dev, At: t0.Add(time.Duration(m) * time.Minute), Direction: In}
}

func out(dev string, m int) Passage {
	return Passage{Device: dev, Gate: "Gate " + dev, At: t0.Add(time.Duration(m) * time.Minute), Direction: Out}
}

func annulled(p Passage) Passage { p.Annulled = true; return p }

func TestAllowed(t *testing.T) {
	tests := []struct {
		name     string
		policy   ticket.Policy
		dir      Direction
		passages []Passage
		admit    bool
		reason   string
		sentence string
		entry    string // gate of Result.Entry, "" for none
	}{
		{"single, first entry", ticket.SingleEntry, In, nil, true, "", "", ""},
		{"single, second entry", ticket.SingleEntry, In, []Passage{in("A", 0)}, false, ReasonAlreadyUsed, "Already used at Gate A at 19:04", "Gate A"},
		{"single, entry after an exit", ticket.SingleEntry, In, []Passage{in("A", 0), out("B", 5)}, false, ReasonAlreadyUsed, "Already used at Gate A at 19:04", "Gate A"},
		{"single, the latest entry is named", ticket.SingleEntry, In, []Passage{in("B", 26), in("A", 0)}, false, ReasonAlreadyUsed, "Already used at Gate B at 19:30", "Gate B"},
		{"single, annulled entry does not count", ticket.SingleEntry, In, []Passage{annulled(in("A", 0))}, true, "", "", ""},
		{"single, exit always allowed", ticket.SingleEntry, Out, []Passage{in("A", 0)}, true, "", "", ""},
		{"single, only exits on record", ticket.SingleEntry, In, []Passage{out("B", 0)}, true, "", "", ""},
		{"single, unmarked direction counts as an entry", ticket.SingleEntry, In, []Passage{{Device: "A", Gate: "Gate A", At: t0}}, false, ReasonAlreadyUsed, "Already used at Gate A at 19:04", "Gate A"},
		{"single, a both presentation is an entry", ticket.SingleEntry, Both, []Passage{in("A", 0)}, false, ReasonAlreadyUsed, "Already used at Gate A at 19:04", "Gate A"},
		{"unknown policy ruled as single", ticket.Policy(9), In, []Passage{in("A", 0)}, false, ReasonAlreadyUsed, "Already used at Gate A at 19:04", "Gate A"},
		{"multi, any number", ticket.MultiEntry, In, []Passage{in("A", 0), in("A", 1)}, true, "", "", ""},
		{"re-entry, first entry", ticket.ReEntry, In, nil, true, "", "", ""},
		{"re-entry, after an exit", ticket.ReEntry, In, []Passage{in("A", 0), out("X", 30)}, true, "", "", "Gate A"},
		{"re-entry, after an exit, listed newest first", ticket.ReEntry, In, []Passage{out("X", 30), in("A", 0)}, true, "", "", "Gate A"},
		{"re-entry, no exit since", ticket.ReEntry, In, []Passage{in("A", 0), out("X", 30), in("B", 40)}, false, ReasonNoExit, "Already inside: entered at Gate B at 19:44", "Gate B"},
		{"re-entry, exit without entry", ticket.ReEntry, In, []Passage{out("X", 0)}, true, "", "", ""},
		{"re-entry, the exit annulled", ticket.ReEntry, In, []Passage{in("A", 0), annulled(out("X", 30))}, false, ReasonNoExit, "Already inside: entered at Gate A at 19:04", "Gate A"},
		{"re-entry, the entry after the exit annulled", ticket.ReEntry, In, []Passage{in("A", 0), out("X", 30), annulled(in("B", 40))}, true, "", "", "Gate A"},
		{"re-entry, entry and exit at one instant: inside", ticket.ReEntry, In, []Passage{out("X", 0), in("A", 0)}, false, ReasonNoExit, "Already inside: entered at Gate A at 19:04", "Gate A"},
		{"tie between entries: the greater device", ticket.SingleEntry, In, []Passage{in("b", 0), in("a", 0), in("B", 0)}, false, ReasonAlreadyUsed, "Already used at Gate b at 19:04", "Gate b"},
		{"future-dated entry still counts", ticket.SingleEntry, In, []Passage{in("A", 600)}, false, ReasonAlreadyUsed, "Already used at Gate A at 05:04", "Gate A"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := Allowed(tt.policy, tt.dir, tt.passages, t0.Add(time.Hour))
			if r.Admit != tt.admit || r.Reason != tt.reason || r.Sentence(nil) != tt.sentence {
				t.Errorf("Allowed = %+v (%q), want admit=%v reason=%q sentence=%q", r, r.Sentence(nil), tt.admit, tt.reason, tt.sentence)
			}
			gate := ""
			if r.Entry != nil {
				gate = r.Entry.Gate
			}
			if gate != tt.entry {
				t.Errorf("Entry at %q, want %q", gate, tt.entry)
			}
		})
	}
}

func TestAhead(t *testing.T) {
	now := t0.Add(time.Hour)
	if r := Allowed(ticket.SingleEntry, In, []Passage{in("A", 0)}, now); r.Ahead != 0 {
		t.Errorf("past entry: Ahead %v", r.Ahead)
	}
	if r := Allowed(ticket.SingleEntry, In, []Passage{in("A", 0), out("B", 90)}, now); r.Admit || r.Ahead != 30*time.Minute {
		t.Errorf("exit 30 min ahead: %+v", r)
	}
	if r := Allowed(ticket.SingleEntry, In, []Passage{annulled(in("A", 90))}, now); !r.Admit || r.Ahead != 0 {
		t.Errorf("annulled entry ahead: %+v", r)
	}
	if r := Allowed(ticket.SingleEntry, Out, []Passage{in("A", 90)}, now); !r.Admit || r.Ahead != 0 {
		t.Errorf("an exit reads no history: %+v", r)
	}
}

func TestParseDirection(t *testing.T) {
	for s, want := range map[string]Direction{"entry": In, "in": In, "exit": Out, "out": Out, "both": Both} {
		if got, err := ParseDirection(s); err != nil || got != want {
			t.Errorf("ParseDirection(%q) = %q, %v", s, got, err)
		}
	}
	if _, err := ParseDirection("sideways"); err == nil {
		t.Error("ParseDirection(sideways) succeeded")
	}
}

func TestSameAndMerge(t *testing.T) {
	p := in("A", 0)
	q := p
	q.At = q.At.Add(400 * time.Microsecond) // same millisecond
	q.Annulled = true
	if !p.Same(q) || p.Same(in("B", 0)) || p.Same(in("A", 1)) {
		t.Error("Same")
	}
	if !p.Merge(q).Annulled || !q.Merge(p).Annulled || p.Merge(p).Annulled {
		t.Error("an annulment in either record must stick, and only then")
	}
}

// TestAllowedIgnoresOrder: any permutation of a history, with annulled
// passages present or left out, gives the same Result as a reference that
// sorts the history in the documented order and reads it oldest first.
func TestAllowedIgnoresOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	devices := []string{"a", "b", "B", "gate-1"}
	now := t0.Add(3 * time.Minute)
	for i := range 10_000 {
		var ps []Passage
		for range rng.IntN(7) {
			d := devices[rng.IntN(len(devices))]
			p := Passage{Device: d, Gate: "Gate " + d, At: t0.Add(time.Duration(rng.IntN(6)) * time.Minute),
				Direction: []Direction{In, Out, ""}[rng.IntN(3)], Annulled: rng.IntN(4) == 0}
			ps = append(ps, p)
		}
		policy := ticket.Policy(rng.IntN(3))
		dir := []Direction{In, Out, Both}[rng.IntN(3)]
		want := reference(policy, dir, ps, now)
		shuffled := slices.Clone(ps)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		counting := slices.DeleteFunc(slices.Clone(shuffled), func(p Passage) bool { return p.Annulled })
		for _, h := range [][]Passage{ps, shuffled, counting} {
			if got := Allowed(policy, dir, h, now); !reflect.DeepEqual(got, want) {
				t.Fatalf("history %d %+v, policy %v, %s: got %+v, want %+v", i, h, policy, dir, got, want)
			}
		}
	}
}

// reference is the rule written the other way round: sort, then read the
// counting passages oldest first.
func reference(policy ticket.Policy, dir Direction, ps []Passage, now time.Time) Result {
	if dir == Out || policy == ticket.MultiEntry {
		return Result{Admit: true}
	}
	sorted := slices.DeleteFunc(slices.Clone(ps), func(p Passage) bool { return p.Annulled })
	slices.SortFunc(sorted, func(a, b Passage) int {
		switch {
		case later(&a, &b):
			return 1
		case later(&b, &a):
			return -1
		}
		return 0
	})
	if len(sorted) == 0 {
		return Result{Admit: true}
	}
	last := sorted[len(sorted)-1]
	r := Result{Ahead: max(0, last.At.Sub(now))}
	for _, p := range slices.Backward(sorted) {
		if !p.Exit() {
			r.Entry = &p
			break
		}
	}
	switch {
	case r.Entry == nil:
		r.Admit = true
	case policy == ticket.ReEntry && last.Exit():
		r.Admit = true
	case policy == ticket.ReEntry:
		r.Reason = ReasonNoExit
	default:
		r.Reason = ReasonAlreadyUsed
	}
	return r
}
