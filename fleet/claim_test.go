package fleet_test

import (
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
	"admit/ticket"
	"admit/ticket/entry"
)

// TestRuleIgnoresListOrder: the fleet rules on the passages' times, not on
// the order the store happened to list them in (a gate picks the latest by
// time; the two must not differ).
func TestRuleIgnoresListOrder(t *testing.T) {
	t0 := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	in := func(dev, gate string, m int) entry.Passage {
		return entry.Passage{Device: dev, Gate: gate, At: t0.Add(time.Duration(m) * time.Minute), Direction: entry.In}
	}
	out := func(dev, gate string, m int) entry.Passage {
		return entry.Passage{Device: dev, Gate: gate, At: t0.Add(time.Duration(m) * time.Minute), Direction: entry.Out}
	}
	req := func(policy string) wire.DecideRequest {
		return wire.DecideRequest{Device: "c", Gate: "Gate C", Event: "gala", TicketID: "T", Direction: wire.DirIn, Policy: policy, At: t0.Add(2 * time.Hour)}
	}
	tests := []struct {
		name     string
		policy   string
		passages []entry.Passage // newest first
		want     wire.DecideResponse
	}{
		{"re-entry after an exit, listed newest first", "reentry",
			[]entry.Passage{out("b", "Gate B", 30), in("a", "Gate A", 0)},
			wire.DecideResponse{Admit: true}},
		{"re-entry, inside again, listed newest first", "reentry",
			[]entry.Passage{in("a", "Gate A", 40), out("b", "Gate B", 30), in("a", "Gate A", 0)},
			wire.DecideResponse{Reason: "no_exit", Sentence: "Already inside: entered at Gate A at 19:44"}},
		{"single, the latest entry is named", "single",
			[]entry.Passage{in("b", "Gate B", 26), in("a", "Gate A", 0)},
			wire.DecideResponse{Reason: "already_used", Sentence: "Already used at Gate B at 19:30"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ticket.ParsePolicy(tt.policy)
			if err != nil {
				t.Fatal(err)
			}
			got := fleet.Rule(req(tt.policy), fleet.ClaimState{Known: true, Policy: p, Passages: tt.passages}, time.UTC)
			if got != tt.want {
				t.Errorf("Rule = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestRuleTieIsOrderIndependent: an entry and an exit recorded at the same
// instant by two gates give one ruling, whichever the store lists first.
func TestRuleTieIsOrderIndependent(t *testing.T) {
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	in := entry.Passage{Device: "a", Gate: "Gate A", At: at, Direction: entry.In}
	out := entry.Passage{Device: "b", Gate: "Gate B", At: at, Direction: entry.Out}
	r := wire.DecideRequest{Device: "c", Gate: "Gate C", Event: "gala", TicketID: "T", Direction: wire.DirIn, Policy: "reentry", At: at.Add(time.Hour)}
	one := fleet.Rule(r, fleet.ClaimState{Known: true, Policy: ticket.ReEntry, Passages: []entry.Passage{in, out}}, time.UTC)
	two := fleet.Rule(r, fleet.ClaimState{Known: true, Policy: ticket.ReEntry, Passages: []entry.Passage{out, in}}, time.UTC)
	if one != two {
		t.Fatalf("same passages, two rulings: %+v and %+v", one, two)
	}
	if one.Admit || one.Reason != "no_exit" {
		t.Fatalf("entry and exit at one instant: %+v, want the holder taken to be inside", one)
	}
}

// TestRuleRetryAndRevocation: what the fleet's claim adds to the entry
// rule. A request repeated by the same device for the same instant is
// admitted again, unless that passage was annulled since; a revoked
// ticket is refused whatever its passages.
func TestRuleRetryAndRevocation(t *testing.T) {
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	r := wire.DecideRequest{Device: "a", Gate: "Gate A", Event: "gala", TicketID: "T", Direction: wire.DirIn, Policy: "single",
		At: at.Add(300 * time.Microsecond)}
	claimed := entry.Passage{Device: "a", Gate: "Gate A", At: at, Direction: entry.In}
	if got := fleet.Rule(r, fleet.ClaimState{Known: true, Passages: []entry.Passage{claimed}}, time.UTC); !got.Admit {
		t.Fatalf("retry: %+v", got)
	}
	other := entry.Passage{Device: "b", Gate: "Gate B", At: at.Add(-time.Minute), Direction: entry.In}
	annulled := claimed
	annulled.Annulled = true
	if got := fleet.Rule(r, fleet.ClaimState{Known: true, Passages: []entry.Passage{annulled, other}}, time.UTC); got.Admit || got.Reason != "already_used" {
		t.Fatalf("retry of an annulled claim after another gate's entry: %+v", got)
	}
	r.Policy = "multi"
	if got := fleet.Rule(r, fleet.ClaimState{Known: true, Revoked: true}, time.UTC); got.Admit || got.Reason != "revoked" {
		t.Fatalf("revoked: %+v", got)
	}
}

// TestRuleTakesThePolicyOfKnownTickets: the policy a request names counts
// only for a ticket the fleet does not know; a known ticket is ruled with
// the one it was issued with.
func TestRuleTakesThePolicyOfKnownTickets(t *testing.T) {
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	used := []entry.Passage{{Device: "a", Gate: "Gate A", At: at, Direction: entry.In}}
	r := wire.DecideRequest{Device: "c", Gate: "Gate C", Event: "gala", TicketID: "T", Direction: wire.DirIn, Policy: "multi", At: at.Add(time.Hour)}
	if got := fleet.Rule(r, fleet.ClaimState{Known: true, Policy: ticket.SingleEntry, Passages: used}, time.UTC); got.Admit || got.Reason != "already_used" {
		t.Fatalf("a single-entry ticket asked as multi: %+v", got)
	}
	if got := fleet.Rule(r, fleet.ClaimState{Passages: used}, time.UTC); !got.Admit {
		t.Fatalf("a multi-entry ticket the fleet does not know: %+v", got)
	}
}
