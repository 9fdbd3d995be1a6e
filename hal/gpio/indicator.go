package gpio

import (
	"fmt"
	"sync"

	"periph.io/x/conn/v3/gpio"

	"admit/hal"
)

// Indicator is a green and a red LED, and optionally an amber one, each on
// its own pin; or an RGB LED with its red and green channels on the red and
// green pins. Without an amber LED, amber lights green and red together
// (yellow on an RGB LED). Any pin may be nil.
type Indicator struct {
	green, red, amber gpio.PinOut

	mu    sync.Mutex // guards color
	color hal.Color
}

// NewIndicator returns an Indicator of a green and a red LED, both off.
func NewIndicator(green, red gpio.PinOut) (*Indicator, error) {
	return NewIndicator3(green, red, nil)
}

// NewIndicator3 returns an Indicator of three discrete LEDs, all off.
func NewIndicator3(green, red, amber gpio.PinOut) (*Indicator, error) {
	ind := &Indicator{green: green, red: red, amber: amber}
	if err := ind.Set(hal.Off); err != nil {
		return nil, err
	}
	return ind, nil
}

// Set lights the indicator in c.
func (ind *Indicator) Set(c hal.Color) error {
	ind.mu.Lock()
	defer ind.mu.Unlock()
	mixed := c == hal.Amber && ind.amber == nil // amber from green + red
	g := c == hal.Green || mixed
	r := c == hal.Red || mixed
	a := c == hal.Amber && ind.amber != nil
	for _, p := range []struct {
		pin gpio.PinOut
		on  bool
	}{{ind.green, g}, {ind.red, r}, {ind.amber, a}} {
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
