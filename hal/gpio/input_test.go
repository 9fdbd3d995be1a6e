package gpio

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"

	"admit/clock"
)

// recPin records each level with the fake time it was set at.
type recPin struct {
	gpiotest.Pin
	clk   *clock.Fake
	t0    time.Time
	steps []string
}

func (p *recPin) Out(l gpio.Level) error {
	p.steps = append(p.steps, p.clk.Now().Sub(p.t0).String()+"="+l.String())
	return p.Pin.Out(l)
}

func TestBuzzerPattern(t *testing.T) {
	t0 := time.Unix(0, 0)
	clk := clock.NewAuto(t0)
	pin := &recPin{Pin: gpiotest.Pin{N: "GPIO18"}, clk: clk, t0: t0}
	b, err := NewBuzzer(pin, clk)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Beep(context.Background(), PatternReject...); err != nil {
		t.Fatal(err)
	}
	want := []string{"0s=Low", "0s=High", "150ms=Low", "230ms=High", "380ms=Low", "460ms=High", "610ms=Low"}
	if !reflect.DeepEqual(pin.steps, want) {
		t.Fatalf("steps %v\nwant  %v", pin.steps, want)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Beep(ctx, time.Hour); !errors.Is(err, context.Canceled) || pin.Read() != gpio.Low {
		t.Fatalf("cancelled beep: %v, pin %v", err, pin.Read())
	}
}

func newEdgePin() *gpiotest.Pin {
	return &gpiotest.Pin{N: "GPIO24", EdgesChan: make(chan gpio.Level, 16)}
}

// A bounce shorter than the debounce time is ignored; a stable activation
// counts once, and the line must go inactive before the next one counts.
func TestPassageDebounce(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	pin := newEdgePin()
	p, err := NewPassage(pin, InputOpts{ActiveLow: true, Debounce: 20 * time.Millisecond, EdgeWait: time.Millisecond, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if pin.Read() != gpio.High || pin.P != gpio.PullUp {
		t.Fatalf("active-low input idles %v with pull %v", pin.Read(), pin.P)
	}
	done := make(chan error, 1)
	go func() { done <- p.WaitPassage(context.Background()) }()

	// Bounce: low, then high again before the debounce time is over.
	armed := clk.Armed()
	pin.EdgesChan <- gpio.Low
	<-armed
	_ = pin.Out(gpio.High) // the line bounced back during the wait
	pin.EdgesChan <- gpio.High
	clk.Advance(20 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("bounce counted as a passage: %v", err)
	default:
	}
	// A real passage: low and staying low.
	armed = clk.Armed()
	pin.EdgesChan <- gpio.Low
	<-armed
	clk.Advance(20 * time.Millisecond)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Still low: a repeated edge at the same level is not a new passage;
	// cancel ends the wait.
	ctx, cancel := context.WithCancel(context.Background())
	go func() { done <- p.WaitPassage(ctx) }()
	pin.EdgesChan <- gpio.Low
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}
	if clk.Pending() != 0 {
		t.Fatal("a repeated low edge started a debounce")
	}
}

func TestButtonPress(t *testing.T) {
	clk := clock.NewAuto(time.Unix(0, 0))
	pin := newEdgePin()
	b, err := NewButton(pin, InputOpts{EdgeWait: time.Millisecond, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	pin.EdgesChan <- gpio.High
	if err := b.WaitPress(context.Background()); err != nil {
		t.Fatal(err)
	}
	pin.EdgesChan <- gpio.Low
	pin.EdgesChan <- gpio.High
	if err := b.WaitPress(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := NewButton(&gpiotest.Pin{N: "X"}, InputOpts{}); err == nil {
		t.Fatal("pin without edge detection accepted")
	}
}
