package sun

import (
	"errors"
	"fmt"
)

// ErrReplay: the read counter is not above the highest already accepted
// for the tag — the URL is a copy of an earlier read (a clone).
var ErrReplay = errors.New("sun: read counter not increasing (replayed SUN message)")

// Counter is the rule "a tag's read counter strictly increases", as a
// value: the highest counter accepted for one tag. The zero value has
// accepted none. A gate keeps one per tag in its replica and merges its
// peers' (Merge), like used marks, so a copy read at any gate is refused.
type Counter struct {
	Last uint32 // highest SDMReadCtr accepted
	Seen bool   // false: none accepted yet
}

// Accept returns the counter after accepting got, or ErrReplay (and c
// unchanged) when got is not above what was accepted.
func (c Counter) Accept(got uint32) (Counter, error) {
	if c.Seen && got <= c.Last {
		return c, fmt.Errorf("%w: counter %d, already accepted %d", ErrReplay, got, c.Last)
	}
	return Counter{Last: got, Seen: true}, nil
}

// Merge returns what both c and o accepted: the higher of the two.
func (c Counter) Merge(o Counter) Counter {
	switch {
	case !o.Seen:
		return c
	case !c.Seen || o.Last > c.Last:
		return o
	}
	return c
}

// Counters applies the rule to many tags in memory (a test, a tool). It is
// not safe for concurrent use.
type Counters map[UID]Counter

// Accept records tap's counter for its tag, or returns ErrReplay.
func (cs Counters) Accept(tap Tap) error {
	next, err := cs[tap.UID].Accept(tap.Counter)
	if err != nil {
		return fmt.Errorf("tag %s: %w", tap.UID, err)
	}
	cs[tap.UID] = next
	return nil
}
