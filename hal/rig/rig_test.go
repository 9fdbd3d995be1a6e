package rig

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2ctest"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"admit/clock"
	"admit/hal"
	"admit/hal/board"
	"admit/hal/display"
	"admit/hal/hwcheck"
	"admit/hal/pn532/pn532sim"
)

type i2cCloser struct{ *pn532sim.I2CBus }

func (i2cCloser) Close() error { return nil }

type spiCloser struct{ *pn532sim.SPIPort }

func (spiCloser) Close() error                      { return nil }
func (spiCloser) LimitSpeed(physic.Frequency) error { return nil }

// fakeEnv is a board whose PN532 sits on I²C bus "1" (turnstile) or SPI
// port "SPI0.0" (handheld), and whose pins are gpiotest pins.
func fakeEnv(chip *pn532sim.Chip, pins map[string]*gpiotest.Pin) hwcheck.Env {
	return hwcheck.Env{
		OpenI2C: func(name string) (i2c.BusCloser, error) {
			if name != "1" {
				return nil, errors.New("no such bus")
			}
			return i2cCloser{chip.I2C()}, nil
		},
		OpenSPI: func(name string) (spi.PortCloser, error) {
			if name != "SPI0.0" {
				return nil, errors.New("no such port")
			}
			return spiCloser{chip.SPI()}, nil
		},
		Pin: func(name string) gpio.PinIO {
			if name == "GPIO4" || name == "GPIO25" { // the boards' PN532 IRQ
				return chip.IRQ().(gpio.PinIO)
			}
			if p, ok := pins[name]; ok {
				return p
			}
			if !strings.HasPrefix(name, "GPIO") {
				return nil
			}
			p := &gpiotest.Pin{N: name, EdgesChan: make(chan gpio.Level, 4)}
			pins[name] = p
			return p
		},
		Clock: clock.Real{},
	}
}

func TestOpenBoardFilesAndReadATicket(t *testing.T) {
	for _, file := range []string{"../../build/boards/pi4-turnstile.json", "../../build/boards/handheld-spi.json", "../../build/boards/kiosk-lcd.json"} {
		t.Run(file, func(t *testing.T) {
			f, err := board.Load(file)
			if err != nil {
				t.Fatal(err)
			}
			f.Scanners = nil // no evdev device on a test machine
			f.Display = nil  // its I²C bus is the emulated PN532's here
			chip := pn532sim.New()
			const code = "AD1:TICKET-FROM-NTAG"
			chip.Place(pn532sim.NewNTAG(pn532sim.NTAG213, []byte{4, 1, 2, 3, 4, 5, 6}, pn532sim.NDEFTLV(pn532sim.TextRecord("en", code))))
			pins := map[string]*gpiotest.Pin{}
			ctx := context.Background()
			r, err := Open(ctx, f, fakeEnv(chip, pins), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if len(r.Readers) != len(f.NFC) {
				t.Fatalf("%d readers, want %d", len(r.Readers), len(f.NFC))
			}
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			cred, err := r.Readers[0].Read(rctx)
			if err != nil {
				t.Fatal(err)
			}
			if string(cred.Payload) != code || cred.Assurance != hal.AssuranceHigh {
				t.Fatalf("read %+v", cred)
			}
			if f.Relay != nil {
				if err := r.Relay.Pulse(ctx, time.Hour); err != nil {
					t.Fatal(err)
				}
				want := gpio.High
				if f.Relay.ActiveLow {
					want = gpio.Low
				}
				if got := pins[f.Relay.Pin].Read(); got != want {
					t.Fatalf("relay pin %s = %v during a pulse, want %v", f.Relay.Pin, got, want)
				}
			}
		})
	}
}

func TestOpenMissingPinSaysWhich(t *testing.T) {
	f := &board.File{Name: "t", Model: "generic", Relay: &board.Relay{Pin: "GPIO17"}}
	env := fakeEnv(pn532sim.New(), map[string]*gpiotest.Pin{})
	env.Pin = func(string) gpio.PinIO { return nil }
	_, err := Open(context.Background(), f, env, nil)
	if err == nil || !strings.Contains(err.Error(), "relay: GPIO17 does not exist") {
		t.Fatalf("err = %v", err)
	}
}

// A board file naming an HD44780 on a PCF8574 backpack gets it opened as
// the display (through periph's drivers), no warning.
func TestOpenHD44780Display(t *testing.T) {
	f, err := board.Load("../../build/boards/kiosk-lcd.json")
	if err != nil {
		t.Fatal(err)
	}
	f.NFC, f.Relay, f.Indicator = nil, nil, nil
	rec := &i2ctest.Record{}
	env := hwcheck.Env{
		OpenI2C: func(name string) (i2c.BusCloser, error) { return recCloser{rec}, nil },
		Pin:     func(string) gpio.PinIO { return nil },
		Clock:   clock.Real{},
	}
	var logs strings.Builder
	r, err := Open(context.Background(), f, env, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	lcd, ok := r.Display.(*display.LCD)
	if !ok {
		t.Fatalf("display %T", r.Display)
	}
	if err := lcd.Show("Welcome"); err != nil {
		t.Fatal(err)
	}
	if logs.Len() != 0 {
		t.Fatalf("logged: %s", logs.String())
	}
	if len(rec.Ops) == 0 || rec.Ops[0].Addr != 0x27 {
		t.Fatalf("no writes to the backpack at 0x27: %d ops", len(rec.Ops))
	}
}

type recCloser struct{ *i2ctest.Record }

func (recCloser) Close() error { return nil }
