// Package fleet is the fleet manager's domain: events, their signing keys
// and tickets, devices, and the scans gates send upstream. Storage lives
// behind Store (fleet/sqlite is the embedded default); the replication
// stream is in fleet/replicate, the HTTP API and console in fleet/api, and
// fleet/node wires them into one running fleet node.
package fleet

import (
	"context"
	"errors"
	"time"

	"admit/fleet/wire"
	"admit/ticket"
)

// Expected outcomes of store calls.
var (
	ErrNotFound = errors.New("fleet: not found")
	ErrExists   = errors.New("fleet: already exists")
)

// Event is a show, match day or service that tickets admit to.
type Event struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	StartsAt  time.Time `json:"starts_at"`
	EndsAt    time.Time `json:"ends_at"`
	CreatedAt time.Time `json:"created_at"`
}

// Ticket is an issued ticket.
type Ticket struct {
	Event     string    `json:"event"`
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Holder    string    `json:"holder,omitempty"`
	Code      string    `json:"code"` // the signed text printed in the QR
	IssuedAt  time.Time `json:"issued_at"`
	RevokedAt time.Time `json:"revoked_at,omitzero"`
}

// ScanRecord is a scan as the fleet recorded it.
type ScanRecord struct {
	Device     string    `json:"device"`
	ReceivedAt time.Time `json:"received_at"`
	wire.Scan
}

// Store keeps the fleet's state. Every mutation that gates must see appends
// to the event's change log in the same transaction.
type Store interface {
	CreateEvent(ctx context.Context, e Event) error
	Event(ctx context.Context, id string) (Event, error)
	Events(ctx context.Context) ([]Event, error)

	// AddSigningKey stores k and logs its public half.
	AddSigningKey(ctx context.Context, k ticket.SigningKey, at time.Time) error
	// SigningKey returns the newest key of the event that is not retired.
	SigningKey(ctx context.Context, event string) (ticket.SigningKey, error)

	// AddTickets stores tickets and logs them as allowlist rows.
	AddTickets(ctx context.Context, ts []Ticket) error
	Tickets(ctx context.Context, event string, limit int) ([]Ticket, error)
	Ticket(ctx context.Context, event, id string) (Ticket, error)

	// Changes returns up to limit changes of event with seq > after.
	Changes(ctx context.Context, event string, after int64, limit int) ([]wire.Change, error)

	// RecordScans stores scans of device, ignoring those already stored
	// (dedup by device and seq), and logs a used mark for every newly
	// stored admission. It returns the events whose logs grew.
	RecordScans(ctx context.Context, device string, scans []wire.Scan, at time.Time) (grown []string, err error)
	RecentScans(ctx context.Context, limit int) ([]ScanRecord, error)

	Close() error
}
