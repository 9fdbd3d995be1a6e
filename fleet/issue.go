package fleet

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"admit/clock"
	"admit/internal/argon2id"
	"admit/ticket"
)

// Service is what operators do to the fleet: create events, issue, import,
// revoke and reissue tickets, lay out zones and gates, enroll and revoke
// devices, set configs and gate staff's PINs. Wake, when set, is called
// after a change that connected gates must see, with "e:<event>" (the
// event's log grew), "d:<device>" (a device changed), "c:<scope>" (a
// config changed) — the payloads PostgreSQL notifications carry between
// nodes — or "v:" (venue scopes may have grown: a device or gate staff
// changed; the store's own notifications name the scopes).
type Service struct {
	Store Store
	Clock clock.Clock // stamps events, tickets, devices and claims; nil: clock.Real{}
	Wake  func(payload string)
	// Location formats times in the sentences of online decisions (the
	// venue's zone); default time.Local.
	Location *time.Location
	// StaffArgon2 hashes gate staff's PINs; zero: StaffArgon2 (tests make
	// it cheap).
	StaffArgon2 argon2id.Params
}

func (s *Service) now() time.Time {
	if s.Clock != nil {
		return s.Clock.Now().UTC()
	}
	return clock.Real{}.Now().UTC()
}

func (s *Service) notify(event string) { s.wake("e:" + event) }

// deviceChanged wakes the device's own stream and the venue scopes, which
// hold the keys of the devices that serve each event.
func (s *Service) deviceChanged(id string) {
	s.wake("d:" + id)
	s.wake(WakeVenues)
}

// WakeVenues is the wake-up payload for "venue scopes may have grown".
const WakeVenues = "v:"

func (s *Service) wake(payload string) {
	if s.Wake != nil {
		s.Wake(payload)
	}
}

// CreateEvent creates an event and its first signing key.
func (s *Service) CreateEvent(ctx context.Context, e Event) (Event, error) {
	// "*" is access.AllEvents in grants: never an event's id.
	if e.ID == "" || len(e.ID) > MaxIDLen || strings.ContainsAny(e.ID, " /?#*") {
		return e, fmt.Errorf("create event: bad id %q (1 to %d bytes, none of \" /?#*\"): %w", e.ID, MaxIDLen, ErrInvalid)
	}
	if err := checkText("event name", e.Name); err != nil {
		return e, fmt.Errorf("create event: %w", err)
	}
	now := s.now()
	if e.Name == "" {
		e.Name = e.ID
	}
	if e.StartsAt.IsZero() {
		e.StartsAt = now.Truncate(time.Second)
	}
	if e.EndsAt.IsZero() {
		e.EndsAt = e.StartsAt.Add(72 * time.Hour)
	}
	if !e.EndsAt.After(e.StartsAt) {
		return e, fmt.Errorf("create event %q: ends before it starts", e.ID)
	}
	e.CreatedAt = now
	if err := s.Store.CreateEvent(ctx, e); err != nil {
		return e, err
	}
	key, err := ticket.GenerateSigningKey(e.ID, "k1")
	if err != nil {
		return e, fmt.Errorf("create event %q: %w", e.ID, err)
	}
	if err := s.Store.AddSigningKey(ctx, key, now); err != nil {
		return e, err
	}
	s.notify(e.ID)
	s.wake(WakeVenues)
	return e, nil
}

// IssueRequest asks for tickets of one type.
type IssueRequest struct {
	Event  string `json:"event"`
	Type   string `json:"type"`
	Count  int    `json:"count"`
	Holder string `json:"holder,omitempty"`
	Policy string `json:"policy,omitempty"` // single (default), multi, reentry
	// Rotating issues anti-screenshot tickets: each gets its own TOTP
	// secret, replicated to the gates, and must be shown as a rotating
	// code (ticket.Rotate).
	Rotating bool `json:"rotating,omitempty"`
}

// MaxIssue bounds one issuing request.
const MaxIssue = 100_000

// Issue signs and stores new tickets, valid for the whole event. A ticket
// type of that id, when defined, gives the zones and the default policy.
func (s *Service) Issue(ctx context.Context, req IssueRequest) ([]Ticket, error) {
	if req.Count < 1 || req.Count > MaxIssue {
		return nil, fmt.Errorf("issue: count %d out of range 1..%d: %w", req.Count, MaxIssue, ErrInvalid)
	}
	if err := checkText("holder", req.Holder); err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	is, err := s.issuer(ctx, req.Event)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	out := make([]Ticket, 0, req.Count)
	for range req.Count {
		id, err := NewTicketID()
		if err != nil {
			return nil, err
		}
		t, err := is.sign(id, req.Type, req.Holder, req.Policy, req.Rotating)
		if err != nil {
			return nil, fmt.Errorf("issue: %w", err)
		}
		out = append(out, t)
	}
	if err := s.Store.AddTickets(ctx, out); err != nil {
		return nil, err
	}
	s.notify(is.ev.ID)
	return out, nil
}

// issuer signs tickets of one event.
type issuer struct {
	ev    Event
	key   ticket.SigningKey
	types map[string]TicketType
	now   time.Time
}

func (s *Service) issuer(ctx context.Context, event string) (*issuer, error) {
	ev, err := s.Store.Event(ctx, event)
	if err != nil {
		return nil, err
	}
	key, err := s.Store.SigningKey(ctx, ev.ID)
	if err != nil {
		return nil, err
	}
	tts, err := s.Store.TicketTypes(ctx, ev.ID)
	if err != nil {
		return nil, err
	}
	is := &issuer{ev: ev, key: key, types: map[string]TicketType{}, now: s.now()}
	for _, tt := range tts {
		is.types[tt.ID] = tt
	}
	return is, nil
}

func (is *issuer) sign(id, typ, holder, policyName string, rotating bool) (Ticket, error) {
	if typ == "" {
		typ = "GA"
	}
	tt := is.types[typ]
	if policyName == "" {
		policyName = tt.Policy
	}
	policy := ticket.SingleEntry
	if policyName != "" {
		p, err := ticket.ParsePolicy(policyName)
		if err != nil {
			return Ticket{}, fmt.Errorf("%w: %w", ErrInvalid, err)
		}
		policy = p
	}
	if id == "" || len(id) > MaxIDLen || strings.ContainsAny(id, " /?#,") {
		return Ticket{}, fmt.Errorf("bad ticket id %q (1 to %d bytes, none of \" /?#,\"): %w", id, MaxIDLen, ErrInvalid)
	}
	if err := checkText("holder", holder); err != nil {
		return Ticket{}, err
	}
	c := ticket.Claims{
		ID: id, Event: is.ev.ID, Type: typ, Zones: tt.Zones,
		NotBefore: is.ev.StartsAt.Add(-6 * time.Hour), NotAfter: is.ev.EndsAt,
		Policy: policy, Rotating: rotating,
		// The issue time lets a gate whose replica is older admit the
		// ticket on its signature (the store logs it only if it is not
		// IssueSlack older than a ticket logged before it).
		IssuedAt: is.now,
	}
	code, err := ticket.Encode(c, is.key)
	if err != nil {
		return Ticket{}, err
	}
	t := Ticket{Event: is.ev.ID, ID: id, Type: typ, Holder: holder, Code: code, IssuedAt: is.now}
	if rotating {
		if t.CodeSecret, err = ticket.GenerateCodeSecret(); err != nil {
			return Ticket{}, err
		}
	}
	return t, nil
}

var ticketIDEncoding = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// NewTicketID returns a random 10-character ticket id (50 bits, Crockford
// base32: no I, L, O, U, easy to read out over a radio).
func NewTicketID() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("ticket id: %w", err)
	}
	return ticketIDEncoding.EncodeToString(b[:])[:10], nil
}
