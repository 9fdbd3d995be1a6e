// Package fleet is the fleet manager's domain: events, their signing keys,
// ticket types and tickets, zones and gates, devices and their enrollment,
// desired configs, the per-event change log gates replicate, and the scans
// gates send upstream.
//
// Storage lives behind Store, implemented once over database/sql in
// fleet/sqlstore for two backends: fleet/sqlite (the embedded default) and
// fleet/postgres (several nodes on one database). fleet/storetest is the
// suite both pass. The replication stream is in fleet/replicate, the HTTP
// API in fleet/api, and fleet/node wires them into one running node.
package fleet

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"time"

	"admit/fleet/wire"
	"admit/ticket"
)

// Expected outcomes of store calls.
var (
	ErrNotFound  = errors.New("fleet: not found")
	ErrExists    = errors.New("fleet: already exists")
	ErrCompacted = errors.New("fleet: change log compacted past this position")
	ErrBadToken  = errors.New("fleet: enrollment token unknown, used or expired")
	ErrRevoked   = errors.New("fleet: revoked")
	ErrInvalid   = errors.New("fleet: invalid request")
	// ErrNotStaff: a staff credential for an operator that does not hold
	// the gate staff role on the event.
	ErrNotStaff = errors.New("fleet: not gate staff of the event")
)

// Event is a show, match day or service that tickets admit to.
type Event struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedAt time.Time `json:"created_at"`
}

// TicketType is a product of an event: what zones it opens and how often.
type TicketType struct {
	Event  string   `json:"event"`
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Zones  []string `json:"zones,omitempty"`  // empty: every zone
	Policy string   `json:"policy,omitempty"` // single (default), multi, reentry
}

// Zone is an area of a venue behind gates.
type Zone struct {
	Event string `json:"event"`
	ID    string `json:"id"`
	Name  string `json:"name"`
}

// Gate is an entrance (or exit) into zones of an event.
type Gate struct {
	Event string   `json:"event"`
	ID    string   `json:"id"`
	Name  string   `json:"name"`
	Zones []string `json:"zones,omitempty"`
}

// Ticket is an issued ticket.
type Ticket struct {
	Event        string    `json:"event"`
	ID           string    `json:"id"`
	Type         string    `json:"type"`
	Holder       string    `json:"holder,omitempty"`
	Code         string    `json:"code"` // the signed text printed in the QR
	IssuedAt     time.Time `json:"issued_at"`
	RevokedAt    time.Time `json:"revoked_at,omitzero"`
	RevokeReason string    `json:"revoke_reason,omitempty"`
	ReplacedBy   string    `json:"replaced_by,omitempty"` // the ticket reissued in its place
	// CodeSecret is the rotating-code (TOTP) secret of a ticket issued as
	// rotating (Code then says so, and gates refuse it without the current
	// code); the wallet needs it to show the code. Nil: not rotating.
	CodeSecret []byte `json:"code_secret,omitempty"`
}

// Device is an enrolled gate, kiosk or handheld.
type Device struct {
	ID    string `json:"id"`
	Name  string `json:"name,omitempty"`
	Group string `json:"group,omitempty"` // config group
	Gate  string `json:"gate,omitempty"`
	// Events are the events the device serves: what an event manager's
	// grant is checked against (fleet/access). Empty: fleet-wide, an
	// admin's to manage.
	Events    []string  `json:"events,omitempty"`
	PublicKey []byte    `json:"public_key,omitempty"` // Ed25519; the device holds the private half
	CreatedAt time.Time `json:"created_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
	// What the device last reported.
	LastSeen time.Time `json:"last_seen,omitzero"`
	Firmware string    `json:"firmware,omitempty"` // its build (internal/version)
	// ConfigVersion is the config the device runs (0: none).
	ConfigVersion int64 `json:"config_version"`
	// ConfigFailed is the newest config version the device (or the fleet
	// pushing it) could not apply, ConfigError why; 0 once a version at
	// least as new is applied.
	ConfigFailed int64  `json:"config_failed,omitempty"`
	ConfigError  string `json:"config_error,omitempty"`
}

// Revoked reports whether the device was revoked.
func (d Device) Revoked() bool { return !d.RevokedAt.IsZero() }

// Enrollment is a one-time token that lets a device enroll with its own
// key. Only the token's hash is stored.
type Enrollment struct {
	TokenHash []byte   `json:"-"`
	Device    string   `json:"device"`
	Name      string   `json:"name,omitempty"`
	Group     string   `json:"group,omitempty"`
	Gate      string   `json:"gate,omitempty"`
	Events    []string `json:"events,omitempty"` // the events the device will serve
	// Replace lets the token enroll a new key for a device id that is
	// already enrolled (and clear its revocation): an admin's explicit
	// re-key. Without it, enrolling an existing id fails.
	Replace   bool      `json:"replace,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// DesiredConfig is the config a scope ("device:<id>" or "group:<name>")
// should run. Versions come from one counter across all scopes, so a
// device's desired version only grows whichever scope it inherits from.
type DesiredConfig struct {
	Scope     string          `json:"scope"`
	Version   int64           `json:"version"`
	Body      json.RawMessage `json:"body"`
	UpdatedAt time.Time       `json:"updated_at"`
}

// LogState is where an event's change log stands.
type LogState struct {
	Event     string `json:"event"`
	Last      int64  `json:"last"`    // last seq logged
	Running   uint64 `json:"running"` // running checksum at Last
	Compacted int64  `json:"compacted"`
	// CompactedRunning is the running checksum at Compacted.
	CompactedRunning uint64 `json:"compacted_running"`
	// Issued is the latest issue time of a ticket logged up to Last
	// (zero: none that said), CompactedIssued up to Compacted: what
	// SyncPoint makes a sync point of.
	Issued          time.Time `json:"issued,omitzero"`
	CompactedIssued time.Time `json:"compacted_issued,omitzero"`
}

// ChangePage is a run of consecutive changes and the running checksum
// after the last of them.
type ChangePage struct {
	Changes []wire.Change
	Running uint64
	// Issued holds, for each change, the latest issue time of a ticket
	// logged up to it (LogState.Issued at that position).
	Issued []time.Time
}

// SnapshotPage is a run of the event's current replica rows in ticket id
// order: tickets with after < id <= Last and their used marks; Keys only
// when after is "". Done when no ticket follows Last.
type SnapshotPage struct {
	Keys    []wire.Key
	Tickets []wire.SnapTicket
	Used    []wire.Used
	// Venue holds a venue scope's rows with after < Key() <= Last instead
	// (wire.VenueScope).
	Venue []wire.VenueRow
	Last  string
	Done  bool
}

// StaffCredential is how a gate staff member signs in at the gates of one
// event: the argon2id hash of wire.StaffSecret(badge, PIN) and, for badge
// and PIN, the badge's lookup hash (wire.BadgeLookup). Gates receive it
// in the event's venue scope while the operator holds the gate staff role
// there (or on all events).
type StaffCredential struct {
	Event     string    `json:"event"`
	Operator  string    `json:"operator"`
	PINHash   string    `json:"-"`
	BadgeHash string    `json:"-"`
	SetAt     time.Time `json:"set_at"`
	SetBy     string    `json:"set_by,omitempty"`
}

// StaffMember is an operator with the gate staff role on an event, and
// whether it can sign in at its gates.
type StaffMember struct {
	Operator string    `json:"operator"`
	PIN      bool      `json:"pin"`   // a PIN is set: it signs in at the gates
	Badge    bool      `json:"badge"` // with a badge and the PIN
	SetAt    time.Time `json:"set_at,omitzero"`
	SetBy    string    `json:"set_by,omitempty"`
}

// ScanRecord is a scan as the fleet recorded it.
type ScanRecord struct {
	Device     string    `json:"device"`
	ReceivedAt time.Time `json:"received_at"`
	wire.Scan
}

// ContestRecord is a contest on a ticket as the fleet recorded it: two
// gates claimed it at once (one refused: nobody in twice), or two gates
// that could not reach each other both admitted it (wire.Contest).
type ContestRecord struct {
	ID       int64            `json:"id"`
	Event    string           `json:"event"`
	TicketID string           `json:"ticket_id"`
	Kind     string           `json:"kind"` // wire.ContestClaim or wire.ContestEntry
	First    wire.ContestSide `json:"first"`
	Second   wire.ContestSide `json:"second"`
	By       string           `json:"by,omitempty"`
	Noticed  time.Time        `json:"noticed"`
	// ReportedBy is the device whose report was recorded first.
	ReportedBy string    `json:"reported_by"`
	ReceivedAt time.Time `json:"received_at"`
}

// Store keeps the fleet's state. Every mutation that gates must see appends
// to the event's change log in the same transaction; seqs are per event,
// dense, and committed in order. An event has two logs: its tickets' (named
// by the event id) and its venue scope (wire.VenueScope: the keys of the
// devices that serve it, its gate staff, zones, gates, ticket types,
// settings, badges and partner keys); a mutation of any of those (or of
// operators' gate staff grants) brings the venue scopes it touches up to
// date in its own transaction. The change-log methods take
// either name.
type Store interface {
	CreateEvent(ctx context.Context, e Event) error
	Event(ctx context.Context, id string) (Event, error)
	Events(ctx context.Context) ([]Event, error)

	// AddSigningKey stores k and logs its public half.
	AddSigningKey(ctx context.Context, k ticket.SigningKey, at time.Time) error
	// SigningKey returns the newest key of the event that is not retired.
	SigningKey(ctx context.Context, event string) (ticket.SigningKey, error)
	// ReplicaKey returns the fleet's replica key, which signs what gates
	// replicate (protocol 5), making one on the first call (at stamps
	// it): one per database, shared by every node of the fleet. Private
	// keys are sealed at rest with the store's key-encryption key.
	ReplicaKey(ctx context.Context, at time.Time) (ed25519.PrivateKey, error)

	PutTicketType(ctx context.Context, t TicketType) error
	TicketTypes(ctx context.Context, event string) ([]TicketType, error)
	PutZone(ctx context.Context, z Zone) error
	Zones(ctx context.Context, event string) ([]Zone, error)
	PutGate(ctx context.Context, g Gate) error
	Gates(ctx context.Context, event string) ([]Gate, error)

	// AddTickets stores tickets and logs them as allowlist rows, all or
	// none (ErrExists when an id is taken; ErrIssueLate when one was
	// issued more than IssueSlack before a ticket already logged).
	AddTickets(ctx context.Context, ts []Ticket) error
	Tickets(ctx context.Context, event string, limit int) ([]Ticket, error)
	// TicketPage lists tickets with id > after in id order.
	TicketPage(ctx context.Context, event, after string, limit int) ([]Ticket, error)
	Ticket(ctx context.Context, event, id string) (Ticket, error)
	// RevokeTicket revokes a ticket and logs it; revoking twice is a no-op.
	RevokeTicket(ctx context.Context, event, id, reason string, at time.Time) (Ticket, error)
	// ReplaceTicket revokes old (reason "reissued") and adds repl in its
	// place, in one transaction.
	ReplaceTicket(ctx context.Context, event, old string, repl Ticket, at time.Time) error

	// Devices. PutDevice registers (pre-enrolls) a new device with its
	// key, or updates an existing one's name, group, gate and events;
	// it never changes an existing device's key or revocation.
	PutDevice(ctx context.Context, d Device) error
	// RekeyDevice sets an existing device's key and clears its
	// revocation: the explicit re-key (and un-revoke).
	RekeyDevice(ctx context.Context, id string, pub []byte) error
	Device(ctx context.Context, id string) (Device, error)
	Devices(ctx context.Context) ([]Device, error)
	RevokeDevice(ctx context.Context, id string, at time.Time) error
	// ReportDevice records what a device says in its hello: its build,
	// the config it runs (which clears a failure of an older version).
	ReportDevice(ctx context.Context, id, firmware string, configVersion int64, at time.Time) error
	// ReportConfig records the outcome of a config push: the version the
	// device runs, and, when failed is not 0, the version it (or the
	// fleet) could not apply and why.
	ReportConfig(ctx context.Context, id string, applied, failed int64, reason string, at time.Time) error
	CreateEnrollment(ctx context.Context, e Enrollment) error
	// Enroll consumes a token and registers its device with pub; for a
	// device id that exists, only a token made with Replace does (it
	// re-keys the device and clears its revocation), else ErrExists and
	// the token stays unused.
	Enroll(ctx context.Context, tokenHash, pub []byte, at time.Time) (Device, error)

	// PutConfig sets the desired config of scope under a new version.
	PutConfig(ctx context.Context, scope string, body json.RawMessage, at time.Time) (DesiredConfig, error)
	Config(ctx context.Context, scope string) (DesiredConfig, error)
	Configs(ctx context.Context) ([]DesiredConfig, error)

	// The change log.
	LogState(ctx context.Context, event string) (LogState, error)
	// Changes returns up to limit changes of event with seq > after;
	// ErrCompacted when after is below the compaction point.
	Changes(ctx context.Context, event string, after int64, limit int) (ChangePage, error)
	// RunningAt returns the running checksum at seq; ErrCompacted when the
	// log no longer holds it.
	RunningAt(ctx context.Context, event string, seq int64) (uint64, error)
	// Snapshot returns the replica rows after ticket id after.
	Snapshot(ctx context.Context, event, after string, limit int) (SnapshotPage, error)
	// Compact drops the changes of event up to upTo; replicas behind it
	// get a snapshot instead.
	Compact(ctx context.Context, event string, upTo int64) error
	// SyncVenue brings event's venue scope up to date with the devices
	// and staff it holds (a no-op when it is); the mutations do it
	// themselves, this is for a node's start after an upgrade.
	SyncVenue(ctx context.Context, event string) error

	// The venue model's own rows (venue.go); zones, gates and ticket
	// types are above. Each mutation brings the event's venue scope up
	// to date in its transaction.
	PutEventSettings(ctx context.Context, s EventSettings) error
	EventSettings(ctx context.Context, event string) (EventSettings, error)
	// PutBadge sets a badge (ErrExists when another badge of the event
	// has the UID; ErrInvalid beyond MaxBadges).
	PutBadge(ctx context.Context, b Badge) error
	DeleteBadge(ctx context.Context, event, id string) error
	Badges(ctx context.Context, event string) ([]Badge, error)
	// PutPartnerKey sets a partner's JWT key (ErrInvalid beyond
	// MaxPartnerKeys).
	PutPartnerKey(ctx context.Context, k PartnerKey) error
	DeletePartnerKey(ctx context.Context, event, id string) error
	PartnerKeys(ctx context.Context, event string) ([]PartnerKey, error)

	// Gate staff. PutStaffCredential sets an operator's sign-in at the
	// gates of an event (ErrNotStaff without the gate staff role there,
	// ErrNotFound for an unknown operator or event).
	PutStaffCredential(ctx context.Context, c StaffCredential) error
	DeleteStaffCredential(ctx context.Context, event, operator string) error
	// Staff lists the operators with the gate staff role on event.
	Staff(ctx context.Context, event string) ([]StaffMember, error)

	// RecordScans stores scans of device, ignoring those already stored
	// (dedup by device and seq), and logs a used mark for every newly
	// stored admission (entry or exit) and an annulment for every newly
	// stored annulment. It returns the events whose logs grew.
	RecordScans(ctx context.Context, device string, scans []wire.Scan, at time.Time) (grown []string, err error)
	RecentScans(ctx context.Context, limit int) ([]ScanRecord, error)
	// EventScans is RecentScans of the listed events only.
	EventScans(ctx context.Context, events []string, limit int) ([]ScanRecord, error)

	// RecordContests stores the contests device reported (wire.Contest),
	// each once however often, and by however many devices, it is
	// reported: a contest is its event, ticket, kind and two sides.
	RecordContests(ctx context.Context, device string, cs []wire.Contest, at time.Time) error
	// Contests returns the newest contests of the listed events (nil:
	// every event), newest first.
	Contests(ctx context.Context, events []string, limit int) ([]ContestRecord, error)

	// Claim serialises online decisions on one ticket (across nodes): in
	// one transaction it reads what is known of r's ticket, asks rule,
	// and, when rule admits, records r's passage as a used mark.
	Claim(ctx context.Context, r wire.DecideRequest, rule func(ClaimState) wire.DecideResponse) (wire.DecideResponse, error)

	Close() error
}
