package sqlstore

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"admit/fleet/wire"
)

// TestChangeBodyIsMarshal: a body marshaled ahead with Seq 0 and the seq
// spliced in at append time is exactly json.Marshal of the change.
func TestChangeBodyIsMarshal(t *testing.T) {
	at := time.Date(2026, 11, 28, 19, 4, 0, 123e6, time.UTC)
	for _, c := range []wire.Change{
		{Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T\"1", Device: "d<", Gate: "A", At: at, Direction: wire.DirOut}},
		{Kind: wire.KindAnnul, Annul: &wire.Annul{TicketID: "T1", Device: "d", Gate: "A", At: at, Reason: "no_passage"}},
	} {
		pre, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		for _, seq := range []int64{1, 9, 10, 1 << 40} {
			c.Seq = seq
			got, err := changeBody(&c, pre)
			if err != nil {
				t.Fatal(err)
			}
			want, _ := json.Marshal(&c)
			if !bytes.Equal(got, want) {
				t.Fatalf("seq %d: body %s, want %s", seq, got, want)
			}
		}
	}
}
