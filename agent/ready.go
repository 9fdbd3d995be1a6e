package agent

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"admit/hal"
	"admit/ticket"
)

// Readiness.
//
// A gate decides nothing for an event until the first snapshot of the
// event's ticket log completed on its replica (gatedb.DB.Ready, persisted
// the moment it happens): without it, a valid ticket would be refused as
// "unknown key" or "not on the allowlist". Until then a presentation of
// that event — or one the gate cannot attribute to an event while any of
// its events is not ready — is not decided: nothing is journaled as a
// refusal, the gate shows SentenceSyncing (display, the amber light,
// which stays amber between attendees while the gate syncs), writes a
// line to its gate log and counts it (admit_presentations_syncing_total),
// and the holder waits or walks to the next gate. The status page says
// ready: false and the health check fails, per event. Once ready, a gate
// never goes back: offline, it keeps deciding on what it has.

// ReasonSyncing is the Reason of a presentation the gate did not decide
// because it is not ready for its event (Decision.Syncing).
const ReasonSyncing = "syncing"

// SentenceSyncing is what a gate that is not ready shows.
const SentenceSyncing = "Starting — syncing. Please wait or use the next gate"

// allReady reports whether every event the gate serves is ready.
func (a *Agent) allReady() bool {
	for _, ev := range a.live.Load().events {
		if !a.db.Ready(ev) {
			return false
		}
	}
	return true
}

// notReady lists the events the gate serves that are not ready.
func (a *Agent) notReady() []string {
	var out []string
	for _, ev := range a.live.Load().events {
		if !a.db.Ready(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// credentialEvent is the event a presentation claims to be of, read
// without trusting it (the gate may not hold the key yet): a ticket's
// event claim; "" when it names none the gate can read.
func credentialEvent(payload []byte) string {
	if c, err := ticket.ParseUnverified(string(payload)); err == nil {
		return c.Event
	}
	return ""
}

// syncingLocked reports whether a refusal of a presentation of event ev
// ("" when it could not be attributed) must not stand because the gate
// is not ready for it.
func (a *Agent) syncingLocked(ev string) bool {
	if ev != "" {
		// An event this gate does not serve: its refusal stands.
		return slices.Contains(a.live.Load().events, ev) && !a.db.Ready(ev)
	}
	return !a.allReady()
}

// syncingDecisionLocked is what a presentation the gate does not decide
// yet gets: shown and logged, never journaled as a decision.
func (a *Agent) syncingDecisionLocked(ctx context.Context, cred hal.Credential, now time.Time, ev string) Decision {
	pending := a.notReady()
	d := Decision{Syncing: true, Reason: ReasonSyncing, Sentence: SentenceSyncing, Source: cred.Source, At: now, Direction: a.direction(cred.Source)}
	a.metrics.syncing.Inc()
	detail := fmt.Sprintf("a presentation at %s not decided: not synced yet for %s", cred.Source, strings.Join(pending, ", "))
	if ev != "" {
		detail += " (its event: " + ev + ")"
	}
	if err := a.db.Log(ctx, now, "syncing", detail); err != nil {
		a.cfg.Log.Warn("agent: gate log", "err", err)
	}
	a.cfg.Log.Warn("agent: presentation not decided: the gate is syncing", "source", cred.Source, "events", pending)
	a.setIndicatorLocked(hal.Amber)
	if a.cfg.Display != nil {
		if err := a.cfg.Display.Show(SentenceSyncing); err != nil {
			a.cfg.Log.Error("agent: display", "err", err)
		}
	}
	a.last = append(a.last, d)
	if len(a.last) > lastDecisions {
		a.last = a.last[len(a.last)-lastDecisions:]
	}
	if a.cfg.OnDecision != nil {
		a.cfg.OnDecision(d)
	}
	return d
}

// idleColor is the indicator between attendees: amber while the gate is
// not ready, else off.
func (a *Agent) idleColor() hal.Color {
	if a.allReady() {
		return hal.Off
	}
	return hal.Amber
}

// showIdleLocked shows what the gate shows between attendees: the amber
// light and SentenceSyncing until it is ready, then the light off and the
// idle text.
func (a *Agent) showIdleLocked() {
	if a.cfg.Indicator != nil {
		if err := a.cfg.Indicator.Set(a.idleColor()); err != nil {
			a.cfg.Log.Error("agent: indicator", "err", err)
		}
	}
	if a.cfg.Display == nil {
		return
	}
	text := a.live.Load().idleText
	if !a.allReady() {
		text = SentenceSyncing
	}
	if text == "" {
		return
	}
	if err := a.cfg.Display.Show(text); err != nil {
		a.cfg.Log.Error("agent: display", "err", err)
	}
}

// runReadiness shows the gate syncing until every event it serves is
// ready, then ready (logged), and follows later changes (a new event
// served, a wipe).
func (a *Agent) runReadiness(ctx context.Context) error {
	ready := a.allReady()
	a.mu.Lock()
	a.showIdleLocked()
	a.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.db.ReplicaChanged():
		case <-a.readyCheck:
		}
		now := a.allReady()
		if now == ready {
			continue
		}
		ready = now
		a.mu.Lock()
		a.showIdleLocked()
		a.mu.Unlock()
		if ready {
			a.cfg.Log.Info("agent: ready: every event served completed its first sync")
		} else {
			a.cfg.Log.Warn("agent: syncing: not ready", "events", a.notReady())
		}
	}
}
