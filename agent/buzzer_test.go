package agent_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"admit/agent"
)

// stuckBuzzer holds every beep until the test releases it, like a buzzer
// playing a long pattern.
type stuckBuzzer struct {
	started chan []time.Duration
	release chan struct{}
}

func (b *stuckBuzzer) Beep(ctx context.Context, pattern ...time.Duration) error {
	b.started <- pattern
	select {
	case <-b.release:
	case <-ctx.Done():
	}
	return nil
}

// TestBuzzerDoesNotHoldTheGate: while the buzzer still plays one
// attendee's pattern, the next attendee is decided; the buzzer then plays
// the newest pattern, not a backlog of stale ones.
func TestBuzzerDoesNotHoldTheGate(t *testing.T) {
	ev := newEvent(t, time.Now(), 3, "single")
	bz := &stuckBuzzer{started: make(chan []time.Duration, 8), release: make(chan struct{})}
	g := seededGate(t, ev, agent.Config{Device: "gate-1", Gate: "Gate 1", Buzzer: bz})
	var releaseOnce sync.Once
	release := func() { releaseOnce.Do(func() { close(bz.release) }) }
	t.Cleanup(release) // runs before the gate stops, even when a check fails

	// Three attendees in a row; none may wait for the buzzer.
	decided := make(chan []agent.Decision, 1)
	go func() {
		decided <- []agent.Decision{g.present(t, ev.tickets[0].Code), g.present(t, ev.tickets[1].Code), g.present(t, ev.tickets[1].Code)}
	}()
	select {
	case ds := <-decided:
		if !ds[0].Admitted || !ds[1].Admitted || ds[2].Admitted {
			t.Fatalf("decisions: %+v", ds)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("decisions wait for the buzzer")
	}
	// The buzzer ends on the newest pattern, the refusal (it may skip the
	// second accept: a pattern not yet started is replaced).
	release()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case p := <-bz.started:
			if len(p) == 3 {
				return
			}
		case <-deadline:
			t.Fatal("the refusal pattern never played")
		}
	}
}
