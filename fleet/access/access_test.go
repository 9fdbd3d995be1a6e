package access

import "testing"

func TestAllows(t *testing.T) {
	gala := []Grant{{EventManager, "gala"}}
	all := []Grant{{Admin, AllEvents}}
	staff := []Grant{{GateStaff, "gala"}, {Viewer, "cup"}}
	for _, c := range []struct {
		name   string
		grants []Grant
		p      Perm
		events []string
		want   bool
	}{
		{"admin anything", all, RekeyDevices, nil, true},
		{"manager own event", gala, ManageTickets, []string{"gala"}, true},
		{"manager other event", gala, ManageTickets, []string{"cup"}, false},
		{"manager fleet-wide", gala, CreateEvents, nil, false},
		{"manager on all events creates", []Grant{{EventManager, AllEvents}}, CreateEvents, nil, true},
		{"manager no rekey", []Grant{{EventManager, AllEvents}}, RekeyDevices, []string{"gala"}, false},
		{"manager of one of two", gala, ManageDevices, []string{"gala", "cup"}, false},
		{"staff lookup", staff, LookupTickets, []string{"gala"}, true},
		{"staff no listing", staff, ListTickets, []string{"gala"}, false},
		{"viewer listing", staff, ListTickets, []string{"cup"}, true},
		{"viewer no codes", staff, ReadTicketCodes, []string{"cup"}, false},
		{"no grants", nil, ReadEvents, []string{"gala"}, false},
	} {
		if got := Allows(c.grants, c.p, c.events); got != c.want {
			t.Errorf("%s: Allows = %v, want %v", c.name, got, c.want)
		}
	}
}

func TestEveryPermHasAnAdmin(t *testing.T) {
	for r, ps := range table {
		for _, p := range ps {
			if !RoleHas(Admin, p) {
				t.Errorf("%s has %s, admin does not", r, p)
			}
		}
	}
	for _, p := range []Perm{ReadTicketCodes, RekeyDevices, ManageOperators, ManageTokens, ReadAudit} {
		if RoleHas(Viewer, p) || RoleHas(GateStaff, p) {
			t.Errorf("a read-only role has %s", p)
		}
	}
}

func TestScope(t *testing.T) {
	s := ScopeOf([]Grant{{Viewer, "gala"}, {GateStaff, "cup"}}, ListTickets)
	if s.All || !s.Has("gala") || s.Has("cup") || !s.HasAny([]string{"x", "gala"}) || s.HasAll(nil) {
		t.Fatalf("%+v", s)
	}
	if !ScopeOf([]Grant{{Admin, AllEvents}}, ReadAudit).All {
		t.Fatal("admin scope")
	}
}

func TestGrantValidate(t *testing.T) {
	if (Grant{Admin, "gala"}).Validate() == nil || (Grant{"root", AllEvents}).Validate() == nil || (Grant{Viewer, ""}).Validate() == nil {
		t.Fatal("bad grants accepted")
	}
	if (Grant{Viewer, "gala"}).Validate() != nil || (Grant{Admin, AllEvents}).Validate() != nil {
		t.Fatal("good grants refused")
	}
}
