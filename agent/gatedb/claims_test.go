package gatedb_test

import (
	"context"
	"testing"
	"time"

	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/ticket"
	"admit/ticket/entry"
)

// TestClaimTieBreak: the earlier claim wins, then the smaller device id;
// exactly one of two different claims precedes the other, whichever gate
// compares them.
func TestClaimTieBreak(t *testing.T) {
	at := time.Date(2026, 12, 1, 19, 4, 0, 0, time.UTC)
	c := func(device string, ms int) gatedb.Claim {
		return gatedb.Claim{Event: "gala", TicketID: "T", Device: device, At: at.Add(time.Duration(ms) * time.Millisecond)}
	}
	for _, tt := range []struct {
		a, b gatedb.Claim
		want bool // a precedes b
	}{
		{c("gate-b", 0), c("gate-a", 1), true},  // earlier, whatever the device
		{c("gate-b", 1), c("gate-a", 0), false}, // later
		{c("gate-a", 0), c("gate-b", 0), true},  // same millisecond: smaller device
		{c("gate-b", 0), c("gate-a", 0), false},
	} {
		if got := tt.a.Precedes(tt.b); got != tt.want {
			t.Errorf("%s@%s precedes %s@%s: %v, want %v", tt.a.Device, tt.a.At, tt.b.Device, tt.b.At, got, tt.want)
		}
		if tt.a.Precedes(tt.b) == tt.b.Precedes(tt.a) {
			t.Errorf("%s and %s: not exactly one precedes", tt.a.Device, tt.b.Device)
		}
	}
	if x := c("gate-a", 0); x.Precedes(x) || !x.Same(x) || x.Same(c("gate-a", 1)) || x.Same(c("gate-b", 0)) {
		t.Error("a claim precedes itself, or Same is wrong")
	}
}

// TestClaimsKept: claims written survive a reopen until they expire; a
// dropped one is gone.
func TestClaimsKept(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	at := time.Date(2026, 12, 1, 19, 4, 0, 0, time.UTC)
	mk := func(id string, role gatedb.ClaimRole, expires time.Duration) gatedb.HeldClaim {
		return gatedb.HeldClaim{Claim: gatedb.Claim{Event: "gala", TicketID: id, Device: "gate-a", Gate: "Gate A", At: at,
			Direction: entry.In, Policy: ticket.ReEntry}, Role: role, Expires: at.Add(expires)}
	}
	granted, won, alone, gone := mk("T1", gatedb.ClaimGranted, 10*time.Second), mk("T2", gatedb.ClaimWon, 10*time.Second),
		mk("T3", gatedb.ClaimAlone, 24*time.Hour), mk("T4", gatedb.ClaimGranted, 10*time.Second)
	if err := db.SaveClaims(ctx, []gatedb.HeldClaim{granted, won, alone, gone}, nil); err != nil {
		t.Fatal(err)
	}
	if err := db.SaveClaims(ctx, nil, []gatedb.HeldClaim{gone}); err != nil {
		t.Fatal(err)
	}
	held, err := db.HeldClaims(ctx, at.Add(time.Second))
	if err != nil || len(held) != 3 {
		t.Fatalf("held %+v (%v), want 3", held, err)
	}
	for i, want := range []gatedb.HeldClaim{granted, won, alone} {
		if h := held[i]; h.TicketID != want.TicketID || h.Role != want.Role || h.Policy != ticket.ReEntry || !h.Expires.Equal(want.Expires) || !h.Same(want.Claim) {
			t.Errorf("held %+v, want %+v", h, want)
		}
	}
	held, err = db.HeldClaims(ctx, at.Add(time.Minute))
	if err != nil || len(held) != 1 || held[0].Role != gatedb.ClaimAlone {
		t.Fatalf("a minute later: %+v (%v), want the admission made alone only", held, err)
	}
}

// TestContestsQueued: contests wait for the fleet's acknowledgement, kept
// once however often they are queued.
func TestContestsQueued(t *testing.T) {
	ctx := context.Background()
	db := openReplica(t)
	at := time.Date(2026, 12, 1, 19, 4, 0, 0, time.UTC)
	c := wire.Contest{Event: "gala", TicketID: "T1", Kind: wire.ContestEntry, Noticed: at.Add(time.Minute),
		First: wire.ContestSide{Device: "gate-a", Gate: "Gate A", At: at}, Second: wire.ContestSide{Device: "gate-b", Gate: "Gate B", At: at.Add(time.Second)}}
	d := c
	d.TicketID, d.Kind, d.By = "T2", wire.ContestClaim, "gate-c"
	if err := db.AddContests(ctx, []wire.Contest{c, d, c}); err != nil {
		t.Fatal(err)
	}
	if err := db.AddContests(ctx, []wire.Contest{c}); err != nil {
		t.Fatal(err)
	}
	cs, err := db.PendingContests(ctx, 0, 10)
	if err != nil || len(cs) != 2 {
		t.Fatalf("pending %+v (%v), want 2", cs, err)
	}
	c.ID, d.ID = cs[0].ID, cs[1].ID
	if cs[0] != c || cs[1] != d || c.ID >= d.ID {
		t.Fatalf("pending %+v, want %+v and %+v", cs, c, d)
	}
	if err := db.ContestsAcked(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	if cs, err := db.PendingContests(ctx, 0, 10); err != nil || len(cs) != 1 || cs[0].TicketID != "T2" {
		t.Fatalf("after the ack: %+v (%v)", cs, err)
	}
}
