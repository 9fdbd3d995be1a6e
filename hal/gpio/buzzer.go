package gpio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio"

	"admit/clock"
	"admit/hal"
)

// Buzzer patterns a gate plays: on/off durations, starting "on".
var (
	PatternAccept = []time.Duration{80 * time.Millisecond}
	PatternReject = []time.Duration{150 * time.Millisecond, 80 * time.Millisecond, 150 * time.Millisecond, 80 * time.Millisecond, 150 * time.Millisecond}
	PatternAttend = []time.Duration{40 * time.Millisecond, 40 * time.Millisecond, 40 * time.Millisecond}
)

// Buzzer is an active buzzer (it sounds while its pin is high) on one pin.
type Buzzer struct {
	pin gpio.PinOut
	clk clock.Clock

	mu sync.Mutex // one pattern at a time
}

var _ hal.Buzzer = (*Buzzer)(nil)

// NewBuzzer returns a silent Buzzer on pin; clk nil means the wall clock.
func NewBuzzer(pin gpio.PinOut, clk clock.Clock) (*Buzzer, error) {
	if clk == nil {
		clk = clock.Real{}
	}
	b := &Buzzer{pin: pin, clk: clk}
	if err := pin.Out(gpio.Low); err != nil {
		return nil, fmt.Errorf("buzzer %s: %w", pin, err)
	}
	return b, nil
}

// Beep plays pattern and returns when it is over or ctx ends; the buzzer is
// silent afterwards either way.
func (b *Buzzer) Beep(ctx context.Context, pattern ...time.Duration) (err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	defer func() {
		if oerr := b.pin.Out(gpio.Low); oerr != nil && err == nil {
			err = fmt.Errorf("buzzer %s: %w", b.pin, oerr)
		}
	}()
	for i, d := range pattern {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := b.pin.Out(gpio.Level(i%2 == 0)); err != nil {
			return fmt.Errorf("buzzer %s: %w", b.pin, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-b.clk.After(d):
		}
	}
	return nil
}

func (b *Buzzer) String() string { return fmt.Sprintf("buzzer(%s)", b.pin) }

// Halt silences the buzzer.
func (b *Buzzer) Halt() error { return b.pin.Out(gpio.Low) }
