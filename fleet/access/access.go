// Package access is the fleet's authorization policy: the operator roles,
// the permissions routes ask for, grants of a role on one event or on all
// of them, and the one decision, Allows. Every route of fleet/api names the
// permission it needs next to its pattern; handlers that narrow a listing
// or choose what to show (ticket codes) ask the same function. Nothing else
// in the fleet decides who may do what.
//
// The table:
//
//	permission        admin  event manager  gate staff  viewer
//	ReadEvents          x         x             x         x
//	ReadLayout          x         x             x         x
//	LookupTickets       x         x             x         x
//	ReadScans           x         x             x         x
//	ListTickets         x         x                       x
//	ReadDevices         x         x                       x
//	ReadConfigs         x         x                       x
//	ReadTicketCodes     x         x
//	ManageTickets       x         x
//	ManageLayout        x         x
//	ManageEvents        x         x
//	CreateEvents        x         x (on all events only)
//	ManageDevices       x         x
//	ManageConfigs       x         x
//	ManageStaff         x         x
//	ManageBadges        x         x
//	ManagePartnerKeys   x         x
//	RekeyDevices        x
//	ManageOperators     x
//	ManageTokens        x
//	ReadAudit           x
//
// A permission holds on the events of the grants that carry it: an event
// manager of "gala" may issue tickets of gala and of no other event. A
// target that belongs to no single event (the fleet as a whole: creating
// an event, a group's config, users) needs a grant on all events. A
// target of several events (a device that serves two) needs the
// permission on each. Admin is granted on all events only.
package access

import (
	"fmt"
	"slices"
)

// Role is what an operator or token is trusted with.
type Role string

// The roles.
const (
	// Admin may do everything: operators, tokens, devices, audit.
	Admin Role = "admin"
	// EventManager runs the events it is granted: tickets, types,
	// zones, gates, configs and devices of those events, enrollment.
	EventManager Role = "event_manager"
	// GateStaff looks things up for its events (a ticket, the layout,
	// recent scans): no listings of tickets, no codes, no secrets. With a
	// PIN set for an event (ManageStaff), it also signs in at the event's
	// gates, where it may force an admission, annul one and look tickets
	// up with holder names.
	GateStaff Role = "gate_staff"
	// Viewer reads everything of its events but ticket codes and
	// rotating-code secrets.
	Viewer Role = "viewer"
)

// Roles lists every role, most trusted first.
var Roles = []Role{Admin, EventManager, GateStaff, Viewer}

// Valid reports whether r is a role.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Perm is a permission a route asks for.
type Perm string

// The permissions.
const (
	ReadEvents      Perm = "read_events"       // list events, an event, its change-log state
	ReadLayout      Perm = "read_layout"       // ticket types, zones, gates
	LookupTickets   Perm = "lookup_tickets"    // one ticket by id, without its code
	ReadScans       Perm = "read_scans"        // recent scans
	ListTickets     Perm = "list_tickets"      // ticket listings, without codes
	ReadDevices     Perm = "read_devices"      // devices and their state
	ReadConfigs     Perm = "read_configs"      // desired configs
	ReadTicketCodes Perm = "read_ticket_codes" // codes, rotating-code secrets, QR images
	ManageTickets   Perm = "manage_tickets"    // issue, import, revoke, reissue
	ManageLayout    Perm = "manage_layout"     // define types, zones, gates
	ManageEvents    Perm = "manage_events"     // compact the change log
	CreateEvents    Perm = "create_events"     // a new event (fleet-wide)
	ManageDevices   Perm = "manage_devices"    // enrollment tokens, pre-enrollment, revocation
	ManageConfigs   Perm = "manage_configs"    // desired configs
	ManageStaff     Perm = "manage_staff"      // gate staff's sign-in at the gates (PINs, badges)
	// ManageBadges: the UID badges (staff and season cards) that open an
	// event's gates: who they are, and listing them.
	ManageBadges Perm = "manage_badges"
	// ManagePartnerKeys: the partners' JWT keys an event's gates admit
	// tickets of.
	ManagePartnerKeys Perm = "manage_partner_keys"
	RekeyDevices      Perm = "rekey_devices"    // new key, un-revoke, replace an enrolled id
	ManageOperators   Perm = "manage_operators" // accounts, grants, unlock, reset
	ManageTokens      Perm = "manage_tokens"    // API tokens
	ReadAudit         Perm = "read_audit"       // the audit log
)

var table = map[Role][]Perm{
	Admin: {ReadEvents, ReadLayout, LookupTickets, ReadScans, ListTickets, ReadDevices, ReadConfigs,
		ReadTicketCodes, ManageTickets, ManageLayout, ManageEvents, CreateEvents, ManageDevices, ManageConfigs, ManageStaff,
		ManageBadges, ManagePartnerKeys, RekeyDevices, ManageOperators, ManageTokens, ReadAudit},
	EventManager: {ReadEvents, ReadLayout, LookupTickets, ReadScans, ListTickets, ReadDevices, ReadConfigs,
		ReadTicketCodes, ManageTickets, ManageLayout, ManageEvents, CreateEvents, ManageDevices, ManageConfigs, ManageStaff,
		ManageBadges, ManagePartnerKeys},
	GateStaff: {ReadEvents, ReadLayout, LookupTickets, ReadScans},
	Viewer:    {ReadEvents, ReadLayout, LookupTickets, ReadScans, ListTickets, ReadDevices, ReadConfigs},
}

// Perms lists every permission.
func Perms() []Perm { return slices.Clone(table[Admin]) }

// RoleHas reports whether role r carries permission p (on the events it
// is granted).
func RoleHas(r Role, p Perm) bool { return slices.Contains(table[r], p) }

// AllEvents is the event of a grant on every event, present and future.
const AllEvents = "*"

// Grant is a role on one event, or on AllEvents.
type Grant struct {
	Role  Role   `json:"role"`
	Event string `json:"event"` // an event id, or AllEvents
}

func (g Grant) String() string { return string(g.Role) + "@" + g.Event }

// Validate checks the role and that admin is granted on all events.
func (g Grant) Validate() error {
	switch {
	case !g.Role.Valid():
		return fmt.Errorf("access: unknown role %q (want one of %v)", g.Role, Roles)
	case g.Event == "":
		return fmt.Errorf("access: grant of %s names no event (%q for all)", g.Role, AllEvents)
	case g.Role == Admin && g.Event != AllEvents:
		return fmt.Errorf("access: admin is granted on all events only")
	}
	return nil
}

// Allows reports whether grants carry p on every event of events; an empty
// events is the fleet as a whole, which needs p on AllEvents.
func Allows(grants []Grant, p Perm, events []string) bool {
	if len(events) == 0 {
		return on(grants, p, AllEvents)
	}
	for _, e := range events {
		if !on(grants, p, e) {
			return false
		}
	}
	return true
}

func on(grants []Grant, p Perm, event string) bool {
	for _, g := range grants {
		if (g.Event == AllEvents || g.Event == event) && RoleHas(g.Role, p) {
			return true
		}
	}
	return false
}

// AllowsSome reports whether grants carry p on at least one event (or all):
// whether a listing narrowed by Scope can show the caller anything.
func AllowsSome(grants []Grant, p Perm) bool {
	for _, g := range grants {
		if RoleHas(g.Role, p) {
			return true
		}
	}
	return false
}

// Scope is where grants carry one permission: everywhere (All) or on the
// listed events.
type Scope struct {
	All    bool
	Events []string
}

// ScopeOf returns where grants carry p.
func ScopeOf(grants []Grant, p Perm) Scope {
	var s Scope
	for _, g := range grants {
		if !RoleHas(g.Role, p) {
			continue
		}
		if g.Event == AllEvents {
			return Scope{All: true}
		}
		if !slices.Contains(s.Events, g.Event) {
			s.Events = append(s.Events, g.Event)
		}
	}
	return s
}

// Has reports whether the scope covers event.
func (s Scope) Has(event string) bool { return s.All || slices.Contains(s.Events, event) }

// HasAll reports whether the scope covers every event of events (an empty
// events, the fleet as a whole, only when All).
func (s Scope) HasAll(events []string) bool {
	if s.All {
		return true
	}
	if len(events) == 0 {
		return false
	}
	for _, e := range events {
		if !s.Has(e) {
			return false
		}
	}
	return true
}

// HasAny reports whether the scope covers one of events.
func (s Scope) HasAny(events []string) bool {
	if s.All {
		return true
	}
	for _, e := range events {
		if s.Has(e) {
			return true
		}
	}
	return false
}
