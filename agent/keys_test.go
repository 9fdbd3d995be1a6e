package agent_test

import (
	"context"
	"testing"
	"time"

	"admit/agent"
	"admit/fleet/wire"
	"admit/ticket"
)

// TestKeyInReplicaBeforeKeyring: a key that reached the replica but not
// yet the gate's keyring (the uplink hands keys over just after the batch
// commits) still verifies a ticket presented in between.
func TestKeyInReplicaBeforeKeyring(t *testing.T) {
	ctx := context.Background()
	g := startGate(t, agent.Config{Device: "gate-1", Event: "gala"}) // no fleet: nothing calls OnKeys
	k, err := ticket.GenerateSigningKey("gala", "k1")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	code, err := ticket.Encode(ticket.Claims{ID: "T1", Event: "gala", Type: "GA", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour)}, k)
	if err != nil {
		t.Fatal(err)
	}
	// The gate's first sync: an empty log's snapshot (a gate decides
	// nothing before one).
	first := &wire.Snapshot{Event: "gala", Done: true}
	first.Seal()
	if _, err := g.DB().ApplySnapshot(ctx, first); err != nil {
		t.Fatal(err)
	}
	changes := []wire.Change{
		{Seq: 1, Kind: wire.KindKey, Key: &wire.Key{ID: k.ID, Public: k.Public().Key}},
		{Seq: 2, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T1", Type: "GA"}},
	}
	b := &wire.Batch{Event: "gala", From: 0, To: 2, Changes: changes, Running: wire.RunningChecksum(0, changes)}
	b.Seal()
	if _, err := g.DB().Apply(ctx, b); err != nil {
		t.Fatal(err)
	}
	if d := g.present(t, code); !d.Admitted {
		t.Fatalf("ticket signed with a key only in the replica: %+v", d)
	}
}
