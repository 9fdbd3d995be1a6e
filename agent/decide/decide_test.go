package decide

import (
	"testing"
	"time"

	"admit/ticket"
	"admit/ticket/entry"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)
	in := func(gate string, m int) entry.Passage {
		return entry.Passage{Gate: gate, At: t0.Add(time.Duration(m) * time.Minute), Direction: entry.In}
	}
	out := func(gate string, m int) entry.Passage {
		return entry.Passage{Gate: gate, At: t0.Add(time.Duration(m) * time.Minute), Direction: entry.Out}
	}
	annulled := func(p entry.Passage) entry.Passage { p.Annulled = true; return p }
	single := ticket.Claims{ID: "t1", Type: "GA", Policy: ticket.SingleEntry}
	multi := ticket.Claims{ID: "t2", Type: "GA", Policy: ticket.MultiEntry}
	re := ticket.Claims{ID: "t3", Type: "GA", Policy: ticket.ReEntry}
	vip := ticket.Claims{ID: "t4", Type: "VIP", Zones: []string{"VIP lounge"}}
	gate := Gate{Name: "Gate 3", Direction: entry.In}
	now := t0.Add(2 * time.Hour)

	tests := []struct {
		name     string
		g        Gate
		c        ticket.Claims
		dir      entry.Direction
		passages []entry.Passage
		admit    bool
		reason   string
		sentence string
	}{
		{"single, first entry", gate, single, entry.In, nil, true, "", "Welcome"},
		{"single, second entry", gate, single, entry.In, []entry.Passage{in("Gate 3", 0)}, false, ReasonAlreadyUsed, "Already used at Gate 3 at 19:04"},
		{"single, entry after exit", gate, single, entry.In, []entry.Passage{in("Gate 1", 0), out("Gate 2", 5)}, false, ReasonAlreadyUsed, "Already used at Gate 1 at 19:04"},
		{"single, annulled entry does not count", gate, single, entry.In, []entry.Passage{annulled(in("Gate 1", 0))}, true, "", "Welcome"},
		{"single, exit always allowed", Gate{Name: "Exit 1", Direction: entry.Out}, single, entry.Out, []entry.Passage{in("Gate 1", 0)}, true, "", "Goodbye"},
		{"multi, any number", gate, multi, entry.In, []entry.Passage{in("Gate 1", 0), in("Gate 1", 1)}, true, "", "Welcome"},
		{"re-entry, after exit", gate, re, entry.In, []entry.Passage{in("Gate 1", 0), out("Exit", 30)}, true, "", "Welcome back"},
		{"re-entry, no exit since", gate, re, entry.In, []entry.Passage{in("Gate 1", 0), out("Exit", 30), in("Gate 2", 40)}, false, ReasonNoExit, "Already inside: entered at Gate 2 at 19:44"},
		{"re-entry, first entry", gate, re, entry.In, nil, true, "", "Welcome"},
		{"re-entry, exit without entry", gate, re, entry.In, []entry.Passage{out("Exit", 0)}, true, "", "Welcome"},
		{"zone, allowed", Gate{Name: "Lounge", Zone: "VIP lounge"}, vip, entry.In, nil, true, "", "Welcome"},
		{"zone, not allowed", Gate{Name: "Lounge", Zone: "Backstage"}, vip, entry.In, nil, false, ReasonWrongZone, "Ticket is not valid for Backstage"},
		{"zone, no zones = any", Gate{Name: "Lounge", Zone: "Backstage"}, single, entry.In, nil, true, "", "Welcome"},
		{"zone, exit ignores zones", Gate{Name: "Lounge", Zone: "Backstage", Direction: entry.Both}, vip, entry.Out, nil, true, "", "Goodbye"},
		{"type, refused", Gate{Name: "VIP door", Types: []string{"VIP"}}, single, entry.In, nil, false, ReasonWrongType, "GA tickets are not accepted at VIP door"},
		{"type, accepted", Gate{Name: "VIP door", Types: []string{"VIP"}}, vip, entry.In, nil, true, "", "Welcome"},
		{"sentence in venue time", Gate{Name: "Gate 3", Location: time.FixedZone("CEST", 2*3600)}, single, entry.In, []entry.Passage{in("Gate 3", 0)}, false, ReasonAlreadyUsed, "Already used at Gate 3 at 21:04"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.g.Decide(tt.c, tt.dir, tt.passages, now)
			if v.Admit != tt.admit || v.Reason != tt.reason || v.Sentence != tt.sentence {
				t.Errorf("Decide = %+v, want admit=%v reason=%q sentence=%q", v, tt.admit, tt.reason, tt.sentence)
			}
			if v.Direction != tt.dir {
				t.Errorf("direction %q, want %q", v.Direction, tt.dir)
			}
		})
	}
}

// TestDecideTieIsOrderIndependent: an entry and an exit recorded at the
// same instant by two gates give one verdict, whichever comes first in the
// list.
func TestDecideTieIsOrderIndependent(t *testing.T) {
	at := time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)
	in := entry.Passage{Gate: "Gate A", At: at, Direction: entry.In}
	out := entry.Passage{Gate: "Gate B", At: at, Direction: entry.Out}
	re := ticket.Claims{ID: "t3", Type: "GA", Policy: ticket.ReEntry}
	g := Gate{Name: "Gate 3", Direction: entry.In}
	one := g.Decide(re, entry.In, []entry.Passage{in, out}, at.Add(time.Hour))
	two := g.Decide(re, entry.In, []entry.Passage{out, in}, at.Add(time.Hour))
	if one != two {
		t.Fatalf("same passages, two verdicts: %+v and %+v", one, two)
	}
	if one.Admit || one.Reason != ReasonNoExit {
		t.Fatalf("entry and exit at one instant: %+v, want the holder taken to be inside", one)
	}
}

// TestDecideUnmarkedDirectionIsEntry: a passage is an exit only when it
// says so; any other counts as an entry, as on the wire ("" means in) and
// in the fleet's ruling.
func TestDecideUnmarkedDirectionIsEntry(t *testing.T) {
	at := time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)
	single := ticket.Claims{ID: "t1", Type: "GA", Policy: ticket.SingleEntry}
	v := Gate{Name: "Gate 3", Direction: entry.In}.Decide(single, entry.In, []entry.Passage{{Gate: "Gate A", At: at}}, at.Add(time.Hour))
	if v.Admit || v.Reason != ReasonAlreadyUsed {
		t.Fatalf("second entry after an unmarked passage: %+v", v)
	}
}

// TestDecideFutureEntryCounts: a passage dated after the presentation (a
// peer's clock ahead of this gate's) still counts, and the verdict says
// how far ahead it is.
func TestDecideFutureEntryCounts(t *testing.T) {
	now := time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)
	single := ticket.Claims{ID: "t1", Type: "GA", Policy: ticket.SingleEntry}
	v := Gate{Name: "Gate 3"}.Decide(single, entry.In, []entry.Passage{{Device: "a", Gate: "Gate A", At: now.Add(90 * time.Second), Direction: entry.In}}, now)
	if v.Admit || v.Reason != ReasonAlreadyUsed || v.Ahead != 90*time.Second {
		t.Fatalf("entry dated 90 s ahead: %+v", v)
	}
}
