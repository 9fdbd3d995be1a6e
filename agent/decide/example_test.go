package decide_test

import (
	"fmt"
	"time"

	"admit/agent/decide"
	"admit/ticket"
)

func ExampleGate_Decide() {
	g := decide.Gate{Name: "Gate 3", Direction: decide.In}
	c := ticket.Claims{ID: "T-1", Type: "GA", Policy: ticket.SingleEntry}
	earlier := []decide.Passage{{Gate: "Gate 3", At: time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC), Direction: decide.In}}
	fmt.Println(g.Decide(c, decide.In, nil).Sentence)
	v := g.Decide(c, decide.In, earlier)
	fmt.Println(v.Reason, "-", v.Sentence)
	// Output:
	// Welcome
	// already_used - Already used at Gate 3 at 19:04
}
