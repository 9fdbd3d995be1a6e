// Package clock is admit's one source of time. Everything that tells the
// time or waits — the gate's pipeline and passage timer, the uplink's and
// the peer links' backoffs, GPIO drivers, the fleet's service and hub —
// takes a Clock (nil meaning Real) and never calls the time package's
// wall-clock functions itself; only package main and this package do
// (TestNoWallTimeOutsideClock enforces it). Tests run on a Fake whose time
// moves only when the test (or, in auto mode, the code's own waiting)
// moves it.
//
// The exception is a deadline that bounds I/O: a socket's read or write
// deadline, which net.Conn compares with the wall clock whatever Clock the
// caller runs on (Deadline gives those), and a context.WithTimeout around
// an HTTP request or a shutdown. Timing that decides something — a
// request "answered too late", a backoff, a passage timeout — follows the
// Clock.
//
// clock is a leaf: it imports nothing of ours, so hal, decode, agent and
// fleet may all import it.
package clock

import (
	"slices"
	"sync"
	"time"
)

// Clock tells the time and arms one-shot timers.
type Clock interface {
	Now() time.Time
	// After returns a channel that receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
	// AfterFunc calls f, on a goroutine of its own (Real) or on the
	// goroutine that moves time past it (Fake), once d has passed, unless
	// the returned Timer is stopped first.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a timer armed by AfterFunc.
type Timer interface {
	// Stop prevents the timer from firing; it reports whether it did so
	// (false: the timer had already fired or been stopped).
	Stop() bool
}

// Real is the wall clock.
type Real struct{}

func (Real) Now() time.Time                         { return time.Now() }
func (Real) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (Real) AfterFunc(d time.Duration, f func()) Timer {
	return time.AfterFunc(d, f)
}

// Deadline returns the wall-clock time d from now, for deadlines the
// operating system enforces (net.Conn's SetDeadline, SetReadDeadline,
// SetWriteDeadline; websocket.Conn's WriteControl). Never use it for a
// decision or a wait of our own: those follow the injected Clock.
func Deadline(d time.Duration) time.Time { return time.Now().Add(d) }

// Fake is a Clock for tests. In manual mode (NewFake) timers fire when
// Advance moves time to or past them, in the order they are due (in the
// order they were armed when due at the same instant). In auto mode
// (NewAuto) every After also moves time forward by d at once and fires: a
// polling loop then runs through its deadline in virtual time, without
// waiting. AfterFunc never moves time, in either mode.
//
// An AfterFunc function runs on the goroutine that moves time past it (the
// caller of Advance, or of After in auto mode) before that call returns,
// never under the Fake's lock: it may use the Fake. A timer due at once
// (d <= 0) fires the next time time moves, which may be Advance(0).
type Fake struct {
	mu      sync.Mutex // guards the fields below
	now     time.Time
	auto    bool
	seq     uint64    // arming order, for timers due at the same instant
	waiters []*waiter // armed, not fired nor stopped
	armed   chan struct{}
}

// waiter is one armed timer: ch (After) or f (AfterFunc) is set.
type waiter struct {
	at  time.Time
	seq uint64
	ch  chan time.Time
	f   func()
}

// NewFake returns a manual Fake at start.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, armed: make(chan struct{})}
}

// NewAuto returns an auto-advancing Fake at start. Give it to one polling
// loop; two loops waiting on it would push each other's time forward.
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
	ch := make(chan time.Time, 1)
	d = max(d, 0)
	f.mu.Lock()
	if f.auto {
		f.now = f.now.Add(d)
		f.mu.Unlock()
		f.fire()
		ch <- f.Now()
		return ch
	}
	defer f.mu.Unlock()
	if d == 0 {
		ch <- f.now
		return ch
	}
	f.armLocked(&waiter{at: f.now.Add(d), ch: ch})
	return ch
}

// AfterFunc arms a timer that calls fn once the fake time reaches
// Now()+d (see Fake for the goroutine it runs on).
func (f *Fake) AfterFunc(d time.Duration, fn func()) Timer {
	f.mu.Lock()
	defer f.mu.Unlock()
	w := &waiter{at: f.now.Add(max(d, 0)), f: fn}
	f.armLocked(w)
	return fakeTimer{f: f, w: w}
}

func (f *Fake) armLocked(w *waiter) {
	f.seq++
	w.seq = f.seq
	f.waiters = append(f.waiters, w)
	close(f.armed)
	f.armed = make(chan struct{})
}

type fakeTimer struct {
	f *Fake
	w *waiter
}

func (t fakeTimer) Stop() bool {
	t.f.mu.Lock()
	defer t.f.mu.Unlock()
	i := slices.Index(t.f.waiters, t.w)
	if i < 0 {
		return false
	}
	t.f.waiters = slices.Delete(t.f.waiters, i, i+1)
	return true
}

// Advance moves time forward by d and fires the timers it reaches,
// AfterFunc functions included, before it returns.
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(max(d, 0))
	f.mu.Unlock()
	f.fire()
}

// Pending returns how many timers are armed and not fired nor stopped.
func (f *Fake) Pending() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.waiters)
}

// Armed returns a channel closed the next time a timer is armed (by After
// with d > 0 in manual mode, or by AfterFunc); tests use it to advance time
// only once the code under test waits.
func (f *Fake) Armed() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.armed
}

// fire fires every timer due by now, earliest first, one at a time and
// without the lock: a function may stop a timer that is due too, or arm
// one that is due already, and fire sees it.
func (f *Fake) fire() {
	for {
		f.mu.Lock()
		next := -1
		for i, w := range f.waiters {
			if w.at.After(f.now) {
				continue
			}
			if next < 0 || w.at.Before(f.waiters[next].at) || (w.at.Equal(f.waiters[next].at) && w.seq < f.waiters[next].seq) {
				next = i
			}
		}
		if next < 0 {
			f.mu.Unlock()
			return
		}
		w, now := f.waiters[next], f.now
		f.waiters = slices.Delete(f.waiters, next, next+1)
		f.mu.Unlock()
		if w.ch != nil {
			w.ch <- now
		} else {
			w.f()
		}
	}
}
