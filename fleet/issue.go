package fleet

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"strings"
	"time"

	"admit/ticket"
)

// Service is what operators do to the fleet: create events and issue
// tickets. Notify, when set, is called with an event whose change log grew,
// so that connected gates are woken.
type Service struct {
	Store  Store
	Now    func() time.Time
	Notify func(event string)
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now().UTC()
	}
	return time.Now().UTC()
}

func (s *Service) notify(event string) {
	if s.Notify != nil {
		s.Notify(event)
	}
}

// CreateEvent creates an event and its first signing key.
func (s *Service) CreateEvent(ctx context.Context, e Event) (Event, error) {
	if e.ID == "" || len(e.ID) > 64 || strings.ContainsAny(e.ID, " /?#") {
		return e, fmt.Errorf("create event: bad id %q", e.ID)
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
	return e, nil
}

// IssueRequest asks for tickets of one type.
type IssueRequest struct {
	Event  string `json:"event"`
	Type   string `json:"type"`
	Count  int    `json:"count"`
	Holder string `json:"holder,omitempty"`
	Policy string `json:"policy,omitempty"` // single (default), multi, reentry
}

// MaxIssue bounds one issuing request.
const MaxIssue = 100_000

// Issue signs and stores new tickets, valid for the whole event.
func (s *Service) Issue(ctx context.Context, req IssueRequest) ([]Ticket, error) {
	if req.Count < 1 || req.Count > MaxIssue {
		return nil, fmt.Errorf("issue: count %d out of range 1..%d", req.Count, MaxIssue)
	}
	if req.Type == "" {
		req.Type = "GA"
	}
	policy := ticket.SingleEntry
	if req.Policy != "" {
		p, err := ticket.ParsePolicy(req.Policy)
		if err != nil {
			return nil, fmt.Errorf("issue: %w", err)
		}
		policy = p
	}
	ev, err := s.Store.Event(ctx, req.Event)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	key, err := s.Store.SigningKey(ctx, ev.ID)
	if err != nil {
		return nil, fmt.Errorf("issue: %w", err)
	}
	now := s.now()
	out := make([]Ticket, 0, req.Count)
	for range req.Count {
		id, err := NewTicketID()
		if err != nil {
			return nil, err
		}
		c := ticket.Claims{
			ID: id, Event: ev.ID, Type: req.Type,
			NotBefore: ev.StartsAt.Add(-6 * time.Hour), NotAfter: ev.EndsAt,
			Policy: policy,
		}
		code, err := ticket.Encode(c, key)
		if err != nil {
			return nil, fmt.Errorf("issue: %w", err)
		}
		out = append(out, Ticket{Event: ev.ID, ID: id, Type: req.Type, Holder: req.Holder, Code: code, IssuedAt: now})
	}
	if err := s.Store.AddTickets(ctx, out); err != nil {
		return nil, err
	}
	s.notify(ev.ID)
	return out, nil
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
