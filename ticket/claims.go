package ticket

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// Limits on claim contents. They keep tickets small and decoding bounded.
const (
	MaxFieldLen = 64 // bytes in ID, Event, Type, Seat, KeyID and each zone
	MaxZones    = 8
)

// Claims is what a ticket asserts. Times are UTC with second precision; the
// ticket is valid for NotBefore <= now <= NotAfter.
type Claims struct {
	ID        string    // ticket id (unique within the event)
	Event     string    // event id
	Type      string    // ticket type / tier, e.g. "GA", "VIP"
	Zones     []string  // zones this ticket may enter; empty = any
	Seat      string    // optional
	NotBefore time.Time // validity window (UTC, second precision)
	NotAfter  time.Time
	Policy    Policy
	// Rotating marks a ticket that must be shown with a rotating (TOTP)
	// code; the per-ticket secret lives in the allowlist, never in the code.
	Rotating bool
	// IssuedAt is when the fleet issued the ticket (UTC; zero: not
	// said). A gate that does not find the ticket on its replica admits
	// it on its signature only when it was issued after the replica's
	// last sync point; a ticket without it never is. The code carries it
	// in whole hours relative to NotBefore, rounded up (claim 10, see
	// wireClaims): what Verify returns is that, never earlier than the
	// time Encode was given.
	IssuedAt time.Time
	KeyID    string // filled by Encode from the key; by Verify from the header
}

// wireClaims is the CBOR payload: a map with small integer keys, encoded
// with RFC 8949 core deterministic encoding. Field numbers are part of the
// AD1 format; never renumber them.
type wireClaims struct {
	ID        string   `cbor:"1,keyasint"`
	Event     string   `cbor:"2,keyasint"`
	Type      string   `cbor:"3,keyasint,omitempty"`
	Zones     []string `cbor:"4,keyasint,omitempty"`
	Seat      string   `cbor:"5,keyasint,omitempty"`
	NotBefore int64    `cbor:"6,keyasint"`
	NotAfter  int64    `cbor:"7,keyasint"`
	Policy    uint8    `cbor:"8,keyasint,omitempty"`
	Rotating  bool     `cbor:"9,keyasint,omitempty"`
	// IssuedAt is the issue time in hours after NotBefore (negative:
	// before it), rounded up, and never less than -MaxIssuedBefore; nil:
	// absent. Not Unix seconds: a 4-byte time (5 bytes of CBOR, 6 with
	// the key) pushes a GA ticket's QR code from version 7 to 8, while
	// hours relative to the window take one byte for a ticket issued
	// within a day of it and two within ten days (a pointer: issued in
	// the hour of NotBefore is 0, which must still be sent).
	IssuedAt *int64 `cbor:"10,keyasint,omitempty"`
}

// MaxIssuedBefore bounds how far before NotBefore a code says its ticket
// was issued, in hours (255, about ten and a half days: what one byte of
// CBOR integer holds). A ticket issued earlier says it was issued then:
// later than it was, which can only let a gate admit on its signature a
// ticket it does not hold (every ticket issued before a replica's sync
// point is on that replica), never refuse one.
const MaxIssuedBefore = 255

// maxIssuedAfter bounds how long after NotBefore a ticket may say it was
// issued, in hours (100 years): a decoder never computes a time out of
// range from a hostile claim.
const maxIssuedAfter = 100 * 365 * 24

func (c Claims) wire() wireClaims {
	return wireClaims{
		ID:        c.ID,
		Event:     c.Event,
		Type:      c.Type,
		Zones:     c.Zones,
		Seat:      c.Seat,
		NotBefore: c.NotBefore.Unix(),
		NotAfter:  c.NotAfter.Unix(),
		Policy:    uint8(c.Policy),
		Rotating:  c.Rotating,
		IssuedAt:  issuedHours(c.IssuedAt, c.NotBefore),
	}
}

// issuedHours is the claim 10 of an issue time: hours after notBefore,
// rounded up, at least -MaxIssuedBefore; nil for the zero time.
func issuedHours(at, notBefore time.Time) *int64 {
	if at.IsZero() {
		return nil
	}
	d := at.Sub(notBefore)
	h := int64(d / time.Hour)
	if d%time.Hour > 0 {
		h++ // rounded up: never earlier than it was
	}
	h = max(h, -MaxIssuedBefore)
	return &h
}

func (w wireClaims) claims() Claims {
	c := Claims{
		ID:        w.ID,
		Event:     w.Event,
		Type:      w.Type,
		Seat:      w.Seat,
		NotBefore: time.Unix(w.NotBefore, 0).UTC(),
		NotAfter:  time.Unix(w.NotAfter, 0).UTC(),
		Policy:    Policy(w.Policy),
		Rotating:  w.Rotating,
	}
	if m := w.IssuedAt; m != nil && *m >= -MaxIssuedBefore && *m <= maxIssuedAfter {
		c.IssuedAt = c.NotBefore.Add(time.Duration(*w.IssuedAt) * time.Hour)
	}
	if len(w.Zones) > 0 {
		c.Zones = append([]string(nil), w.Zones...)
	}
	return c
}

// Validate checks that c can be encoded: required fields, lengths, window.
func (c Claims) Validate() error {
	if c.ID == "" {
		return fmt.Errorf("ticket: claims: empty ticket id")
	}
	if c.Event == "" {
		return fmt.Errorf("ticket: claims: empty event")
	}
	for _, f := range []struct{ name, v string }{
		{"id", c.ID}, {"event", c.Event}, {"type", c.Type}, {"seat", c.Seat}, {"key id", c.KeyID},
	} {
		if err := checkField(f.name, f.v); err != nil {
			return err
		}
	}
	if len(c.Zones) > MaxZones {
		return fmt.Errorf("ticket: claims: %d zones, at most %d", len(c.Zones), MaxZones)
	}
	for _, z := range c.Zones {
		if z == "" {
			return fmt.Errorf("ticket: claims: empty zone name")
		}
		if err := checkField("zone", z); err != nil {
			return err
		}
	}
	if c.NotBefore.IsZero() || c.NotAfter.IsZero() {
		return fmt.Errorf("ticket: claims: validity window not set")
	}
	if c.NotAfter.Before(c.NotBefore) {
		return fmt.Errorf("ticket: claims: NotAfter %s before NotBefore %s", c.NotAfter, c.NotBefore)
	}
	if !c.Policy.Valid() {
		return fmt.Errorf("ticket: claims: invalid policy %d", c.Policy)
	}
	if !c.IssuedAt.IsZero() && c.IssuedAt.Sub(c.NotBefore) > maxIssuedAfter*time.Hour {
		return fmt.Errorf("ticket: claims: issued more than 100 years after NotBefore")
	}
	return nil
}

func checkField(name, v string) error {
	if len(v) > MaxFieldLen {
		return fmt.Errorf("ticket: claims: %s is %d bytes, at most %d", name, len(v), MaxFieldLen)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("ticket: claims: %s is not valid UTF-8", name)
	}
	return nil
}

// Valid reports the validity-window refusal for now, or nil.
func (c Claims) checkWindow(now time.Time) error {
	if now.Before(c.NotBefore) {
		return refusef(ReasonNotYetValid, "valid from %s", c.NotBefore.Format(time.RFC3339))
	}
	if now.After(c.NotAfter) {
		return refusef(ReasonExpired, "valid until %s", c.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// AllowsZone reports whether the ticket may enter zone (empty Zones = any).
func (c Claims) AllowsZone(zone string) bool {
	if len(c.Zones) == 0 {
		return true
	}
	for _, z := range c.Zones {
		if z == zone {
			return true
		}
	}
	return false
}
