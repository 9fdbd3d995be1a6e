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
}

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
	}
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
