package fleet

import (
	"context"
	"errors"
	"fmt"
)

// ErrNotServed: a device asked about, or reported scans of, an event it
// does not serve.
var ErrNotServed = errors.New("fleet: the device does not serve this event")

// ServesEvent reports whether the fleet's own record lets device d serve
// event: whether the event has a gate (Store.Gates) whose id or name is
// d's gate. What a device declares (its hello's cursors, a scan's event,
// an online request's event) is checked against this, never taken as is:
// the agent stream refuses a hello that subscribes to another event's
// allowlist and does not record scans of other events, and online
// decisions refuse other events.
//
// It is the one place that says which events a device serves, kept small
// so that it follows the device record when devices name their events.
func ServesEvent(ctx context.Context, st Store, d Device, event string) (bool, error) {
	if d.Gate == "" {
		return false, nil
	}
	gates, err := st.Gates(ctx, event)
	if err != nil {
		return false, fmt.Errorf("events of device %q: %w", d.ID, err)
	}
	for _, g := range gates {
		if g.ID == d.Gate || g.Name == d.Gate {
			return true, nil
		}
	}
	return false, nil
}
