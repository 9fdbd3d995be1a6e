package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/ticket/entry"
)

// pendingPassage is an entry waiting for the turnstile to turn.
type pendingPassage struct {
	seq          int64
	event        string
	ticketID     string
	at, deadline time.Time
}

// runPassage confirms each entry on the next passage the sensor reports,
// oldest entry first, and annuls an entry whose deadline passes first. A
// passage with no entry waiting (someone pushed through) is counted.
func (a *Agent) runPassage(ctx context.Context) error {
	if a.cfg.Passage == nil {
		<-ctx.Done()
		return nil
	}
	passed := make(chan struct{})
	sensorDone := make(chan error, 1)
	go func() {
		for {
			if err := a.cfg.Passage.WaitPassage(ctx); err != nil {
				sensorDone <- err
				return
			}
			select {
			case passed <- struct{}{}:
			case <-ctx.Done():
				sensorDone <- ctx.Err()
				return
			}
		}
	}()
	defer func() { <-sensorDone }()
	var queue []pendingPassage
	for {
		var timeout <-chan time.Time
		if len(queue) > 0 {
			timeout = a.cfg.Clock.After(queue[0].deadline.Sub(a.cfg.Clock.Now()))
		}
		select {
		case <-ctx.Done():
			return nil
		case p := <-a.pending:
			queue = append(queue, p)
		case <-passed:
			if len(queue) == 0 {
				a.metrics.unexpectedPassages.Inc()
				a.cfg.Log.Warn("agent: passage without an entry")
				continue
			}
			p := queue[0]
			queue = queue[1:]
			if err := a.db.Passed(ctx, p.seq); err != nil {
				a.cfg.Log.Error("agent: confirm passage", "seq", p.seq, "err", err)
			}
			a.metrics.passages.Inc()
		case <-timeout:
			now := a.cfg.Clock.Now()
			for len(queue) > 0 && !now.Before(queue[0].deadline) {
				p := queue[0]
				queue = queue[1:]
				a.mu.Lock()
				_, err := a.annul(ctx, p.event, p.ticketID, p.at, decide.ReasonNoPassage, decide.Sentence(decide.ReasonNoPassage), false, "")
				a.mu.Unlock()
				if err != nil && !errors.Is(err, gatedb.ErrNoMark) {
					a.cfg.Log.Error("agent: annul entry without passage", "seq", p.seq, "err", err)
				}
			}
		}
	}
}

// Annul takes back this gate's passage of ticketID (of the gate's first
// event) at "at" and journals the annulment with reason and sentence, so
// the holder may present again. gatedb.ErrNoMark means there was nothing
// (left) to annul.
func (a *Agent) Annul(ctx context.Context, ticketID string, at time.Time, reason, sentence string) (Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.annulLocked(ctx, ticketID, at, reason, sentence, false)
}

func (a *Agent) annulLocked(ctx context.Context, ticketID string, at time.Time, reason, sentence string, forced bool) (Decision, error) {
	return a.annul(ctx, a.cfg.Event, ticketID, at, reason, sentence, forced, "")
}

// annul is Annul without the lock (Open calls it before anything runs);
// staff names the staff member who asked for it ("" for the gate itself).
func (a *Agent) annul(ctx context.Context, event, ticketID string, at time.Time, reason, sentence string, forced bool, staff string) (Decision, error) {
	now := a.stampLocked()
	d := Decision{Reason: reason, Sentence: sentence, TicketID: ticketID, Source: "staff", At: now, Forced: forced, Staff: staff, Direction: entry.In}
	if reason == decide.ReasonNoPassage {
		d.Source = "passage"
	}
	scan := wire.Scan{Event: event, TicketID: ticketID, Gate: a.cfg.Gate, At: now, Outcome: wire.Refused, Reason: reason, Sentence: sentence, Staff: staff}
	seq, m, err := a.db.Annul(ctx, a.cfg.Device, event, ticketID, at, gatedb.Entry{Scan: scan, Source: d.Source, Forced: forced, Staff: staff})
	if err != nil {
		return d, fmt.Errorf("agent: annul %s: %w", ticketID, err)
	}
	d.Seq, d.Direction = seq, m.Direction
	a.gossip.Publish(m)
	if a.uplink != nil {
		a.uplink.Kick()
	}
	a.metrics.annulled.Inc(reason)
	a.last = append(a.last, d)
	a.cfg.Log.Info("annulled", "ticket", ticketID, "reason", reason, "seq", seq)
	if a.cfg.OnDecision != nil {
		a.cfg.OnDecision(d)
	}
	return d, nil
}
