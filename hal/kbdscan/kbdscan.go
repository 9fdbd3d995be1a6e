package kbdscan

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"
	"unsafe"

	"admit/clock"
	"admit/hal"
)

// Event is one Linux input_event without its timestamp.
type Event struct {
	Type  uint16
	Code  uint16
	Value int32 // keys: 1 press, 0 release, 2 autorepeat
}

// eventSize is sizeof(struct input_event): a timeval of two longs, then
// type, code and value.
var eventSize = 2*int(unsafe.Sizeof(uintptr(0))) + 8

// DecodeEvent decodes one input_event in the host's byte order and word size.
func DecodeEvent(b []byte) Event {
	o := eventSize - 8
	return Event{
		Type:  binary.NativeEndian.Uint16(b[o:]),
		Code:  binary.NativeEndian.Uint16(b[o+2:]),
		Value: int32(binary.NativeEndian.Uint32(b[o+4:])),
	}
}

// AppendEvent appends e as an input_event with a zero timestamp.
func AppendEvent(dst []byte, e Event) []byte {
	b := make([]byte, eventSize)
	o := eventSize - 8
	binary.NativeEndian.PutUint16(b[o:], e.Type)
	binary.NativeEndian.PutUint16(b[o+2:], e.Code)
	binary.NativeEndian.PutUint32(b[o+4:], uint32(e.Value))
	return append(dst, b...)
}

// ErrTooLong: a symbol went past Opts.MaxLen without an end; it is dropped.
var ErrTooLong = errors.New("kbdscan: symbol too long")

// Opts configures a Scanner.
type Opts struct {
	Name string // credential source ("scanner0")
	// Terminators end a symbol (Enter and keypad Enter). Tab is a common
	// alternative scanner setting.
	Terminators []uint16
	// Timeout ends a symbol after this long without a key (50ms), for
	// scanners without a terminator. Negative: terminator only.
	Timeout time.Duration
	MaxLen  int         // longest symbol (4096)
	Clock   clock.Clock // clock.Real{}
}

// Scanner assembles symbols from a stream of input events. It owns one
// goroutine that reads the stream; Close stops it.
type Scanner struct {
	opts   Opts
	src    io.Closer
	events chan Event
	errc   chan error
	stop   chan struct{}
	wg     sync.WaitGroup
	close  func() error

	// Read state, used by one reader at a time.
	shift, caps bool
	buf         []byte
}

var _ hal.CredentialReader = (*Scanner)(nil)

func newScanner(src io.ReadCloser, opts *Opts) *Scanner {
	var o Opts
	if opts != nil {
		o = *opts
	}
	if o.Name == "" {
		o.Name = "scanner0"
	}
	if o.Terminators == nil {
		o.Terminators = []uint16{keyEnter, keyKPEnter}
	}
	if o.Timeout == 0 {
		o.Timeout = 50 * time.Millisecond
	}
	if o.MaxLen == 0 {
		o.MaxLen = 4096
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	s := &Scanner{opts: o, src: src, events: make(chan Event, 64), errc: make(chan error, 1), stop: make(chan struct{})}
	s.close = src.Close
	s.wg.Add(1)
	go s.pump(src)
	return s
}

// pump reads events until the source fails or is closed.
func (s *Scanner) pump(r io.Reader) {
	defer s.wg.Done()
	b := make([]byte, eventSize)
	for {
		if _, err := io.ReadFull(r, b); err != nil {
			s.errc <- err
			return
		}
		select {
		case s.events <- DecodeEvent(b):
		case <-s.stop:
			return
		}
	}
}

// Close releases the device and stops the reading goroutine.
func (s *Scanner) Close() error {
	close(s.stop)
	err := s.close()
	s.wg.Wait()
	return err
}

func (s *Scanner) String() string { return "kbdscan " + s.opts.Name }

// Read returns the next symbol as a credential. The payload is the symbol
// text; whether it is a signed ticket or an opaque legacy code is for the
// ticket layer to say, so it is marked hal.AssuranceHigh here.
func (s *Scanner) Read(ctx context.Context) (hal.Credential, error) {
	var quiet <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return hal.Credential{}, ctx.Err()
		case err := <-s.errc:
			s.errc <- err // stays failed
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe) {
				err = fmt.Errorf("device closed: %w", err)
			}
			return hal.Credential{}, fmt.Errorf("kbdscan %s: %w", s.opts.Name, err)
		case <-quiet:
			quiet = nil
			if c, ok := s.symbol(); ok {
				return c, nil
			}
		case e := <-s.events:
			done, err := s.key(e)
			if err != nil {
				return hal.Credential{}, err
			}
			if done {
				if c, ok := s.symbol(); ok {
					return c, nil
				}
				continue
			}
			if e.Type == evKey && e.Value == 1 && s.opts.Timeout > 0 && len(s.buf) > 0 {
				quiet = s.opts.Clock.After(s.opts.Timeout)
			}
		}
	}
}

// key applies one event; done reports a terminator.
func (s *Scanner) key(e Event) (done bool, err error) {
	if e.Type != evKey {
		return false, nil
	}
	switch e.Code {
	case keyLeftShift, keyRightShift:
		s.shift = e.Value != 0
		return false, nil
	}
	if e.Value != 1 { // releases and autorepeat
		return false, nil
	}
	if e.Code == keyCapsLock {
		s.caps = !s.caps
		return false, nil
	}
	for _, t := range s.opts.Terminators {
		if e.Code == t {
			return true, nil
		}
	}
	cs, ok := usKeys[e.Code]
	if !ok {
		return false, nil // keys that type nothing
	}
	c := cs[0]
	if s.shift {
		c = cs[1]
	}
	if s.caps && isLetter(c) {
		c ^= 0x20
	}
	if len(s.buf) >= s.opts.MaxLen {
		s.buf = s.buf[:0]
		return false, fmt.Errorf("kbdscan %s: %w (over %d characters)", s.opts.Name, ErrTooLong, s.opts.MaxLen)
	}
	s.buf = append(s.buf, c)
	return false, nil
}

func (s *Scanner) symbol() (hal.Credential, bool) {
	if len(s.buf) == 0 {
		return hal.Credential{}, false
	}
	c := hal.Credential{
		Source:    s.opts.Name,
		Kind:      "barcode",
		Payload:   append([]byte(nil), s.buf...),
		Assurance: hal.AssuranceHigh,
		At:        s.opts.Clock.Now(),
	}
	s.buf = s.buf[:0]
	return c, true
}

// Sim is the simulated twin of a keyboard-mode scanner.
type Sim struct {
	w *io.PipeWriter
}

// NewSim returns a Scanner and the twin that types into it.
func NewSim(opts *Opts) (*Scanner, *Sim) {
	r, w := io.Pipe()
	return newScanner(r, opts), &Sim{w: w}
}

// Type types code as a scanner does (shift held around upper-case letters
// and symbols), followed by term unless term is 0.
func (s *Sim) Type(code string, term uint16) error {
	evs, err := KeyEvents(code, term)
	if err != nil {
		return err
	}
	var b []byte
	for _, e := range evs {
		b = AppendEvent(b, e)
	}
	_, err = s.w.Write(b)
	return err
}

// Unplug ends the event stream, as when the scanner is pulled out.
func (s *Sim) Unplug() error { return s.w.Close() }

// KeyEvents returns the input events that type code, then term (0: none).
func KeyEvents(code string, term uint16) ([]Event, error) {
	var evs []Event
	press := func(k uint16, v int32) {
		evs = append(evs, Event{Type: evKey, Code: k, Value: v}, Event{Type: evSyn})
	}
	for i := 0; i < len(code); i++ {
		k, ok := charKeys[code[i]]
		if !ok {
			return nil, fmt.Errorf("kbdscan: %s cannot be typed", strconv.QuoteRune(rune(code[i])))
		}
		if k.shift {
			press(keyLeftShift, 1)
		}
		press(k.code, 1)
		press(k.code, 0)
		if k.shift {
			press(keyLeftShift, 0)
		}
	}
	if term != 0 {
		press(term, 1)
		press(term, 0)
	}
	return evs, nil
}
