package gpio

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"

	"admit/hal"
)

// Indicator is a green and a red LED on two pins (amber lights both). Either
// pin may be nil.
type Indicator struct {
	green, red gpio.PinOut

	mu    sync.Mutex // guards color
	color hal.Color
}

// NewIndicator returns an Indicator with both LEDs off.
func NewIndicator(green, red gpio.PinOut) (*Indicator, error) {
	ind := &Indicator{green: green, red: red}
	if err := ind.Set(hal.Off); err != nil {
		return nil, err
	}
	return ind, nil
}

// Set lights the indicator in c.
func (ind *Indicator) Set(c hal.Color) error {
	ind.mu.Lock()
	defer ind.mu.Unlock()
	g := c == hal.Green || c == hal.Amber
	r := c == hal.Red || c == hal.Amber
	for _, p := range []struct {
		pin gpio.PinOut
		on  bool
	}{{ind.green, g}, {ind.red, r}} {
		if p.pin == nil {
			continue
		}
		if err := p.pin.Out(gpio.Level(p.on)); err != nil {
			return fmt.Errorf("indicator %s: %w", p.pin, err)
		}
	}
	ind.color = c
	return nil
}

// Color returns the color last set.
func (ind *Indicator) Color() hal.Color {
	ind.mu.Lock()
	defer ind.mu.Unlock()
	return ind.color
}
