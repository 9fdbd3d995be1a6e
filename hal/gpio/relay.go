package gpio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"admit/clock"
)

// RelayOpts configures a Relay.
type RelayOpts struct {
	// ActiveLow closes the relay by driving the pin low (most opto-isolated
	// relay boards).
	ActiveLow bool
	// Clock times the pulse (clock.Real{}).
	Clock clock.Clock
}

// Relay is a turnstile or door release on one output pin. A pulse closes
// the relay and a timer owned by the Relay opens it again; Halt opens it at
// once and stops the timer.
type Relay struct {
	pin  gpio.PinOut
	opts RelayOpts

	mu     sync.Mutex // guards the fields below
	timer  clock.Timer
	pulses int
}

// NewRelay returns a Relay on pin, released (open).
func NewRelay(pin gpio.PinOut, opts RelayOpts) (*Relay, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	r := &Relay{pin: pin, opts: opts}
	if err := r.drive(false); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Relay) drive(closed bool) error {
	level := gpio.Level(closed != r.opts.ActiveLow)
	if err := r.pin.Out(level); err != nil {
		return fmt.Errorf("relay %s: %w", r.pin, err)
	}
	return nil
}

// Pulse closes the relay for d and returns at once; a later Pulse restarts
// the pulse.
func (r *Relay) Pulse(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.drive(true); err != nil {
		return err
	}
	r.pulses++
	if r.timer != nil {
		r.timer.Stop()
	}
	r.timer = r.opts.Clock.AfterFunc(d, func() {
		r.mu.Lock()
		defer r.mu.Unlock()
		_ = r.drive(false)
	})
	return nil
}

// Pulses returns how many pulses were started.
func (r *Relay) Pulses() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pulses
}

// Halt opens the relay and stops any pending release timer.
func (r *Relay) Halt() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.timer != nil {
		r.timer.Stop()
	}
	return r.drive(false)
}

func (r *Relay) String() string { return fmt.Sprintf("relay(%s)", r.pin) }
