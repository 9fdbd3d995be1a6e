package fleet_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"admit/clock"
	"admit/fleet"
	"admit/fleet/sqlite"
	"admit/fleet/wire"
	"admit/ticket"
	"admit/ticket/entry"
)

// The fleet's ruling on an online decision: a re-entry ticket that went
// in at Gate A may not come in again at Gate C until it went out.
func ExampleRule() {
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	in := entry.Passage{Device: "a", Gate: "Gate A", At: at, Direction: entry.In}
	out := entry.Passage{Device: "b", Gate: "Gate B", At: at.Add(time.Hour), Direction: entry.Out}
	r := wire.DecideRequest{Device: "c", Gate: "Gate C", Event: "gala", TicketID: "T", Direction: wire.DirIn, Policy: "reentry", At: at.Add(2 * time.Hour)}

	fmt.Println(fleet.Rule(r, fleet.ClaimState{Known: true, Policy: ticket.ReEntry, Passages: []entry.Passage{in}}, time.UTC))
	fmt.Println(fleet.Rule(r, fleet.ClaimState{Known: true, Policy: ticket.ReEntry, Passages: []entry.Passage{in, out}}, time.UTC))
	// Output:
	// {false no_exit Already inside: entered at Gate A at 19:04}
	// {true  }
}

// Issuing a ticket: the code is signed with the event's key, whose public
// half the change log carries to every gate, which verifies the code
// offline with it.
func ExampleService_Issue() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "fleet-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	st, err := sqlite.Open(ctx, filepath.Join(dir, "fleet.db"))
	if err != nil {
		panic(err)
	}
	defer st.Close()
	clk := clock.NewFake(time.Date(2031, 5, 17, 19, 0, 0, 0, time.UTC))
	svc := &fleet.Service{Store: st, Clock: clk}
	if _, err := svc.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		panic(err)
	}
	ts, err := svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Type: "VIP", Count: 1, Policy: "reentry"})
	if err != nil {
		panic(err)
	}

	// What a gate receives: the key changes of the event's log.
	log, err := st.Changes(ctx, "gala", 0, 100)
	if err != nil {
		panic(err)
	}
	kr := ticket.NewKeyring()
	for _, c := range log.Changes {
		if c.Kind == wire.KindKey {
			kr.Add(ticket.PublicKey{Event: "gala", ID: c.Key.ID, Key: c.Key.Public})
		}
	}
	c, err := ticket.Verify(ts[0].Code, kr, clk.Now())
	fmt.Println(c.Type, c.Policy, c.KeyID, err)
	// Output:
	// VIP reentry k1 <nil>
}
