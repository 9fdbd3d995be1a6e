package entrycheck

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/fleet"
	"admit/fleet/wire"
	"admit/internal/sqlitedb"
	"admit/ticket"
	"admit/ticket/entry"
)

// histories is how many random passage histories TestGateAndFleetAgree
// rules on.
const histories = 10_000

// TestGateAndFleetAgree generates random passage histories — several
// devices (names that sort differently by bytes and by case-folding), times
// with many ties, entries and exits, annulments, sometimes one passage
// recorded twice with only one record annulled, passages dated after the
// presentation — and random policies and presented directions. For each,
// the gate decides as the agent does (the passages through its own
// database: some stored, some held in memory as a peer's, read back by
// gatedb.DB.Marks) and the fleet rules as Service.Claim does (fleet.Rule
// over a ClaimState built like sqlstore's claim: the passages that are not
// annulled, in no particular order). They must agree on admit or refuse,
// on the reason and on the sentence.
func TestGateAndFleetAgree(t *testing.T) {
	ctx := context.Background()
	db, err := gatedb.Open(ctx, filepath.Join(t.TempDir(), "gate.db"), sqlitedb.SyncNormal)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	rng := rand.New(rand.NewPCG(2026, 10))
	loc := time.FixedZone("CEST", 2*3600)
	t0 := time.Date(2026, 6, 1, 19, 0, 0, 0, time.UTC)
	devices := []string{"a", "b", "B", "gate-10", "gate-9"}
	gate := decide.Gate{Name: "Gate Z", Location: loc}
	outcomes := map[string]int{} // reason, or "welcome back" for a re-entry after an exit
	for i := range histories {
		event, id := "gala", fmt.Sprintf("T%05d", i)
		now := t0.Add(3 * time.Minute)
		var counting []entry.Passage // what the fleet's store reads: not annulled
		used := map[string]bool{}    // device@ms: one record per passage in each store
		for range rng.IntN(7) {
			dev := devices[rng.IntN(len(devices))]
			// Four instants a minute apart, a few milliseconds apart within:
			// ties between devices are common; some lie after now.
			at := t0.Add(time.Duration(rng.IntN(5))*time.Minute + time.Duration(rng.IntN(2))*time.Millisecond)
			key := fmt.Sprint(dev, "@", at.UnixMilli())
			if used[key] {
				continue
			}
			used[key] = true
			p := entry.Passage{Device: dev, Gate: "Gate " + dev, At: at, Direction: entry.In}
			if rng.IntN(2) == 0 {
				p.Direction = entry.Out
			}
			p.Annulled = rng.IntN(4) == 0
			// The gate learns the passage once or twice, stored or held
			// (as a peer's mark not yet persisted); when twice, only one
			// of the records may carry the annulment.
			copies, plain := 1+rng.IntN(2), rng.IntN(2)
			for c := range copies {
				rec := p
				if copies == 2 && c == plain {
					rec.Annulled = false
				}
				m := gatedb.Mark{Event: event, TicketID: id, Passage: rec}
				if rng.IntN(2) == 0 {
					err = db.PutMark(ctx, m)
				} else {
					err = db.AddPeerMark(m)
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if !p.Annulled {
				counting = append(counting, p)
			}
		}
		rng.Shuffle(len(counting), func(i, j int) { counting[i], counting[j] = counting[j], counting[i] })

		policy := ticket.Policy(rng.IntN(3))
		dir := []entry.Direction{entry.In, entry.In, entry.In, entry.Out}[rng.IntN(4)]
		marks, err := db.Marks(ctx, event, id)
		if err != nil {
			t.Fatal(err)
		}
		v := gate.Decide(ticket.Claims{ID: id, Event: event, Policy: policy}, dir, gatedb.Passages(marks), now)

		r := wire.DecideRequest{Device: "gate-z", Gate: "Gate Z", Event: event, TicketID: id, Direction: wire.DirIn,
			Policy: policy.String(), At: now}
		if dir == entry.Out {
			r.Direction = wire.DirOut
		}
		resp := fleet.Rule(r, fleet.ClaimState{Known: true, Policy: policy, Passages: counting}, loc)

		if v.Admit != resp.Admit || v.Reason != resp.Reason || (!v.Admit && v.Sentence != resp.Sentence) {
			t.Fatalf("history %d (%s, %s): gate %+v, fleet %+v\n  gate's marks %+v\n  fleet's passages %+v",
				i, policy, dir, v, resp, marks, counting)
		}
		switch {
		case !v.Admit:
			outcomes[v.Reason]++
		case v.Sentence == "Welcome back":
			outcomes["welcome back"]++
		}
		if i%1000 == 999 {
			if _, err := db.PersistPeerMarks(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The histories must exercise every outcome of the rule in earnest.
	for _, o := range []string{entry.ReasonAlreadyUsed, entry.ReasonNoExit, "welcome back"} {
		if outcomes[o] < histories/40 {
			t.Fatalf("outcomes %v: the generator is lopsided", outcomes)
		}
	}
	t.Logf("outcomes other than a plain admission: %v", outcomes)
}
