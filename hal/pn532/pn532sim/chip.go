package pn532sim

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
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

// Chip is one emulated PN532. Its methods are safe for concurrent use.
type Chip struct {
	mu sync.Mutex // guards the fields below

	firmware   [4]byte
	sam        bool
	maxRetries [3]byte
	field      []Target // cards in the RF field
	active     Target   // card selected by InListPassiveTarget (Tg 1)
	removeIn   int      // exchanges until the active card leaves; -1 never
	faults     []Fault
	busyPolls  int // status reads that say "busy" before each response
	rng        *rand.Rand

	out       [][]byte // frames waiting to be read, first is current
	busy      int      // busy polls left for out[0]
	last      []byte   // last response frame, for NACK
	rxChain   []byte   // host → card data being chained (MI)
	txChain   []byte   // card → host data still to deliver (MI)
	log       [][]byte // command frames' payloads (TFI stripped), for tests
	stats     Stats
	irqEnable bool
}

// New returns a PN532 with firmware 1.6 (IC 0x32), no card in the field.
func New() *Chip {
	return &Chip{
		firmware: [4]byte{0x32, 0x01, 0x06, 0x07},
		removeIn: -1,
		rng:      rand.New(rand.NewPCG(1, 2)),
	}
}

// Place puts a card in the field.
func (c *Chip) Place(t Target) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.field = append(c.field, t)
}

// Remove takes every card out of the field.
func (c *Chip) Remove() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.field = nil
	c.active = nil
	c.removeIn = -1
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

// MaxRetries returns the RFConfiguration MaxRetries bytes last set.
func (c *Chip) MaxRetries() [3]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxRetries
}

func (c *Chip) takeFaultLocked(f Fault) bool {
	if len(c.faults) > 0 && c.faults[0] == f {
		c.faults = c.faults[1:]
		return true
	}
	return false
}

// readyLocked answers a status read: true when a frame can be read now.
func (c *Chip) readyLocked() bool {
	if len(c.out) == 0 || c.out[0] == nil { // nil: FaultNoReady
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

// readFrameLocked fills p with the current frame (zero padded) and moves on
// to the next one.
func (c *Chip) readFrameLocked(p []byte) {
	f := c.out[0]
	n := copy(p, f)
	clear(p[n:])
	c.out = c.out[1:]
	c.busy = c.busyPolls
}

// writeLocked handles a frame written by the host.
func (c *Chip) writeLocked(b []byte) {
	k, tfi, data, ok := parse(b)
	if !ok {
		// A frame with a start code but wrong lengths or checksums is
		// NACKed; stray bytes (a wake-up transfer) are ignored.
		if bytes.Contains(b, []byte{0x00, 0xFF}) {
			c.out = [][]byte{nack}
			c.busy = c.busyPolls
		}
		return
	}
	switch k {
	case kindACK: // the host aborts the running command
		c.out = nil
		return
	case kindNACK: // the host asks for the last frame again
		if c.last != nil {
			c.out = [][]byte{c.last}
			c.busy = c.busyPolls
		}
		return
	}
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
	resp, ok := c.commandLocked(data)
	var frame []byte
	if !ok {
		frame = errFrame
	} else {
		frame = encode(0xD5, resp)
	}
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
	c.out = [][]byte{ack, frame}
}

// commandLocked runs one command; ok false means a syntax error (error
// frame).
func (c *Chip) commandLocked(d []byte) (resp []byte, ok bool) {
	cmd, p := d[0], d[1:]
	switch cmd {
	case 0x02: // GetFirmwareVersion
		return append([]byte{0x03}, c.firmware[:]...), true
	case 0x14: // SAMConfiguration Mode Timeout [IRQ]
		if len(p) < 1 || p[0] < 1 || p[0] > 4 {
			return nil, false
		}
		c.sam = true
		c.irqEnable = len(p) < 3 || p[2] != 0
		return []byte{0x15}, true
	case 0x32: // RFConfiguration CfgItem data
		if len(p) < 2 {
			return nil, false
		}
		if p[0] == 0x05 {
			if len(p) != 4 {
				return nil, false
			}
			copy(c.maxRetries[:], p[1:])
		}
		return []byte{0x33}, true
	case 0x4A: // InListPassiveTarget MaxTg BrTy
		if len(p) < 2 || p[0] < 1 || p[0] > 2 {
			return nil, false
		}
		if p[1] != 0x00 || len(c.field) == 0 {
			return []byte{0x4B, 0x00}, true
		}
		t := c.field[0]
		c.active = t
		c.rxChain, c.txChain = nil, nil
		if r, ok := t.(interface{ reset() }); ok {
			r.reset()
		}
		atqa := t.ATQA()
		uid := t.UID()
		out := []byte{0x4B, 0x01, 0x01, atqa[0], atqa[1], t.SAK(), byte(len(uid))}
		out = append(out, uid...)
		if t.SAK()&0x20 != 0 {
			out = append(out, t.ATS()...)
		}
		return out, true
	case 0x40: // InDataExchange Tg DataOut
		if len(p) < 1 {
			return nil, false
		}
		return append([]byte{0x41}, c.exchangeLocked(p[0], p[1:])...), true
	case 0x52: // InRelease Tg
		if len(p) != 1 {
			return nil, false
		}
		if p[0] == 0 || p[0] == 1 {
			c.active = nil
		}
		return []byte{0x53, 0x00}, true
	}
	return nil, false
}

// InDataExchange status codes, UM0701-02 table 4.
const (
	stTimeout  = 0x01
	stContext  = 0x27
	stReleased = 0x29
	stMI       = 0x40
)

// maxDataIn is the most card data one InDataExchange response carries.
const maxDataIn = 262

func (c *Chip) exchangeLocked(tg byte, data []byte) []byte {
	if tg&0x3F != 1 || c.active == nil {
		return []byte{stContext}
	}
	if len(c.txChain) > 0 && len(data) == 0 && tg&stMI == 0 {
		return c.deliverLocked()
	}
	c.txChain = nil
	c.rxChain = append(c.rxChain, data...)
	if tg&stMI != 0 { // more to come from the host
		return []byte{0x00}
	}
	apdu := c.rxChain
	c.rxChain = nil
	if c.removeIn == 0 {
		c.field = nil
		c.active = nil
		c.removeIn = -1
		return []byte{stTimeout}
	}
	if c.removeIn > 0 {
		c.removeIn--
	}
	resp, st := c.active.Exchange(apdu)
	if st != 0 {
		return []byte{st}
	}
	c.txChain = resp
	return c.deliverLocked()
}

func (c *Chip) deliverLocked() []byte {
	if len(c.txChain) > maxDataIn {
		out := append([]byte{stMI}, c.txChain[:maxDataIn]...)
		c.txChain = c.txChain[maxDataIn:]
		return out
	}
	out := append([]byte{0x00}, c.txChain...)
	c.txChain = nil
	return out
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

// parse reads a host frame: preamble, start code, lengths and checksums
// must all be right.
func parse(b []byte) (k kind, tfi byte, data []byte, ok bool) {
	i := 0
	for i < len(b) && b[i] == 0 {
		i++
	}
	if i == 0 || i+2 >= len(b) || b[i] != 0xFF {
		return 0, 0, nil, false
	}
	i++
	switch {
	case b[i] == 0x00 && b[i+1] == 0xFF:
		return kindACK, 0, nil, true
	case b[i] == 0xFF && b[i+1] == 0x00:
		return kindNACK, 0, nil, true
	}
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
	if n == 0 || i+n+1 > len(b) {
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
