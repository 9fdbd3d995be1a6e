// Package mfrc522 offers an NXP MFRC522 reader (through periph's
// periph.io/x/devices/v3/mfrc522 driver, SPI only) as a hal.CredentialReader
// of card UIDs: a second, cheaper reader type for staff badges. UIDs clone,
// so every credential is hal.AssuranceLow; tickets on NFC need the PN532.
//
// periph's ReadUID takes a timeout rather than a context; the Reader calls
// it in slices of Opts.Slice and looks at ctx between slices.
package mfrc522

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/devices/v3/mfrc522"

	"admit/clock"
	"admit/hal"
)

// UIDReader is what the Reader needs of the chip; *mfrc522.Dev has it.
type UIDReader interface {
	ReadUID(timeout time.Duration) ([]byte, error)
}

// Opts configures a Reader.
type Opts struct {
	Name   string        // credential source ("nfc1")
	Slice  time.Duration // longest single ReadUID wait (200ms)
	Clock  clock.Clock   // timestamps (clock.Real{})
	Logger *slog.Logger  // slog.Default()
}

// Reader yields one UID credential per card presentation. The chip leaves
// a card it has selected in the ACTIVE state, so a card that stays in the
// field is not read again until it leaves and comes back.
type Reader struct {
	dev  UIDReader
	opts Opts
}

var _ hal.CredentialReader = (*Reader)(nil)

// Open initialises an MFRC522 on an SPI port with its reset and IRQ pins
// and returns a Reader on it, plus the device for Halt.
func Open(port spi.Port, reset gpio.PinOut, irq gpio.PinIn, opts *Opts) (*Reader, *mfrc522.Dev, error) {
	if port == nil || reset == nil || irq == nil {
		return nil, nil, errors.New("mfrc522: port, reset and irq pins are required")
	}
	dev, err := mfrc522.NewSPI(port, reset, irq)
	if err != nil {
		return nil, nil, fmt.Errorf("mfrc522: init on %s: %w", port, err)
	}
	return NewReader(dev, opts), dev, nil
}

// NewReader returns a Reader on dev.
func NewReader(dev UIDReader, opts *Opts) *Reader {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = "nfc1"
	}
	if o.Slice == 0 {
		o.Slice = 200 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Reader{dev: dev, opts: o}
}

func (r *Reader) String() string { return "mfrc522 reader " + r.opts.Name }

// Read waits for a card and returns its UID. periph's driver does not tell
// a timeout from other failures, so failed slices are logged at debug
// level and the wait goes on until ctx ends.
func (r *Reader) Read(ctx context.Context) (hal.Credential, error) {
	for {
		if err := ctx.Err(); err != nil {
			return hal.Credential{}, err
		}
		uid, err := r.dev.ReadUID(r.opts.Slice)
		if err != nil {
			r.opts.Logger.Debug("mfrc522: no card", "reader", r.opts.Name, "err", err)
			continue
		}
		if len(uid) == 0 {
			continue
		}
		return hal.Credential{
			Source:    r.opts.Name,
			Kind:      "uid",
			Payload:   append([]byte(nil), uid...),
			Assurance: hal.AssuranceLow,
			At:        r.opts.Clock.Now(),
		}, nil
	}
}
