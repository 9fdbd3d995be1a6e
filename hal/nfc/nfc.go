package nfc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"admit/clock"
	"admit/hal"
	"admit/hal/pn532"
)

// Initiator is the part of an NFC controller the Reader uses; *pn532.Dev
// has it.
type Initiator interface {
	InListPassiveTarget(ctx context.Context) (pn532.Target, error)
	InDataExchange(ctx context.Context, tg byte, out, in []byte) (int, error)
	InRelease(ctx context.Context, tg byte) error
}

// AdmitAID is the ISO 7816-4 application identifier of admit's phone app:
// proprietary (RID category F), "ADMIT", version 1.
var AdmitAID = []byte{0xF0, 0x41, 0x44, 0x4D, 0x49, 0x54, 0x01}

// TicketMIME is the MIME type of an NDEF record that carries a ticket.
const TicketMIME = "application/vnd.admit.ticket"

// Card-level outcomes; test with errors.Is.
var (
	// ErrNoTicket: the card answered but carries no admit ticket.
	ErrNoTicket = errors.New("nfc: no ticket on the card")
	// ErrNoApp: the phone does not run admit's app (SELECT got 6A 82).
	ErrNoApp = errors.New("nfc: admit app not on the phone")
	// ErrBadTag: the tag's capability container or TLVs are malformed.
	ErrBadTag = errors.New("nfc: malformed tag content")
	// ErrCardRemoved: the card left the field during the read.
	ErrCardRemoved = errors.New("nfc: card removed during read")
)

// APDUError is a status word other than 90 00 from a phone.
type APDUError struct {
	Cmd string
	SW  uint16
}

func (e *APDUError) Error() string { return fmt.Sprintf("nfc: %s: status word %04X", e.Cmd, e.SW) }

// Opts configures a Reader.
type Opts struct {
	Name         string        // credential source, "nfc0"
	PollInterval time.Duration // pause after a poll that found nothing new (100ms)
	MaxTicket    int           // largest ticket accepted (4096 bytes)
	Clock        clock.Clock   // clock.Real{}
	Logger       *slog.Logger  // slog.Default()
}

// Reader reads one credential per card presentation.
type Reader struct {
	dev  Initiator
	opts Opts

	last []byte // UID of the card read last, while it stays in the field
}

var _ hal.CredentialReader = (*Reader)(nil)

// NewReader returns a Reader on dev. opts may be nil.
func NewReader(dev Initiator, opts *Opts) *Reader {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = "nfc0"
	}
	if o.PollInterval == 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.MaxTicket == 0 {
		o.MaxTicket = 4096
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Reader{dev: dev, opts: o}
}

func (r *Reader) String() string { return "nfc reader " + r.opts.Name }

// Read polls until a new card yields a credential, ctx ends, or the
// controller fails. Card-level failures (a card pulled away too early, a
// foreign phone, a malformed tag) are logged and the card is skipped until
// it leaves the field.
func (r *Reader) Read(ctx context.Context) (hal.Credential, error) {
	for {
		c, err := r.ReadOnce(ctx)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, hal.ErrNoCredential):
		case cardLevel(err):
			r.opts.Logger.Info("nfc: card skipped", "reader", r.opts.Name, "err", err)
		default:
			return hal.Credential{}, err
		}
		select {
		case <-ctx.Done():
			return hal.Credential{}, ctx.Err()
		case <-r.opts.Clock.After(r.opts.PollInterval):
		}
	}
}

func cardLevel(err error) bool {
	var ae *APDUError
	var se *pn532.StatusError
	return errors.Is(err, ErrNoTicket) || errors.Is(err, ErrNoApp) || errors.Is(err, ErrBadTag) ||
		errors.Is(err, ErrCardRemoved) || errors.As(err, &ae) || errors.As(err, &se)
}

// ReadOnce polls the field once. It returns hal.ErrNoCredential when the
// field is empty or holds the card already read.
func (r *Reader) ReadOnce(ctx context.Context) (hal.Credential, error) {
	tg, err := r.dev.InListPassiveTarget(ctx)
	if errors.Is(err, pn532.ErrNoCard) {
		r.last = nil
		return hal.Credential{}, hal.ErrNoCredential
	}
	if err != nil {
		return hal.Credential{}, fmt.Errorf("nfc %s: poll: %w", r.opts.Name, err)
	}
	if r.last != nil && bytes.Equal(r.last, tg.UID) {
		_ = r.dev.InRelease(ctx, tg.Tg)
		return hal.Credential{}, hal.ErrNoCredential
	}
	c, err := r.readTarget(ctx, tg)
	if rerr := r.dev.InRelease(ctx, tg.Tg); rerr != nil && err == nil && !errors.Is(rerr, pn532.ErrTargetGone) {
		r.opts.Logger.Debug("nfc: release", "err", rerr)
	}
	// Read once per presentation, whether it worked or not.
	r.last = append(r.last[:0], tg.UID...)
	if err != nil {
		if errors.Is(err, pn532.ErrTargetGone) {
			err = fmt.Errorf("%w: %w", ErrCardRemoved, err)
		}
		return hal.Credential{}, fmt.Errorf("nfc %s: %s: %w", r.opts.Name, tg, err)
	}
	c.Source = r.opts.Name
	c.At = r.opts.Clock.Now()
	return c, nil
}

func (r *Reader) readTarget(ctx context.Context, tg pn532.Target) (hal.Credential, error) {
	switch {
	case tg.ISODEP():
		t, err := r.readPhone(ctx, tg.Tg)
		if err != nil {
			return hal.Credential{}, err
		}
		return hal.Credential{Kind: "isodep", Payload: t, Assurance: hal.AssuranceHigh}, nil
	case tg.Type2():
		t, err := r.readNTAG(ctx, tg.Tg)
		if errors.Is(err, ErrNoTicket) {
			return uidCredential(tg), nil
		}
		if err != nil {
			return hal.Credential{}, err
		}
		return hal.Credential{Kind: "ntag", Payload: t, Assurance: hal.AssuranceHigh}, nil
	}
	return uidCredential(tg), nil
}

func uidCredential(tg pn532.Target) hal.Credential {
	return hal.Credential{Kind: "uid", Payload: append([]byte(nil), tg.UID...), Assurance: hal.AssuranceLow}
}
