package entry_test

import (
	"fmt"
	"time"

	"admit/ticket"
	"admit/ticket/entry"
)

// A re-entry ticket went in at Gate A and out at Gate B; it may come back
// in. A single-entry ticket with the same history may not.
func ExampleAllowed() {
	at := time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)
	history := []entry.Passage{
		{Device: "gate-b", Gate: "Gate B", At: at.Add(30 * time.Minute), Direction: entry.Out},
		{Device: "gate-a", Gate: "Gate A", At: at, Direction: entry.In},
	}
	now := at.Add(time.Hour)

	r := entry.Allowed(ticket.ReEntry, entry.In, history, now)
	fmt.Println(r.Admit, r.Returning())

	r = entry.Allowed(ticket.SingleEntry, entry.In, history, now)
	fmt.Println(r.Admit, r.Reason, "-", r.Sentence(time.FixedZone("CEST", 2*3600)))
	// Output:
	// true true
	// false already_used - Already used at Gate A at 21:04
}
