package replicate

import (
	"context"
	"fmt"
	"time"

	"admit/fleet/wire"
)

// receive handles what the agent sends after its hello.
func (c *conn) receive(ctx context.Context) error {
	opts := &c.hub.opts
	msgs := bucket{rate: opts.MessageRate, burst: opts.MessageBurst}
	scans := bucket{rate: opts.ScanRate, burst: opts.ScanBurst}
	for {
		m, err := c.read()
		if err != nil {
			return err
		}
		now := opts.Clock.Now()
		if !msgs.take(now, 1) {
			return c.fail("rate_limited", fmt.Errorf("more than %.0f messages/s", opts.MessageRate))
		}
		switch m.Type {
		case wire.TypeAck:
			c.log.Debug("agent applied", "event", m.Ack.Event, "cursor", m.Ack.Cursor)
		case wire.TypeScans:
			list := m.Scans.Scans
			if len(list) == 0 {
				continue
			}
			if !scans.take(now, float64(len(list))) {
				return c.fail("rate_limited", fmt.Errorf("more than %.0f scans/s", opts.ScanRate))
			}
			grown, err := opts.Store.RecordScans(ctx, c.device, list, now)
			if err != nil {
				return fmt.Errorf("record scans: %w", err)
			}
			if err := c.send(&wire.Message{Type: wire.TypeScanAck, ScanAck: &wire.ScanAck{UpTo: list[len(list)-1].Seq}}); err != nil {
				return fmt.Errorf("send scan ack: %w", err)
			}
			for _, ev := range grown {
				c.hub.Notify(ev)
			}
		case wire.TypeConfigAck:
			if err := opts.Store.ReportDevice(ctx, c.device, "", m.ConfigAck.Version, m.ConfigAck.Error, now); err != nil {
				return err
			}
		case wire.TypeError:
			return fmt.Errorf("agent error %s: %s", m.Error.Code, m.Error.Message)
		default:
			return c.fail("bad_message", fmt.Errorf("unexpected %q from agent", m.Type))
		}
	}
}

// bucket is a token bucket.
type bucket struct {
	rate, burst, tokens float64
	last                time.Time
}

func (b *bucket) take(now time.Time, n float64) bool {
	if b.last.IsZero() {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}
