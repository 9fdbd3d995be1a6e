package wire_test

import (
	"encoding/json"
	"fmt"

	"admit/fleet/wire"
)

// A fleet seals a batch before sending it; the agent's Decode refuses it
// if a byte changed on the way.
func ExampleBatch_Seal() {
	b := &wire.Batch{Event: "gala", From: 0, To: 1, Changes: []wire.Change{
		{Seq: 1, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T1", Type: "GA"}},
	}}
	b.Running = wire.RunningChecksum(0, b.Changes)
	b.Seal()
	data, _ := json.Marshal(&wire.Message{Type: wire.TypeBatch, Batch: b})
	m, err := wire.Decode(data)
	fmt.Println(m.Batch.To, err)
	// Output: 1 <nil>
}
