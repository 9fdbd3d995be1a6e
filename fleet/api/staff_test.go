package api_test

import (
	"context"
	"strings"
	"testing"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/wire"
	"admit/internal/argon2id"
)

// TestStaffThroughTheAPI: an event manager sets a gate staff member's PIN
// (and badge); the answer and the listing say that one is set, never what
// it is; the venue scope carries a hash that checks the PIN bound to the
// badge; an operator without the gate staff role is refused; bad PINs are
// a 400.
func TestStaffThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.svc.CreateEvent(ctx, fleet.Event{ID: "gala"}); err != nil {
		t.Fatal(err)
	}
	m := f.signIn(t, "manager", access.Grant{Role: access.EventManager, Event: "gala"})
	f.signIn(t, "ada", access.Grant{Role: access.GateStaff, Event: "gala"})
	f.signIn(t, "vic", access.Grant{Role: access.Viewer, Event: "gala"})

	var set fleet.StaffMember
	m.must("PUT", "/api/events/gala/staff/ada", `{"pin":"271828","badge":"04:a1:b2:c3"}`, 200, &set)
	if !set.PIN || !set.Badge || set.SetBy != "operator:manager" {
		t.Fatalf("set: %+v", set)
	}
	var list []fleet.StaffMember
	m.must("GET", "/api/events/gala/staff", "", 200, &list)
	if len(list) != 1 || list[0].Operator != "ada" || !list[0].PIN {
		t.Fatalf("staff of gala: %+v", list)
	}
	page, err := f.svc.Store.Snapshot(ctx, wire.VenueScope("gala"), "", 100)
	var staffRows []wire.VenueRow
	for _, r := range page.Venue {
		if r.Kind == wire.VenueKindStaff {
			staffRows = append(staffRows, r)
		}
	}
	if err != nil || len(staffRows) != 1 {
		t.Fatalf("venue rows: %+v %v", page, err)
	}
	st, err := staffRows[0].Staff()
	if err != nil || strings.Contains(string(staffRows[0].Data), "271828") {
		t.Fatalf("staff row %s: %v", staffRows[0].Data, err)
	}
	uid := []byte{0x04, 0xa1, 0xb2, 0xc3}
	if st.Badge != wire.BadgeLookup(uid) || !argon2id.Check(wire.StaffSecret(uid, "271828"), st.PINHash) || argon2id.Check([]byte("271828"), st.PINHash) {
		t.Fatalf("the hash does not check the PIN bound to the badge: %+v", st)
	}
	if p, _, _, _ := argon2id.Parse(st.PINHash); p != fleet.StaffArgon2 {
		t.Fatalf("PIN hashed with %+v, want %+v", p, fleet.StaffArgon2)
	}
	for _, c := range []struct {
		path, body, code string
		status           int
	}{
		{"/api/events/gala/staff/vic", `{"pin":"1234"}`, "not_staff", 409},
		{"/api/events/gala/staff/nobody", `{"pin":"1234"}`, "not_found", 404},
		{"/api/events/gala/staff/ada", `{"pin":"123"}`, "bad_request", 400},
		{"/api/events/gala/staff/ada", `{"pin":"12a4"}`, "bad_request", 400},
		{"/api/events/gala/staff/ada", `{"pin":"1234","badge":"zz"}`, "bad_request", 400},
	} {
		if status, code := m.do("PUT", c.path, c.body, nil); status != c.status || code != c.code {
			t.Errorf("PUT %s %s: %d %s, want %d %s", c.path, c.body, status, code, c.status, c.code)
		}
	}
	m.must("POST", "/api/events/gala/staff/ada/clear", "{}", 204, nil)
	page, _ = f.svc.Store.Snapshot(ctx, wire.VenueScope("gala"), "", 100)
	for _, r := range page.Venue {
		if r.Kind == wire.VenueKindStaff {
			t.Fatalf("cleared, but the gates still get %+v", r)
		}
	}
}
