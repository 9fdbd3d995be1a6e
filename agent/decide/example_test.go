package decide_test

import (
	"fmt"
	"time"

	"admit/agent/decide"
	"admit/ticket"
	"admit/ticket/entry"
)

func ExampleGate_Decide() {
	g := decide.Gate{Name: "Gate 3", Direction: entry.In}
	c := ticket.Claims{ID: "T-1", Type: "GA", Policy: ticket.SingleEntry}
	at := time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)
	earlier := []entry.Passage{{Device: "gate-3", Gate: "Gate 3", At: at, Direction: entry.In}}
	fmt.Println(g.Decide(c, entry.In, nil, at).Sentence)
	v := g.Decide(c, entry.In, earlier, at.Add(time.Hour))
	fmt.Println(v.Reason, "-", v.Sentence)
	// Output:
	// Welcome
	// already_used - Already used at Gate 3 at 19:04
}
