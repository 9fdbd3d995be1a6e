package nfc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"admit/clock"
	"admit/hal"
	"admit/hal/pn532"
	"admit/hal/pn532/pn532sim"
)

var ctx = context.Background()

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// ticketText is the size of a typical AD1 ticket in base45.
var ticketText = "AD1" + strings.Repeat("6BFOXN*TS0BI$ZDFRH", 10)

func newDev(t testing.TB, chip *pn532sim.Chip, bus string, clk clock.Clock) *pn532.Dev {
	t.Helper()
	o := pn532.Opts{Clock: clk}
	var d *pn532.Dev
	var err error
	if bus == "i2c" {
		d, err = pn532.NewI2C(chip.I2C(), &o)
	} else {
		d, err = pn532.NewSPI(chip.SPI(), &o)
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Init(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

func forBuses(t *testing.T, f func(t *testing.T, chip *pn532sim.Chip, r *Reader)) {
	for _, bus := range []string{"i2c", "spi"} {
		t.Run(bus, func(t *testing.T) {
			clk := clock.NewAuto(time.Unix(100, 0))
			chip := pn532sim.New(pn532sim.WithClock(clk))
			chip.SetBusyPolls(1)
			r := NewReader(newDev(t, chip, bus, clk), &Opts{Name: "nfc0", Clock: clk, Logger: quiet})
			f(t, chip, r)
		})
	}
}

var uid7 = []byte{0x04, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06}

func TestCredentials(t *testing.T) {
	long := strings.Repeat("L", 400) // needs the 3-byte TLV length
	phoneUID := []byte{0x08, 0xAA, 0xBB, 0xCC}
	for _, tc := range []struct {
		name    string
		card    pn532sim.Target
		kind    string
		payload []byte
		low     bool
	}{
		{"NTAG213 text", pn532sim.NewNTAG(pn532sim.NTAG213, uid7, pn532sim.NDEFTLV(pn532sim.TextRecord("en", "AD1SHORT"))), "ntag", []byte("AD1SHORT"), false},
		{"NTAG215 text", pn532sim.NewNTAG(pn532sim.NTAG215, uid7, pn532sim.NDEFTLV(pn532sim.TextRecord("en", ticketText))), "ntag", []byte(ticketText), false},
		{"NTAG216 3-byte TLV length", pn532sim.NewNTAG(pn532sim.NTAG216, uid7, pn532sim.NDEFTLV(pn532sim.TextRecord("en", long))), "ntag", []byte(long), false},
		{"NTAG216 MIME record after lock TLV", pn532sim.NewNTAG(pn532sim.NTAG216, uid7,
			append([]byte{0x00, 0x01, 0x03, 0xA0, 0x0C, 0x34}, pn532sim.NDEFTLV(pn532sim.MIMERecord(TicketMIME, []byte("AD1MIME")))...)), "ntag", []byte("AD1MIME"), false},
		{"NTAG without NDEF: UID", pn532sim.NewNTAG(pn532sim.NTAG213, uid7, []byte{0xFE}), "uid", uid7, true},
		{"NTAG with a URI record: UID", pn532sim.NewNTAG(pn532sim.NTAG213, uid7, pn532sim.NDEFTLV([]byte{0xD1, 0x01, 0x04, 'U', 0x04, 'a', '.', 'b'})), "uid", uid7, true},
		{"phone", &pn532sim.Phone{ID: phoneUID, Ticket: []byte(ticketText)}, "isodep", []byte(ticketText), false},
		{"phone long ticket, GET RESPONSE", &pn532sim.Phone{ID: phoneUID, Ticket: []byte(long + long)}, "isodep", []byte(long + long), false},
		{"phone extended length, MI chaining", &pn532sim.Phone{ID: phoneUID, Ticket: []byte(long + long), ExtendedLength: true}, "isodep", []byte(long + long), false},
		{"MIFARE Classic badge", &pn532sim.Classic{ID: []byte{0xDE, 0xAD, 0xBE, 0xEF}}, "uid", []byte{0xDE, 0xAD, 0xBE, 0xEF}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forBuses(t, func(t *testing.T, chip *pn532sim.Chip, r *Reader) {
				chip.Place(tc.card)
				c, err := r.Read(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if c.Kind != tc.kind || !bytes.Equal(c.Payload, tc.payload) || (c.Assurance == hal.AssuranceLow) != tc.low || c.Source != "nfc0" || c.At.IsZero() {
					t.Fatalf("credential %s %q low=%v", c.Kind, c.Payload, c.Assurance == hal.AssuranceLow)
				}
				// The card stays: it is not read again.
				if _, err := r.ReadOnce(ctx); !errors.Is(err, hal.ErrNoCredential) {
					t.Fatalf("second read of the same card: %v", err)
				}
				chip.Remove()
				if _, err := r.ReadOnce(ctx); !errors.Is(err, hal.ErrNoCredential) {
					t.Fatalf("empty field: %v", err)
				}
				chip.Place(tc.card)
				if c2, err := r.ReadOnce(ctx); err != nil || !bytes.Equal(c2.Payload, tc.payload) {
					t.Fatalf("presented again: %v", err)
				}
			})
		})
	}
}

func TestCardErrors(t *testing.T) {
	phoneUID := []byte{0x08, 0xAA, 0xBB, 0xCC}
	badCC := pn532sim.NewNTAG(pn532sim.NTAG213, uid7, nil)
	badCC.Poke(12, []byte{0xE1, 0x20, 0x12, 0x00})
	noRead := pn532sim.NewNTAG(pn532sim.NTAG213, uid7, nil)
	noRead.Poke(12, []byte{0xE1, 0x10, 0x12, 0x80})
	overrun := pn532sim.NewNTAG(pn532sim.NTAG213, uid7, []byte{0x03, 0xFF, 0x04, 0x00})
	badRecord := pn532sim.NewNTAG(pn532sim.NTAG213, uid7, pn532sim.NDEFTLV([]byte{0xD1, 0x01, 0x40, 'T', 0x02}))
	for _, tc := range []struct {
		name string
		card pn532sim.Target
		want error
		sw   uint16
	}{
		{"CC version 2", badCC, ErrBadTag, 0},
		{"CC without read access", noRead, ErrBadTag, 0},
		{"TLV past the data area", overrun, ErrBadTag, 0},
		{"record longer than message", badRecord, ErrBadTag, 0},
		{"phone without the app", &pn532sim.Phone{ID: phoneUID, NoApp: true}, ErrNoApp, 0x6A82},
		{"phone without a ticket", &pn532sim.Phone{ID: phoneUID}, ErrNoTicket, 0x6A88},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forBuses(t, func(t *testing.T, chip *pn532sim.Chip, r *Reader) {
				chip.Place(tc.card)
				_, err := r.ReadOnce(ctx)
				if !errors.Is(err, tc.want) {
					t.Fatalf("err %v, want %v", err, tc.want)
				}
				var ae *APDUError
				if tc.sw != 0 && (!errors.As(err, &ae) || ae.SW != tc.sw) {
					t.Fatalf("status word: %v", err)
				}
			})
		})
	}
}

// Every injected fault during an NTAG ticket read ends in the ticket or in a
// typed error, never a hang or a panic.
func TestFaultsDuringNTAGRead(t *testing.T) {
	text := ticketText
	tag := func() pn532sim.Target {
		return pn532sim.NewNTAG(pn532sim.NTAG215, uid7, pn532sim.NDEFTLV(pn532sim.TextRecord("en", text)))
	}
	// An NTAG213 is read with plain 16-byte READs.
	short := ticketText[:100]
	tag213 := func() pn532sim.Target {
		return pn532sim.NewNTAG(pn532sim.NTAG213, uid7, pn532sim.NDEFTLV(pn532sim.TextRecord("en", short)))
	}
	for _, tc := range []struct {
		name  string
		setup func(c *pn532sim.Chip)
		want  error // nil: the ticket is read
		small bool  // NTAG213
	}{
		{"bad checksum", func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultBadChecksum) }, nil, false},
		{"NACK", func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultNACK) }, nil, false},
		{"no ready byte once", func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultNoReady) }, nil, false},
		{"garbage", func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultGarbage) }, nil, false},
		{"chip silent", func(c *pn532sim.Chip) {
			c.Inject(pn532sim.FaultNoReady, pn532sim.FaultNoReady, pn532sim.FaultNoReady)
		}, pn532.ErrTimeout, false},
		{"error frame", func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultErrorFrame) }, pn532.ErrSyntax, false},
		{"card removed after the CC", func(c *pn532sim.Chip) { c.RemoveAfter(1) }, ErrCardRemoved, false},
		{"card removed after 3 READs", func(c *pn532sim.Chip) { c.RemoveAfter(3) }, ErrCardRemoved, true},
		{"NTAG213 bad checksum", func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultBadChecksum) }, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forBuses(t, func(t *testing.T, chip *pn532sim.Chip, r *Reader) {
				want := ticketText
				if tc.small {
					chip.Place(tag213())
					want = short
				} else {
					chip.Place(tag())
				}
				tc.setup(chip)
				c, err := r.ReadOnce(ctx)
				if tc.want == nil {
					if err != nil || string(c.Payload) != want {
						t.Fatalf("not recovered: %v", err)
					}
					return
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("err %v, want %v", err, tc.want)
				}
			})
		})
	}
}

// switcher swaps the card in the field after a number of polls.
type switcher struct {
	Initiator
	chip  *pn532sim.Chip
	polls int
	after int
	next  pn532sim.Target
}

func (s *switcher) InListPassiveTarget(ctx context.Context) (pn532.Target, error) {
	s.polls++
	if s.polls == s.after {
		s.chip.Remove()
		s.chip.Place(s.next)
	}
	return s.Initiator.InListPassiveTarget(ctx)
}

func TestReadSkipsForeignCardUntilNext(t *testing.T) {
	clk := clock.NewAuto(time.Unix(100, 0))
	chip := pn532sim.New(pn532sim.WithClock(clk))
	chip.Place(&pn532sim.Phone{ID: []byte{0x08, 1, 2, 3}, NoApp: true})
	sw := &switcher{Initiator: newDev(t, chip, "i2c", clk), chip: chip, after: 5,
		next: pn532sim.NewNTAG(pn532sim.NTAG213, uid7, pn532sim.NDEFTLV(pn532sim.TextRecord("en", "AD1NEXT")))}
	r := NewReader(sw, &Opts{Clock: clk, Logger: quiet})
	c, err := r.Read(ctx)
	if err != nil || string(c.Payload) != "AD1NEXT" {
		t.Fatalf("%q %v", c.Payload, err)
	}
	if sw.polls != 5 {
		t.Fatalf("polls %d", sw.polls)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := r.Read(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
}

// A tap is read as soon as the card answers: the Reader does not wait for
// its PollInterval while the field is empty, the chip waits for the card
// (MaxRetries 0xFF). In virtual time, from the card's arrival to the
// credential: nothing with an IRQ line, one status poll interval without.
func TestTapIsReadWithoutWaitingForAPoll(t *testing.T) {
	for _, bus := range []string{"i2c", "i2c-irq", "spi"} {
		t.Run(bus, func(t *testing.T) {
			clk := clock.NewFake(time.Unix(100, 0))
			chip := pn532sim.New(pn532sim.WithClock(clk))
			o := pn532.Opts{Clock: clk}
			if bus == "i2c-irq" {
				o.IRQ = chip.IRQ()
			}
			var d *pn532.Dev
			var err error
			if bus == "spi" {
				d, err = pn532.NewSPI(chip.SPI(), &o)
			} else {
				d, err = pn532.NewI2C(chip.I2C(), &o)
			}
			if err != nil {
				t.Fatal(err)
			}
			r := NewReader(d, &Opts{Clock: clk, Logger: quiet})
			type res struct {
				c   hal.Credential
				err error
			}
			done := make(chan res, 1)
			go func() {
				c, err := r.Read(ctx)
				done <- res{c, err}
			}()
			// The driver's own Init-free start: wait until the chip waits.
			for !chip.Waiting() {
				if clk.Pending() > 0 {
					clk.Advance(time.Millisecond)
				}
				runtime.Gosched()
			}
			if got := chip.MaxRetries(); got[2] != 0xFF {
				t.Fatalf("the reader waits with MaxRetries % X", got)
			}
			// Hours pass with an empty field: no poll is due, nothing returns.
			for i := 0; i < 50; i++ {
				clk.Advance(time.Minute)
			}
			select {
			case r := <-done:
				t.Fatalf("returned without a card: %+v", r)
			default:
			}
			tap := clk.Now()
			chip.Place(pn532sim.NewNTAG(pn532sim.NTAG215, uid7, pn532sim.NDEFTLV(pn532sim.TextRecord("en", ticketText))))
			for {
				select {
				case got := <-done:
					if got.err != nil || string(got.c.Payload) != ticketText {
						t.Fatalf("%q %v", got.c.Payload, got.err)
					}
					limit := pn532.DefaultOpts.WaitPollInterval
					if bus == "i2c-irq" {
						limit = 0
					}
					if waited := got.c.At.Sub(tap); waited > limit {
						t.Fatalf("tap to credential %v of virtual time, want at most %v", waited, limit)
					}
					return
				default:
				}
				if clk.Pending() > 0 {
					clk.Advance(time.Millisecond)
				}
				runtime.Gosched()
			}
		})
	}
}
