// Package rig opens every device a board file describes — NFC readers,
// USB barcode scanners, relay, indicator LEDs, buzzer, passage sensor and
// staff button — and hands them to the agent as hal interfaces. On a board
// the buses and pins come from periph's host drivers (hwcheck.HostEnv); in
// tests and the demo they come from the PN532 emulator and gpiotest pins.
package rig

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"

	"admit/hal"
	"admit/hal/board"
	"admit/hal/display"
	halgpio "admit/hal/gpio"
	"admit/hal/hwcheck"
	"admit/hal/kbdscan"
	"admit/hal/mfrc522"
	"admit/hal/nfc"
	"admit/hal/pn532"
)

// Rig is a gate's opened hardware. Absent devices are nil.
type Rig struct {
	Readers   []hal.CredentialReader
	Relay     *halgpio.Relay
	Pulse     time.Duration // relay pulse from the board file; 0 = agent default
	Indicator *halgpio.Indicator
	Buzzer    *halgpio.Buzzer
	Passage   *halgpio.Passage
	Button    *halgpio.Button
	Display   hal.Display // an SSD1306 (*display.Display) or an HD44780 (*display.LCD)

	closers []io.Closer
}

// Open opens the devices of f through env. On error, whatever was opened is
// closed again.
func Open(ctx context.Context, f *board.File, env hwcheck.Env, log *slog.Logger) (*Rig, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	r := &Rig{}
	if err := r.open(ctx, f, env, log); err != nil {
		r.Close()
		return nil, fmt.Errorf("board %s: %w", f.Name, err)
	}
	return r, nil
}

func (r *Rig) open(ctx context.Context, f *board.File, env hwcheck.Env, log *slog.Logger) error {
	pin := func(who, name string) (gpio.PinIO, error) {
		if name == "" {
			return nil, nil
		}
		p := env.Pin(name)
		if p == nil {
			return nil, fmt.Errorf("%s: %s does not exist on this board", who, name)
		}
		return p, nil
	}
	for _, n := range f.NFC {
		rd, err := r.openNFC(ctx, n, env, pin, log)
		if err != nil {
			return fmt.Errorf("%s: %w", n.Name, err)
		}
		r.Readers = append(r.Readers, rd)
	}
	for _, s := range f.Scanners {
		opts := &kbdscan.Opts{Name: s.Name}
		switch s.Terminator {
		case "tab":
			opts.Terminators = []uint16{15} // KEY_TAB, linux/input-event-codes.h
		case "none":
			opts.Terminators = []uint16{}
		}
		sc, err := kbdscan.Open(s.Device, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		r.closers = append(r.closers, sc)
		r.Readers = append(r.Readers, sc)
	}
	if d := f.Display; d != nil {
		bus, err := env.OpenI2C(d.I2C)
		if err != nil {
			return fmt.Errorf("display: %w", err)
		}
		r.closers = append(r.closers, bus)
		var disp interface {
			hal.Display
			Halt() error
		}
		switch d.Chip {
		case "ssd1306":
			disp, err = display.NewSSD1306(bus, uint16(d.Addr), 0)
		case "hd44780":
			cols, rows := d.Size()
			disp, err = display.NewHD44780(bus, uint16(d.Addr), cols, rows)
		default:
			err = fmt.Errorf("chip %q not supported", d.Chip)
		}
		if err != nil {
			return fmt.Errorf("display: %w", err)
		}
		r.Display = disp
		r.closers = append(r.closers, haltCloser{disp})
	}
	if f.Relay != nil {
		p, err := pin("relay", f.Relay.Pin)
		if err != nil {
			return err
		}
		if r.Relay, err = halgpio.NewRelay(p, halgpio.RelayOpts{ActiveLow: f.Relay.ActiveLow, Clock: env.Clock}); err != nil {
			return err
		}
		r.Pulse = time.Duration(f.Relay.Pulse)
	}
	if f.Indicator != nil {
		g, err := pin("indicator green", f.Indicator.Green)
		if err != nil {
			return err
		}
		red, err := pin("indicator red", f.Indicator.Red)
		if err != nil {
			return err
		}
		amber, err := pin("indicator amber", f.Indicator.Amber)
		if err != nil {
			return err
		}
		if r.Indicator, err = halgpio.NewIndicator3(outOrNil(g), outOrNil(red), outOrNil(amber)); err != nil {
			return err
		}
	}
	if f.Buzzer != nil {
		p, err := pin("buzzer", f.Buzzer.Pin)
		if err != nil {
			return err
		}
		if r.Buzzer, err = halgpio.NewBuzzer(p, env.Clock); err != nil {
			return err
		}
	}
	if f.Passage != nil {
		p, err := pin("passage", f.Passage.Pin)
		if err != nil {
			return err
		}
		if r.Passage, err = halgpio.NewPassage(p, inputOpts(f.Passage, env)); err != nil {
			return err
		}
	}
	if f.Button != nil {
		p, err := pin("button", f.Button.Pin)
		if err != nil {
			return err
		}
		if r.Button, err = halgpio.NewButton(p, inputOpts(f.Button, env)); err != nil {
			return err
		}
	}
	return nil
}

// outOrNil keeps a missing pin a nil interface, not a typed nil.
func outOrNil(p gpio.PinIO) gpio.PinOut {
	if p == nil {
		return nil
	}
	return p
}

func inputOpts(in *board.Input, env hwcheck.Env) halgpio.InputOpts {
	return halgpio.InputOpts{ActiveLow: in.ActiveLow, Debounce: time.Duration(in.Debounce), Clock: env.Clock}
}

func (r *Rig) openNFC(ctx context.Context, n board.NFC, env hwcheck.Env, pin func(who, name string) (gpio.PinIO, error), log *slog.Logger) (hal.CredentialReader, error) {
	if n.Chip == "mfrc522" {
		port, err := env.OpenSPI(n.SPI)
		if err != nil {
			return nil, err
		}
		r.closers = append(r.closers, port)
		reset, err := pin("reset", n.Reset)
		if err != nil {
			return nil, err
		}
		irq, err := pin("irq", n.IRQ)
		if err != nil {
			return nil, err
		}
		rd, _, err := mfrc522.Open(port, outOrNil(reset), irq, &mfrc522.Opts{Name: n.Name, Logger: log})
		return rd, err
	}
	dev, closers, err := openPN532(ctx, n, env, pin)
	r.closers = append(r.closers, closers...)
	if err != nil {
		return nil, err
	}
	// The reader sets MaxRetries itself: 0xFF (the chip waits for a card)
	// while the field is empty, a few tries while a card rests on it.
	return nfc.NewReader(dev, &nfc.Opts{Name: n.Name, Clock: env.Clock, Logger: log}), nil
}

// OpenPN532 opens the PN532 of board entry n through env and initialises
// it (wake-up, SAM normal mode, firmware version). close releases its bus.
func OpenPN532(ctx context.Context, n board.NFC, env hwcheck.Env) (dev *pn532.Dev, close func() error, err error) {
	if n.Chip != "pn532" {
		return nil, nil, fmt.Errorf("%s: chip %q is not a pn532", n.Name, n.Chip)
	}
	pin := func(who, name string) (gpio.PinIO, error) {
		if p := env.Pin(name); p != nil {
			return p, nil
		}
		return nil, fmt.Errorf("%s: %s does not exist on this board", who, name)
	}
	dev, closers, err := openPN532(ctx, n, env, pin)
	close = func() error {
		var errs []error
		for i := len(closers) - 1; i >= 0; i-- {
			errs = append(errs, closers[i].Close())
		}
		return errors.Join(errs...)
	}
	if err != nil {
		_ = close()
		return nil, nil, fmt.Errorf("%s: %w", n.Name, err)
	}
	return dev, close, nil
}

func openPN532(ctx context.Context, n board.NFC, env hwcheck.Env, pin func(who, name string) (gpio.PinIO, error)) (*pn532.Dev, []io.Closer, error) {
	var closers []io.Closer
	opts := pn532.DefaultOpts
	opts.Clock = env.Clock
	opts.SoftLSBFirst = n.SoftLSBFirst
	if n.Addr != 0 {
		opts.Addr = uint16(n.Addr)
	}
	if n.SPIHz > 0 {
		opts.SPIFreq = physic.Frequency(n.SPIHz) * physic.Hertz
	}
	if n.IRQ != "" {
		p, err := pin("irq", n.IRQ)
		if err != nil {
			return nil, closers, err
		}
		opts.IRQ = p
	}
	var dev *pn532.Dev
	switch n.Bus {
	case "i2c":
		bus, err := env.OpenI2C(n.I2C)
		if err != nil {
			return nil, closers, err
		}
		closers = append(closers, bus)
		if dev, err = pn532.NewI2C(bus, &opts); err != nil {
			return nil, closers, err
		}
	case "spi":
		port, err := env.OpenSPI(n.SPI)
		if err != nil {
			return nil, closers, err
		}
		closers = append(closers, port)
		if dev, err = pn532.NewSPI(port, &opts); err != nil {
			return nil, closers, err
		}
	default:
		return nil, closers, fmt.Errorf("unknown bus %q", n.Bus)
	}
	closers = append(closers, haltCloser{dev})
	if _, err := dev.Init(ctx); err != nil {
		return nil, closers, err
	}
	return dev, closers, nil
}

type haltCloser struct{ d interface{ Halt() error } }

func (h haltCloser) Close() error { return h.d.Halt() }

// Close releases the relay and closes buses and devices, newest first.
func (r *Rig) Close() error {
	var errs []error
	if r.Relay != nil {
		errs = append(errs, r.Relay.Halt())
	}
	for i := len(r.closers) - 1; i >= 0; i-- {
		errs = append(errs, r.closers[i].Close())
	}
	r.closers = nil
	return errors.Join(errs...)
}
