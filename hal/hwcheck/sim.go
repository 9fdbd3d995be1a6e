package hwcheck

import (
	"fmt"
	"strings"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"admit/clock"
	"admit/hal/board"
	"admit/hal/pn532/pn532sim"
)

// SimEnv is a host that has exactly the hardware board f names, emulated:
// an emulated PN532 (hal/pn532/pn532sim) for each PN532 reader, on its
// bus and address with its IRQ pin, a device that acknowledges at the
// display's address, gpiotest pins for every other GPIO, and scanner
// devices that open. `admit-agent hwcheck -sim` probes it: it checks a
// board file, and the probes themselves, where there is no hardware (a
// build machine, an arm64 binary under qemu-user).
func SimEnv(f *board.File) Env {
	type i2cDev struct {
		chip *pn532sim.Chip // nil: a device that only acknowledges
	}
	buses := map[string]map[uint16]i2cDev{}
	ports := map[string]*pn532sim.Chip{}
	irqs := map[string]gpio.PinIO{}
	for _, n := range f.NFC {
		chip := pn532sim.New()
		switch n.Bus {
		case "i2c":
			addr := uint16(n.Addr)
			if addr == 0 {
				addr = pn532sim.Addr
			}
			if buses[n.I2C] == nil {
				buses[n.I2C] = map[uint16]i2cDev{}
			}
			buses[n.I2C][addr] = i2cDev{chip: chip}
		case "spi":
			ports[n.SPI] = chip
		}
		if n.IRQ != "" && n.Chip == "pn532" {
			irqs[n.IRQ] = chip.IRQ().(gpio.PinIO)
		}
	}
	if d := f.Display; d != nil {
		if buses[d.I2C] == nil {
			buses[d.I2C] = map[uint16]i2cDev{}
		}
		buses[d.I2C][uint16(d.Addr)] = i2cDev{}
	}
	pins := map[string]gpio.PinIO{}
	return Env{
		OpenI2C: func(name string) (i2c.BusCloser, error) {
			devs, ok := buses[name]
			if !ok {
				return nil, fmt.Errorf("sim: no I²C bus %q on this board", name)
			}
			return &simBus{name: name, devs: func(addr uint16) (*pn532sim.Chip, bool) {
				d, ok := devs[addr]
				return d.chip, ok
			}}, nil
		},
		OpenSPI: func(name string) (spi.PortCloser, error) {
			chip, ok := ports[name]
			if !ok {
				return nil, fmt.Errorf("sim: no SPI port %q on this board", name)
			}
			return simPort{chip.SPI()}, nil
		},
		Pin: func(name string) gpio.PinIO {
			if p, ok := irqs[name]; ok {
				return p
			}
			if !strings.HasPrefix(name, "GPIO") {
				return nil
			}
			if p, ok := pins[name]; ok {
				return p
			}
			p := &gpiotest.Pin{N: name, Fn: "sim", L: gpio.High, EdgesChan: make(chan gpio.Level, 4)}
			pins[name] = p
			return p
		},
		Stat:  func(string) error { return nil },
		Clock: clock.Real{},
	}
}

// simBus routes each transfer by address: to an emulated PN532, or to a
// device that only acknowledges.
type simBus struct {
	name string
	devs func(addr uint16) (*pn532sim.Chip, bool)
}

func (b *simBus) String() string                    { return "sim-i2c-" + b.name }
func (b *simBus) SetSpeed(f physic.Frequency) error { return nil }
func (b *simBus) Close() error                      { return nil }

func (b *simBus) Tx(addr uint16, w, r []byte) error {
	chip, ok := b.devs(addr)
	if !ok {
		return fmt.Errorf("sim: no device at %#02x on I²C bus %s", addr, b.name)
	}
	if chip == nil {
		clear(r)
		return nil
	}
	return chip.I2C().Tx(pn532sim.Addr, w, r)
}

type simPort struct{ *pn532sim.SPIPort }

func (simPort) Close() error                      { return nil }
func (simPort) LimitSpeed(physic.Frequency) error { return nil }
