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
			upTo := list[len(list)-1].Seq
			list = c.servedScans(list)
			var grown []string
			if len(list) > 0 {
				if grown, err = opts.Store.RecordScans(ctx, c.device, list, now); err != nil {
					return fmt.Errorf("record scans: %w", err)
				}
			}
			ack := &wire.ScanAck{UpTo: upTo}
			if c.signs() {
				ack.Sign(c.key, c.session)
			}
			if err := c.send(&wire.Message{Type: wire.TypeScanAck, ScanAck: ack}); err != nil {
				return fmt.Errorf("send scan ack: %w", err)
			}
			for _, ev := range grown {
				c.hub.Notify(ev)
			}
		case wire.TypeContests:
			// Contests count against the scans' rate: a gate reports one at
			// most per presentation, or per peer passage it learns.
			if !scans.take(now, float64(len(m.Contests.Contests))) {
				return c.fail("rate_limited", fmt.Errorf("more than %.0f scans and contests/s", opts.ScanRate))
			}
			if err := c.recordContests(ctx, m.Contests.Contests, now); err != nil {
				return err
			}
		case wire.TypeConfigAck:
			a := m.ConfigAck
			failed := a.Failed
			if failed == 0 && a.Error != "" {
				failed = c.configSent.Load() // a protocol-4 agent names no version: the one it was sent
			}
			if err := opts.Store.ReportConfig(ctx, c.device, a.Version, failed, a.Error, now); err != nil {
				return err
			}
		case wire.TypeError:
			return fmt.Errorf("agent error %s: %s", m.Error.Code, m.Error.Message)
		default:
			return c.fail("bad_message", fmt.Errorf("unexpected %q from agent", m.Type))
		}
	}
}

// recordContests records the contests a gate noticed (of the events it
// serves; the others are logged and acknowledged all the same, as scans
// are) and acknowledges them.
func (c *conn) recordContests(ctx context.Context, list []wire.Contest, now time.Time) error {
	if len(list) == 0 {
		return nil
	}
	upTo := list[len(list)-1].ID
	served := list[:0:0]
	for _, k := range list {
		if c.mayServe(k.Event) {
			served = append(served, k)
		} else {
			c.log.Warn("a contest of an event the device does not serve: not recorded", "event", k.Event)
		}
	}
	if err := c.hub.opts.Store.RecordContests(ctx, c.device, served, now); err != nil {
		return fmt.Errorf("record contests: %w", err)
	}
	for _, k := range served {
		c.log.Warn("contest on a ticket", "kind", k.Kind, "event", k.Event, "ticket", k.TicketID,
			"first", k.First.Device, "second", k.Second.Device)
	}
	ack := &wire.ContestAck{UpTo: upTo}
	if c.signs() {
		ack.Sign(c.key, c.session)
	}
	if err := c.send(&wire.Message{Type: wire.TypeContestAck, ContestAck: ack}); err != nil {
		return fmt.Errorf("send contest ack: %w", err)
	}
	return nil
}

// servedScans returns the scans of list that are of events the device
// serves (mayServe). The others are not recorded — no passage, no used
// mark for any gate — and logged; they are acknowledged with the rest all
// the same, so that the gate's journal moves on rather than offering them
// again forever.
func (c *conn) servedScans(list []wire.Scan) []wire.Scan {
	out := list[:0:0]
	refused := map[string]int{}
	for _, sc := range list {
		if !c.mayServe(sc.Event) {
			refused[sc.Event]++
			continue
		}
		out = append(out, sc)
	}
	if len(refused) == 0 {
		return list
	}
	for ev, n := range refused {
		c.log.Warn("scans of an event the device does not serve: not recorded", "event", ev, "scans", n)
	}
	return out
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
