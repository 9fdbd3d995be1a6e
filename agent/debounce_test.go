package agent

import (
	"testing"
	"time"
)

func TestDebouncer(t *testing.T) {
	d := newDebouncer(2 * time.Second)
	t0 := time.Date(2026, 11, 27, 19, 0, 0, 0, time.UTC)
	steps := []struct {
		code string
		at   time.Duration
		want bool
	}{
		{"A", 0, true},
		{"A", 500 * time.Millisecond, false}, // next frames
		{"B", 600 * time.Millisecond, true},
		{"A", 2 * time.Second, false}, // still held up: window extends
		{"A", 5 * time.Second, true},  // presented again
	}
	for _, s := range steps {
		if got := d.fresh(s.code, t0.Add(s.at)); got != s.want {
			t.Errorf("%s at %v: fresh=%v want %v", s.code, s.at, got, s.want)
		}
	}
}
