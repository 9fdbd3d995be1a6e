// Package clock is the time source admit's hardware drivers wait on. Drivers
// take a Clock through their Opts and never sleep on their own, so tests run
// on a Fake whose time moves only when the test (or the driver's own waiting,
// in auto mode) moves it.
package clock

import (
	"sort"
	"sync"
	"time"
)

// Clock tells the time and arms one-shot timers.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time                         { return time.Now() }
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Fake is a Clock for tests. In manual mode timers fire when Advance moves
// time past them. In auto mode (NewAuto) every After moves time forward by d
// at once and fires: a polling loop then runs through its deadline in
// virtual time, without waiting.
type Fake struct {
	mu      sync.Mutex // guards the fields below
	now     time.Time
	auto    bool
	waiters []waiter
	armed   chan struct{} // closed and replaced whenever a timer is armed
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake returns a manual Fake at start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, armed: make(chan struct{})}
}

// NewAuto returns an auto-advancing Fake at start.
func NewAuto(start time.Time) *Fake {
	f := NewFake(start)
	f.auto = true
	return f
}

// Now returns the fake time.
func (f *Fake) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// After returns a channel that receives the fake time once it reaches
// Now()+d.
func (f *Fake) After(d time.Duration) <-chan time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := make(chan time.Time, 1)
	if d < 0 {
		d = 0
	}
	if f.auto {
		f.now = f.now.Add(d)
		f.fireLocked()
		ch <- f.now
		return ch
	}
	if d == 0 {
		ch <- f.now
		return ch
	}
	f.waiters = append(f.waiters, waiter{at: f.now.Add(d), ch: ch})
	close(f.armed)
	f.armed = make(chan struct{})
	return ch
}

// Advance moves time forward by d and fires the timers it passes.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	f.fireLocked()
}

// Pending returns how many timers are armed and not fired.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// Armed returns a channel closed the next time a timer is armed; tests use
// it to advance time only once the code under test waits.
func (f *Fake) Armed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.armed
}

func (f *Fake) fireLocked() {
	sort.SliceStable(f.waiters, func(i, j int) bool { return f.waiters[i].at.Before(f.waiters[j].at) })
	keep := f.waiters[:0]
	for _, w := range f.waiters {
		if w.at.After(f.now) {
			keep = append(keep, w)
			continue
		}
		w.ch <- f.now
	}
	f.waiters = keep
}
