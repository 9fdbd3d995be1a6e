// Package hwcheck probes the devices of a board file and prints a table of
// what answered: the PN532's firmware version, that each pin exists (output
// pins are not driven: a check must not open a turnstile), the display's
// I²C address, the scanners' input devices. admit-agent hwcheck runs it.
package hwcheck

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/i2c/i2creg"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
	"periph.io/x/conn/v3/spi/spireg"
	"periph.io/x/host/v3"

	"admit/clock"
	"admit/hal/board"
	"admit/hal/pn532"
)

// Env is where the probes find buses and pins; HostEnv is periph's host.
type Env struct {
	OpenI2C func(name string) (i2c.BusCloser, error)
	OpenSPI func(name string) (spi.PortCloser, error)
	Pin     func(name string) gpio.PinIO // nil when the pin does not exist
	Stat    func(path string) error
	Clock   clock.Clock
	Timeout time.Duration // per probe (1s)
}

// HostEnv returns the Env of periph's host drivers (call host.Init first).
func HostEnv() Env {
	return Env{
		OpenI2C: i2creg.Open,
		OpenSPI: spireg.Open,
		Pin: func(name string) gpio.PinIO {
			if p := gpioreg.ByName(name); p != nil {
				return p
			}
			return nil
		},
		Stat: func(path string) error {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			return f.Close()
		},
		Clock: clock.Real{},
	}
}

// ErrFailed: at least one device did not answer.
var ErrFailed = errors.New("hwcheck: devices did not answer")

// Run loads boardFile, initialises periph's host drivers, probes every
// device and prints the table to w. It returns an error wrapping ErrFailed
// when a device failed its probe.
func Run(ctx context.Context, boardFile string, w io.Writer) error {
	f, err := board.Load(boardFile)
	if err != nil {
		return err
	}
	if _, err := host.Init(); err != nil {
		return fmt.Errorf("hwcheck: periph host drivers: %w", err)
	}
	return Check(ctx, f, w, HostEnv())
}

type row struct {
	device, where, result, detail string
}

// Check probes the devices of f through env and prints the table to w.
func Check(ctx context.Context, f *board.File, w io.Writer, env Env) error {
	if env.Clock == nil {
		env.Clock = clock.Real{}
	}
	if env.Timeout == 0 {
		env.Timeout = time.Second
	}
	var rows []row
	add := func(device, where string, err error, detail string) {
		r := row{device: device, where: where, result: "ok", detail: detail}
		if err != nil {
			r.result, r.detail = "FAIL", err.Error()
		}
		rows = append(rows, r)
	}
	for _, n := range f.NFC {
		where, detail, err := probeNFC(ctx, n, env)
		add(n.Name, where, err, detail)
	}
	pin := func(device, name string) {
		if name == "" {
			return
		}
		p := env.Pin(name)
		if p == nil {
			add(device, name, fmt.Errorf("%s does not exist on this host", name), "")
			return
		}
		add(device, name, nil, "present, "+p.Function())
	}
	if r := f.Relay; r != nil {
		pin("relay", r.Pin)
	}
	if i := f.Indicator; i != nil {
		pin("indicator green", i.Green)
		pin("indicator red", i.Red)
		if i.Amber != "" {
			pin("indicator amber", i.Amber)
		}
	}
	if b := f.Buzzer; b != nil {
		pin("buzzer", b.Pin)
	}
	for _, in := range []struct {
		name string
		in   *board.Input
	}{{"passage", f.Passage}, {"button", f.Button}} {
		if in.in == nil {
			continue
		}
		p := env.Pin(in.in.Pin)
		if p == nil {
			add(in.name, in.in.Pin, fmt.Errorf("%s does not exist on this host", in.in.Pin), "")
			continue
		}
		add(in.name, in.in.Pin, nil, "reads "+p.Read().String())
	}
	if d := f.Display; d != nil {
		where := fmt.Sprintf("i2c %s %#02x", d.I2C, uint16(d.Addr))
		add("display "+d.Chip, where, probeI2CAddr(env, d.I2C, uint16(d.Addr)), "address answers")
	}
	for _, s := range f.Scanners {
		add(s.Name, s.Device, env.Stat(s.Device), "device opens")
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "DEVICE\tWHERE\tRESULT\tDETAIL\n")
	failed := 0
	for _, r := range rows {
		if r.result != "ok" {
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.device, r.where, r.result, r.detail)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(w, "%s: %d of %d devices answered\n", f.Name, len(rows)-failed, len(rows))
	if failed > 0 {
		return fmt.Errorf("%w: %d of %d", ErrFailed, failed, len(rows))
	}
	return nil
}

func probeNFC(ctx context.Context, n board.NFC, env Env) (where, detail string, err error) {
	opts := pn532.Opts{Clock: env.Clock, Timeout: env.Timeout / 4, Retries: 1, Addr: uint16(n.Addr), SoftLSBFirst: n.SoftLSBFirst}
	if n.IRQ != "" {
		p := env.Pin(n.IRQ)
		if p == nil {
			return n.Bus + " " + n.I2C + n.SPI + ", irq " + n.IRQ, "", fmt.Errorf("irq %s does not exist on this host", n.IRQ)
		}
		opts.IRQ = p
	}
	if n.SPIHz > 0 {
		opts.SPIFreq = physic.Frequency(n.SPIHz) * physic.Hertz
	}
	var dev *pn532.Dev
	switch n.Bus {
	case "i2c":
		where = "i2c " + n.I2C
		bus, err := env.OpenI2C(n.I2C)
		if err != nil {
			return where, "", err
		}
		defer bus.Close()
		dev, err = pn532.NewI2C(bus, &opts)
		if err != nil {
			return where, "", err
		}
	case "spi":
		where = "spi " + n.SPI
		port, err := env.OpenSPI(n.SPI)
		if err != nil {
			return where, "", err
		}
		defer port.Close()
		if n.Chip == "mfrc522" {
			return where, "port opens (mfrc522 not probed further)", nil
		}
		dev, err = pn532.NewSPI(port, &opts)
		if err != nil {
			return where, "", err
		}
	}
	if n.Chip != "pn532" {
		return where, "bus opens", nil
	}
	ctx, cancel := context.WithTimeout(ctx, env.Timeout)
	defer cancel()
	fw, err := dev.Init(ctx)
	if err != nil {
		return where, "", err
	}
	return where, fw.String(), nil
}

func probeI2CAddr(env Env, name string, addr uint16) error {
	bus, err := env.OpenI2C(name)
	if err != nil {
		return err
	}
	defer bus.Close()
	var b [1]byte
	if err := bus.Tx(addr, nil, b[:]); err != nil {
		return fmt.Errorf("no answer at %#02x: %w", addr, err)
	}
	return nil
}
