// Package hal is where admit meets copper: small interfaces for the devices a
// gate uses, implemented by periph-backed drivers in the sub-packages and by
// simulated twins that tests and the demo venue use.
//
// The interfaces are deliberately narrow; a consumer asks for the one it
// needs. hal imports nothing else of admit's.
package hal

import (
	"context"
	"errors"
	"time"
)

// ErrNoCredential is returned by a reader when nothing was presented before
// its deadline. It is an expected outcome, not a fault.
var ErrNoCredential = errors.New("hal: no credential presented")

// Assurance says how much a credential read can be trusted on its own.
type Assurance int

const (
	// AssuranceHigh: the payload carries its own proof (a signed ticket).
	AssuranceHigh Assurance = iota
	// AssuranceLow: an identifier that can be cloned (a MIFARE UID, an
	// opaque legacy barcode); accepted only through an allowlist lookup.
	AssuranceLow
)

// Credential is what a reader got from one presentation.
type Credential struct {
	Source    string    // reader that produced it, e.g. "nfc0", "camera0"
	Kind      string    // "qr", "code128", "ntag", "isodep", "uid", ...
	Payload   []byte    // ticket text or bytes, or the UID
	Assurance Assurance // AssuranceLow for bare identifiers
	At        time.Time
}

// CredentialReader yields one credential per presentation. Read blocks until
// a credential is presented, ctx ends (ctx.Err()) or the reader fails. A
// reader of a finite stream (a video file, a folder of images) returns an
// error wrapping io.EOF once it is exhausted.
type CredentialReader interface {
	Read(ctx context.Context) (Credential, error)
}

// Relay drives a turnstile or door release.
type Relay interface {
	// Pulse closes the relay for d, then opens it again. It returns once
	// the pulse has started; the release happens in the background or on
	// the next call, implementations document which.
	Pulse(ctx context.Context, d time.Duration) error
}

// Color is an indicator state.
type Color int

const (
	Off Color = iota
	Green
	Red
	Amber
)

func (c Color) String() string {
	switch c {
	case Green:
		return "green"
	case Red:
		return "red"
	case Amber:
		return "amber"
	}
	return "off"
}

// Indicator is an LED, LED ring or tower light.
type Indicator interface {
	Set(c Color) error
}

// Buzzer plays a short pattern: on/off durations alternating, starting "on".
type Buzzer interface {
	Beep(ctx context.Context, pattern ...time.Duration) error
}

// Display shows up to a few short lines of text to the attendee or staff.
type Display interface {
	Show(lines ...string) error
}

// PassageSensor reports that someone walked through (the turnstile turned).
type PassageSensor interface {
	// WaitPassage blocks until a debounced passage edge or ctx ends.
	WaitPassage(ctx context.Context) error
}

// Button is a staff push button.
type Button interface {
	WaitPress(ctx context.Context) error
}
