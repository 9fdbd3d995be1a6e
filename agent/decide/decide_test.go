package decide

import (
	"testing"
	"time"

	"admit/ticket"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)
	in := func(gate string, m int) Passage {
		return Passage{Gate: gate, At: t0.Add(time.Duration(m) * time.Minute), Direction: In}
	}
	out := func(gate string, m int) Passage {
		return Passage{Gate: gate, At: t0.Add(time.Duration(m) * time.Minute), Direction: Out}
	}
	annulled := func(p Passage) Passage { p.Annulled = true; return p }
	single := ticket.Claims{ID: "t1", Type: "GA", Policy: ticket.SingleEntry}
	multi := ticket.Claims{ID: "t2", Type: "GA", Policy: ticket.MultiEntry}
	re := ticket.Claims{ID: "t3", Type: "GA", Policy: ticket.ReEntry}
	vip := ticket.Claims{ID: "t4", Type: "VIP", Zones: []string{"VIP lounge"}}
	gate := Gate{Name: "Gate 3", Direction: In}

	tests := []struct {
		name     string
		g        Gate
		c        ticket.Claims
		dir      Direction
		passages []Passage
		admit    bool
		reason   string
		sentence string
	}{
		{"single, first entry", gate, single, In, nil, true, "", "Welcome"},
		{"single, second entry", gate, single, In, []Passage{in("Gate 3", 0)}, false, ReasonAlreadyUsed, "Already used at Gate 3 at 19:04"},
		{"single, entry after exit", gate, single, In, []Passage{in("Gate 1", 0), out("Gate 2", 5)}, false, ReasonAlreadyUsed, "Already used at Gate 1 at 19:04"},
		{"single, annulled entry does not count", gate, single, In, []Passage{annulled(in("Gate 1", 0))}, true, "", "Welcome"},
		{"single, exit always allowed", Gate{Name: "Exit 1", Direction: Out}, single, Out, []Passage{in("Gate 1", 0)}, true, "", "Goodbye"},
		{"multi, any number", gate, multi, In, []Passage{in("Gate 1", 0), in("Gate 1", 1)}, true, "", "Welcome"},
		{"re-entry, after exit", gate, re, In, []Passage{in("Gate 1", 0), out("Exit", 30)}, true, "", "Welcome back"},
		{"re-entry, no exit since", gate, re, In, []Passage{in("Gate 1", 0), out("Exit", 30), in("Gate 2", 40)}, false, ReasonNoExit, "Already inside: entered at Gate 2 at 19:44"},
		{"re-entry, first entry", gate, re, In, nil, true, "", "Welcome"},
		{"re-entry, exit without entry", gate, re, In, []Passage{out("Exit", 0)}, true, "", "Welcome"},
		{"zone, allowed", Gate{Name: "Lounge", Zone: "VIP lounge"}, vip, In, nil, true, "", "Welcome"},
		{"zone, not allowed", Gate{Name: "Lounge", Zone: "Backstage"}, vip, In, nil, false, ReasonWrongZone, "Ticket is not valid for Backstage"},
		{"zone, no zones = any", Gate{Name: "Lounge", Zone: "Backstage"}, single, In, nil, true, "", "Welcome"},
		{"zone, exit ignores zones", Gate{Name: "Lounge", Zone: "Backstage", Direction: Both}, vip, Out, nil, true, "", "Goodbye"},
		{"type, refused", Gate{Name: "VIP door", Types: []string{"VIP"}}, single, In, nil, false, ReasonWrongType, "GA tickets are not accepted at VIP door"},
		{"type, accepted", Gate{Name: "VIP door", Types: []string{"VIP"}}, vip, In, nil, true, "", "Welcome"},
		{"sentence in venue time", Gate{Name: "Gate 3", Location: time.FixedZone("CEST", 2*3600)}, single, In, []Passage{in("Gate 3", 0)}, false, ReasonAlreadyUsed, "Already used at Gate 3 at 21:04"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := tt.g.Decide(tt.c, tt.dir, tt.passages)
			if v.Admit != tt.admit || v.Reason != tt.reason || v.Sentence != tt.sentence {
				t.Errorf("Decide = %+v, want admit=%v reason=%q sentence=%q", v, tt.admit, tt.reason, tt.sentence)
			}
			if v.Direction != tt.dir {
				t.Errorf("direction %q, want %q", v.Direction, tt.dir)
			}
		})
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
