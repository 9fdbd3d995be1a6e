package replicate_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/fleet"
	"admit/fleet/replicate"
	"admit/fleet/replicate/replicatetest"
	"admit/fleet/wire"
	"admit/internal/testwait"
)

// TestProtocol4And5OnOneNode: a gate of protocol 4 and one of protocol 5
// on one hub both receive the same changes — a snapshot, batches, a
// config, a scan acknowledgement — the first unsigned (its decoder refuses
// signed frames), the second signed for its session (its decoder refuses
// anything else).
func TestProtocol4And5OnOneNode(t *testing.T) {
	f := startFleet(t, replicate.Options{SnapshotMin: 5})
	ctx := context.Background()
	issue(t, f, 10) // a long log: both start with a snapshot
	old := replicatetest.Dial(t, f.url, "gate-old", f.enroll(t, "gate-old"), newReplica(), replicatetest.Options{Protocol: 4})
	cur := replicatetest.Dial(t, f.url, "gate-new", f.enroll(t, "gate-new"), newReplica(), replicatetest.Options{})
	if old.Trust != nil || cur.Trust == nil || !bytes.Equal(cur.Challenge.ReplicaKey, cur.Trust.ReplicaKey) {
		t.Fatalf("sessions: protocol 4 trust %v, protocol 5 trust %v", old.Trust, cur.Trust)
	}
	for _, a := range []*replicatetest.Agent{old, cur} {
		if m := a.Next(); m.Type != wire.TypeSnapshot {
			t.Fatalf("%s: first frame %s, want a snapshot", a.Device, m.Type)
		}
		syncTo(t, a, f)
	}
	ts := issue(t, f, 3)
	if _, err := f.svc.Revoke(ctx, "gala", ts[0].ID, "lost"); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*replicatetest.Agent{old, cur} {
		syncTo(t, a, f)
		if row, ok := a.Replica.Ticket("gala", ts[0].ID); !ok || !row.Revoked {
			t.Fatalf("%s: revoked ticket in the replica %+v %v", a.Device, row, ok)
		}
	}
	if _, err := f.svc.PutConfig(ctx, "device:gate-old", []byte(`{"passage_timeout": "6s"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PutConfig(ctx, "device:gate-new", []byte(`{"passage_timeout": "6s"}`)); err != nil {
		t.Fatal(err)
	}
	for _, a := range []*replicatetest.Agent{old, cur} {
		m := a.Next()
		if m.Type != wire.TypeConfig || (a == cur) != (m.Config.Signature != nil) {
			t.Fatalf("%s: %+v, want a config, signed on protocol 5 only", a.Device, m)
		}
		a.ApplyConfig(m.Config)
		at := time.Now().UTC().Truncate(time.Millisecond)
		if upTo := a.SendScans(wire.Scan{Seq: 1, Event: "gala", TicketID: ts[1].ID, Gate: "G", At: at, Outcome: wire.Admitted}); upTo != 1 {
			t.Fatalf("%s: ack up to %d", a.Device, upTo)
		}
	}
}

// TestHelloForAnotherEventRefused: a device enrolled at a gate of one
// event cannot subscribe to another event's allowlist (with its rotating-
// code secrets), alone or next to its own.
func TestHelloForAnotherEventRefused(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	ctx := context.Background()
	if _, err := f.svc.CreateEvent(ctx, fleet.Event{ID: "vip-night"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Issue(ctx, fleet.IssueRequest{Event: "vip-night", Count: 2, Rotating: true}); err != nil {
		t.Fatal(err)
	}
	key := f.enroll(t, "gate-1")
	for _, events := range [][]string{{"vip-night"}, {"gala", "vip-night"}} {
		r := replicatetest.NewReplica(events...)
		a := connect(t, f, "gate-1", key, r)
		if code := a.ExpectClosed(); code != "forbidden_event" {
			t.Fatalf("hello for %v: closed with %q, want forbidden_event", events, code)
		}
		if n := r.Tickets("vip-night"); n != 0 {
			t.Fatalf("hello for %v: %d tickets of the other event replicated", events, n)
		}
	}
	// Logged as the node closes the stream: the client may see the close first.
	testwait.For(t, "the refusal in the node's log", func() bool {
		return strings.Contains(f.log.String(), `does not serve event \"vip-night\"`)
	})
	syncTo(t, connect(t, f, "gate-1", key, newReplica()), f) // its own event: served
}

// TestScansOfAnotherEventNotRecorded: scans of an event the device does
// not serve are not recorded — no scan, no used mark for that event's
// gates — while its own event's are; all are acknowledged, so the gate's
// journal moves on.
func TestScansOfAnotherEventNotRecorded(t *testing.T) {
	f := startFleet(t, replicate.Options{})
	ctx := context.Background()
	if _, err := f.svc.CreateEvent(ctx, fleet.Event{ID: "vip-night"}); err != nil {
		t.Fatal(err)
	}
	other, err := f.svc.Issue(ctx, fleet.IssueRequest{Event: "vip-night", Count: 1})
	if err != nil {
		t.Fatal(err)
	}
	own := issue(t, f, 1)
	before, _ := f.svc.Store.LogState(ctx, "vip-night")
	a := connect(t, f, "gate-1", f.enroll(t, "gate-1"), newReplica())
	syncTo(t, a, f)
	at := time.Now().UTC().Truncate(time.Millisecond)
	if upTo := a.SendScans(
		wire.Scan{Seq: 1, Event: "vip-night", TicketID: other[0].ID, Gate: "G", At: at, Outcome: wire.Admitted},
		wire.Scan{Seq: 2, Event: "gala", TicketID: own[0].ID, Gate: "G", At: at, Outcome: wire.Admitted},
		wire.Scan{Seq: 3, Event: "vip-night", TicketID: other[0].ID, Gate: "G", At: at.Add(time.Second), Outcome: wire.Refused, Reason: "x"},
	); upTo != 3 {
		t.Fatalf("ack up to %d, want 3", upTo)
	}
	recent, err := f.svc.Store.RecentScans(ctx, 10)
	if err != nil || len(recent) != 1 || recent[0].Event != "gala" {
		t.Fatalf("recorded %+v %v, want the gala scan only", recent, err)
	}
	if after, _ := f.svc.Store.LogState(ctx, "vip-night"); after.Last != before.Last {
		t.Fatalf("the other event's log grew from %d to %d", before.Last, after.Last)
	}
	if !strings.Contains(f.log.String(), "not recorded") {
		t.Fatalf("refusal not logged:\n%s", f.log.String())
	}
}

// TestPreHelloBounds: before its hello verifies, a connection gets a
// frame of wire.MaxHelloBytes at most — a bigger one closes it, unread —
// and Timeout to send it.
func TestPreHelloBounds(t *testing.T) {
	f := startFleet(t, replicate.Options{Timeout: 300 * time.Millisecond})
	big := dial(t, f.url)
	if m, err := readMsg(t, big); err != nil || m.Type != wire.TypeChallenge {
		t.Fatalf("challenge: %+v %v", m, err)
	}
	big.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte(" "), wire.MaxHelloBytes+1))
	// gorilla/websocket closes with 1009 (message too big) as it refuses
	// the frame's header, before the hub can say more.
	if code := closedWith(t, big); code != "oversized" && code != "close 1009" {
		t.Fatalf("an anonymous frame over %d bytes: closed with %q, want oversized", wire.MaxHelloBytes, code)
	}
	silent := dial(t, f.url)
	start := time.Now()
	closedWith(t, silent)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a connection that never said hello was kept %s", took)
	}
}

// closedWith reads until the connection closes and returns the code of
// the error frame the hub sent before, else "close <n>" for a close frame
// with a status, else "".
func closedWith(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	code := ""
	for {
		m, err := readMsg(t, ws)
		if err != nil {
			var ce *websocket.CloseError
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				t.Fatalf("the hub did not close the connection: %v", err)
			case code == "" && errors.As(err, &ce):
				return fmt.Sprintf("close %d", ce.Code)
			}
			return code
		}
		if m.Type == wire.TypeError {
			code = m.Error.Code
		}
	}
}

// TestConnectionCaps: the hub answers 503, without upgrading, beyond its
// cap of connections whose hello has not verified and beyond its cap of
// streams, per address and in all; a connection that leaves frees its
// place.
func TestConnectionCaps(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts replicate.Options
	}{
		{"per address", replicate.Options{MaxPendingPerIP: 2, MaxConnsPerIP: 3}},
		{"in all", replicate.Options{MaxPending: 2, MaxConns: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startFleet(t, tc.opts)
			refused := func(what string) {
				t.Helper()
				ws, resp, err := websocket.DefaultDialer.Dial(f.url, nil)
				if err == nil {
					ws.Close()
					t.Fatalf("%s: connected", what)
				}
				if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
					t.Fatalf("%s: %v %+v, want 503 with Retry-After", what, err, resp)
				}
			}
			p1, p2 := dial(t, f.url), dial(t, f.url) // anonymous: no hello
			refused("a third connection without hello")
			p1.Close()
			testwait.For(t, "the hub to free the place", func() bool { return f.hub.Connected() == 1 })
			a := connect(t, f, "gate-a", f.enroll(t, "gate-a"), newReplica())
			syncTo(t, a, f) // verified: no longer pending
			b := connect(t, f, "gate-b", f.enroll(t, "gate-b"), newReplica())
			syncTo(t, b, f)
			refused("a fourth stream")
			p2.Close()
			testwait.For(t, "the hub to free the place", func() bool { return f.hub.Connected() == 2 })
			syncTo(t, connect(t, f, "gate-c", f.enroll(t, "gate-c"), newReplica()), f)
		})
	}
}

// TestDeadAgentDropped: a gate that stops answering (nothing reads its
// socket, so no pong comes back) is dropped within PongWait; a silent gate
// that still answers pings is kept.
func TestDeadAgentDropped(t *testing.T) {
	f := startFleet(t, replicate.Options{PingEvery: 50 * time.Millisecond, PongWait: 300 * time.Millisecond})
	dead := connect(t, f, "gate-dead", f.enroll(t, "gate-dead"), newReplica())
	syncTo(t, dead, f)
	live := connect(t, f, "gate-live", f.enroll(t, "gate-live"), newReplica())
	syncTo(t, live, f)
	go func() { // answers pings, says nothing
		for {
			if _, _, err := live.WS.ReadMessage(); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	testwait.For(t, "the dead gate to be dropped", func() bool { return !f.hub.ConnectedDevice("gate-dead") })
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("a dead gate was kept %s", took)
	}
	if !f.hub.ConnectedDevice("gate-live") {
		t.Fatal("a live silent gate was dropped")
	}
}
