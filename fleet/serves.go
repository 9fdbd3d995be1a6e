package fleet

import (
	"errors"
	"slices"
)

// ErrNotServed: a device asked about, or reported scans of, an event it
// does not serve.
var ErrNotServed = errors.New("fleet: the device does not serve this event")

// Serves reports whether the fleet's own record lets device d serve
// event: whether the event is one of d.Events, which operators set when
// they enroll or edit the device. What a device declares (its hello's
// cursors, a scan's event, an online request's event) is checked against
// this, never taken as is: the agent stream refuses a hello that
// subscribes to another event's allowlist and does not record scans of
// other events, and online decisions refuse other events. A device that
// names no event serves none.
//
// It is the one place that says which events a device serves.
func (d Device) Serves(event string) bool { return slices.Contains(d.Events, event) }
