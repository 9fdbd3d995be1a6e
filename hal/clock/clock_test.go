package clock

import (
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
