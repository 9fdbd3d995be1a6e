package decode

import (
	"sync"
	"time"
)

// Debouncer collapses repeated reads of the same symbol into one
// presentation: a symbol seen again within Window of its last sighting is a
// repeat. Safe for concurrent use.
type Debouncer struct {
	Window time.Duration

	mu   sync.Mutex // guards last
	last map[string]time.Time
}

// NewDebouncer returns a debouncer with the given window.
func NewDebouncer(window time.Duration) *Debouncer {
	return &Debouncer{Window: window, last: make(map[string]time.Time)}
}

// Fresh reports whether text seen at now is a new presentation, and records
// the sighting either way (holding a code in front of the camera keeps
// extending the window).
func (d *Debouncer) Fresh(text string, now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	prev, seen := d.last[text]
	d.last[text] = now
	for k, t := range d.last { // keep the map small: forget old sightings
		if now.Sub(t) > d.Window {
			delete(d.last, k)
		}
	}
	return !seen || now.Sub(prev) > d.Window
}
