package pn532sim

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"admit/clock"
)

// Addr is the PN532's 7-bit I²C address.
const Addr = 0x24

// Fault is a misbehaviour the emulator shows once per Inject call.
type Fault int

const (
	// FaultBadChecksum: the next response frame goes out with a wrong DCS.
	// A NACK from the host gets a clean copy.
	FaultBadChecksum Fault = iota + 1
	// FaultNACK: the next command is answered with a NACK instead of an
	// ACK, as when the chip received it damaged.
	FaultNACK
	// FaultNoReady: the chip never becomes ready for the next command; the
	// status stays 0x00 until the host writes a new frame.
	FaultNoReady
	// FaultGarbage: the next response is replaced by random bytes.
	FaultGarbage
	// FaultErrorFrame: the next command is answered with the error frame.
	FaultErrorFrame
)

func (f Fault) String() string {
	switch f {
	case FaultBadChecksum:
		return "bad checksum"
	case FaultNACK:
		return "NACK"
	case FaultNoReady:
		return "no ready byte"
	case FaultGarbage:
		return "garbage"
	case FaultErrorFrame:
		return "error frame"
	}
	return fmt.Sprintf("Fault(%d)", int(f))
}

// Stats counts bus traffic, to estimate real bus time from byte counts.
type Stats struct {
	Transfers    int // bus transactions (I²C Tx or SPI Tx)
	BytesWritten int // bytes host → chip (SPI: direction byte included)
	BytesRead    int // bytes chip → host (I²C: ready byte included)
	StatusPolls  int // transfers that found the chip not ready
	Commands     int // command frames processed
}

// DefaultActivationTime is how long the emulator takes for one passive
// activation attempt at 106 kbps type A in an empty field (REQA, no
// ATQA before the timeout). It is a model, not a measurement: it sets how
// much virtual time MaxRetries buys, which is what tests observe.
const DefaultActivationTime = 2 * time.Millisecond

// Option configures a Chip.
type Option func(*Chip)

// WithClock makes the chip tell time on clk (clock.Real{} by default):
// retries, RF timeouts and polling periods pass in clk's time, so a test on
// a clock.Fake never waits for them. The emulator never sleeps.
func WithClock(clk clock.Clock) Option { return func(c *Chip) { c.clk = clk } }

// WithActivationTime sets the duration of one passive activation attempt.
func WithActivationTime(d time.Duration) Option { return func(c *Chip) { c.activation = d } }

// target is a card the chip has activated (InListPassiveTarget or
// InAutoPoll gave it a logical number).
type target struct {
	card     Target
	tg       byte
	selected bool // false after InDeselect until InSelect
}

// pending is a command whose answer depends on time or on cards arriving:
// resolve is asked at every readiness check and returns the response data
// once there is one.
type pending struct {
	due     time.Time // when the answer is due in any case; zero: never
	resolve func(now time.Time) ([]byte, bool)
}

// Chip is one emulated PN532. Its methods are safe for concurrent use.
type Chip struct {
	mu sync.Mutex // guards the fields below

	clk        clock.Clock
	activation time.Duration
	firmware   [4]byte
	sam        bool
	irqEnable  bool    // SAMConfiguration IRQ parameter (default: used)
	maxRetries [3]byte // RFConfiguration item 0x05: MxRtyATR, MxRtyPSL, MxRtyPassiveActivation
	timings    [3]byte // item 0x02: RFU, fATR_RES_Timeout, fRetryTimeout
	maxRtyCOM  byte    // item 0x04
	field      []Target
	active     *target // the activated target (Tg 1), kept until InRelease or a new activation
	removeIn   int     // exchanges until the active card leaves; -1 never
	faults     []Fault
	busyPolls  int // status reads that say "busy" before each response
	rng        *rand.Rand
	lastErr    byte // status of the last command, for GetGeneralStatus
	asleep     bool // PowerDown: waiting for a wake-up event
	wakeOn     byte // PowerDown WakeUpEnable
	sleepNext  bool // go to sleep once the current response is read

	out     [][]byte // frames waiting to be read, first is current
	busy    int      // busy polls left for out[0]
	pend    *pending // command still running after its ACK was read
	changed chan struct{}
	last    []byte   // last response frame, for NACK
	rxChain []byte   // host → card data being chained (MI)
	txChain []byte   // card → host data still to deliver (MI)
	log     [][]byte // command frames' payloads (TFI stripped), for tests
	stats   Stats
}

// New returns a PN532 with firmware 1.6 (IC 0x32), no card in the field,
// in the state of a chip after reset: RFConfiguration MaxRetries FF 01 FF
// (UM0701-02 §7.3.1: MxRtyPassiveActivation 0xFF, try forever), various
// timings 00 0B 0A (ATR_RES 102.4 ms, RetryTimeout 51.2 ms), MaxRtyCOM 0.
func New(opts ...Option) *Chip {
	c := &Chip{
		clk:        clock.Real{},
		activation: DefaultActivationTime,
		firmware:   [4]byte{0x32, 0x01, 0x06, 0x07},
		irqEnable:  true,
		maxRetries: [3]byte{0xFF, 0x01, 0xFF},
		timings:    [3]byte{0x00, 0x0B, 0x0A},
		removeIn:   -1,
		rng:        rand.New(rand.NewPCG(1, 2)),
		changed:    make(chan struct{}),
	}
	for _, o := range opts {
		o(c)
	}
	return c
}

// notifyLocked wakes whoever waits for the IRQ line (WaitForEdge).
func (c *Chip) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// Place puts a card in the field. A command waiting for a card
// (InListPassiveTarget, InAutoPoll) finds it.
func (c *Chip) Place(t Target) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.field = append(c.field, t)
	c.notifyLocked()
}

// Remove takes every card out of the field. The chip does not notice: it
// keeps the activated target until InRelease or the next activation, and
// an exchange with it times out (status 0x01) as on a real PN532.
func (c *Chip) Remove() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.field = nil
	c.removeIn = -1
	c.notifyLocked()
}

// RemoveAfter lets the selected card answer n more exchanges, then takes it
// out of the field: the card removed mid-read.
func (c *Chip) RemoveAfter(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeIn = n
}

// Inject queues faults; each shows once, in order.
func (c *Chip) Inject(f ...Fault) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faults = append(c.faults, f...)
}

// SetBusyPolls makes the chip answer n status reads with "not ready" before
// each frame it has to send.
func (c *Chip) SetBusyPolls(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.busyPolls = n
}

// Stats returns the traffic counters.
func (c *Chip) Stats() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// ResetStats zeroes the traffic counters.
func (c *Chip) ResetStats() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stats = Stats{}
}

// Commands returns the payloads (command code first) of the command frames
// received so far.
func (c *Chip) Commands() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.log...)
}

// MaxRetries returns the RFConfiguration MaxRetries bytes in force.
func (c *Chip) MaxRetries() [3]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxRetries
}

// Waiting reports whether a command is running and waiting for a card or
// for time to pass (its ACK already read, no answer yet).
func (c *Chip) Waiting() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pend != nil
}

// Asleep reports whether the chip is in power-down after PowerDown.
func (c *Chip) Asleep() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.asleep
}

func (c *Chip) takeFaultLocked(f Fault) bool {
	if len(c.faults) > 0 && c.faults[0] == f {
		c.faults = c.faults[1:]
		return true
	}
	return false
}

// resolveLocked turns a running command into its response frame once the
// answer is there.
func (c *Chip) resolveLocked() {
	if c.pend == nil || len(c.out) > 0 {
		return
	}
	resp, ok := c.pend.resolve(c.clk.Now())
	if !ok {
		return
	}
	c.pend = nil
	c.queueResponseLocked(resp)
}

// frameReadyLocked: a frame can be read now (busy polls aside).
func (c *Chip) frameReadyLocked() bool {
	c.resolveLocked()
	return len(c.out) > 0 && c.out[0] != nil // nil: FaultNoReady
}

// readyLocked answers a status read: true when a frame can be read now.
func (c *Chip) readyLocked() bool {
	if !c.frameReadyLocked() {
		c.stats.StatusPolls++
		return false
	}
	if c.busy > 0 {
		c.busy--
		c.stats.StatusPolls++
		return false
	}
	return true
}

// untilDueLocked is how long a running command may still take before its
// answer is due whatever happens; ok false when it has no due time.
func (c *Chip) untilDueLocked() (time.Duration, bool) {
	if c.pend == nil || c.pend.due.IsZero() || len(c.out) > 0 {
		return 0, false
	}
	return max(c.pend.due.Sub(c.clk.Now()), 0), true
}

// readFrameLocked fills p with the current frame (zero padded) and moves on
// to the next one.
func (c *Chip) readFrameLocked(p []byte) {
	f := c.out[0]
	n := copy(p, f)
	clear(p[n:])
	c.out = c.out[1:]
	c.busy = c.busyPolls
	if len(c.out) == 0 && c.pend == nil && c.sleepNext {
		// PowerDown (UM0701-02 §7.2.11): the chip sends its answer, then
		// sleeps until a wake-up event it was told to wait for.
		c.sleepNext, c.asleep = false, true
	}
}

// wakeLocked handles a bus transaction while asleep: a transaction on an
// interface allowed to wake the chip (WakeUpEnable bit) wakes it, and is
// lost (UM0701-02 §7.2.11; the chip needs time to restart its oscillator).
// It reports whether the transaction is lost.
func (c *Chip) wakeLocked(bit byte) bool {
	if !c.asleep {
		return false
	}
	if c.wakeOn&bit != 0 {
		c.asleep = false
	}
	return true
}

// Wake-up sources of PowerDown's WakeUpEnable (UM0701-02 §7.2.11).
const (
	wakeI2C = 0x80
	wakeSPI = 0x20
)

// writeLocked handles a frame written by the host.
func (c *Chip) writeLocked(b []byte) {
	defer c.notifyLocked()
	k, tfi, data, ok := parse(b)
	if !ok {
		// A frame with the preamble and start code but wrong lengths or
		// checksums is NACKed; anything else (a wake-up transfer, a frame
		// without its preamble) is not a frame and is ignored.
		if bytes.HasPrefix(b, []byte{0x00, 0x00, 0xFF}) {
			c.out = [][]byte{nack}
			c.busy = c.busyPolls
		}
		return
	}
	switch k {
	case kindACK: // the host aborts the running command (UM0701-02 §6.2.1.3)
		c.out, c.pend, c.sleepNext = nil, nil, false
		return
	case kindNACK: // the host asks for the last frame again
		if c.last != nil {
			c.out = [][]byte{c.last}
			c.busy = c.busyPolls
		}
		return
	}
	c.pend = nil
	if tfi != 0xD4 || len(data) == 0 {
		c.out = [][]byte{ack, errFrame}
		c.busy = c.busyPolls
		return
	}
	c.stats.Commands++
	c.log = append(c.log, append([]byte(nil), data...))
	c.busy = c.busyPolls
	if c.takeFaultLocked(FaultNACK) {
		c.out = [][]byte{nack}
		return
	}
	if c.takeFaultLocked(FaultNoReady) {
		c.out = [][]byte{ack, nil}
		return
	}
	if c.takeFaultLocked(FaultErrorFrame) {
		c.out = [][]byte{ack, errFrame}
		c.last = errFrame
		return
	}
	resp, ok, p := c.commandLocked(data)
	if !ok {
		c.out = [][]byte{ack, errFrame}
		c.last = errFrame
		return
	}
	c.out = [][]byte{ack}
	if p != nil {
		c.pend = p
		return
	}
	c.queueResponseLocked(resp)
}

// queueResponseLocked appends the response frame for resp, with the
// faults that alter responses.
func (c *Chip) queueResponseLocked(resp []byte) {
	frame := encode(0xD5, resp)
	c.last = frame
	switch {
	case c.takeFaultLocked(FaultBadChecksum):
		bad := append([]byte(nil), frame...)
		bad[len(bad)-2] ^= 0x5A
		frame = bad
	case c.takeFaultLocked(FaultGarbage):
		g := make([]byte, len(frame))
		for i := range g {
			g[i] = byte(c.rng.Uint32())
		}
		g[0] = 0x5A // never a valid preamble
		frame = g
	}
	c.out = append(c.out, frame)
	c.notifyLocked()
}

// Frames, encoded independently of the driver.
var (
	ack      = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	nack     = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
	errFrame = []byte{0x00, 0x00, 0xFF, 0x01, 0xFF, 0x7F, 0x81, 0x00}
)

func encode(tfi byte, data []byte) []byte {
	n := len(data) + 1
	var f []byte
	if n < 256 {
		f = []byte{0x00, 0x00, 0xFF, byte(n), byte(0x100 - n)}
	} else {
		f = []byte{0x00, 0x00, 0xFF, 0xFF, 0xFF, byte(n >> 8), byte(n), byte(0x100 - (n>>8+n&0xFF)&0xFF)}
	}
	f = append(f, tfi)
	f = append(f, data...)
	sum := int(tfi)
	for _, b := range data {
		sum += int(b)
	}
	return append(f, byte(0x100-sum&0xFF), 0x00)
}

type kind int

const (
	kindInfo kind = iota
	kindACK
	kindNACK
)

// parse reads a host frame exactly as UM0701-02 §6.2.1 lays it out: one
// PREAMBLE byte 00, the START CODE 00 FF, the lengths, TFI and data, DCS
// and the POSTAMBLE 00 (§6.2.1.1 normal, §6.2.1.2 extended, §6.2.1.3 ACK
// and NACK). Extra leading zeros, a missing preamble or postamble, or
// bytes after the postamble make it no frame at all: the chip would not
// see its start code where the frame begins, so it does not ACK.
func parse(b []byte) (k kind, tfi byte, data []byte, ok bool) {
	if len(b) < 6 || b[0] != 0x00 || b[1] != 0x00 || b[2] != 0xFF {
		return 0, 0, nil, false
	}
	switch {
	case bytes.Equal(b, ack):
		return kindACK, 0, nil, true
	case bytes.Equal(b, nack):
		return kindNACK, 0, nil, true
	}
	i := 3
	var n int
	if b[i] == 0xFF && b[i+1] == 0xFF {
		if i+5 > len(b) || (int(b[i+2])+int(b[i+3])+int(b[i+4]))&0xFF != 0 {
			return 0, 0, nil, false
		}
		n = int(b[i+2])<<8 | int(b[i+3])
		i += 5
	} else {
		if (int(b[i])+int(b[i+1]))&0xFF != 0 {
			return 0, 0, nil, false
		}
		n = int(b[i])
		i += 2
	}
	// TFI+data, DCS, postamble: nothing more, nothing less.
	if n == 0 || i+n+2 != len(b) || b[i+n+1] != 0x00 {
		return 0, 0, nil, false
	}
	sum := 0
	for _, x := range b[i : i+n+1] {
		sum += int(x)
	}
	if sum&0xFF != 0 {
		return 0, 0, nil, false
	}
	return kindInfo, b[i], b[i+1 : i+n], true
}
