package fleet

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"admit/fleet/wire"
)

// The venue model the gates replicate (an event's venue scope,
// wire.VenueScope): besides the devices and gate staff, the event's
// zones, gates and ticket types (layout.go's Put*), its settings for the
// gates, its UID badges and its partners' JWT keys. Every mutation brings
// the venue scope up to date in its own transaction (the store's
// sources) and wakes the streams.

// IssueSlack is how much earlier than the latest ticket already logged a
// ticket may have been issued and still be logged (the store refuses it
// otherwise: ErrIssueLate). It is what makes a log position's sync point
// (SyncPoint) true: every ticket issued up to the latest issue time at
// that position minus IssueSlack is in the log at or before it. An hour
// covers a million-ticket import and clocks of several nodes a little
// apart; it costs nothing, since a gate decides a ticket it holds on its
// replica whatever its issue time.
const IssueSlack = time.Hour

// ErrIssueLate: tickets signed more than IssueSlack before a ticket
// already logged (a very long import running beside a faster one, or a
// node's clock far behind another's); nothing was stored: issue again.
var ErrIssueLate = fmt.Errorf("fleet: tickets issued too long before the latest logged one (more than %s): issue them again", IssueSlack)

// SyncPoint is the sync point of a log position whose latest ticket
// issue time is issued (wire.Batch.AsOf): zero when no ticket of the log
// says when it was issued, so any that does is newer.
func SyncPoint(issued time.Time) time.Time {
	if issued.IsZero() {
		return time.Time{}
	}
	return issued.Add(-IssueSlack)
}

// EventSettings are an event's settings for its gates, replicated in its
// venue scope (wire.VenueSettings).
type EventSettings struct {
	Event string `json:"event"`
	// AdmitOnSignature: a gate admits on its signature a ticket validly
	// signed by a key it knows, not on its replica, issued after the
	// replica's last sync point and not revoked (journaled so); on by
	// default. docs/tickets.md has the trade-off.
	AdmitOnSignature bool `json:"admit_on_signature"`
}

// Badge is a UID badge that opens an event's gates: a staff card or a
// season card. Only the UID's lookup hash is kept (wire.BadgeLookup).
type Badge struct {
	Event     string    `json:"event"`
	ID        string    `json:"id"`
	UIDHash   string    `json:"-"`
	Name      string    `json:"name,omitempty"`
	Zones     []string  `json:"zones,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Policy    string    `json:"policy,omitempty"` // single, multi (default), reentry
	CreatedAt time.Time `json:"created_at"`
}

// BadgeRequest sets a badge (PUT /api/events/{event}/badges/{id}).
type BadgeRequest struct {
	UID       string    `json:"uid"` // the card's UID in hex (4 to 10 bytes)
	Name      string    `json:"name,omitempty"`
	Zones     []string  `json:"zones,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Policy    string    `json:"policy,omitempty"`
}

// PartnerKey is a partner's JWT verification key for an event: gates
// admit the partner's JWT tickets signed with it (ticket.VerifyJWT).
type PartnerKey struct {
	Event     string    `json:"event"`
	ID        string    `json:"id"`
	Kid       string    `json:"kid,omitempty"` // the JWS "kid" its tokens carry
	Alg       string    `json:"alg"`           // wire.AlgEdDSA or wire.AlgES256
	Public    []byte    `json:"public"`        // Ed25519 key, or the uncompressed P-256 point
	Issuer    string    `json:"issuer,omitempty"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
}

// Limits of the venue model.
const (
	MaxBadges      = 50_000 // per event
	MaxPartnerKeys = 16     // per event
	MaxBadgeZones  = 8
)

// PutEventSettings sets event's settings for its gates.
func (s *Service) PutEventSettings(ctx context.Context, st EventSettings) (EventSettings, error) {
	if err := s.Store.PutEventSettings(ctx, st); err != nil {
		return st, err
	}
	s.wake(WakeVenues)
	return s.Store.EventSettings(ctx, st.Event)
}

// PutBadge sets (or replaces) badge id of event.
func (s *Service) PutBadge(ctx context.Context, event, id string, req BadgeRequest) (Badge, error) {
	if !okName(id) {
		return Badge{}, fmt.Errorf("badge %q (1 to %d bytes, none of \" /?#,:*\"): %w", id, MaxIDLen, ErrInvalid)
	}
	uid, err := hex.DecodeString(strings.ReplaceAll(strings.ReplaceAll(req.UID, ":", ""), " ", ""))
	if err != nil || len(uid) < MinBadgeBytes || len(uid) > MaxBadgeBytes {
		return Badge{}, fmt.Errorf("badge uid: %d to %d bytes in hex: %w", MinBadgeBytes, MaxBadgeBytes, ErrInvalid)
	}
	if err := checkText("badge name", req.Name); err != nil {
		return Badge{}, err
	}
	if len(req.Zones) > MaxBadgeZones {
		return Badge{}, fmt.Errorf("badge: %d zones (at most %d): %w", len(req.Zones), MaxBadgeZones, ErrInvalid)
	}
	for _, z := range req.Zones {
		if !okName(z) {
			return Badge{}, fmt.Errorf("badge zone %q: %w", z, ErrInvalid)
		}
	}
	switch req.Policy {
	case "", wire.PolicySingle, wire.PolicyMulti, wire.PolicyReentry:
	default:
		return Badge{}, fmt.Errorf("badge policy %q (single, multi or reentry): %w", req.Policy, ErrInvalid)
	}
	if !req.NotBefore.IsZero() && !req.NotAfter.IsZero() && req.NotAfter.Before(req.NotBefore) {
		return Badge{}, fmt.Errorf("badge: not_after before not_before: %w", ErrInvalid)
	}
	b := Badge{Event: event, ID: id, UIDHash: wire.BadgeLookup(uid), Name: req.Name, Zones: req.Zones,
		NotBefore: req.NotBefore.UTC().Truncate(time.Millisecond), NotAfter: req.NotAfter.UTC().Truncate(time.Millisecond),
		Policy: req.Policy, CreatedAt: s.now()}
	if err := s.Store.PutBadge(ctx, b); err != nil {
		return Badge{}, err
	}
	s.wake(WakeVenues)
	return b, nil
}

// DeleteBadge removes a badge (the gates drop it with the venue scope).
func (s *Service) DeleteBadge(ctx context.Context, event, id string) error {
	if err := s.Store.DeleteBadge(ctx, event, id); err != nil {
		return err
	}
	s.wake(WakeVenues)
	return nil
}

// PutPartnerKey sets (or replaces) a partner's JWT key of event.
func (s *Service) PutPartnerKey(ctx context.Context, k PartnerKey) (PartnerKey, error) {
	if !okName(k.ID) {
		return k, fmt.Errorf("partner key %q (1 to %d bytes, none of \" /?#,:*\"): %w", k.ID, MaxIDLen, ErrInvalid)
	}
	if len(k.Kid) > MaxIDLen {
		return k, fmt.Errorf("partner key kid of %d bytes (at most %d): %w", len(k.Kid), MaxIDLen, ErrInvalid)
	}
	if err := checkText("partner key issuer", k.Issuer); err != nil {
		return k, err
	}
	if err := wire.CheckJWTKey(k.Alg, k.Public); err != nil {
		return k, fmt.Errorf("partner key: %v: %w", err, ErrInvalid)
	}
	k.CreatedAt = s.now()
	k.RetiredAt = k.RetiredAt.UTC().Truncate(time.Millisecond)
	if err := s.Store.PutPartnerKey(ctx, k); err != nil {
		return k, err
	}
	s.wake(WakeVenues)
	return k, nil
}

// DeletePartnerKey removes a partner's JWT key (the gates drop it).
func (s *Service) DeletePartnerKey(ctx context.Context, event, id string) error {
	if err := s.Store.DeletePartnerKey(ctx, event, id); err != nil {
		return err
	}
	s.wake(WakeVenues)
	return nil
}
