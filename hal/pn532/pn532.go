package pn532

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"admit/clock"
)

// Opts configures a Dev. The zero value of a field means its DefaultOpts
// value.
type Opts struct {
	// Addr is the I²C address (0x24).
	Addr uint16
	// SPIFreq is the SPI clock (1 MHz; the chip takes up to 5 MHz).
	SPIFreq physic.Frequency
	// SoftLSBFirst drives SPI MSB first and reverses each byte's bits in
	// software, for controllers that cannot shift LSB first (Raspberry Pi).
	SoftLSBFirst bool
	// IRQ is the chip's IRQ output (active low). nil: poll the status byte.
	// The driver asks it for falling edges and sleeps on WaitForEdge; a pin
	// that cannot report edges is read every PollInterval instead.
	IRQ gpio.PinIn
	// Timeout bounds the wait for each frame from the chip (ACK, response),
	// except the answer of a command that waits for a card (see
	// InListPassiveTarget), which only the context bounds.
	Timeout time.Duration
	// PollInterval is the pause between two readiness checks.
	PollInterval time.Duration
	// WaitPollInterval is the pause between two status reads while a
	// command waits for a card and there is no IRQ pin: the longest a tap
	// waits for the driver to notice the chip's answer (5 ms).
	WaitPollInterval time.Duration
	// Retries is how many times a command is repeated after a lost ACK, a
	// NACK, a damaged response or a timeout. Negative means none.
	Retries int
	// WakeDelay is the pause after the wake-up transfer.
	WakeDelay time.Duration
	// Clock is the time source for every wait (clock.Real{}).
	Clock clock.Clock
}

// DefaultOpts are the options used for zero fields. NewI2C and NewSPI copy
// them; they never change the caller's Opts nor DefaultOpts.
var DefaultOpts = Opts{
	Addr:             0x24,
	SPIFreq:          physic.MegaHertz,
	Timeout:          time.Second,
	PollInterval:     time.Millisecond,
	WaitPollInterval: 5 * time.Millisecond,
	Retries:          2,
	WakeDelay:        2 * time.Millisecond,
	Clock:            clock.Real{},
}

func (o Opts) withDefaults() Opts {
	d := DefaultOpts
	if o.Addr == 0 {
		o.Addr = d.Addr
	}
	if o.SPIFreq == 0 {
		o.SPIFreq = d.SPIFreq
	}
	if o.Timeout == 0 {
		o.Timeout = d.Timeout
	}
	if o.PollInterval == 0 {
		o.PollInterval = d.PollInterval
	}
	if o.WaitPollInterval == 0 {
		o.WaitPollInterval = d.WaitPollInterval
	}
	if o.Retries == 0 {
		o.Retries = d.Retries
	} else if o.Retries < 0 {
		o.Retries = 0
	}
	if o.WakeDelay == 0 {
		o.WakeDelay = d.WakeDelay
	}
	if o.Clock == nil {
		o.Clock = d.Clock
	}
	return o
}

// Errors for expected outcomes; test with errors.Is.
var (
	// ErrTimeout: the chip did not become ready within Opts.Timeout.
	ErrTimeout = errors.New("pn532: timed out waiting for the chip")
	// ErrSyntax: the chip answered with the error frame (it found a syntax
	// error in the command).
	ErrSyntax = errors.New("pn532: chip sent the error frame")
	// ErrNoCard: InListPassiveTarget found no target in the field.
	ErrNoCard = errors.New("pn532: no card in the field")
	// ErrTargetGone: the target did not answer or left the field
	// (InDataExchange status 0x01, 0x29, 0x2A, 0x2B).
	ErrTargetGone = errors.New("pn532: target gone")
	// ErrUnexpected: a well-formed frame that is not the expected answer.
	ErrUnexpected = errors.New("pn532: unexpected answer")
	// ErrShortBuffer: the answer does not fit the caller's buffer.
	ErrShortBuffer = errors.New("pn532: answer larger than buffer")
)

// transport moves raw frames; the Dev does the protocol.
type transport interface {
	String() string
	write(frame []byte) error
	ready() (bool, error)
	// read reads len(p) bytes of frame; ok false when the chip turned out
	// not to be ready.
	read(p []byte) (ok bool, err error)
	wake() error
}

// Dev is a PN532 on a bus.
type Dev struct {
	opts  Opts
	t     transport
	edges bool // opts.IRQ reports falling edges

	mu  sync.Mutex // serialises commands; guards the fields below
	buf []byte
	// passiveRetries is the chip's MxRtyPassiveActivation as last set
	// (0xFF after reset: InListPassiveTarget waits for a card).
	passiveRetries byte
}

func newDev(o Opts, t transport) *Dev {
	d := &Dev{opts: o, t: t, passiveRetries: 0xFF}
	if o.IRQ != nil {
		d.edges = o.IRQ.In(gpio.PullUp, gpio.FallingEdge) == nil
	}
	return d
}

// NewI2C returns a PN532 on an I²C bus. It does no I/O: call Init.
func NewI2C(bus i2c.Bus, opts *Opts) (*Dev, error) {
	if bus == nil {
		return nil, errors.New("pn532: nil I²C bus")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	return newDev(o, &i2cTransport{d: i2c.Dev{Bus: bus, Addr: o.Addr}}), nil
}

// NewSPI returns a PN532 on an SPI port (mode 0, LSB first, or MSB first
// with software bit reversal when opts.SoftLSBFirst). It does no I/O other
// than connecting the port: call Init.
func NewSPI(port spi.Port, opts *Opts) (*Dev, error) {
	if port == nil {
		return nil, errors.New("pn532: nil SPI port")
	}
	o := DefaultOpts
	if opts != nil {
		o = *opts
	}
	o = o.withDefaults()
	mode := spi.Mode0 | spi.LSBFirst
	if o.SoftLSBFirst {
		mode = spi.Mode0
	}
	c, err := port.Connect(o.SPIFreq, mode, 8)
	if err != nil {
		return nil, fmt.Errorf("pn532: connect SPI %s: %w", port, err)
	}
	return newDev(o, &spiTransport{c: c, soft: o.SoftLSBFirst, name: port.String()}), nil
}

func (d *Dev) String() string { return "pn532(" + d.t.String() + ")" }

// Halt aborts the command the chip is running (an ACK frame from the host).
func (d *Dev) Halt() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.t.write(ackFrame); err != nil {
		return fmt.Errorf("pn532: halt: %w", err)
	}
	return nil
}

// Wake sends a wake-up transfer and waits Opts.WakeDelay: after power-up
// or power-down the chip ignores the first transfer.
func (d *Dev) Wake(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	_ = d.t.wake() // the sleeping chip may NACK its address; that is the point
	return d.pause(ctx, d.opts.WakeDelay)
}

// Init wakes the chip, sets the SAM to normal mode (the chip starts in
// LowVbat mode and lists no card before this) and reads its firmware
// version, which proves the chip answers.
func (d *Dev) Init(ctx context.Context) (Firmware, error) {
	if err := d.Wake(ctx); err != nil {
		return Firmware{}, err
	}
	if err := d.SAMConfiguration(ctx, SAMNormal, 0); err != nil {
		return Firmware{}, err
	}
	return d.GetFirmwareVersion(ctx)
}

func (d *Dev) pause(ctx context.Context, dur time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-d.opts.Clock.After(dur):
		return nil
	}
}

// call runs one command: code and params out, the response's bytes after
// its code back. respMax is the most response bytes the command can return
// (a hint: a longer frame is fetched again with a NACK).
func (d *Dev) call(ctx context.Context, code byte, params []byte, respMax int) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.callLocked(ctx, code, params, respMax, false)
}

// callLocked is call; wait says the answer may take as long as a card
// takes to come: it is awaited without Opts.Timeout, until ctx ends, and
// then the command is aborted.
func (d *Dev) callLocked(ctx context.Context, code byte, params []byte, respMax int, wait bool) ([]byte, error) {
	req, err := AppendFrame(d.buf[:0], TFIHost, append([]byte{code}, params...))
	if err != nil {
		return nil, err
	}
	d.buf = req
	var last error
	for attempt := 0; attempt <= d.opts.Retries; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		resp, err := d.once(ctx, code, req, respMax, wait)
		if err == nil {
			return resp, nil
		}
		if !retryable(err) {
			return nil, err
		}
		last = err
		// Abort whatever the chip is doing before trying again.
		_ = d.t.write(ackFrame)
	}
	return nil, last
}

func retryable(err error) bool {
	return errors.Is(err, ErrTimeout) || errors.Is(err, ErrChecksum) || errors.Is(err, ErrNoStartCode) ||
		errors.Is(err, ErrTruncated) || errors.Is(err, ErrFrameLength) || errors.Is(err, errNACKed)
}

var errNACKed = errors.New("pn532: chip NACKed the command")

func (d *Dev) once(ctx context.Context, code byte, req []byte, respMax int, wait bool) ([]byte, error) {
	if err := d.t.write(req); err != nil {
		return nil, fmt.Errorf("pn532: write: %w", err)
	}
	// ACK.
	b, err := d.readFrame(ctx, len(ackFrame), false)
	if err != nil {
		if ctx.Err() != nil {
			_ = d.t.write(ackFrame) // abort the command, whatever it became
		}
		return nil, fmt.Errorf("waiting for ACK: %w", err)
	}
	f, _, err := ParseFrame(b)
	switch {
	case err != nil:
		return nil, fmt.Errorf("ACK: %w", err)
	case f.Kind == FrameNACK:
		return nil, errNACKed
	case f.Kind != FrameACK:
		return nil, fmt.Errorf("%w: %s frame instead of ACK", ErrUnexpected, f.Kind)
	}
	// Response; a damaged one is asked for again with a NACK.
	size := FrameLen(1 + respMax)
	var perr error
	for try := 0; try <= d.opts.Retries; try++ {
		if try > 0 {
			if err := d.t.write(nackFrame); err != nil {
				return nil, fmt.Errorf("pn532: write NACK: %w", err)
			}
		}
		b, err := d.readFrame(ctx, size, wait && try == 0)
		if err != nil {
			if ctx.Err() != nil {
				// The chip is still running the command (waiting for a
				// card): an ACK frame aborts it (UM0701-02 §6.2.1.3).
				_ = d.t.write(ackFrame)
			}
			return nil, fmt.Errorf("waiting for response: %w", err)
		}
		f, _, err := ParseFrame(b)
		if err != nil {
			if n, ok := announcedLen(b); ok && n > size && errors.Is(err, ErrTruncated) {
				size = n // longer than expected: fetch it whole
			}
			perr = err
			continue
		}
		switch {
		case f.Kind == FrameError:
			return nil, ErrSyntax
		case f.Kind != FrameInfo || f.TFI != TFIChip || len(f.Data) == 0 || f.Data[0] != code+1:
			return nil, fmt.Errorf("%w: %s frame % X to command %#02x", ErrUnexpected, f.Kind, f.Data, code)
		}
		return append([]byte(nil), f.Data[1:]...), nil
	}
	return nil, perr
}

// announcedLen returns the length of the whole frame whose header starts b.
func announcedLen(b []byte) (int, bool) {
	i := 0
	for i < len(b) && b[i] == 0 {
		i++
	}
	if i == 0 || i+2 >= len(b) || b[i] != 0xFF {
		return 0, false
	}
	i++
	l, lcs := b[i], b[i+1]
	if l == 0xFF && lcs == 0xFF {
		if i+4 >= len(b) || b[i+2]+b[i+3]+b[i+4] != 0 {
			return 0, false
		}
		return i + 5 + (int(b[i+2])<<8 | int(b[i+3])) + 2, true
	}
	if l+lcs != 0 {
		return 0, false
	}
	return i + 2 + int(l) + 2, true
}

// readFrame waits until the chip is ready, then reads n bytes of frame.
// With wait, there is no deadline but ctx's and the status is polled every
// WaitPollInterval (an edge-capable IRQ pin is waited on either way).
func (d *Dev) readFrame(ctx context.Context, n int, wait bool) ([]byte, error) {
	deadline := d.opts.Clock.Now().Add(d.opts.Timeout)
	interval := d.opts.PollInterval
	if wait {
		interval = d.opts.WaitPollInterval
	}
	p := make([]byte, n)
	for {
		ready, err := d.isReady()
		if err != nil {
			return nil, err
		}
		if ready {
			ok, err := d.t.read(p)
			if err != nil {
				return nil, fmt.Errorf("pn532: read: %w", err)
			}
			if ok {
				return p, nil
			}
		}
		now := d.opts.Clock.Now()
		if !wait && !now.Before(deadline) {
			return nil, fmt.Errorf("%w (%s)", ErrTimeout, d.opts.Timeout)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if d.edges {
			// Sleep on the IRQ line; come back now and then to look at the
			// context and the deadline.
			slice := maxEdgeWait
			if !wait {
				slice = min(slice, deadline.Sub(now))
			}
			d.opts.IRQ.WaitForEdge(slice)
			continue
		}
		if err := d.pause(ctx, interval); err != nil {
			return nil, err
		}
	}
}

func (d *Dev) isReady() (bool, error) {
	if d.opts.IRQ != nil {
		return d.opts.IRQ.Read() == gpio.Low, nil
	}
	ok, err := d.t.ready()
	if err != nil {
		return false, fmt.Errorf("pn532: status: %w", err)
	}
	return ok, nil
}

// maxEdgeWait bounds one WaitForEdge, so a cancelled context is noticed
// within it.
const maxEdgeWait = 50 * time.Millisecond

type i2cTransport struct {
	d   i2c.Dev
	buf []byte
}

func (t *i2cTransport) String() string { return fmt.Sprintf("i2c %s %#02x", t.d.Bus, t.d.Addr) }

func (t *i2cTransport) write(frame []byte) error { return t.d.Tx(frame, nil) }

func (t *i2cTransport) ready() (bool, error) {
	var s [1]byte
	if err := t.d.Tx(nil, s[:]); err != nil {
		return false, err
	}
	return s[0]&0x01 != 0, nil
}

func (t *i2cTransport) read(p []byte) (bool, error) {
	if cap(t.buf) < len(p)+1 {
		t.buf = make([]byte, len(p)+1)
	}
	b := t.buf[:len(p)+1]
	if err := t.d.Tx(nil, b); err != nil {
		return false, err
	}
	if b[0]&0x01 == 0 {
		return false, nil
	}
	copy(p, b[1:])
	return true, nil
}

func (t *i2cTransport) wake() error { return t.d.Tx([]byte{0x00}, nil) }

// SPI direction bytes.
const (
	spiDataWrite  = 0x01
	spiStatusRead = 0x02
	spiDataRead   = 0x03
)

type spiTransport struct {
	c    spi.Conn
	soft bool
	name string
}

func (t *spiTransport) String() string { return "spi " + t.name }

func (t *spiTransport) tx(w, r []byte) error {
	if t.soft {
		reverseBits(w)
	}
	err := t.c.Tx(w, r)
	if t.soft && r != nil {
		reverseBits(r)
	}
	return err
}

func (t *spiTransport) write(frame []byte) error {
	return t.tx(append([]byte{spiDataWrite}, frame...), nil)
}

func (t *spiTransport) ready() (bool, error) {
	w, r := []byte{spiStatusRead, 0}, make([]byte, 2)
	if err := t.tx(w, r); err != nil {
		return false, err
	}
	return r[1]&0x01 != 0, nil
}

func (t *spiTransport) read(p []byte) (bool, error) {
	w, r := make([]byte, len(p)+1), make([]byte, len(p)+1)
	w[0] = spiDataRead
	if err := t.tx(w, r); err != nil {
		return false, err
	}
	copy(p, r[1:])
	return true, nil
}

func (t *spiTransport) wake() error { return t.tx([]byte{0x00}, nil) }

// reverseBits reverses the bit order of every byte in place.
func reverseBits(b []byte) {
	for i, x := range b {
		x = x>>4 | x<<4
		x = (x&0xCC)>>2 | (x&0x33)<<2
		b[i] = (x&0xAA)>>1 | (x&0x55)<<1
	}
}
