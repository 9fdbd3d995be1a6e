// Package storetest is the one test suite every fleet.Store backend must
// pass. A backend's test calls Run with a function that opens a fresh,
// empty store.
package storetest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/kek"
	"admit/fleet/wire"
	"admit/ticket"
	"admit/ticket/entry"
)

// Run runs every test of the suite; open returns a fresh empty store
// (closing it is the suite's job).
func Run(t *testing.T, open func(t *testing.T) fleet.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s fleet.Store)
	}{
		{"Events", testEvents},
		{"Tickets", testTickets},
		{"ChangeLog", testChangeLog},
		{"Compaction", testCompaction},
		{"Snapshot", testSnapshot},
		{"Scans", testScans},
		{"Passages", testPassages},
		{"CodeSecrets", testCodeSecrets},
		{"Claims", testClaims},
		{"ClaimState", testClaimState},
		{"Devices", testDevices},
		{"Configs", testConfigs},
		{"Layout", testLayout},
		{"DeviceKeys", testDeviceKeys},
		{"Operators", testOperators},
		{"Tokens", testTokens},
		{"LoginThrottle", testLoginThrottle},
		{"Audit", testAudit},
		{"KeysAtRest", testKeysAtRest},
		{"ReplicaKey", testReplicaKey},
		{"Venue", testVenue},
		{"Staff", testStaff},
		{"StaffScans", testStaffScans},
		{"VenueModel", testVenueModel},
		{"SyncPoint", testSyncPoint},
		{"Contests", testContests},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			tt.fn(t, s)
		})
	}
}

var t0 = time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)

func mustEvent(t *testing.T, s fleet.Store, id string) ticket.SigningKey {
	t.Helper()
	ctx := context.Background()
	if err := s.CreateEvent(ctx, fleet.Event{ID: id, Name: id, StartsAt: t0, EndsAt: t0.Add(6 * time.Hour), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	k, err := ticket.GenerateSigningKey(id, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.AddSigningKey(ctx, k, t0); err != nil {
		t.Fatal(err)
	}
	return k
}

func tickets(event string, n int, from int) []fleet.Ticket {
	out := make([]fleet.Ticket, n)
	for i := range out {
		id := fmt.Sprintf("T%06d", from+i)
		out[i] = fleet.Ticket{Event: event, ID: id, Type: "GA", Code: "AD1:" + id, IssuedAt: t0}
	}
	return out
}

func testEvents(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	k := mustEvent(t, s, "gala")
	err := s.CreateEvent(ctx, fleet.Event{ID: "gala", Name: "again", CreatedAt: t0})
	if !errors.Is(err, fleet.ErrExists) {
		t.Fatalf("second CreateEvent: %v, want ErrExists", err)
	}
	e, err := s.Event(ctx, "gala")
	if err != nil || e.Name != "gala" || !e.StartsAt.Equal(t0) {
		t.Fatalf("Event: %+v, %v", e, err)
	}
	if _, err := s.Event(ctx, "nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("Event(nope): %v", err)
	}
	got, err := s.SigningKey(ctx, "gala")
	if err != nil || !got.Private.Equal(k.Private) {
		t.Fatalf("SigningKey: %v", err)
	}
	evs, err := s.Events(ctx)
	if err != nil || len(evs) != 1 {
		t.Fatalf("Events: %v %v", evs, err)
	}
}

func testTickets(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	mustEvent(t, s, "gala")
	if err := s.AddTickets(ctx, tickets("gala", 1200, 0)); err != nil {
		t.Fatal(err)
	}
	// All or none: one duplicate id fails the whole request.
	err := s.AddTickets(ctx, append(tickets("gala", 5, 5000), tickets("gala", 1, 3)...))
	if !errors.Is(err, fleet.ErrExists) {
		t.Fatalf("duplicate ticket: %v, want ErrExists", err)
	}
	if _, err := s.Ticket(ctx, "gala", "T005000"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("ticket of a failed request stored: %v", err)
	}
	page, err := s.TicketPage(ctx, "gala", "T000999", 500)
	if err != nil || len(page) != 200 || page[0].ID != "T001000" {
		t.Fatalf("TicketPage: %d rows, %v", len(page), err)
	}
	tk, err := s.RevokeTicket(ctx, "gala", "T000007", "lost", t0.Add(time.Minute))
	if err != nil || tk.RevokedAt.IsZero() || tk.RevokeReason != "lost" {
		t.Fatalf("RevokeTicket: %+v %v", tk, err)
	}
	st1, _ := s.LogState(ctx, "gala")
	if _, err := s.RevokeTicket(ctx, "gala", "T000007", "again", t0.Add(2*time.Minute)); err != nil {
		t.Fatalf("second revoke: %v", err)
	}
	st2, _ := s.LogState(ctx, "gala")
	if st2.Last != st1.Last {
		t.Fatalf("second revoke logged a change: %d → %d", st1.Last, st2.Last)
	}
	if _, err := s.RevokeTicket(ctx, "gala", "NOPE", "", t0); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("revoke unknown: %v", err)
	}
	repl := fleet.Ticket{Event: "gala", ID: "R000001", Type: "GA", Code: "AD1:R", IssuedAt: t0}
	if err := s.ReplaceTicket(ctx, "gala", "T000008", repl, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	old, _ := s.Ticket(ctx, "gala", "T000008")
	if old.ReplacedBy != "R000001" || old.RevokedAt.IsZero() {
		t.Fatalf("replaced ticket: %+v", old)
	}
	if err := s.ReplaceTicket(ctx, "gala", "T000008", fleet.Ticket{Event: "gala", ID: "R000002", Type: "GA", Code: "x", IssuedAt: t0}, t0); !errors.Is(err, fleet.ErrRevoked) {
		t.Fatalf("reissuing a revoked ticket: %v, want ErrRevoked", err)
	}
	if _, err := s.Ticket(ctx, "gala", "R000002"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("failed reissue left a ticket: %v", err)
	}
}

func testChangeLog(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	mustEvent(t, s, "gala")
	mustEvent(t, s, "other")
	if err := s.AddTickets(ctx, append(tickets("gala", 30, 0), tickets("other", 4, 0)...)); err != nil {
		t.Fatal(err)
	}
	st, err := s.LogState(ctx, "gala")
	if err != nil || st.Last != 31 { // key + 30 tickets
		t.Fatalf("LogState: %+v %v", st, err)
	}
	var all []wire.Change
	for after := int64(0); ; {
		p, err := s.Changes(ctx, "gala", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Changes) == 0 {
			break
		}
		if want := wire.RunningChecksum(wire.RunningChecksum(0, all), p.Changes); p.Running != want {
			t.Fatalf("page running %x, recomputed %x", p.Running, want)
		}
		all = append(all, p.Changes...)
		after = p.Changes[len(p.Changes)-1].Seq
	}
	for i, c := range all {
		if c.Seq != int64(i+1) {
			t.Fatalf("change %d has seq %d: seqs must be dense per event", i, c.Seq)
		}
	}
	if all[0].Kind != wire.KindKey || all[1].Kind != wire.KindTicket || all[1].Ticket.ID != "T000000" {
		t.Fatalf("log starts %+v %+v", all[0], all[1])
	}
	if st.Running != wire.RunningChecksum(0, all) {
		t.Fatal("LogState.Running is not the CRC of the log")
	}
	r, err := s.RunningAt(ctx, "gala", 10)
	if err != nil || r != wire.RunningChecksum(0, all[:10]) {
		t.Fatalf("RunningAt(10): %x %v", r, err)
	}
	if _, err := s.RunningAt(ctx, "gala", 99); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("RunningAt past the end: %v", err)
	}
	if _, err := s.LogState(ctx, "nope"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("LogState(nope): %v", err)
	}
}

func testCompaction(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	mustEvent(t, s, "gala")
	if err := s.AddTickets(ctx, tickets("gala", 20, 0)); err != nil {
		t.Fatal(err)
	}
	before, _ := s.RunningAt(ctx, "gala", 15)
	if err := s.Compact(ctx, "gala", 15); err != nil {
		t.Fatal(err)
	}
	st, _ := s.LogState(ctx, "gala")
	if st.Compacted != 15 || st.CompactedRunning != before || st.Last != 21 {
		t.Fatalf("after compaction: %+v", st)
	}
	if _, err := s.Changes(ctx, "gala", 14, 100); !errors.Is(err, fleet.ErrCompacted) {
		t.Fatalf("Changes behind the compaction point: %v", err)
	}
	if _, err := s.RunningAt(ctx, "gala", 3); !errors.Is(err, fleet.ErrCompacted) {
		t.Fatalf("RunningAt behind the compaction point: %v", err)
	}
	p, err := s.Changes(ctx, "gala", 15, 100)
	if err != nil || len(p.Changes) != 6 || p.Changes[0].Seq != 16 || p.Running != st.Running {
		t.Fatalf("Changes at the compaction point: %d %v", len(p.Changes), err)
	}
	if err := s.Compact(ctx, "gala", 5); err != nil { // behind: no-op
		t.Fatal(err)
	}
	if err := s.AddTickets(ctx, tickets("gala", 1, 100)); err != nil {
		t.Fatal(err)
	}
	st2, _ := s.LogState(ctx, "gala")
	if st2.Last != 22 {
		t.Fatalf("seq after compaction: %d, want 22", st2.Last)
	}
}

func testSnapshot(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	k := mustEvent(t, s, "gala")
	if err := s.AddTickets(ctx, tickets("gala", 25, 0)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RevokeTicket(ctx, "gala", "T000003", "", t0); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordScans(ctx, "dev1", []wire.Scan{
		{Seq: 1, Event: "gala", TicketID: "T000004", Gate: "A", At: t0, Outcome: wire.Admitted},
		{Seq: 2, Event: "gala", TicketID: "T000020", Gate: "A", At: t0, Outcome: wire.Admitted},
	}, t0); err != nil {
		t.Fatal(err)
	}
	var got []wire.SnapTicket
	var used []wire.Used
	after := ""
	for i := 0; ; i++ {
		p, err := s.Snapshot(ctx, "gala", after, 10)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 && (len(p.Keys) != 1 || !slices.Equal(p.Keys[0].Public, k.Public().Key)) {
			t.Fatalf("first snapshot page keys: %+v", p.Keys)
		}
		if i > 0 && len(p.Keys) != 0 {
			t.Fatal("keys on a later page")
		}
		got = append(got, p.Tickets...)
		used = append(used, p.Used...)
		after = p.Last
		if p.Done {
			break
		}
		if i > 5 {
			t.Fatal("snapshot does not end")
		}
	}
	if len(got) != 25 || !got[3].Revoked || got[4].Revoked {
		t.Fatalf("snapshot tickets: %d, revoked %v %v", len(got), got[3].Revoked, got[4].Revoked)
	}
	if len(used) != 2 || used[0].TicketID != "T000004" || used[1].TicketID != "T000020" || !used[0].At.Equal(t0) {
		t.Fatalf("snapshot used marks: %+v", used)
	}
}

func testScans(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	mustEvent(t, s, "gala")
	scans := []wire.Scan{
		{Seq: 1, Event: "gala", TicketID: "A", Gate: "G1", At: t0, Outcome: wire.Admitted},
		{Seq: 2, Event: "gala", TicketID: "B", Gate: "G1", At: t0, Outcome: wire.Refused, Reason: "bad_signature"},
		{Seq: 3, Event: "gala", TicketID: "C", Gate: "G1", At: t0, Outcome: wire.Admitted},
	}
	grown, err := s.RecordScans(ctx, "dev1", scans, t0)
	if err != nil || !slices.Equal(grown, []string{"gala"}) {
		t.Fatalf("RecordScans: %v %v", grown, err)
	}
	st1, _ := s.LogState(ctx, "gala")
	// Replaying (device, seq) 1..3 and adding 4: only 4 is new.
	scans = append(scans, wire.Scan{Seq: 4, Event: "gala", TicketID: "D", Gate: "G1", At: t0, Outcome: wire.Admitted})
	if _, err := s.RecordScans(ctx, "dev1", scans, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	st2, _ := s.LogState(ctx, "gala")
	if st2.Last != st1.Last+1 {
		t.Fatalf("replayed scans logged %d used marks, want 1", st2.Last-st1.Last)
	}
	// Same seq from another device is another scan.
	if _, err := s.RecordScans(ctx, "dev2", scans[:1], t0); err != nil {
		t.Fatal(err)
	}
	recent, err := s.RecentScans(ctx, 100)
	if err != nil || len(recent) != 5 {
		t.Fatalf("RecentScans: %d %v", len(recent), err)
	}
	if of, err := s.EventScans(ctx, []string{"gala"}, 100); err != nil || len(of) != 5 {
		t.Fatalf("EventScans(gala): %d %v", len(of), err)
	}
	if of, err := s.EventScans(ctx, []string{"other", "none"}, 100); err != nil || len(of) != 0 {
		t.Fatalf("EventScans(other events): %d %v", len(of), err)
	}
	if of, _ := s.EventScans(ctx, []string{"gala"}, 2); len(of) != 2 {
		t.Fatalf("EventScans limit: %d", len(of))
	}
	p, _ := s.Changes(ctx, "gala", st1.Last, 10)
	if len(p.Changes) != 2 || p.Changes[0].Used.TicketID != "D" || p.Changes[1].Used.Device != "dev2" {
		t.Fatalf("used marks logged: %+v", p.Changes)
	}
	// A scan of an unknown event is recorded, not fanned out.
	grown, err = s.RecordScans(ctx, "dev1", []wire.Scan{{Seq: 9, Event: "nope", TicketID: "X", At: t0, Outcome: wire.Admitted}}, t0)
	if err != nil || len(grown) != 0 {
		t.Fatalf("unknown event scan: %v %v", grown, err)
	}
	// A large batch.
	big := make([]wire.Scan, 2500)
	for i := range big {
		big[i] = wire.Scan{Seq: int64(100 + i), Event: "gala", TicketID: fmt.Sprintf("B%d", i), Gate: "G2", At: t0, Outcome: wire.Admitted}
	}
	if _, err := s.RecordScans(ctx, "dev3", big, t0); err != nil {
		t.Fatal(err)
	}
	st3, _ := s.LogState(ctx, "gala")
	if st3.Last != st2.Last+1+2500 {
		t.Fatalf("big batch logged %d marks", st3.Last-st2.Last-1)
	}
}

// testPassages: scans carry their direction; an exit is stored, logged
// and snapshotted as an exit, not as an entry.
func testPassages(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	mustEvent(t, s, "gala")
	st0, _ := s.LogState(ctx, "gala")
	if _, err := s.RecordScans(ctx, "dev1", []wire.Scan{
		{Seq: 1, Event: "gala", TicketID: "R", Gate: "In", At: t0, Outcome: wire.Admitted, Direction: wire.DirIn},
		{Seq: 2, Event: "gala", TicketID: "R", Gate: "Out", At: t0.Add(time.Minute), Outcome: wire.Admitted, Direction: wire.DirOut},
	}, t0); err != nil {
		t.Fatal(err)
	}
	p, err := s.Changes(ctx, "gala", st0.Last, 10)
	if err != nil || len(p.Changes) != 2 || p.Changes[0].Used.Exit() || !p.Changes[1].Used.Exit() {
		t.Fatalf("logged passages: %+v %v", p.Changes, err)
	}
	recent, _ := s.RecentScans(ctx, 10)
	dirs := map[int64]string{}
	for _, r := range recent {
		dirs[r.Seq] = r.Direction
	}
	if dirs[1] != wire.DirIn || dirs[2] != wire.DirOut {
		t.Fatalf("recorded directions %v", dirs)
	}
	snap, err := s.Snapshot(ctx, "gala", "", 100)
	if err != nil || len(snap.Used) != 2 || snap.Used[0].Exit() == snap.Used[1].Exit() {
		t.Fatalf("snapshot passages: %+v %v", snap.Used, err)
	}

	// An annulment of the entry (sent twice) is logged once as a
	// retraction and flags the mark in snapshots.
	st1, _ := s.LogState(ctx, "gala")
	annul := []wire.Scan{{Seq: 3, Event: "gala", TicketID: "R", Gate: "In", At: t0.Add(2 * time.Minute), Outcome: wire.Refused,
		Reason: "annulled", Direction: wire.DirIn, Annuls: t0}}
	for range 2 {
		if _, err := s.RecordScans(ctx, "dev1", annul, t0); err != nil {
			t.Fatal(err)
		}
	}
	p, err = s.Changes(ctx, "gala", st1.Last, 10)
	if err != nil || len(p.Changes) != 1 || p.Changes[0].Kind != wire.KindAnnul {
		t.Fatalf("logged annulments: %+v %v", p.Changes, err)
	}
	if a := p.Changes[0].Annul; a.TicketID != "R" || a.Device != "dev1" || !a.At.Equal(t0) || a.Reason != "annulled" {
		t.Fatalf("annulment %+v", a)
	}
	snap, err = s.Snapshot(ctx, "gala", "", 100)
	if err != nil || len(snap.Used) != 2 || !snap.Used[0].Annulled || snap.Used[1].Annulled {
		t.Fatalf("snapshot after the annulment: %+v %v", snap.Used, err)
	}
}

// testCodeSecrets: a rotating ticket's secret is stored, logged with the
// ticket and snapshotted; other tickets have none.
func testCodeSecrets(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	mustEvent(t, s, "gala")
	st0, _ := s.LogState(ctx, "gala")
	secret := []byte("0123456789abcdefghij")
	if err := s.AddTickets(ctx, []fleet.Ticket{
		{Event: "gala", ID: "R", Type: "GA", Code: "AD1:R", IssuedAt: t0, CodeSecret: secret},
		{Event: "gala", ID: "S", Type: "GA", Code: "AD1:S", IssuedAt: t0},
	}); err != nil {
		t.Fatal(err)
	}
	r, err := s.Ticket(ctx, "gala", "R")
	if err != nil || !bytes.Equal(r.CodeSecret, secret) {
		t.Fatalf("stored secret %x %v", r.CodeSecret, err)
	}
	p, _ := s.Changes(ctx, "gala", st0.Last, 10)
	if len(p.Changes) != 2 || !bytes.Equal(p.Changes[0].Ticket.CodeSecret, secret) || p.Changes[1].Ticket.CodeSecret != nil {
		t.Fatalf("logged tickets %+v", p.Changes)
	}
	snap, err := s.Snapshot(ctx, "gala", "", 10)
	if err != nil || len(snap.Tickets) != 2 || !bytes.Equal(snap.Tickets[0].CodeSecret, secret) || snap.Tickets[1].CodeSecret != nil {
		t.Fatalf("snapshot tickets %+v %v", snap.Tickets, err)
	}
}

// testClaims: online decisions. Of many gates claiming one ticket at once,
// exactly one is admitted; a retry of the admitted request is admitted
// again; a claimed passage blocks later claims and counts in snapshots;
// an exit and an annulment count as they should; a revoked ticket is
// refused.
func testClaims(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	k := mustEvent(t, s, "gala")
	if err := s.AddTickets(ctx, []fleet.Ticket{
		issued(t, k, "A", ticket.SingleEntry),
		issued(t, k, "R", ticket.ReEntry),
		issued(t, k, "S", ticket.SingleEntry),
	}); err != nil {
		t.Fatal(err)
	}
	claim := func(device, id, policy, dir string, at time.Time) wire.DecideResponse {
		t.Helper()
		r := wire.DecideRequest{Device: device, Gate: "Gate " + device, Event: "gala", TicketID: id, Direction: dir, Policy: policy, At: at}
		resp, err := s.Claim(ctx, r, func(st fleet.ClaimState) wire.DecideResponse { return fleet.Rule(r, st, time.UTC) })
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var wg sync.WaitGroup
	admitted := make(chan string, 8)
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprintf("g%d", i)
			if claim(dev, "A", "single", wire.DirIn, t0.Add(time.Duration(i)*time.Millisecond)).Admit {
				admitted <- dev
			}
		}()
	}
	wg.Wait()
	close(admitted)
	var winners []string
	for d := range admitted {
		winners = append(winners, d)
	}
	if len(winners) != 1 {
		t.Fatalf("admitted at %v, want exactly one gate", winners)
	}
	w := winners[0]
	i := int(w[1] - '0')
	if !claim(w, "A", "single", wire.DirIn, t0.Add(time.Duration(i)*time.Millisecond)).Admit {
		t.Fatal("a retried claim was refused")
	}
	if resp := claim("late", "A", "single", wire.DirIn, t0.Add(time.Hour)); resp.Admit || resp.Reason != "already_used" ||
		!strings.Contains(resp.Sentence, "Gate "+w) {
		t.Fatalf("late claim: %+v", resp)
	}
	snap, _ := s.Snapshot(ctx, "gala", "", 10)
	if len(snap.Used) != 1 || snap.Used[0].Device != w {
		t.Fatalf("claimed passage in the snapshot: %+v", snap.Used)
	}

	// Re-entry: in, refused while inside, out, in again.
	now := t0
	for _, step := range []struct {
		dir  string
		want bool
	}{{wire.DirIn, true}, {wire.DirIn, false}, {wire.DirOut, true}, {wire.DirIn, true}} {
		now = now.Add(time.Minute)
		if got := claim("g1", "R", "reentry", step.dir, now).Admit; got != step.want {
			t.Fatalf("re-entry %s: admitted %v, want %v", step.dir, got, step.want)
		}
	}
	// An annulled passage does not count.
	if _, err := s.RecordScans(ctx, "g1", []wire.Scan{{Seq: 1, Event: "gala", TicketID: "R", Gate: "Gate g1", At: now.Add(time.Second),
		Outcome: wire.Refused, Reason: "no_passage", Annuls: now}}, now); err != nil {
		t.Fatal(err)
	}
	// The request says single entry; the fleet issued R for re-entry, and
	// rules with that.
	if resp := claim("g2", "R", "single", wire.DirIn, now.Add(2*time.Minute)); !resp.Admit {
		t.Fatalf("re-entry after the exit, the later entry annulled: %+v", resp)
	}
	if _, err := s.RevokeTicket(ctx, "gala", "R", "lost", now); err != nil {
		t.Fatal(err)
	}
	if resp := claim("g3", "R", "multi", wire.DirIn, now.Add(3*time.Minute)); resp.Admit || resp.Reason != "revoked" {
		t.Fatalf("revoked ticket: %+v", resp)
	}

	// A gate that claims a single-entry ticket is multi-entry is ruled
	// with the policy the fleet issued.
	if resp := claim("g1", "S", "multi", wire.DirIn, now); !resp.Admit {
		t.Fatalf("first entry of S: %+v", resp)
	}
	if resp := claim("g2", "S", "multi", wire.DirIn, now.Add(time.Minute)); resp.Admit || resp.Reason != "already_used" {
		t.Fatalf("second entry of a single-entry ticket claimed as multi: %+v, want already_used", resp)
	}
	// A ticket the fleet does not know (a partner's credential the gate
	// verified) is ruled with the policy the gate read from it.
	for i := range 2 {
		if resp := claim("g1", "P", "multi", wire.DirIn, now.Add(time.Duration(i)*time.Minute)); !resp.Admit {
			t.Fatalf("unknown multi-entry ticket, entry %d: %+v", i+1, resp)
		}
	}
}

// issued is ticket id of k's event as the fleet issues it: a real signed
// code with policy, which the store reads the policy of in claims.
func issued(t *testing.T, k ticket.SigningKey, id string, policy ticket.Policy) fleet.Ticket {
	t.Helper()
	code, err := ticket.Encode(ticket.Claims{ID: id, Event: k.Event, Type: "GA", NotBefore: t0, NotAfter: t0.Add(6 * time.Hour), Policy: policy}, k)
	if err != nil {
		t.Fatal(err)
	}
	return fleet.Ticket{Event: k.Event, ID: id, Type: "GA", Code: code, IssuedAt: t0}
}

// testClaimState: a claim hands the rule every passage of the ticket that
// is not annulled, and nothing else — entries and exits from every device,
// at equal times too, annulled in the same batch as the passage or a
// later one. fleet.ClaimState promises no order; the cross-check of gate
// and fleet (internal/entrycheck) relies on the rest.
func testClaimState(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	k := mustEvent(t, s, "gala")
	rng := rand.New(rand.NewPCG(7, 7))
	devices := []string{"a", "b", "B", "gate-10", "gate-9"}
	const n = 40
	var ids []string
	want := map[string][]entry.Passage{} // ticket: passages that count
	scans, late := map[string][]wire.Scan{}, map[string][]wire.Scan{}
	annulled := 0
	for i := range n {
		id := fmt.Sprintf("C%03d", i)
		ids = append(ids, id)
		if err := s.AddTickets(ctx, []fleet.Ticket{issued(t, k, id, ticket.SingleEntry)}); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for range rng.IntN(8) {
			dev := devices[rng.IntN(len(devices))]
			at := t0.Add(time.Duration(rng.IntN(4))*time.Minute + time.Duration(rng.IntN(2))*time.Millisecond)
			if k := fmt.Sprint(dev, at.UnixMilli()); seen[k] {
				continue
			} else {
				seen[k] = true
			}
			p := entry.Passage{Device: dev, Gate: "Gate " + dev, At: at, Direction: entry.In}
			sc := wire.Scan{Event: "gala", TicketID: id, Gate: p.Gate, At: at, Outcome: wire.Admitted, Direction: wire.DirIn}
			if rng.IntN(2) == 0 {
				p.Direction, sc.Direction = entry.Out, wire.DirOut
			}
			scans[dev] = append(scans[dev], sc)
			if rng.IntN(4) > 0 {
				want[id] = append(want[id], p)
				continue
			}
			annulled++
			annul := wire.Scan{Event: "gala", TicketID: id, Gate: p.Gate, At: at.Add(time.Second), Outcome: wire.Refused,
				Reason: "no_passage", Direction: sc.Direction, Annuls: at}
			if rng.IntN(2) == 0 {
				scans[dev] = append(scans[dev], annul)
			} else {
				late[dev] = append(late[dev], annul)
			}
		}
	}
	if annulled < 5 {
		t.Fatalf("only %d annulments generated", annulled)
	}
	for dev, ss := range scans {
		ss = append(ss, late[dev]...)
		for i := range ss {
			ss[i].Seq = int64(i + 1)
		}
		for len(ss) > 0 {
			batch := ss[:min(len(ss), 7)]
			ss = ss[len(batch):]
			if _, err := s.RecordScans(ctx, dev, batch, t0); err != nil {
				t.Fatal(err)
			}
		}
	}
	order := func(a, b entry.Passage) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.Device, b.Device)
	}
	for _, id := range ids {
		var got []entry.Passage
		r := wire.DecideRequest{Device: "claimer", Gate: "Gate C", Event: "gala", TicketID: id, Direction: wire.DirIn, Policy: "single", At: t0.Add(time.Hour)}
		if _, err := s.Claim(ctx, r, func(st fleet.ClaimState) wire.DecideResponse {
			got = st.Passages
			return wire.DecideResponse{Reason: "looked"} // refuse: nothing is written
		}); err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(got, order)
		w := slices.SortedFunc(slices.Values(want[id]), order)
		if len(got) != len(w) {
			t.Fatalf("%s: claim read %+v, want %+v", id, got, w)
		}
		for i := range w {
			if got[i].Device != w[i].Device || got[i].Gate != w[i].Gate || !got[i].At.Equal(w[i].At) ||
				got[i].Direction != w[i].Direction || got[i].Annulled {
				t.Fatalf("%s: claim read %+v, want %+v", id, got, w)
			}
		}
	}
}

func testDevices(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	token := sha256.Sum256([]byte("token"))
	e := fleet.Enrollment{TokenHash: token[:], Device: "gate-1", Name: "Gate 1", Group: "north", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateEnrollment(ctx, e); err != nil {
		t.Fatal(err)
	}
	pub, _, _ := ed25519.GenerateKey(nil)
	if _, err := s.Enroll(ctx, token[:], pub, t0.Add(2*time.Hour)); !errors.Is(err, fleet.ErrBadToken) {
		t.Fatalf("expired token: %v", err)
	}
	d, err := s.Enroll(ctx, token[:], pub, t0.Add(time.Minute))
	if err != nil || d.ID != "gate-1" || d.Group != "north" || !slices.Equal(d.PublicKey, pub) {
		t.Fatalf("Enroll: %+v %v", d, err)
	}
	if _, err := s.Enroll(ctx, token[:], pub, t0.Add(time.Minute)); !errors.Is(err, fleet.ErrBadToken) {
		t.Fatalf("token used twice: %v", err)
	}
	if err := s.ReportDevice(ctx, "gate-1", "1.2.3", 7, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	// A config push that failed, then a hello still on the old version
	// (the failure stands), then one on a newer version (it is gone).
	if err := s.ReportConfig(ctx, "gate-1", 7, 9, "no camera on this gate", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.ReportDevice(ctx, "gate-1", "", 7, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Device(ctx, "gate-1"); d.ConfigVersion != 7 || d.ConfigFailed != 9 || d.ConfigError != "no camera on this gate" || d.Firmware != "1.2.3" {
		t.Fatalf("failed config: %+v", d)
	}
	if err := s.ReportConfig(ctx, "gate-1", 7, 0, "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Device(ctx, "gate-1"); d.ConfigFailed != 9 {
		t.Fatalf("an older version applied cleared the failure of a newer one: %+v", d)
	}
	if err := s.ReportConfig(ctx, "gate-1", 10, 0, "", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.Device(ctx, "gate-1"); d.ConfigVersion != 10 || d.ConfigFailed != 0 || d.ConfigError != "" {
		t.Fatalf("a newer version applied: %+v", d)
	}
	if err := s.ReportDevice(ctx, "gate-1", "", 7, t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDevice(ctx, "gate-1", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	d, _ = s.Device(ctx, "gate-1")
	if !d.Revoked() || d.Firmware != "1.2.3" || d.ConfigVersion != 7 {
		t.Fatalf("device after revoke: %+v", d)
	}
	if err := s.RevokeDevice(ctx, "nope", t0); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("revoke unknown device: %v", err)
	}
	if err := s.PutDevice(ctx, fleet.Device{ID: "pre", PublicKey: pub, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	ds, err := s.Devices(ctx)
	if err != nil || len(ds) != 2 {
		t.Fatalf("Devices: %d %v", len(ds), err)
	}
}

func testConfigs(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	c1, err := s.PutConfig(ctx, "group:north", json.RawMessage(`{"pulse_ms":800}`), t0)
	if err != nil || c1.Version != 1 {
		t.Fatalf("PutConfig: %+v %v", c1, err)
	}
	c2, err := s.PutConfig(ctx, "device:gate-1", json.RawMessage(`{"pulse_ms":500}`), t0)
	if err != nil || c2.Version != 2 {
		t.Fatalf("PutConfig: %+v %v", c2, err)
	}
	c3, _ := s.PutConfig(ctx, "group:north", json.RawMessage(`{"pulse_ms":900}`), t0)
	if c3.Version != 3 {
		t.Fatalf("versions must grow across scopes: %d", c3.Version)
	}
	got, err := s.Config(ctx, "group:north")
	if err != nil || got.Version != 3 || string(got.Body) != `{"pulse_ms":900}` {
		t.Fatalf("Config: %+v %v", got, err)
	}
	if _, err := s.Config(ctx, "group:none"); !errors.Is(err, fleet.ErrNotFound) {
		t.Fatalf("Config(none): %v", err)
	}
	all, _ := s.Configs(ctx)
	if len(all) != 2 {
		t.Fatalf("Configs: %d", len(all))
	}
}

func testLayout(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	mustEvent(t, s, "gala")
	if err := s.PutZone(ctx, fleet.Zone{Event: "gala", ID: "floor", Name: "Floor"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutGate(ctx, fleet.Gate{Event: "gala", ID: "A", Name: "Gate A", Zones: []string{"floor"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTicketType(ctx, fleet.TicketType{Event: "gala", ID: "VIP", Name: "VIP", Zones: []string{"floor", "lounge"}, Policy: "reentry"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutTicketType(ctx, fleet.TicketType{Event: "gala", ID: "VIP", Name: "V.I.P."}); err != nil {
		t.Fatal(err)
	}
	tt, _ := s.TicketTypes(ctx, "gala")
	gs, _ := s.Gates(ctx, "gala")
	zs, _ := s.Zones(ctx, "gala")
	if len(tt) != 1 || tt[0].Name != "V.I.P." || tt[0].Zones != nil || len(gs) != 1 || !slices.Equal(gs[0].Zones, []string{"floor"}) || len(zs) != 1 {
		t.Fatalf("layout: %+v %+v %+v", tt, gs, zs)
	}
}

// rawDB is what the suite reads a backend's tables through, to check what
// it keeps at rest (sqlstore.Store has it).
type rawDB interface {
	DB() *sql.DB
}

// keyMaintenance is the upkeep of sealed keys a backend offers
// (sqlstore.Store).
type keyMaintenance interface {
	SealPlaintext(ctx context.Context) (int, error)
	Rewrap(ctx context.Context, to *kek.Key) (int, error)
}

// rebind turns ? placeholders into $n when the backend is PostgreSQL.
func rebind(db *sql.DB, q string) string {
	if !strings.Contains(fmt.Sprintf("%T", db.Driver()), "stdlib") {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// testKeysAtRest: an event's private key is stored sealed — neither the
// key nor any run of it is in the table — and opens for signing; a
// plaintext key an earlier version left is sealed by SealPlaintext and
// still signs, its public half listed in snapshots; Rewrap re-seals every
// key under a new KEK, after which the store still signs with them.
func testKeysAtRest(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	k := mustEvent(t, s, "gala")
	raw, ok := s.(rawDB)
	if !ok {
		t.Skip("the backend does not expose its tables")
	}
	db := raw.DB()
	private := func(event string) []byte {
		t.Helper()
		var b []byte
		if err := db.QueryRowContext(ctx, rebind(db, `SELECT private FROM signing_keys WHERE event_id = ?`), event).Scan(&b); err != nil {
			t.Fatal(err)
		}
		return b
	}
	if stored := private("gala"); bytes.Contains(stored, k.Private.Seed()[:16]) || bytes.Contains(stored, k.Private[32:48]) || !kek.IsSealed(stored) {
		t.Fatalf("signing key stored as %x: not sealed", stored)
	}
	if got, err := s.SigningKey(ctx, "gala"); err != nil || !got.Private.Equal(k.Private) {
		t.Fatalf("SigningKey of a sealed key: %v", err)
	}

	// An earlier version's plaintext key.
	if err := s.CreateEvent(ctx, fleet.Event{ID: "old", Name: "old", StartsAt: t0, EndsAt: t0.Add(time.Hour), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	old, _ := ticket.GenerateSigningKey("old", "k1")
	if _, err := db.ExecContext(ctx, rebind(db, `INSERT INTO signing_keys (event_id, id, private, created_at) VALUES (?, ?, ?, ?)`),
		"old", "k1", []byte(old.Private), t0.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	maint, ok := s.(keyMaintenance)
	if !ok {
		t.Fatal("the backend cannot seal or rewrap its keys")
	}
	if n, err := maint.SealPlaintext(ctx); err != nil || n != 1 {
		t.Fatalf("SealPlaintext: %d %v, want 1", n, err)
	}
	if stored := private("old"); !kek.IsSealed(stored) {
		t.Fatalf("plaintext key not sealed: %x", stored)
	}
	if n, _ := maint.SealPlaintext(ctx); n != 0 {
		t.Fatalf("SealPlaintext again: %d", n)
	}
	if got, err := s.SigningKey(ctx, "old"); err != nil || !got.Private.Equal(old.Private) {
		t.Fatalf("SigningKey of a migrated key: %v", err)
	}
	snap, err := s.Snapshot(ctx, "old", "", 10)
	if err != nil || len(snap.Keys) != 1 || !bytes.Equal(snap.Keys[0].Public, old.Public().Key) {
		t.Fatalf("snapshot keys of a migrated key: %+v %v", snap.Keys, err)
	}

	replica, err := s.ReplicaKey(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	next, _, _ := kek.Generate()
	if n, err := maint.Rewrap(ctx, next); err != nil || n != 3 {
		t.Fatalf("Rewrap: %d %v, want 3 keys (two events', the replica key)", n, err)
	}
	if !next.SealedBy(private("gala")) || !next.SealedBy(private("old")) {
		t.Fatal("keys not sealed under the new KEK")
	}
	if got, err := s.SigningKey(ctx, "gala"); err != nil || !got.Private.Equal(k.Private) {
		t.Fatalf("SigningKey after Rewrap: %v", err)
	}
	if again, err := s.ReplicaKey(ctx, t0); err != nil || !again.Equal(replica) {
		t.Fatalf("ReplicaKey after Rewrap: %v", err)
	}
}

// testReplicaKey: the fleet's replica key is made once and is the same
// at every later call, sealed at rest.
func testReplicaKey(t *testing.T, s fleet.Store) {
	ctx := context.Background()
	k, err := s.ReplicaKey(ctx, t0)
	if err != nil || len(k) != ed25519.PrivateKeySize {
		t.Fatalf("ReplicaKey: %v", err)
	}
	again, err := s.ReplicaKey(ctx, t0.Add(time.Hour))
	if err != nil || !again.Equal(k) {
		t.Fatalf("a second ReplicaKey differs: %v", err)
	}
	if raw, ok := s.(rawDB); ok {
		var stored []byte
		if err := raw.DB().QueryRowContext(ctx, `SELECT private FROM fleet_keys`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if !kek.IsSealed(stored) || bytes.Contains(stored, k.Seed()[:16]) {
			t.Fatalf("replica key stored as %x: not sealed", stored)
		}
	}
}
