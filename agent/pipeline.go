package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/hal"
	"admit/ticket"
	"admit/ticket/entry"
)

// runReader hands each credential a reader yields to the decider, until
// ctx ends or the reader's stream ends (io.EOF: a video file or an image
// folder read to the end).
func (a *Agent) runReader(ctx context.Context, name string, r hal.CredentialReader) error {
	for {
		cred, err := r.Read(ctx)
		if errors.Is(err, hal.ErrNoCredential) {
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, io.EOF) {
				a.cfg.Log.Info("agent: reader stream ended", "reader", name, "err", err)
				return nil
			}
			return err
		}
		if cred.Source == "" {
			cred.Source = name
		}
		if cred.At.IsZero() {
			cred.At = a.cfg.Clock.Now()
		}
		if err := a.enqueue(ctx, cred); err != nil {
			return err
		}
	}
}

func (a *Agent) enqueue(ctx context.Context, cred hal.Credential) error {
	select {
	case a.presentations <- cred:
		return nil
	case <-ctx.Done():
		return nil
	}
}

// runDecider decides on presentations one at a time. The same code read
// again within Config.Debounce of its last sighting (consecutive frames, a
// card left on the reader) is the same presentation and is dropped.
func (a *Agent) runDecider(ctx context.Context) error {
	deb := newDebouncer(a.live.Load().debounce)
	for {
		var cred hal.Credential
		select {
		case <-ctx.Done():
			return nil
		case cred = <-a.presentations:
		case reply := <-a.alive:
			a.mu.Lock() // a decision that does not end holds it
			a.mu.Unlock()
			close(reply)
			continue
		}
		deb.window = a.live.Load().debounce // a config may change it
		if !deb.fresh(string(cred.Payload), cred.At) {
			a.metrics.debounced.Inc()
			continue
		}
		if _, err := a.Present(ctx, cred); err != nil && ctx.Err() == nil {
			// The decision could not be journaled: the gate stayed shut.
			a.cfg.Log.Error("agent: decision not journaled", "err", err)
		}
	}
}

// Alive reports whether the decision loop turns: it asks the loop,
// which answers between presentations once no decision holds the
// gate, and waits for the answer until ctx ends. The service
// manager's watchdog is fed from it (cmd/admit-agent), so a wedged
// decision path — not only a dead process — gets the gate restarted.
func (a *Agent) Alive(ctx context.Context) error {
	reply := make(chan struct{})
	select {
	case a.alive <- reply:
	case <-ctx.Done():
		return fmt.Errorf("agent: decision loop did not take the liveness probe: %w", ctx.Err())
	}
	select {
	case <-reply:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("agent: decision loop did not answer the liveness probe: %w", ctx.Err())
	}
}

// Present decides on one presentation, journals the decision durably, then
// actuates. An error means the decision could not be journaled: the gate
// stays closed.
//
// A gate not ready for the presentation's event (its first snapshot has
// not completed: ready.go) decides nothing: the Decision says Syncing and
// nothing is journaled.
func (a *Agent) Present(ctx context.Context, cred hal.Credential) (Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	begin := a.cfg.Clock.Now()
	now := a.stampLocked()
	set := a.live.Load()
	if !a.anyReady(set) {
		return a.syncingDecisionLocked(ctx, cred, now, ""), nil
	}
	d, claims, ev := a.decideLocked(ctx, set, cred, now)
	if !d.Admitted && a.syncingLocked(ev) {
		// What this gate would refuse is maybe valid: it lacks the data.
		return a.syncingDecisionLocked(ctx, cred, now, ev), nil
	}
	if ev == "" {
		ev = set.events[0]
	}
	d.Source, d.At, d.Event = cred.Source, now, ev
	if d.Admitted && claims.ID != "" && a.online.active() && d.Direction == entry.In && claims.Policy != ticket.MultiEntry {
		a.askFleetLocked(ctx, &d, claims)
	}
	hold := a.claim(ctx, &d, claims) // claim.go: peers' word before the journal
	e := gatedb.Entry{Scan: a.scan(d), Direction: d.Direction, Source: d.Source, Mark: d.Admitted}
	if d.Admitted && d.Direction == entry.In && a.cfg.Passage != nil {
		e.PassageDeadline = now.Add(set.passageTimeout)
	}
	seq, err := a.hot.Journal(ctx, a.cfg.Device, e)
	a.claimed(hold, err)
	if err != nil {
		a.metrics.journalErrors.Inc()
		a.setIndicatorLocked(hal.Red)
		return d, fmt.Errorf("agent: journal: %w", err)
	}
	a.journaled.Add(1)
	d.Seq = seq
	d.Took = a.cfg.Clock.Now().Sub(begin)
	a.afterJournalLocked(ctx, d, e)
	return d, nil
}

// anyReady reports whether the gate is ready for one of its events.
func (a *Agent) anyReady(set *settings) bool {
	for _, ev := range set.events {
		if a.db.Ready(ev) {
			return true
		}
	}
	return false
}

// scan is the upstream form of a decision: an admitted exit is an
// admitted scan with direction out, which the fleet fans out as an exit.
func (a *Agent) scan(d Decision) wire.Scan {
	s := wire.Scan{Event: d.Event, TicketID: d.TicketID, Gate: a.cfg.Gate, At: d.At,
		Outcome: wire.Refused, Reason: d.Reason, Sentence: d.Sentence, Direction: wire.DirIn}
	if d.Admitted {
		s.Outcome = wire.Admitted
	}
	if d.Direction == entry.Out {
		s.Direction = wire.DirOut
	}
	return s
}

// afterJournalLocked acts on a journaled decision: peers, relay,
// indicator, buzzer, display, uplink, metrics, observers. The peers come
// first: the passage is durable now (a mark is never published before its
// journal row committed), and a relay or buzzer that holds the line for
// its pulse must not hold up the other gates' knowledge of it.
func (a *Agent) afterJournalLocked(ctx context.Context, d Decision, e gatedb.Entry) {
	if e.Mark {
		a.gossip.Publish(gatedb.Mark{Event: d.Event, TicketID: d.TicketID, Passage: entry.Passage{Device: a.cfg.Device,
			Gate: a.cfg.Gate, At: d.At.Truncate(time.Millisecond), Direction: d.Direction}})
	}
	if d.Admitted && a.cfg.Relay != nil {
		if err := a.cfg.Relay.Pulse(ctx, a.cfg.PulseLength); err != nil {
			a.cfg.Log.Error("agent: relay", "err", err)
		}
	}
	if d.Admitted {
		a.setIndicatorLocked(hal.Green)
	} else {
		a.setIndicatorLocked(hal.Red)
	}
	if a.cfg.Display != nil {
		if err := a.cfg.Display.Show(d.Sentence); err != nil {
			a.cfg.Log.Error("agent: display", "err", err)
		}
	}
	if a.cfg.Buzzer != nil && a.live.Load().buzzer {
		pattern := []time.Duration{80 * time.Millisecond}
		if !d.Admitted {
			pattern = []time.Duration{150 * time.Millisecond, 80 * time.Millisecond, 150 * time.Millisecond}
		}
		a.beep(pattern)
	}
	if !e.PassageDeadline.IsZero() {
		select {
		case a.pending <- pendingPassage{seq: d.Seq, event: d.Event, ticketID: d.TicketID, at: d.At, deadline: e.PassageDeadline}:
		default:
			// More unconfirmed entries than the queue holds: the turnstile
			// is jammed. They stay pending in the database and are annulled
			// at the next start.
			a.cfg.Log.Warn("agent: passage queue full", "seq", d.Seq)
		}
	}
	if a.uplink != nil {
		a.uplink.Kick()
	}
	a.metrics.observe(d)
	a.last = append(a.last, d)
	if len(a.last) > lastDecisions {
		a.last = a.last[len(a.last)-lastDecisions:]
	}
	a.cfg.Log.Info("decision", "admitted", d.Admitted, "ticket", d.TicketID, "reason", d.Reason,
		"source", d.Source, "direction", d.Direction, "seq", d.Seq)
	if a.cfg.OnDecision != nil {
		a.cfg.OnDecision(d)
	}
}

// indicatorHold is how long the indicator shows a decision.
const indicatorHold = 2 * time.Second

// setIndicatorLocked shows c, and returns the indicator to off after
// indicatorHold.
func (a *Agent) setIndicatorLocked(c hal.Color) {
	if a.cfg.Indicator == nil {
		return
	}
	if err := a.cfg.Indicator.Set(c); err != nil {
		a.cfg.Log.Error("agent: indicator", "err", err)
	}
	if a.idle != nil {
		a.idle.Stop()
	}
	ind := a.cfg.Indicator
	a.idle = a.cfg.Clock.AfterFunc(indicatorHold, func() { _ = ind.Set(a.idleColor()) })
}

// direction is the direction of a presentation seen by source.
func (a *Agent) direction(source string) entry.Direction {
	return a.directionOf(a.live.Load(), source)
}

// aheadWarning is how far a ticket's latest passage may be dated after a
// presentation, by this gate's clock, before the gate warns of a clock out
// of step (the passage counts either way: entry.Allowed).
const aheadWarning = time.Second

// unknownTicket is returned through VerifyOptions.State for an authentic
// ticket that is not on the allowlist.
var unknownTicket = &ticket.Error{Reason: ReasonUnknownTicket, Sentence: decide.Sentence(ReasonUnknownTicket)}

// decideLocked verifies and applies the gate's rules under settings set,
// with local state only. It returns the claims when the ticket was
// authentic, and the event the presentation is of ("" when it cannot be
// told: a badge or a ticket text that names none).
func (a *Agent) decideLocked(ctx context.Context, set *settings, cred hal.Credential, now time.Time) (Decision, ticket.Claims, string) {
	dir := a.directionOf(set, cred.Source)
	if cred.Kind == UIDKind {
		if d, ev, ok := a.badgeLocked(ctx, set, cred, now); ok {
			return d, ticket.Claims{}, ev
		}
	}
	a.syncPartnerKeysLocked()
	text := string(cred.Payload)
	format := ticket.Classify(text)
	var (
		st      gatedb.State
		stErr   error
		trusted string // ticket id once the signature verified
		onSig   string // the reason it is admitted on its signature, if it is
	)
	opts := ticket.VerifyOptions{
		Now: now, Events: set.events,
		State: func(c ticket.Claims) (ticket.GateState, error) {
			trusted, onSig = c.ID, ""
			st, stErr = a.hot.State(ctx, c.Event, c.ID)
			if errors.Is(stErr, gatedb.ErrUnknownTicket) {
				if onSig = a.admitOnSignature(c, format); onSig != "" {
					return ticket.GateState{}, nil // not revoked that this gate knows; no rotating secret
				}
				return ticket.GateState{}, unknownTicket
			}
			if stErr != nil {
				return ticket.GateState{}, stErr
			}
			return ticket.GateState{Revoked: st.Revoked, CodeSecret: st.CodeSecret}, nil
		},
	}
	res, err := ticket.Check(text, a.keyring, opts)
	if ticket.ReasonOf(err) == ticket.ReasonUnknownKey && a.loadNewKeys(ctx) {
		// The key committed with a replica batch an instant before the
		// uplink handed it over (OnKeys): look again with the replica's.
		res, err = ticket.Check(text, a.keyring, opts)
	}
	if err != nil {
		reason, sentence := string(ticket.ReasonOf(err)), ticket.SentenceOf(err)
		if reason == string(ticket.ReasonLookupFailed) {
			a.cfg.Log.Error("agent: allowlist lookup", "err", stErr)
			reason, sentence = decide.ReasonGateError, decide.Sentence(decide.ReasonGateError)
		}
		ev := credentialEvent(cred.Payload)
		if res.Claims.Event != "" {
			ev = res.Claims.Event
		}
		return Decision{Reason: reason, Sentence: sentence, TicketID: trusted, Direction: dir}, ticket.Claims{}, ev
	}
	v := a.rules(set, res.Claims.Event).Decide(res.Claims, dir, gatedb.Passages(st.Marks), now)
	if v.Ahead >= aheadWarning {
		a.cfg.Log.Warn("agent: a passage of this ticket is dated ahead of this gate's clock; one of the two clocks is off",
			"ticket", res.Claims.ID, "ahead", v.Ahead)
	}
	d := Decision{Admitted: v.Admit, Reason: v.Reason, Sentence: v.Sentence, TicketID: res.Claims.ID, Direction: v.Direction}
	if v.Admit && onSig != "" && d.Direction == entry.In {
		d.Reason, d.Sentence = onSig, sentenceOnSignature
		if onSig == wire.ReasonPartnerSignature {
			d.Sentence = sentencePartnerSignature
		}
	}
	return d, res.Claims, res.Claims.Event
}

// rules are the gate's rules under settings set for a ticket of event.
func (a *Agent) rules(set *settings, event string) decide.Gate {
	gate := set.gate
	gate.Location = a.cfg.Location
	if name := a.db.ZoneName(event, gate.Zone); name != "" {
		gate.ZoneName = name
	}
	return gate
}

// loadNewKeys adds the replica's keys the keyring lacks; it reports
// whether there were any.
func (a *Agent) loadNewKeys(ctx context.Context) bool {
	keys, err := a.db.Keys(ctx)
	if err != nil {
		a.cfg.Log.Error("agent: reload keys", "err", err)
		return false
	}
	var fresh []gatedb.Key
	for _, k := range keys {
		if _, ok := a.keyring.Lookup(k.Event, k.ID); !ok {
			fresh = append(fresh, k)
		}
	}
	a.addKeys(fresh)
	return len(fresh) > 0
}

// LastDecisions returns up to n of the newest decisions, newest first.
func (a *Agent) LastDecisions(n int) []Decision {
	a.mu.Lock()
	defer a.mu.Unlock()
	n = min(n, len(a.last))
	out := make([]Decision, 0, n)
	for i := len(a.last) - 1; i >= len(a.last)-n; i-- {
		out = append(out, a.last[i])
	}
	return out
}

// beep hands pattern to the buzzer goroutine without waiting for it: a
// beep lasts up to 380 ms, and the next attendee must not wait for it. A
// pattern not yet started is replaced by the newer one.
func (a *Agent) beep(pattern []time.Duration) {
	for {
		select {
		case a.beeps <- pattern:
			return
		default:
		}
		select {
		case <-a.beeps: // drop the stale pattern
		default:
		}
	}
}

// runBuzzer plays the patterns beep hands it, one at a time.
func (a *Agent) runBuzzer(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case p := <-a.beeps:
			if err := a.cfg.Buzzer.Beep(ctx, p...); err != nil && ctx.Err() == nil {
				a.cfg.Log.Error("agent: buzzer", "err", err)
			}
		}
	}
}
