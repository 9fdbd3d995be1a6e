package gpio

import (
	"context"
	"fmt"
	"time"

	"periph.io/x/conn/v3/gpio"

	"admit/clock"
	"admit/hal"
)

// InputOpts configures a debounced input (passage sensor, button).
type InputOpts struct {
	// ActiveLow: the input is active when the pin reads low (a switch to
	// ground with the pull-up on, most photo-sensors' open-collector output).
	ActiveLow bool
	// Debounce is how long the pin must stay active after the edge (20ms).
	Debounce time.Duration
	// EdgeWait bounds each wait for an edge, so that ctx is looked at
	// between waits (100ms).
	EdgeWait time.Duration
	// Clock times the debounce (clock.Real{}).
	Clock clock.Clock
}

// input is a pin whose inactive→active transitions, once stable for the
// debounce time, count as events.
type input struct {
	name  string
	pin   gpio.PinIn
	opts  InputOpts
	armed bool // the line was seen inactive since the last event
}

func newInput(name string, pin gpio.PinIn, o InputOpts) (*input, error) {
	if o.Debounce == 0 {
		o.Debounce = 20 * time.Millisecond
	}
	if o.EdgeWait == 0 {
		o.EdgeWait = 100 * time.Millisecond
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	pull := gpio.PullDown
	if o.ActiveLow {
		pull = gpio.PullUp
	}
	if err := pin.In(pull, gpio.BothEdges); err != nil {
		return nil, fmt.Errorf("%s %s: %w", name, pin, err)
	}
	in := &input{name: name, pin: pin, opts: o}
	in.armed = !in.active()
	return in, nil
}

func (in *input) active() bool { return (in.pin.Read() == gpio.High) != in.opts.ActiveLow }

// wait blocks until a debounced activation or ctx ends.
func (in *input) wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !in.pin.WaitForEdge(in.opts.EdgeWait) {
			continue
		}
		if !in.active() {
			in.armed = true
			continue
		}
		if !in.armed {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-in.opts.Clock.After(in.opts.Debounce):
		}
		if in.active() {
			in.armed = false
			return nil
		}
		in.armed = true // it bounced back: wait for the next edge
	}
}

// Passage is a turnstile's passage sensor (rotation switch or light
// barrier) on one pin.
type Passage struct{ in *input }

var _ hal.PassageSensor = (*Passage)(nil)

// NewPassage configures pin as a debounced input with edge detection.
func NewPassage(pin gpio.PinIn, opts InputOpts) (*Passage, error) {
	in, err := newInput("passage", pin, opts)
	if err != nil {
		return nil, err
	}
	return &Passage{in: in}, nil
}

// WaitPassage blocks until someone passes (a debounced activation) or ctx
// ends. Call it from one goroutine at a time.
func (p *Passage) WaitPassage(ctx context.Context) error { return p.in.wait(ctx) }

func (p *Passage) String() string { return fmt.Sprintf("passage(%s)", p.in.pin) }

// Button is a staff push button on one pin.
type Button struct{ in *input }

var _ hal.Button = (*Button)(nil)

// NewButton configures pin as a debounced input with edge detection.
func NewButton(pin gpio.PinIn, opts InputOpts) (*Button, error) {
	in, err := newInput("button", pin, opts)
	if err != nil {
		return nil, err
	}
	return &Button{in: in}, nil
}

// WaitPress blocks until a debounced press or ctx ends.
func (b *Button) WaitPress(ctx context.Context) error { return b.in.wait(ctx) }

func (b *Button) String() string { return fmt.Sprintf("button(%s)", b.in.pin) }
