package fleet_test

import (
	"fmt"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
	"admit/ticket/entry"
)

// The fleet's ruling on an online decision: a re-entry ticket that went
// in at Gate A may not come in again at Gate C until it went out.
func ExampleRule() {
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	in := entry.Passage{Device: "a", Gate: "Gate A", At: at, Direction: entry.In}
	out := entry.Passage{Device: "b", Gate: "Gate B", At: at.Add(time.Hour), Direction: entry.Out}
	r := wire.DecideRequest{Device: "c", Gate: "Gate C", Event: "gala", TicketID: "T", Direction: wire.DirIn, Policy: "reentry", At: at.Add(2 * time.Hour)}

	fmt.Println(fleet.Rule(r, fleet.ClaimState{Known: true, Passages: []entry.Passage{in}}, time.UTC))
	fmt.Println(fleet.Rule(r, fleet.ClaimState{Known: true, Passages: []entry.Passage{in, out}}, time.UTC))
	// Output:
	// {false no_exit Already inside: entered at Gate A at 19:04}
	// {true  }
}
