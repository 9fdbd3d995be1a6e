package pn532sim

import (
	"errors"
	"fmt"
	"time"

	"periph.io/x/conn/v3"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

// ErrNoDevice is what the bus returns for a transfer to an address where no
// chip answers (the address byte is NACKed).
var ErrNoDevice = errors.New("pn532sim: no device at this address")

// I2C returns an i2c.Bus with the chip at Addr.
func (c *Chip) I2C() *I2CBus { return &I2CBus{c: c} }

// I2CBus is the emulator seen through I²C.
type I2CBus struct {
	c *Chip
}

var _ i2c.Bus = (*I2CBus)(nil)

func (b *I2CBus) String() string { return "pn532sim-i2c" }

// SetSpeed accepts any speed up to 400 kHz, the PN532's limit.
func (b *I2CBus) SetSpeed(f physic.Frequency) error {
	if f > 400*physic.KiloHertz {
		return fmt.Errorf("pn532sim: I²C speed %s above 400kHz", f)
	}
	return nil
}

// Tx writes w, then reads r: every read starts with the ready byte (0x01
// when a frame follows, 0x00 when busy); a read longer than the ready byte
// of a ready chip takes the frame.
func (b *I2CBus) Tx(addr uint16, w, r []byte) error {
	c := b.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if addr != Addr {
		return fmt.Errorf("%w: %#02x", ErrNoDevice, addr)
	}
	if c.wakeLocked(wakeI2C) {
		// Asleep after PowerDown: the address is not acknowledged; an I²C
		// wake-up (WakeUpEnable bit 7) wakes the chip for the next one.
		return fmt.Errorf("%w: %#02x (asleep)", ErrNoDevice, addr)
	}
	c.stats.Transfers++
	c.stats.BytesWritten += len(w)
	c.stats.BytesRead += len(r)
	if len(w) > 0 {
		c.writeLocked(w)
	}
	if len(r) == 0 {
		return nil
	}
	if !c.readyLocked() {
		clear(r)
		return nil
	}
	r[0] = 0x01
	if len(r) > 1 {
		c.readFrameLocked(r[1:])
	}
	return nil
}

// SPI returns an spi.Port wired to the chip.
func (c *Chip) SPI() *SPIPort { return &SPIPort{c: c} }

// SPIPort is the emulator seen through SPI.
type SPIPort struct {
	c *Chip
}

var _ spi.Port = (*SPIPort)(nil)

func (p *SPIPort) String() string { return "pn532sim-spi" }

// Connect accepts mode 0, 8 bits, up to 5 MHz. Without spi.LSBFirst the host
// shifts MSB first while the chip shifts LSB first: each byte arrives and
// leaves bit-reversed, as on the wire.
func (p *SPIPort) Connect(f physic.Frequency, mode spi.Mode, bits int) (spi.Conn, error) {
	if mode&spi.Mode3 != spi.Mode0 {
		return nil, fmt.Errorf("pn532sim: SPI %s: the PN532 needs mode 0", mode)
	}
	if bits != 8 {
		return nil, fmt.Errorf("pn532sim: SPI %d bits per word, the PN532 needs 8", bits)
	}
	if f > 5*physic.MegaHertz {
		return nil, fmt.Errorf("pn532sim: SPI clock %s above 5MHz", f)
	}
	return &spiConn{c: p.c, lsb: mode&spi.LSBFirst != 0}, nil
}

type spiConn struct {
	c   *Chip
	lsb bool
}

func (s *spiConn) String() string      { return "pn532sim-spi" }
func (s *spiConn) Duplex() conn.Duplex { return conn.Full }

func (s *spiConn) TxPackets(p []spi.Packet) error {
	for _, pk := range p {
		if err := s.Tx(pk.W, pk.R); err != nil {
			return err
		}
	}
	return nil
}

// Tx is one chip-select cycle: the first byte says what follows.
func (s *spiConn) Tx(w, r []byte) error {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(w) == 0 {
		return errors.New("pn532sim: SPI transfer without a direction byte")
	}
	if r != nil && len(r) != len(w) {
		return fmt.Errorf("pn532sim: SPI full duplex needs len(w) == len(r), got %d and %d", len(w), len(r))
	}
	if c.wakeLocked(wakeSPI) {
		// Asleep after PowerDown: the chip select wakes the chip (when
		// WakeUpEnable bit 5 allows it); this transfer is lost.
		if r != nil {
			clear(r)
		}
		return nil
	}
	c.stats.Transfers++
	c.stats.BytesWritten += len(w)
	c.stats.BytesRead += len(r)
	in := w
	if !s.lsb {
		in = reverseAll(w)
	}
	var out []byte
	if r != nil {
		out = make([]byte, len(r))
	}
	switch in[0] {
	case 0x01: // data write
		c.writeLocked(in[1:])
	case 0x02: // status read
		if len(out) > 1 && c.readyLocked() {
			out[1] = 0x01
		}
	case 0x03: // data read
		if len(out) > 1 {
			if c.frameReadyLocked() {
				c.readFrameLocked(out[1:])
			} else {
				c.stats.StatusPolls++
			}
		}
	default:
		// The chip ignores an unknown direction byte; MISO stays low.
	}
	if r != nil {
		if !s.lsb {
			out = reverseAll(out)
		}
		copy(r, out)
	}
	return nil
}

func reverseAll(b []byte) []byte {
	out := make([]byte, len(b))
	for i, x := range b {
		out[i] = reverse(x)
	}
	return out
}

func reverse(x byte) byte {
	x = x>>4 | x<<4
	x = (x&0xCC)>>2 | (x&0x33)<<2
	return (x&0xAA)>>1 | (x&0x55)<<1
}

// IRQ returns the chip's P70_IRQ output as a gpio.PinIn: Low while a frame
// is ready to be read, High otherwise, and always High when
// SAMConfiguration turned the IRQ off (its IRQ parameter 0x00, UM0701-02
// §7.2.10). WaitForEdge waits in the chip's clock for the line to fall.
func (c *Chip) IRQ() gpio.PinIn { return &irqPin{Pin: gpiotest.Pin{N: "PN532_IRQ"}, c: c} }

type irqPin struct {
	gpiotest.Pin
	c *Chip
}

// In accepts the configurations a driver asks of an IRQ input.
func (p *irqPin) In(pull gpio.Pull, edge gpio.Edge) error {
	if edge == gpio.RisingEdge {
		return errors.New("pn532sim: P70_IRQ signals with a falling edge")
	}
	return nil
}

func (p *irqPin) Read() gpio.Level {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if low, _ := p.c.lowLocked(); low {
		return gpio.Low
	}
	return gpio.High
}

// lowLocked is the IRQ line's level: low while a frame is ready. busy is
// true when a frame is there but the chip still says busy (SetBusyPolls).
func (c *Chip) lowLocked() (low, busy bool) {
	if !c.irqEnable || !c.frameReadyLocked() {
		return false, false
	}
	if c.busy > 0 {
		c.busy--
		return false, true
	}
	return true, false
}

// WaitForEdge returns true once the line is low, false after timeout
// (negative: no timeout) of the chip's clock. It wakes on whatever may
// drop the line: a frame written, a card placed, a running command's time
// running out.
func (p *irqPin) WaitForEdge(timeout time.Duration) bool {
	c := p.c
	start := c.clk.Now()
	for {
		c.mu.Lock()
		low, busy := c.lowLocked()
		if low {
			c.mu.Unlock()
			return true
		}
		if busy {
			c.mu.Unlock()
			continue
		}
		ch := c.changed
		wait := time.Duration(-1)
		if timeout >= 0 {
			wait = max(timeout-c.clk.Now().Sub(start), 0)
		}
		if d, ok := c.untilDueLocked(); ok && (wait < 0 || d < wait) {
			wait = d
		}
		c.mu.Unlock()
		if wait == 0 && timeout >= 0 && c.clk.Now().Sub(start) >= timeout {
			return false
		}
		var tick <-chan time.Time
		if wait >= 0 {
			tick = c.clk.After(wait)
		}
		select {
		case <-ch:
		case <-tick:
		}
	}
}
