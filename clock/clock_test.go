package clock

import (
	"slices"
	"testing"
	"time"
)

func TestFakeManual(t *testing.T) {
	t0 := time.Unix(1000, 0)
	f := NewFake(t0)
	armed := f.Armed()
	a := f.After(10 * time.Millisecond)
	b := f.After(5 * time.Millisecond)
	select {
	case <-armed:
	default:
		t.Fatal("Armed not closed after After")
	}
	f.Advance(5 * time.Millisecond)
	select {
	case <-a:
		t.Fatal("10ms timer fired at 5ms")
	case got := <-b:
		if !got.Equal(t0.Add(5 * time.Millisecond)) {
			t.Fatalf("fired at %v", got)
		}
	}
	if f.Pending() != 1 {
		t.Fatalf("pending %d", f.Pending())
	}
	f.Advance(time.Hour)
	<-a
	if f.Pending() != 0 {
		t.Fatal("timer left armed")
	}
}

func TestFakeAuto(t *testing.T) {
	t0 := time.Unix(1000, 0)
	f := NewAuto(t0)
	for i := 0; i < 3; i++ {
		<-f.After(time.Second)
	}
	if got := f.Now().Sub(t0); got != 3*time.Second {
		t.Fatalf("auto clock moved %v", got)
	}
	var _ Clock = Real{}
}

// TestFakeAfterFunc: functions run in the order they are due, on the
// caller of Advance, before Advance returns; a stopped timer never runs.
func TestFakeAfterFunc(t *testing.T) {
	t0 := time.Unix(1000, 0)
	f := NewFake(t0)
	var got []string
	armed := f.Armed()
	f.AfterFunc(20*time.Millisecond, func() { got = append(got, "b@"+f.Now().Sub(t0).String()) })
	f.AfterFunc(10*time.Millisecond, func() { got = append(got, "a@"+f.Now().Sub(t0).String()) })
	stopped := f.AfterFunc(15*time.Millisecond, func() { got = append(got, "stopped") })
	f.AfterFunc(20*time.Millisecond, func() { got = append(got, "c") }) // same instant as b, armed after it
	select {
	case <-armed:
	default:
		t.Fatal("Armed not closed after AfterFunc")
	}
	if !stopped.Stop() {
		t.Fatal("Stop of an armed timer reported false")
	}
	if stopped.Stop() {
		t.Fatal("second Stop reported true")
	}
	f.Advance(9 * time.Millisecond)
	if len(got) != 0 {
		t.Fatalf("fired early: %v", got)
	}
	f.Advance(time.Hour) // time jumps past all: each sees the time it fired at
	if want := []string{"a@1h0m0.009s", "b@1h0m0.009s", "c"}; !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	if f.Pending() != 0 {
		t.Fatalf("pending %d", f.Pending())
	}
}

// TestFakeAfterFuncReentrant: a function may use the Fake, stop a timer
// due at the same time, and arm one that is due at once, which fires in
// the same Advance; one due at once outside a function waits for time to
// move (Advance(0) is enough).
func TestFakeAfterFuncReentrant(t *testing.T) {
	f := NewFake(time.Unix(0, 0))
	var got []string
	var later Timer
	f.AfterFunc(time.Second, func() {
		got = append(got, "first")
		if !later.Stop() {
			t.Error("could not stop a timer due at the same instant")
		}
		f.AfterFunc(0, func() { got = append(got, "armed inside") })
	})
	later = f.AfterFunc(time.Second, func() { got = append(got, "later") })
	f.Advance(time.Second)
	if want := []string{"first", "armed inside"}; !slices.Equal(got, want) {
		t.Fatalf("fired %v, want %v", got, want)
	}
	ran := false
	tm := f.AfterFunc(0, func() { ran = true })
	if ran {
		t.Fatal("AfterFunc(0) ran inside AfterFunc")
	}
	f.Advance(0)
	if !ran || tm.Stop() {
		t.Fatalf("AfterFunc(0) after Advance(0): ran %v", ran)
	}
}

// TestFakeAutoAfterFunc: in auto mode only After moves time; it fires the
// functions it passes first.
func TestFakeAutoAfterFunc(t *testing.T) {
	t0 := time.Unix(0, 0)
	f := NewAuto(t0)
	fired := time.Time{}
	f.AfterFunc(1500*time.Millisecond, func() { fired = f.Now() })
	if !f.Now().Equal(t0) {
		t.Fatal("AfterFunc moved an auto clock")
	}
	<-f.After(time.Second)
	if !fired.IsZero() {
		t.Fatal("fired before its time")
	}
	if at := <-f.After(time.Second); !at.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("After delivered %v", at)
	}
	if !fired.Equal(t0.Add(2 * time.Second)) {
		t.Fatalf("fired at %v", fired)
	}
}

func TestReal(t *testing.T) {
	var c Clock = Real{}
	done := make(chan struct{})
	c.AfterFunc(0, func() { close(done) })
	<-done
	if tm := c.AfterFunc(time.Hour, func() { t.Error("fired") }); !tm.Stop() {
		t.Fatal("Stop of an hour's timer reported false")
	}
	before := c.Now()
	<-c.After(0)
	if d := Deadline(time.Minute); d.Sub(before) < time.Minute {
		t.Fatalf("Deadline(1m) is %v after an earlier Now", d.Sub(before))
	}
}
