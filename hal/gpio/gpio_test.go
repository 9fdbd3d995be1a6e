package gpio

import (
	"context"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"admit/clock"
	"admit/hal"
)

func TestRelayActiveLowPulse(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO17"}
	r, err := NewRelay(pin, RelayOpts{ActiveLow: true})
	if err != nil {
		t.Fatal(err)
	}
	if pin.L != gpio.High {
		t.Fatalf("released active-low relay: pin %v, want High", pin.L)
	}
	if err := r.Pulse(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.Low {
		t.Fatalf("pulsing active-low relay: pin %v, want Low", pin.L)
	}
	if err := r.Halt(); err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.High || r.Pulses() != 1 {
		t.Fatalf("after Halt: pin %v pulses %d", pin.L, r.Pulses())
	}
}

func TestRelayReleasesAfterPulse(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO17"}
	r, err := NewRelay(pin, RelayOpts{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Pulse(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	// The release is driven by the relay's own timer: wait for the edge
	// rather than for a guessed duration.
	deadline := time.After(10 * time.Second)
	for pin.Read() != gpio.Low {
		select {
		case <-deadline:
			t.Fatal("relay never released")
		case <-time.After(time.Millisecond):
		}
	}
}

// TestRelayPulseFollowsClock: the relay stays closed for exactly the pulse
// length on its clock; a new pulse restarts it; Halt cancels the release
// timer.
func TestRelayPulseFollowsClock(t *testing.T) {
	pin := &gpiotest.Pin{N: "GPIO17"}
	clk := clock.NewFake(time.Unix(0, 0))
	r, err := NewRelay(pin, RelayOpts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Pulse(ctx, 800*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	clk.Advance(799 * time.Millisecond)
	if pin.Read() != gpio.High {
		t.Fatal("relay released before the end of its pulse")
	}
	clk.Advance(time.Millisecond)
	if pin.Read() != gpio.Low {
		t.Fatal("relay still closed at the end of its pulse")
	}
	// A second attendee 500 ms into a pulse gets a full pulse of their own.
	if err := r.Pulse(ctx, 800*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	clk.Advance(500 * time.Millisecond)
	if err := r.Pulse(ctx, 800*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	clk.Advance(799 * time.Millisecond)
	if pin.Read() != gpio.High || clk.Pending() != 1 {
		t.Fatalf("restarted pulse: pin %v, %d timers armed", pin.L, clk.Pending())
	}
	clk.Advance(time.Millisecond)
	if pin.Read() != gpio.Low || r.Pulses() != 3 {
		t.Fatalf("after the restarted pulse: pin %v, pulses %d", pin.L, r.Pulses())
	}
	if err := r.Pulse(ctx, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := r.Halt(); err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.Low || clk.Pending() != 0 {
		t.Fatalf("after Halt: pin %v, %d timers armed", pin.L, clk.Pending())
	}
}

func TestIndicator(t *testing.T) {
	g, r := &gpiotest.Pin{N: "G"}, &gpiotest.Pin{N: "R"}
	ind, err := NewIndicator(g, r)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    hal.Color
		g, r gpio.Level
	}{{hal.Green, gpio.High, gpio.Low}, {hal.Red, gpio.Low, gpio.High}, {hal.Amber, gpio.High, gpio.High}, {hal.Off, gpio.Low, gpio.Low}} {
		if err := ind.Set(tc.c); err != nil {
			t.Fatal(err)
		}
		if g.Read() != tc.g || r.Read() != tc.r || ind.Color() != tc.c {
			t.Errorf("%v: green %v red %v", tc.c, g.Read(), r.Read())
		}
	}
}

func TestIndicatorThreeLEDs(t *testing.T) {
	g, r, a := &gpiotest.Pin{N: "G"}, &gpiotest.Pin{N: "R"}, &gpiotest.Pin{N: "A"}
	ind, err := NewIndicator3(g, r, a)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c       hal.Color
		g, r, a gpio.Level
	}{
		{hal.Amber, gpio.Low, gpio.Low, gpio.High},
		{hal.Green, gpio.High, gpio.Low, gpio.Low},
		{hal.Red, gpio.Low, gpio.High, gpio.Low},
		{hal.Off, gpio.Low, gpio.Low, gpio.Low},
	} {
		if err := ind.Set(tc.c); err != nil {
			t.Fatal(err)
		}
		if g.Read() != tc.g || r.Read() != tc.r || a.Read() != tc.a {
			t.Errorf("%v: green %v red %v amber %v", tc.c, g.Read(), r.Read(), a.Read())
		}
	}
}
