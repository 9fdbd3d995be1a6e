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
	// SetMaxRetries sets the chip's retries; passive 0xFF makes
	// InListPassiveTarget wait for a card.
	SetMaxRetries(ctx context.Context, atr, psl, passive byte) error
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
	Name string // credential source, "nfc0"
	// PollInterval is the pause between two checks whether the card last
	// read is still in the field (100ms). An empty field is not polled: the
	// chip waits for the next card itself.
	PollInterval time.Duration
	MaxTicket    int          // largest ticket accepted (4096 bytes)
	Clock        clock.Clock  // clock.Real{}
	Logger       *slog.Logger // slog.Default()
}

// Reader reads one credential per card presentation.
type Reader struct {
	dev  Initiator
	opts Opts

	last []byte // UID of the card read last, while it stays in the field
	// passive is the MxRtyPassiveActivation the Reader last set; 0 before
	// it set any.
	passive byte
}

// MaxRetries for passive activation: waiting for a card (the chip tries
// until one comes) and checking whether the last one is still there.
const (
	waitRetries     = 0xFF
	presenceRetries = 0x01 // two tries
)

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

// Read returns the credential of the next card presented. While the field
// is empty the chip itself waits for a card (InListPassiveTarget with
// MaxRetries 0xFF), so a tap is read as soon as the card answers, not at
// the next poll; while the card last read stays in the field, the Reader
// checks every PollInterval whether it left or another came. Card-level
// failures (a card pulled away too early, a foreign phone, a malformed
// tag) are logged and the card is skipped until it leaves the field.
func (r *Reader) Read(ctx context.Context) (hal.Credential, error) {
	for {
		c, err := r.poll(ctx, r.last == nil)
		switch {
		case err == nil:
			return c, nil
		case errors.Is(err, hal.ErrNoCredential):
		case cardLevel(err):
			r.opts.Logger.Info("nfc: card skipped", "reader", r.opts.Name, "err", err)
		default:
			return hal.Credential{}, err
		}
		if r.last == nil {
			continue // the field is empty: wait for the next card at once
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

// ReadOnce polls the field once, with a bounded number of activation
// tries. It returns hal.ErrNoCredential when the field is empty or holds
// the card already read.
func (r *Reader) ReadOnce(ctx context.Context) (hal.Credential, error) {
	return r.poll(ctx, false)
}

// poll lists one card and reads it; wait lets the chip wait for one.
func (r *Reader) poll(ctx context.Context, wait bool) (hal.Credential, error) {
	passive := byte(presenceRetries)
	if wait {
		passive = waitRetries
	}
	if r.passive != passive {
		if err := r.dev.SetMaxRetries(ctx, 0xFF, 0x01, passive); err != nil {
			return hal.Credential{}, fmt.Errorf("nfc %s: %w", r.opts.Name, err)
		}
		r.passive = passive
	}
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
