package replicate_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"admit/clock"
	"admit/fleet"
	"admit/fleet/replicate"
	"admit/fleet/replicate/replicatetest"
	"admit/fleet/wire"
	"admit/internal/testwait"
)

// TestFirstSnapshotAndSyncPoint: a new replica at protocol 5 starts from a
// snapshot however short the log (its completion makes the gate ready),
// whose Done chunk carries the log position's sync point; each batch
// carries its own. A protocol-4 agent gets what it got before: batches
// from 0 on a short log, no sync point, frames as they were.
func TestFirstSnapshotAndSyncPoint(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	f.svc.Clock = clk
	if _, err := f.svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 2}); err != nil {
		t.Fatal(err)
	}
	issuedAt := clk.Now()

	r := newReplica()
	a := connect(t, f, "gate-5", f.enroll(t, "gate-5"), r)
	var done *wire.Snapshot
	for done == nil {
		m := a.Next()
		if m.Type != wire.TypeSnapshot {
			t.Fatalf("a new replica at protocol 5 got a %s first, want a snapshot", m.Type)
		}
		if m.Snapshot.Done {
			done = m.Snapshot
		}
	}
	if !done.AsOf.Equal(issuedAt.Add(-fleet.IssueSlack)) {
		t.Fatalf("snapshot sync point %v, want %v (the latest issue less the slack)", done.AsOf, issuedAt.Add(-fleet.IssueSlack))
	}
	clk.Advance(3 * time.Hour)
	if _, err := f.svc.Issue(ctx, fleet.IssueRequest{Event: "gala", Count: 1}); err != nil {
		t.Fatal(err)
	}
	m := a.Next()
	if m.Type != wire.TypeBatch || !m.Batch.AsOf.Equal(clk.Now().Add(-fleet.IssueSlack)) {
		t.Fatalf("batch after a new ticket: %+v, want the sync point %v", m, clk.Now().Add(-fleet.IssueSlack))
	}

	old := replicatetest.NewReplica("gala")
	v4 := replicatetest.Dial(t, f.url, "gate-4", f.enroll(t, "gate-4"), old, replicatetest.Options{Protocol: 4})
	raw, m := v4.NextRaw()
	if m.Type != wire.TypeBatch || m.Batch.From != 0 || !m.Batch.AsOf.IsZero() {
		t.Fatalf("a protocol-4 agent's first frame: %+v, want a batch from 0 without a sync point", m)
	}
	plain := *m.Batch
	if got := wire.MarshalBatch(&plain); string(got) != string(raw) {
		t.Fatal("a protocol-4 batch frame is not the protocol-4 encoding")
	}
}

// TestConfigOutcomesRecorded: what a gate reports of a config is what the
// fleet records — applied, or failed with the reason (protocol 5 names
// the version; a protocol-4 agent's failure is of the version it was
// sent) — and a group config naming an event a device does not serve is
// never sent to it, recorded as failed by the fleet.
func TestConfigOutcomesRecorded(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	ctx := context.Background()
	state := func(id string) fleet.DeviceStatus {
		ds, err := f.svc.Devices(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			if d.ID == id {
				return d
			}
		}
		t.Fatalf("no device %s", id)
		return fleet.DeviceStatus{}
	}
	r := newReplica()
	a := connect(t, f, "gate-1", f.enroll(t, "gate-1"), r)
	syncTo(t, a, f)
	testwait.For(t, "the session", func() bool { return f.hub.ConnectedDevice("gate-1") })
	c1, err := f.svc.PutConfig(ctx, "device:gate-1", json.RawMessage(`{"direction":"exit"}`))
	if err != nil {
		t.Fatal(err)
	}
	m := a.Next()
	a.ApplyConfig(m.Config)
	testwait.For(t, "applied", func() bool { return state("gate-1").ConfigState == fleet.ConfigApplied })
	c2, err := f.svc.PutConfig(ctx, "device:gate-1", json.RawMessage(`{"formats":["qr","pdf417"]}`))
	if err != nil {
		t.Fatal(err)
	}
	m = a.Next()
	if m.Type != wire.TypeConfig || m.Config.Version != c2.Version {
		t.Fatalf("%+v, want config %d", m, c2.Version)
	}
	a.FailConfig(m.Config, "formats: this gate has no camera")
	testwait.For(t, "failed", func() bool { return state("gate-1").ConfigState == fleet.ConfigFailed })
	if d := state("gate-1"); d.ConfigVersion != c1.Version || d.ConfigFailed != c2.Version || d.ConfigError != "formats: this gate has no camera" || !d.Drift {
		t.Fatalf("after the failure: %+v", d)
	}

	// A protocol-4 agent says only why.
	old := replicatetest.NewReplica("gala")
	v4 := replicatetest.Dial(t, f.url, "gate-old", f.enroll(t, "gate-old"), old, replicatetest.Options{Protocol: 4})
	v4.SyncTo("gala", r.Cursor("gala").Seq, r.Cursor("gala").Running)
	c3, err := f.svc.PutConfig(ctx, "device:gate-old", json.RawMessage(`{"buzzer":false}`))
	if err != nil {
		t.Fatal(err)
	}
	if m := v4.Next(); m.Type != wire.TypeConfig {
		t.Fatalf("%+v, want the config", m)
	}
	v4.Send(&wire.Message{Type: wire.TypeConfigAck, ConfigAck: &wire.ConfigAck{Version: 0, Error: "no buzzer on this board"}})
	testwait.For(t, "the protocol-4 failure", func() bool {
		d := state("gate-old")
		return d.ConfigFailed == c3.Version && d.ConfigError == "no buzzer on this board"
	})

	// A group config naming an event gate-2 does not serve: never sent,
	// failed by the fleet.
	pub, priv, _ := ed25519.GenerateKey(nil)
	if _, err := f.svc.PreEnroll(ctx, fleet.Device{ID: "gate-2", Group: "north", Events: []string{"gala"}, PublicKey: pub}); err != nil {
		t.Fatal(err)
	}
	r2 := newReplica()
	b := connect(t, f, "gate-2", priv, r2)
	syncTo(t, b, f)
	testwait.For(t, "the session", func() bool { return f.hub.ConnectedDevice("gate-2") })
	g, err := f.svc.PutConfig(ctx, "group:north", json.RawMessage(`{"events":["gala","cup"]}`))
	if err != nil {
		t.Fatal(err)
	}
	testwait.For(t, "the fleet's refusal", func() bool {
		d := state("gate-2")
		return d.ConfigFailed == g.Version && strings.Contains(d.ConfigError, "not pushed by the fleet") && strings.Contains(d.ConfigError, `"cup"`)
	})
	issue(t, f, 1)
	if m := b.Next(); m.Type != wire.TypeBatch {
		t.Fatalf("gate-2 was sent %s, want only the next batch (the config is not sent)", m.Type)
	}
}
