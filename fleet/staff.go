package fleet

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"admit/fleet/wire"
	"admit/internal/argon2id"
)

// StaffArgon2 are the argon2id parameters of gate staff's PIN hashes:
// OWASP's minimum for argon2id (m=19 MiB, t=2, p=1), which a Raspberry
// Pi 4 checks in roughly 100 to 300 ms — a sign-in's cost at the gate,
// never a scan's. The hash is made once, here; every gate of the event
// checks it. Raise them here: the parameters travel in the hash.
var StaffArgon2 = argon2id.Params{Time: 2, Memory: 19 * 1024, Threads: 1, KeyLen: 32}

// PIN and badge bounds.
const (
	MinPINLen = 4
	MaxPINLen = 12
	// A badge is its UID in hex: 4 to 10 bytes (MIFARE Classic's 4, NTAG
	// and DESFire's 7, triple-size 10).
	MinBadgeBytes = 4
	MaxBadgeBytes = 10
)

// StaffRequest sets a gate staff member's sign-in at an event's gates.
type StaffRequest struct {
	PIN string `json:"pin"` // 4 to 12 digits
	// Badge is the UID of the staff member's badge in hex, optional: with
	// it they sign in with the badge and the PIN (the stronger option).
	Badge string `json:"badge,omitempty"`
}

// SetStaffCredential sets (or replaces) the PIN, and optionally the badge,
// with which operator signs in at event's gates, and publishes its hash in
// the event's venue scope. The operator must hold the gate staff role on
// the event (ErrNotStaff). by names who set it.
func (s *Service) SetStaffCredential(ctx context.Context, event, operator string, req StaffRequest, by string) (StaffMember, error) {
	if len(req.PIN) < MinPINLen || len(req.PIN) > MaxPINLen || strings.Trim(req.PIN, "0123456789") != "" {
		return StaffMember{}, fmt.Errorf("staff PIN: %d to %d digits: %w", MinPINLen, MaxPINLen, ErrInvalid)
	}
	var uid []byte
	if req.Badge != "" {
		var err error
		uid, err = hex.DecodeString(strings.ReplaceAll(strings.ReplaceAll(req.Badge, ":", ""), " ", ""))
		if err != nil || len(uid) < MinBadgeBytes || len(uid) > MaxBadgeBytes {
			return StaffMember{}, fmt.Errorf("staff badge: a UID of %d to %d bytes in hex: %w", MinBadgeBytes, MaxBadgeBytes, ErrInvalid)
		}
	}
	phc, err := argon2id.Hash(wire.StaffSecret(uid, req.PIN), s.staffArgon2())
	if err != nil {
		return StaffMember{}, fmt.Errorf("staff PIN: %w", err)
	}
	c := StaffCredential{Event: event, Operator: operator, PINHash: phc, SetAt: s.now(), SetBy: by}
	if uid != nil {
		c.BadgeHash = wire.BadgeLookup(uid)
	}
	if err := s.Store.PutStaffCredential(ctx, c); err != nil {
		return StaffMember{}, err
	}
	s.wake(WakeVenues)
	return StaffMember{Operator: operator, PIN: true, Badge: uid != nil, SetAt: c.SetAt, SetBy: by}, nil
}

// ClearStaffCredential removes operator's sign-in at event's gates (the
// gates drop it with the venue scope's next change).
func (s *Service) ClearStaffCredential(ctx context.Context, event, operator string) error {
	if err := s.Store.DeleteStaffCredential(ctx, event, operator); err != nil {
		return err
	}
	s.wake(WakeVenues)
	return nil
}

// Staff lists the gate staff of event and whether each can sign in.
func (s *Service) Staff(ctx context.Context, event string) ([]StaffMember, error) {
	if _, err := s.Store.Event(ctx, event); err != nil {
		return nil, err
	}
	return s.Store.Staff(ctx, event)
}

// SyncVenues brings every event's venue scope up to date: what a node does
// when it starts, so that a fleet upgraded to venue scopes publishes the
// devices and staff it already had.
func (s *Service) SyncVenues(ctx context.Context) error {
	evs, err := s.Store.Events(ctx)
	if err != nil {
		return err
	}
	for _, e := range evs {
		if err := s.Store.SyncVenue(ctx, e.ID); err != nil {
			return fmt.Errorf("sync venue of %q: %w", e.ID, err)
		}
	}
	s.wake(WakeVenues)
	return nil
}

func (s *Service) staffArgon2() argon2id.Params {
	if s.StaffArgon2 == (argon2id.Params{}) {
		return StaffArgon2
	}
	return s.StaffArgon2
}
