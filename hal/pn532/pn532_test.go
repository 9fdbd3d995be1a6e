package pn532

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"runtime"
	"testing"
	"time"

	"admit/clock"
	"admit/hal/pn532/pn532sim"
)

type rig struct {
	chip *pn532sim.Chip
	dev  *Dev
	clk  *clock.Fake
}

// buses lists every way the driver reaches the chip.
var buses = []struct {
	name string
	mk   func(t *testing.T, c *pn532sim.Chip, o Opts) *Dev
}{
	{"i2c", func(t *testing.T, c *pn532sim.Chip, o Opts) *Dev {
		d, err := NewI2C(c.I2C(), &o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}},
	{"i2c-irq", func(t *testing.T, c *pn532sim.Chip, o Opts) *Dev {
		o.IRQ = c.IRQ()
		d, err := NewI2C(c.I2C(), &o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}},
	{"spi-lsb", func(t *testing.T, c *pn532sim.Chip, o Opts) *Dev {
		d, err := NewSPI(c.SPI(), &o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}},
	{"spi-soft-lsb", func(t *testing.T, c *pn532sim.Chip, o Opts) *Dev {
		o.SoftLSBFirst = true
		d, err := NewSPI(c.SPI(), &o)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}},
}

func forEachBus(t *testing.T, o Opts, f func(t *testing.T, r rig)) {
	for _, b := range buses {
		t.Run(b.name, func(t *testing.T) {
			clk := clock.NewAuto(time.Unix(0, 0))
			o := o
			o.Clock = clk
			c := pn532sim.New(pn532sim.WithClock(clk))
			c.SetBusyPolls(2) // exercise the ready polling
			f(t, rig{chip: c, dev: b.mk(t, c, o), clk: clk})
		})
	}
}

var ctx = context.Background()

var ntagUID = []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}

func TestInitAndFirmware(t *testing.T) {
	forEachBus(t, Opts{}, func(t *testing.T, r rig) {
		fw, err := r.dev.Init(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if fw != (Firmware{IC: 0x32, Ver: 1, Rev: 6, Support: 7}) || fw.String() != "PN532 v1.6" {
			t.Fatalf("firmware %+v %s", fw, fw)
		}
		want := [][]byte{{0x14, 0x01, 0x00, 0x01}, {0x02}}
		if got := r.chip.Commands(); !reflect.DeepEqual(got, want) {
			t.Fatalf("commands % X, want % X", got, want)
		}
		if err := r.dev.SetMaxRetries(ctx, 0xFF, 0x01, 0x02); err != nil {
			t.Fatal(err)
		}
		if got := r.chip.MaxRetries(); got != [3]byte{0xFF, 0x01, 0x02} {
			t.Fatalf("MaxRetries % X", got)
		}
	})
}

func TestInListPassiveTarget(t *testing.T) {
	forEachBus(t, Opts{}, func(t *testing.T, r rig) {
		// Three tries (MxRtyPassiveActivation 2), each an activation
		// attempt of the emulator's virtual time, then NbTg 0.
		if err := r.dev.SetMaxRetries(ctx, 0xFF, 0x01, 0x02); err != nil {
			t.Fatal(err)
		}
		t0 := r.clk.Now()
		if _, err := r.dev.InListPassiveTarget(ctx); !errors.Is(err, ErrNoCard) {
			t.Fatalf("empty field: %v", err)
		}
		if waited := r.clk.Now().Sub(t0); waited < 3*pn532sim.DefaultActivationTime {
			t.Fatalf("empty field answered after %v of virtual time, before three tries", waited)
		}
		r.chip.Place(pn532sim.NewNTAG(pn532sim.NTAG213, ntagUID, nil))
		tg, err := r.dev.InListPassiveTarget(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if tg.Tg != 1 || tg.ATQA != 0x0044 || tg.SAK != 0 || !bytes.Equal(tg.UID, ntagUID) || tg.ATS != nil || !tg.Type2() {
			t.Fatalf("ntag %v", tg)
		}
		r.chip.Remove()
		r.chip.Place(&pn532sim.Phone{ID: []byte{0x08, 1, 2, 3}})
		tg, err = r.dev.InListPassiveTarget(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !tg.ISODEP() || !bytes.Equal(tg.ATS, []byte{0x05, 0x78, 0x80, 0x70, 0x02}) || len(tg.UID) != 4 {
			t.Fatalf("phone %v ats % X", tg, tg.ATS)
		}
		r.chip.Remove()
		r.chip.Place(&pn532sim.Classic{ID: []byte{0xDE, 0xAD, 0xBE, 0xEF}})
		tg, err = r.dev.InListPassiveTarget(ctx)
		if err != nil || tg.SAK != 0x08 || tg.ATQA != 0x0004 {
			t.Fatalf("classic %v %v", tg, err)
		}
		if err := r.dev.InRelease(ctx, tg.Tg); err != nil {
			t.Fatal(err)
		}
		// Released: the chip refuses exchanges with it.
		var buf [16]byte
		_, err = r.dev.InDataExchange(ctx, 1, []byte{0x30, 0}, buf[:])
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 0x27 {
			t.Fatalf("exchange after release: %v", err)
		}
	})
}

// A card that left the field is still the chip's target: exchanges with it
// time out (0x01, after the RF timeout) until InRelease, after which the
// target is unknown (0x27). UM0701-02 §7.3.8, §7.3.11.
func TestExchangeAfterRemoval(t *testing.T) {
	forEachBus(t, Opts{}, func(t *testing.T, r rig) {
		if err := r.dev.SetMaxRetries(ctx, 0xFF, 0x01, 0x00); err != nil {
			t.Fatal(err)
		}
		r.chip.Place(pn532sim.NewNTAG(pn532sim.NTAG213, ntagUID, nil))
		if _, err := r.dev.InListPassiveTarget(ctx); err != nil {
			t.Fatal(err)
		}
		r.chip.Remove()
		var buf [16]byte
		for i := 0; i < 2; i++ {
			t0 := r.clk.Now()
			_, err := r.dev.InDataExchange(ctx, 1, []byte{0x30, 0x04}, buf[:])
			var se *StatusError
			if !errors.As(err, &se) || se.Code != 0x01 || !errors.Is(err, ErrTargetGone) {
				t.Fatalf("exchange %d with a removed card: %v", i, err)
			}
			if waited := r.clk.Now().Sub(t0); waited < 51*time.Millisecond {
				t.Fatalf("timeout after %v, before the 51.2 ms RetryTimeout", waited)
			}
		}
		st, err := r.dev.GetGeneralStatus(ctx)
		if err != nil || st.Err != 0x01 || len(st.Targets) != 1 || st.Targets[0].Tg != 1 {
			t.Fatalf("general status %+v %v", st, err)
		}
		if err := r.dev.InRelease(ctx, 1); err != nil {
			t.Fatal(err)
		}
		_, err = r.dev.InDataExchange(ctx, 1, []byte{0x30, 0x04}, buf[:])
		var se *StatusError
		if !errors.As(err, &se) || se.Code != 0x27 {
			t.Fatalf("exchange after release: %v", err)
		}
	})
}

// The chip's default MxRtyPassiveActivation is 0xFF: without RFConfiguration
// InListPassiveTarget waits for a card, and the driver with it, bounded by
// its context only; cancelling aborts the command.
func TestInListPassiveTargetWaitsForACard(t *testing.T) {
	for _, b := range buses {
		t.Run(b.name, func(t *testing.T) {
			clk := clock.NewFake(time.Unix(0, 0))
			chip := pn532sim.New(pn532sim.WithClock(clk))
			dev := b.mk(t, chip, Opts{Clock: clk})
			if got := chip.MaxRetries(); got != [3]byte{0xFF, 0x01, 0xFF} {
				t.Fatalf("chip after reset: MaxRetries % X", got)
			}
			type res struct {
				tg  Target
				err error
			}
			done := make(chan res, 1)
			go func() {
				tg, err := dev.InListPassiveTarget(ctx)
				done <- res{tg, err}
			}()
			// advance moves time once the driver (or the chip's IRQ line)
			// waits on a timer.
			advance := func() {
				for clk.Pending() == 0 {
					runtime.Gosched()
				}
				clk.Advance(5 * time.Millisecond)
			}
			for i := 0; i < 200 && !chip.Waiting(); i++ {
				advance()
			}
			if !chip.Waiting() {
				t.Fatal("the chip is not waiting for a card")
			}
			// Well past the driver's one-second frame timeout.
			for i := 0; i < 300; i++ {
				select {
				case r := <-done:
					t.Fatalf("returned without a card: %+v", r)
				default:
				}
				advance()
			}
			chip.Place(pn532sim.NewNTAG(pn532sim.NTAG213, ntagUID, nil))
			for {
				select {
				case r := <-done:
					if r.err != nil || !bytes.Equal(r.tg.UID, ntagUID) {
						t.Fatalf("%+v %v", r.tg, r.err)
					}
					return
				default:
				}
				if clk.Pending() > 0 {
					clk.Advance(5 * time.Millisecond)
				}
				runtime.Gosched()
			}
		})
	}
}

func TestCancelAbortsTheWait(t *testing.T) {
	forEachBus(t, Opts{}, func(t *testing.T, r rig) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			_, err := r.dev.InListPassiveTarget(cctx)
			done <- err
		}()
		for !r.chip.Waiting() {
			runtime.Gosched()
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
		if r.chip.Waiting() {
			t.Fatal("the command still runs: no ACK sent to abort it")
		}
		if _, err := r.dev.GetFirmwareVersion(ctx); err != nil {
			t.Fatalf("after abort: %v", err)
		}
	})
}

func TestInDataExchangeNTAGRead(t *testing.T) {
	forEachBus(t, Opts{}, func(t *testing.T, r rig) {
		tlv := pn532sim.NDEFTLV(pn532sim.TextRecord("en", "hello"))
		r.chip.Place(pn532sim.NewNTAG(pn532sim.NTAG215, ntagUID, tlv))
		if _, err := r.dev.InListPassiveTarget(ctx); err != nil {
			t.Fatal(err)
		}
		var page [16]byte
		n, err := r.dev.InDataExchange(ctx, 1, []byte{0x30, 0x03}, page[:])
		if err != nil || n != 16 {
			t.Fatal(n, err)
		}
		if !bytes.Equal(page[:4], []byte{0xE1, 0x10, 0x3E, 0x00}) || !bytes.Equal(page[4:8], tlv[:4]) {
			t.Fatalf("page 3: % X", page)
		}
		// The exact frame of the READ went out.
		cmds := r.chip.Commands()
		if last := cmds[len(cmds)-1]; !bytes.Equal(last, []byte{0x40, 0x01, 0x30, 0x03}) {
			t.Fatalf("last command % X", last)
		}
		// A reply larger than the buffer is a typed error.
		if _, err := r.dev.InDataExchange(ctx, 1, []byte{0x30, 0x03}, page[:8]); !errors.Is(err, ErrShortBuffer) {
			t.Fatalf("short buffer: %v", err)
		}
	})
}

func TestInDataExchangeChaining(t *testing.T) {
	forEachBus(t, Opts{}, func(t *testing.T, r rig) {
		ticket := bytes.Repeat([]byte("0123456789"), 70) // 700 bytes: three MI parts
		r.chip.Place(&pn532sim.Phone{ID: []byte{0x08, 1, 2, 3}, Ticket: ticket, ExtendedLength: true})
		if _, err := r.dev.InListPassiveTarget(ctx); err != nil {
			t.Fatal(err)
		}
		sel := append([]byte{0x00, 0xA4, 0x04, 0x00, byte(len(pn532sim.AdmitAID))}, pn532sim.AdmitAID...)
		buf := make([]byte, 1024)
		n, err := r.dev.InDataExchange(ctx, 1, append(sel, 0x00), buf)
		if err != nil || !bytes.Equal(buf[:n], []byte{0x90, 0x00}) {
			t.Fatalf("select: % X %v", buf[:n], err)
		}
		n, err = r.dev.InDataExchange(ctx, 1, []byte{0x80, 0xCA, 0x00, 0x00, 0x00}, buf)
		if err != nil {
			t.Fatal(err)
		}
		if want := append(append([]byte(nil), ticket...), 0x90, 0x00); !bytes.Equal(buf[:n], want) {
			t.Fatalf("chained answer: %d bytes", n)
		}
		// Host-side chaining: a 300-byte APDU goes out in two frames, MI set
		// on the first.
		before := len(r.chip.Commands())
		long := append([]byte{0x00, 0xA4, 0x04, 0x00, 0xFF}, bytes.Repeat([]byte{0xAA}, 295)...)
		n, err = r.dev.InDataExchange(ctx, 1, long, buf)
		if err != nil || !bytes.Equal(buf[:n], []byte{0x6A, 0x82}) {
			t.Fatalf("long select: % X %v", buf[:n], err)
		}
		cmds := r.chip.Commands()[before:]
		if len(cmds) != 2 || cmds[0][1] != 0x41 || cmds[1][1] != 0x01 || len(cmds[0]) != 2+262 {
			t.Fatalf("chained frames: %d, Tg % X", len(cmds), []byte{cmds[0][1], cmds[1][1]})
		}
		// Too small a buffer for a chained answer.
		if _, err := r.dev.InDataExchange(ctx, 1, append(sel, 0x00), buf); err != nil {
			t.Fatal(err)
		}
		if _, err := r.dev.InDataExchange(ctx, 1, []byte{0x80, 0xCA, 0x00, 0x00, 0x00}, buf[:300]); !errors.Is(err, ErrShortBuffer) {
			t.Fatalf("short buffer: %v", err)
		}
	})
}

func TestFaults(t *testing.T) {
	read := func(r rig) error {
		var page [16]byte
		_, err := r.dev.InDataExchange(ctx, 1, []byte{0x30, 0x04}, page[:])
		return err
	}
	for _, tc := range []struct {
		name     string
		opts     Opts
		setup    func(c *pn532sim.Chip)
		wantErr  error // nil: recovered
		commands int   // command frames the chip processed
	}{
		{"bad checksum recovered by NACK", Opts{}, func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultBadChecksum) }, nil, 1},
		{"garbage recovered by NACK", Opts{}, func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultGarbage) }, nil, 1},
		{"NACK from chip: command repeated", Opts{}, func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultNACK) }, nil, 2},
		{"no ready byte: timeout, then retry", Opts{}, func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultNoReady) }, nil, 2},
		{"no ready byte, no retries", Opts{Retries: -1}, func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultNoReady) }, ErrTimeout, 1},
		{"no ready byte, retries exhausted", Opts{}, func(c *pn532sim.Chip) {
			c.Inject(pn532sim.FaultNoReady, pn532sim.FaultNoReady, pn532sim.FaultNoReady)
		}, ErrTimeout, 3},
		{"NACK every time", Opts{}, func(c *pn532sim.Chip) {
			c.Inject(pn532sim.FaultNACK, pn532sim.FaultNACK, pn532sim.FaultNACK)
		}, errNACKed, 3},
		{"error frame", Opts{}, func(c *pn532sim.Chip) { c.Inject(pn532sim.FaultErrorFrame) }, ErrSyntax, 1},
		{"card removed mid-read", Opts{}, func(c *pn532sim.Chip) { c.RemoveAfter(0) }, ErrTargetGone, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBus(t, tc.opts, func(t *testing.T, r rig) {
				r.chip.Place(pn532sim.NewNTAG(pn532sim.NTAG213, ntagUID, nil))
				if _, err := r.dev.InListPassiveTarget(ctx); err != nil {
					t.Fatal(err)
				}
				before := len(r.chip.Commands())
				tc.setup(r.chip)
				t0 := r.clk.Now()
				err := read(r)
				if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
					t.Fatalf("err %v, want %v", err, tc.wantErr)
				}
				if got := len(r.chip.Commands()) - before; got != tc.commands {
					t.Fatalf("chip saw %d commands, want %d", got, tc.commands)
				}
				if waited := r.clk.Now().Sub(t0); waited > 4*DefaultOpts.Timeout {
					t.Fatalf("waited %v of virtual time", waited)
				}
				// The chip is usable afterwards.
				if _, err := r.dev.GetFirmwareVersion(ctx); err != nil {
					t.Fatalf("after fault: %v", err)
				}
			})
		})
	}
}

func TestContextCancelStopsWaiting(t *testing.T) {
	forEachBus(t, Opts{Timeout: time.Hour}, func(t *testing.T, r rig) {
		r.chip.Inject(pn532sim.FaultNoReady)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := r.dev.GetFirmwareVersion(cctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v", err)
		}
	})
}

func TestOptsNotMutated(t *testing.T) {
	saved := DefaultOpts
	o := Opts{Retries: 5}
	c := pn532sim.New()
	d, err := NewI2C(c.I2C(), &o)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o, Opts{Retries: 5}) || !reflect.DeepEqual(saved, DefaultOpts) {
		t.Fatalf("opts mutated: %+v", o)
	}
	if d.opts.Timeout != DefaultOpts.Timeout || d.opts.Retries != 5 {
		t.Fatalf("defaults not applied: %+v", d.opts)
	}
	if d.String() != "pn532(i2c pn532sim-i2c 0x24)" {
		t.Fatalf("String %q", d.String())
	}
	if err := d.Halt(); err != nil {
		t.Fatal(err)
	}
	if _, err := NewSPI(c.SPI(), &Opts{SPIFreq: 10_000_000_000_000}); err == nil {
		t.Fatal("10 MHz accepted by a PN532")
	}
}

func TestStatusError(t *testing.T) {
	e := &StatusError{Code: 0x2B}
	if !errors.Is(e, ErrTargetGone) || e.Error() != "pn532: status 0x2b: card disappeared" {
		t.Fatal(e)
	}
	if errors.Is(&StatusError{Code: 0x14}, ErrTargetGone) {
		t.Fatal("auth error is not a gone target")
	}
}

func TestMoreCommands(t *testing.T) {
	forEachBus(t, Opts{}, func(t *testing.T, r rig) {
		got, err := r.dev.Diagnose(ctx, 0x00, []byte("admit")...)
		if err != nil || string(got) != "admit" {
			t.Fatalf("communication test %q %v", got, err)
		}
		// InAutoPoll: nothing in two rounds of 150 ms, then a card.
		t0 := r.clk.Now()
		if _, _, err := r.dev.InAutoPoll(ctx, 2, 1, AutoPollMIFARE); !errors.Is(err, ErrNoCard) {
			t.Fatalf("empty field: %v", err)
		}
		if waited := r.clk.Now().Sub(t0); waited < 300*time.Millisecond {
			t.Fatalf("auto poll gave up after %v", waited)
		}
		r.chip.Place(&pn532sim.Phone{ID: []byte{0x08, 1, 2, 3}})
		tg, ty, err := r.dev.InAutoPoll(ctx, AutoPollForever, 1, AutoPollMIFARE, AutoPollISO14443A4)
		if err != nil || ty != AutoPollISO14443A4 || !tg.ISODEP() || len(tg.ATS) == 0 {
			t.Fatalf("auto poll %v %#x %v", tg, ty, err)
		}
		st, err := r.dev.GetGeneralStatus(ctx)
		if err != nil || len(st.Targets) != 1 || st.Targets[0].Tg != 1 || st.Err != 0 {
			t.Fatalf("status %+v %v", st, err)
		}
		// Raw ISO-DEP I-block through InCommunicateThru: SELECT by AID.
		sel := append([]byte{0x02, 0x00, 0xA4, 0x04, 0x00, byte(len(pn532sim.AdmitAID))}, pn532sim.AdmitAID...)
		var buf [16]byte
		n, err := r.dev.InCommunicateThru(ctx, sel, buf[:])
		if err != nil || !bytes.Equal(buf[:n], []byte{0x02, 0x90, 0x00}) {
			t.Fatalf("communicate thru % X %v", buf[:n], err)
		}
		if err := r.dev.InDeselect(ctx, 1); err != nil {
			t.Fatal(err)
		}
		var se *StatusError
		if _, err := r.dev.InDataExchange(ctx, 1, sel[1:], buf[:]); !errors.As(err, &se) || se.Code != 0x27 {
			t.Fatalf("exchange with a deselected target: %v", err)
		}
		if err := r.dev.InSelect(ctx, 1); err != nil {
			t.Fatal(err)
		}
		if n, err := r.dev.InDataExchange(ctx, 1, sel[1:], buf[:]); err != nil || !bytes.Equal(buf[:n], []byte{0x90, 0x00}) {
			t.Fatalf("after InSelect % X %v", buf[:n], err)
		}
		// PowerDown; Wake's lost transfer wakes the chip.
		if err := r.dev.PowerDown(ctx, WakeI2C|WakeSPI); err != nil {
			t.Fatal(err)
		}
		if !r.chip.Asleep() {
			t.Fatal("not asleep")
		}
		if err := r.dev.Wake(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := r.dev.GetFirmwareVersion(ctx); err != nil {
			t.Fatalf("after wake-up: %v", err)
		}
	})
}
