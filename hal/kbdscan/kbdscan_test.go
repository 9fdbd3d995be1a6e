package kbdscan

import (
	"context"
	"errors"
	"testing"
	"time"

	"admit/clock"
)

var ctx = context.Background()

func TestTypedCodesWithTerminator(t *testing.T) {
	s, sim := NewSim(&Opts{Timeout: -1})
	defer s.Close()
	codes := []string{"AD1NCFOXN%TS3DH/ZW+*.:$-", "4006381333931", "a b-c"}
	typed := make(chan struct{})
	defer func() { <-typed }()
	go func() {
		defer close(typed)
		for _, c := range codes {
			if err := sim.Type(c, keyEnter); err != nil {
				t.Error(err)
			}
		}
	}()
	for _, want := range codes {
		c, err := s.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(c.Payload) != want || c.Kind != "barcode" || c.Source != "scanner0" {
			t.Fatalf("read %q, want %q", c.Payload, want)
		}
	}
}

// The key codes, not a layout, decide the characters: code 16 is "q" on a
// US keyboard and "a" on AZERTY; a scanner set to US sends 16 for "q".
func TestKeyCodesAndCapsLock(t *testing.T) {
	s, sim := NewSim(nil)
	defer s.Close()
	var b []byte
	for _, e := range []Event{
		{evKey, 16, 1}, {evKey, 16, 0}, // q
		{evKey, keyCapsLock, 1}, {evKey, keyCapsLock, 0},
		{evKey, 16, 1}, {evKey, 16, 2}, {evKey, 16, 0}, // Q, autorepeat ignored
		{evKey, 79, 1}, {evKey, 79, 0}, // keypad 1
		{evKey, 125, 1}, {evKey, 125, 0}, // a key that types nothing
		{evKey, keyKPEnter, 1},
	} {
		b = AppendEvent(b, e)
	}
	go sim.w.Write(b)
	c, err := s.Read(ctx)
	if err != nil || string(c.Payload) != "qQ1" {
		t.Fatalf("%q %v", c.Payload, err)
	}
}

func TestSymbolEndsAfterQuiet(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	s, sim := NewSim(&Opts{Clock: clk, Timeout: 30 * time.Millisecond})
	defer s.Close()
	got := make(chan string, 1)
	go func() {
		c, err := s.Read(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- string(c.Payload)
	}()
	if err := sim.Type("ABC", 0); err != nil {
		t.Fatal(err)
	}
	// Each key press arms the quiet timer; advance once all three did.
	for {
		armed := clk.Armed()
		if clk.Pending() >= 3 {
			break
		}
		<-armed
	}
	select {
	case p := <-got:
		t.Fatalf("symbol %q ended before the quiet time", p)
	default:
	}
	clk.Advance(30 * time.Millisecond)
	if p := <-got; p != "ABC" {
		t.Fatalf("got %q", p)
	}
}

func TestUnplugCancelAndLimits(t *testing.T) {
	s, sim := NewSim(&Opts{MaxLen: 4, Timeout: -1})
	go sim.Type("12345", keyEnter)
	if _, err := s.Read(ctx); !errors.Is(err, ErrTooLong) {
		t.Fatalf("too long: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.Read(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancel: %v", err)
	}
	sim.Unplug()
	for i := 0; i < 2; i++ { // stays failed
		if _, err := s.Read(ctx); err == nil {
			t.Fatal("read after unplug")
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := KeyEvents("é", 0); err == nil {
		t.Fatal("untypeable character accepted")
	}
}

func TestEventLayout(t *testing.T) {
	b := AppendEvent(nil, Event{Type: evKey, Code: 30, Value: 1})
	if len(b) != eventSize || (eventSize != 24 && eventSize != 16) {
		t.Fatalf("input_event is %d bytes", len(b))
	}
	if e := DecodeEvent(b); e != (Event{evKey, 30, 1}) {
		t.Fatalf("round trip %+v", e)
	}
}

func TestOpenMissingDevice(t *testing.T) {
	if _, err := Open("/nonexistent/event99", nil); err == nil {
		t.Fatal("opened a missing device")
	}
}
