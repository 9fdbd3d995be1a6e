package agent

import "time"

// debouncer collapses repeated reads of the same code into one
// presentation: a code seen again within window of its last sighting is a
// repeat (the next frames of a code held up to the camera, a card left on
// the reader). It is the decider's alone: not safe for concurrent use.
type debouncer struct {
	window time.Duration
	last   map[string]time.Time // code → last sighting
}

func newDebouncer(window time.Duration) *debouncer {
	return &debouncer{window: window, last: make(map[string]time.Time)}
}

// fresh reports whether code seen at now is a new presentation, and
// records the sighting either way (holding a code in front of the camera
// keeps extending the window).
func (d *debouncer) fresh(code string, now time.Time) bool {
	prev, seen := d.last[code]
	d.last[code] = now
	for k, t := range d.last { // keep the map small: forget old sightings
		if now.Sub(t) > d.window {
			delete(d.last, k)
		}
	}
	return !seen || now.Sub(prev) > d.window
}
