package fleet

import (
	"fmt"
	"unicode/utf8"
)

// Limits on what operators type. Ids (events, tickets, types, zones,
// gates, devices, config groups) are at most 64 bytes without spaces or
// URL punctuation (okName); the texts below at most MaxText bytes.
const (
	MaxIDLen = 64
	// MaxText bounds a display name, a holder's name, a revocation
	// reason.
	MaxText = 200
	// MaxDeviceEvents bounds the events one device serves.
	MaxDeviceEvents = 32
)

// checkText refuses a text longer than MaxText or not UTF-8, naming the
// field and the limit.
func checkText(field, v string) error {
	if len(v) > MaxText {
		return fmt.Errorf("%s of %d bytes (at most %d): %w", field, len(v), MaxText, ErrInvalid)
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s is not UTF-8: %w", field, ErrInvalid)
	}
	return nil
}

// checkEvents refuses a device's event list that is too long or names a
// malformed id.
func checkEvents(events []string) error {
	if len(events) > MaxDeviceEvents {
		return fmt.Errorf("%d events (at most %d): %w", len(events), MaxDeviceEvents, ErrInvalid)
	}
	for _, e := range events {
		if !okName(e) {
			return fmt.Errorf("event id %q: %w", e, ErrInvalid)
		}
	}
	return nil
}
