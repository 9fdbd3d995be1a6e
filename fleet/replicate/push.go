package replicate

import (
	"context"
	"errors"
	"fmt"
	"time"

	"admit/fleet"
	"admit/fleet/wire"
)

// stream is where one event's replication stands on this connection.
type stream struct {
	event    string
	tail     *tail // the event's tail, once looked up
	seq      int64
	snapshot bool // sending a snapshot
	snapSeq  int64
	snapRun  uint64
	// snapIssued is the latest ticket issue time at snapSeq: the
	// snapshot's sync point, sent with its Done chunk (protocol 5).
	snapIssued time.Time
	after      string
}

// plan decides how to bring the agent's replica of an event up to date.
func (c *conn) plan(ctx context.Context, ev string, cur wire.Cursor) (*stream, error) {
	st, err := c.hub.opts.Store.LogState(ctx, ev)
	if err != nil {
		return nil, err
	}
	s := &stream{event: ev, seq: cur.Seq}
	fresh := func(why string) (*stream, error) {
		c.log.Info("snapshot", "event", ev, "why", why, "at", st.Last)
		return &stream{event: ev, snapshot: true, snapSeq: st.Last, snapRun: st.Running, snapIssued: st.Issued}, nil
	}
	if p := cur.Snapshot; p != nil {
		if p.Seq == 0 || p.Seq < st.Compacted || p.Seq > st.Last {
			return fresh("agent asked for one, or its snapshot is too old to resume")
		}
		run, err := c.hub.opts.Store.RunningAt(ctx, ev, p.Seq)
		if errors.Is(err, fleet.ErrCompacted) || errors.Is(err, fleet.ErrNotFound) {
			return fresh("snapshot position gone")
		}
		if err != nil {
			return nil, err
		}
		issued := st.CompactedIssued
		if p.Seq > st.Compacted {
			page, err := c.hub.opts.Store.Changes(ctx, ev, p.Seq-1, 1)
			if errors.Is(err, fleet.ErrCompacted) || (err == nil && len(page.Issued) == 0) {
				return fresh("snapshot position gone")
			}
			if err != nil {
				return nil, err
			}
			issued = page.Issued[0]
		}
		c.log.Info("snapshot resumed", "event", ev, "at", p.Seq, "after", p.After)
		return &stream{event: ev, snapshot: true, snapSeq: p.Seq, snapRun: run, snapIssued: issued, after: p.After}, nil
	}
	switch {
	case cur.Seq > st.Last:
		return fresh("cursor ahead of the log")
	case cur.Seq < st.Compacted:
		return fresh("cursor behind the compaction point")
	case cur.Seq == 0 && st.Last > c.hub.opts.SnapshotMin:
		return fresh("new replica of a long log")
	case cur.Seq == 0 && c.signs():
		// A protocol-5 gate decides nothing before its first snapshot of
		// an event completed (its readiness): a new replica gets one
		// whatever the log's length.
		return fresh("new replica")
	}
	run, err := c.hub.opts.Store.RunningAt(ctx, ev, cur.Seq)
	if errors.Is(err, fleet.ErrCompacted) {
		return fresh("cursor compacted")
	}
	if err != nil {
		return nil, err
	}
	if run != cur.Running {
		return fresh("running checksum differs")
	}
	return s, nil
}

// push sends the replica of every event, then config, then waits for the
// logs to grow or the device to change.
func (c *conn) push(ctx context.Context, h *wire.Hello) error {
	var streams []*stream
	for _, ev := range c.events {
		s, err := c.plan(ctx, ev, h.Cursors[ev])
		if err != nil {
			return err
		}
		streams = append(streams, s)
	}
	configSent := h.ConfigVersion
	c.configSent.Store(configSent)
	if err := c.pushConfig(ctx, &configSent); err != nil {
		return err
	}
	for {
		sent := false
		for _, s := range streams {
			n, err := c.step(ctx, s)
			if err != nil {
				return err
			}
			sent = sent || n
		}
		if sent {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case bits := <-c.kicks:
			if bits&kickDevice != 0 {
				if err := c.recheckDevice(ctx, &configSent); err != nil {
					return err
				}
			}
		}
	}
}

// step sends one snapshot chunk or one batch of s; it reports whether it
// sent anything.
func (c *conn) step(ctx context.Context, s *stream) (bool, error) {
	opts := &c.hub.opts
	if s.snapshot {
		var page fleet.SnapshotPage
		for limit := opts.SnapshotChunk; ; limit = max(1, limit/2) {
			var err error
			if page, err = opts.Store.Snapshot(ctx, s.event, s.after, limit); err != nil {
				return false, err
			}
			// A chunk carries as many used marks as tickets at most: fewer
			// tickets when the venue has many marks per ticket.
			if len(page.Used) <= wire.MaxSnapshotRows || limit == 1 {
				break
			}
		}
		m := &wire.Snapshot{Event: s.event, Seq: s.snapSeq, Running: s.snapRun, After: s.after, Last: page.Last,
			Keys: page.Keys, Tickets: page.Tickets, Used: page.Used, Venue: page.Venue, Done: page.Done}
		if page.Done && c.signs() {
			m.AsOf = fleet.SyncPoint(s.snapIssued) // protocol 5: a protocol-4 chunk stays as it was
		}
		m.Seal()
		frame := wire.MarshalSnapshot(m) // a binary frame (protocol 4)
		if c.signs() {
			frame = wire.SignSnapshotFrame(c.key, c.session, frame) // bound to this session
		}
		if err := c.sendBinary(frame); err != nil {
			return false, fmt.Errorf("send snapshot: %w", err)
		}
		s.after = page.Last
		if page.Done {
			s.snapshot, s.seq = false, s.snapSeq
		}
		return true, nil
	}
	if s.tail == nil {
		s.tail = c.hub.tailOf(s.event)
	}
	if pm, to := s.tail.liveFrom(s.seq, c.signs()); pm != nil {
		if err := c.writeFrame(pm); err != nil {
			return false, fmt.Errorf("send batch: %w", err)
		}
		s.seq = to
		return true, nil
	}
	page, err := c.hub.changesAfter(ctx, s.tail, s.event, s.seq, opts.BatchSize)
	if errors.Is(err, fleet.ErrCompacted) {
		st, err := opts.Store.LogState(ctx, s.event)
		if err != nil {
			return false, err
		}
		*s = stream{event: s.event, tail: s.tail, snapshot: true, snapSeq: st.Last, snapRun: st.Running}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	if len(page.Changes) == 0 {
		return false, nil
	}
	to := page.Changes[len(page.Changes)-1].Seq
	b := &wire.Batch{Event: s.event, From: s.seq, To: to, Changes: page.Changes, Running: page.Running}
	if c.signs() && len(page.Issued) == len(page.Changes) {
		b.AsOf = fleet.SyncPoint(page.Issued[len(page.Issued)-1]) // protocol 5: a protocol-4 frame stays as it was
	}
	b.Seal()
	pm, err := c.hub.batchFrame(s.tail, b, c.key)
	if err != nil {
		return false, err
	}
	if err := c.writeFrame(pm); err != nil {
		return false, fmt.Errorf("send batch: %w", err)
	}
	s.seq = to
	return true, nil
}

// recheckDevice re-reads the device: revoked → told and dropped; no
// longer serving one of its events → dropped; a newer desired config →
// pushed.
func (c *conn) recheckDevice(ctx context.Context, configSent *int64) error {
	if c.dev.ID != "" || !c.hub.opts.AllowUnenrolled {
		d, err := c.hub.opts.Store.Device(ctx, c.device)
		if err != nil && !errors.Is(err, fleet.ErrNotFound) {
			return err
		}
		if errors.Is(err, fleet.ErrNotFound) || d.Revoked() {
			_ = c.sendRevoked()
			return &closeErr{"revoked", fmt.Errorf("device %q revoked while connected", c.device)}
		}
		c.dmu.Lock()
		c.dev = d
		c.dmu.Unlock()
		for _, ev := range c.events {
			if !c.mayReplicate(ev) { // a ticket log or a venue scope: a new session plans its logs again
				return c.fail("forbidden_event", fmt.Errorf("device %q no longer serves event %q", c.device, scopeEvent(ev)))
			}
		}
	}
	return c.pushConfig(ctx, configSent)
}

func (c *conn) pushConfig(ctx context.Context, sent *int64) error {
	c.dmu.Lock()
	enrolled := c.dev // zero for an unenrolled device: nothing to check against
	c.dmu.Unlock()
	d := enrolled
	if d.ID == "" {
		d = fleet.Device{ID: c.device}
	}
	want, err := fleet.DesiredFor(ctx, c.hub.opts.Store, d)
	if err != nil {
		return err
	}
	if want.Version == 0 || want.Version == *sent {
		return nil
	}
	// Checked again before it leaves (a group's config is checked against
	// each device here only): a config this device cannot take is not
	// sent — its stream would be refused the events it names — and is
	// recorded as failed, by the fleet, with the reason.
	gc, err := wire.ParseGateConfig(want.Body)
	if err == nil {
		err = fleet.CheckConfigFor(gc, enrolled)
	}
	if err != nil {
		c.log.Warn("config not pushed", "version", want.Version, "err", err)
		*sent = want.Version
		c.configSent.Store(want.Version)
		reason := "not pushed by the fleet: " + err.Error()
		if len(reason) > wire.MaxTextLen {
			reason = reason[:wire.MaxTextLen]
		}
		return c.hub.opts.Store.ReportConfig(ctx, c.device, c.reportedConfig(ctx), want.Version, reason, c.hub.opts.Clock.Now())
	}
	cfg := &wire.Config{Version: want.Version, Body: want.Body}
	if c.signs() {
		if err := cfg.Sign(c.key, c.session); err != nil {
			return err
		}
	}
	// Known as sent before it leaves: the acknowledgement may come back
	// before send returns.
	c.configSent.Store(want.Version)
	if err := c.send(&wire.Message{Type: wire.TypeConfig, Config: cfg}); err != nil {
		return fmt.Errorf("send config: %w", err)
	}
	*sent = want.Version
	return nil
}

// reportedConfig is the config version the device last said it runs.
func (c *conn) reportedConfig(ctx context.Context) int64 {
	d, err := c.hub.opts.Store.Device(ctx, c.device)
	if err != nil {
		return 0
	}
	return d.ConfigVersion
}
