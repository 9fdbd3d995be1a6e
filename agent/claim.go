package agent

import (
	"context"
	"errors"
	"slices"
	"time"

	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/agent/peer"
	"admit/agent/status"
	"admit/fleet/wire"
	"admit/ticket"
	"admit/ticket/entry"
)

// Claims before open (issue 16, peer protocol 3).
//
// Peer gossip refuses a ticket at gate B once gate A's mark arrives, but
// A publishes its mark only after its journal commit: two gates presented
// the same ticket within about a millisecond (more, if A's commit stalls on
// a slow card) would both admit it. So before it journals the entry of a
// single-entry or re-entry ticket, a gate claims it: it registers its own
// claim, sends it, signed, to every peer that takes claims, and waits for
// their answers, at most Config.ClaimDeadline. It opens only if no peer
// answered "conflict" and it did not learn meanwhile that a claim winning
// the tie-break arrived; a peer silent past the deadline is treated as
// unreachable (counted, shown in the status, and the admission is kept as
// made "alone": see contests below). With no peer taking claims the gate
// decides alone, as before.
//
// A peer rules on a claim (claimArbiter.Consider) in this order:
//
//  1. With the book locked: its own claim on the ticket, if it won (it is
//     opening), or if it precedes the incoming one, is a conflict; an own
//     claim still waiting that the incoming one precedes has lost (its
//     round ends, refused). A claim it granted earlier that precedes the
//     incoming one is a conflict. Otherwise it grants: it records the claim
//     and, while the claim stands, refuses the ticket itself, "Being used
//     at Gate A" (decide.InUse).
//  2. Then it reads the ticket's passages (its journal, its peers' marks,
//     the fleet's) and asks the entry rule (entry.Allowed) whether a
//     passage blocks the claim; if one does, it takes the grant back and
//     answers "conflict" with that passage.
//
// The claiming gate does the same two steps the other way round around
// its own claim: it registers its claim (refused at once if a peer's claim
// it granted stands), sends it, and while the answers travel, reads the
// ticket's passages again. Registering before reading closes the gaps
// between them: a grant is taken back (a mark arrived, a release) only
// after what replaced it counts for the read, and a won claim is dropped
// only after the journal row it became committed. Tie-break: the earlier
// claim time, then the smaller device id (gatedb.Claim.Precedes), the same
// at every gate; with the lost-while-waiting rule, of claims made at the
// same moment the one that precedes every other opens and the others
// refuse, at any offset, whatever the network's order.
//
// A grant ends when the claiming gate's mark for it arrives (the passage
// then blocks through the entry rule), when the claiming gate releases it
// (it refused after all, or its journal failed), or after Config.ClaimTTL
// (the claiming gate crashed). A won claim ends when its journal row
// commits. Both are written to the gate database in the background
// (gatedb.DB.SaveClaims, no fsync of their own, like peer marks): a gate
// restarted keeps the claims it granted and won until they become marks,
// are released or expire. One lost in a crash before it was written costs
// what a peer's mark lost that way costs: the restarted gate claims the
// ticket itself, and the gate that won answers "conflict" from its won
// claim or its journal.
//
// # Contests
//
// A gate reports upstream (wire.Contest) what it noticed of two gates
// contesting one ticket: as the refused side of a claim (it lost the
// tie-break, or a granted claim of another gate stood when the ticket was
// presented here), and, for an admission it made alone (no peer took the
// claim, or one was silent), any passage of another gate arriving later
// that the entry rule says the two cannot both have been (a double
// admission across a partition, noticed once the links return).

// Claim defaults.
const (
	defaultClaimDeadline = 100 * time.Millisecond
	defaultClaimTTL      = 10 * time.Second
	// aloneKeep is how long an admission made alone is kept to notice a
	// double admission: a partition of a venue's LAN lasts hours at most.
	aloneKeep = 24 * time.Hour
	// claimSweep is the cadence of expiring claims.
	claimSweep = time.Second
)

// claimHold is this gate's claim on a ticket it admits, between the claim
// and the journal commit.
type claimHold struct {
	own   *ownClaim
	alone bool // admitted without every peer's word
}

// claim claims d's ticket from the gate's peers before d is journaled, if
// d admits an entry of a single-entry or re-entry ticket: it may turn d
// into a refusal. The journal's outcome goes to claimed.
func (a *Agent) claim(ctx context.Context, d *Decision, tc ticket.Claims) *claimHold {
	if a.cfg.NoClaims || !d.Admitted || d.Direction != entry.In || tc.ID == "" || tc.Policy == ticket.MultiEntry {
		return nil // an exit, a multi-entry ticket, a badge: nothing to claim
	}
	set := a.live.Load()
	begin := a.cfg.Clock.Now()
	c := gatedb.Claim{Event: d.Event, TicketID: d.TicketID, Device: a.cfg.Device, Gate: a.cfg.Gate, At: d.At,
		Direction: entry.In, Policy: tc.Policy}
	own, standing := a.claims.open(c, begin, begin.Add(a.cfg.ClaimTTL))
	if standing != nil {
		a.lostClaim(d, c, *standing, "", "granted")
		return nil
	}
	round := a.gossip.Claim(c)
	// While the claim travels: what the gate knows of the ticket now, a
	// passage whose grant ended since the decision read it included.
	if v, ok := a.recheck(ctx, set, tc, d); !ok {
		a.claims.close(own, nil)
		a.gossip.Release(c)
		d.Admitted, d.Reason, d.Sentence = false, v.Reason, v.Sentence
		a.metrics.claims.Inc("passage")
		round.Abandon()
		return nil
	}
	var timeout chan time.Time
	if round.Asked() > 0 {
		timeout = make(chan time.Time)
		t := a.cfg.Clock.AfterFunc(a.cfg.ClaimDeadline, func() { close(timeout) })
		defer t.Stop()
	}
	out := round.Wait(ctx, own.lost, timeout)
	if out.Asked > 0 {
		d.Claimed = a.cfg.Clock.Now().Sub(begin)
		a.metrics.claimTime.Observe(d.Claimed)
	}
	for _, p := range out.Silent {
		a.metrics.claimSilent.Inc(p)
	}
	if out.Asked > 0 {
		a.claims.heard(out.Silent)
	}
	switch {
	case out.Conflict != nil && out.Conflict.Claim != nil:
		a.claims.close(own, nil)
		a.gossip.Release(c)
		a.lostClaim(d, c, *out.Conflict.Claim, out.By, "claim")
		return nil
	case out.Conflict != nil:
		a.claims.close(own, nil)
		a.gossip.Release(c)
		// The peer's passage, ruled on here as the peer did: the refusal
		// and its sentence ("Already used at Gate B at 19:04").
		p := *out.Conflict.Passage
		v := a.rules(set, d.Event).Decide(tc, entry.In, []entry.Passage{p}, d.At)
		if v.Admit { // the peer's rule and this gate's cannot differ; if they did, refuse
			v.Reason, v.Sentence = decide.ReasonInUse, decide.InUse(p.Gate)
		}
		d.Admitted, d.Reason, d.Sentence = false, v.Reason, v.Sentence
		a.metrics.claims.Inc("passage")
		return nil
	case out.Lost || !a.claims.win(own):
		a.claims.close(own, nil)
		a.gossip.Release(c)
		a.lostClaim(d, c, own.lostTo, "", "lost")
		return nil
	}
	h := &claimHold{own: own, alone: out.Asked < len(set.peers) || len(out.Silent) > 0}
	switch {
	case out.Asked == 0:
		a.metrics.claims.Inc("alone")
	case len(out.Silent) > 0:
		a.metrics.claims.Inc("won_partly")
	default:
		a.metrics.claims.Inc("won")
	}
	return h
}

// recheck applies the gate's rules (under settings set) to d's ticket
// again with what the gate knows of it now: ok false, with the refusal,
// when a passage blocks it.
func (a *Agent) recheck(ctx context.Context, set *settings, tc ticket.Claims, d *Decision) (decide.Verdict, bool) {
	st, err := a.hot.State(ctx, d.Event, d.TicketID)
	if err != nil && !errors.Is(err, gatedb.ErrUnknownTicket) { // one admitted on its signature has its passages too
		// The decision read it an instant ago; the claim's round decides.
		a.cfg.Log.Warn("agent: claim: read the ticket again", "ticket", d.TicketID, "err", err)
		return decide.Verdict{}, true
	}
	v := a.rules(set, d.Event).Decide(tc, entry.In, gatedb.Passages(st.Marks), d.At)
	return v, v.Admit
}

// lostClaim turns d into a refusal: c, this gate's claim, lost to winner
// (a claim that precedes it, or a claim of another gate that stood when
// the ticket was presented here), as peer by's answer said when by is not
// winner's own device. The contest goes to the fleet.
func (a *Agent) lostClaim(d *Decision, c, winner gatedb.Claim, by, how string) {
	d.Admitted, d.Reason, d.Sentence = false, decide.ReasonInUse, decide.InUse(winner.Gate)
	a.metrics.claims.Inc(how)
	if by == winner.Device {
		by = ""
	}
	a.contest(wire.Contest{Event: c.Event, TicketID: c.TicketID, Kind: wire.ContestClaim, By: by,
		First:  wire.ContestSide{Device: winner.Device, Gate: winner.Gate, At: winner.At},
		Second: wire.ContestSide{Device: c.Device, Gate: c.Gate, At: c.At}})
}

func (a *Agent) contest(c wire.Contest) {
	c.Noticed = a.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	a.metrics.contests.Inc(c.Kind)
	a.cfg.Log.Warn("agent: contest on a ticket", "kind", c.Kind, "ticket", c.TicketID,
		"first", c.First.Device, "first_gate", c.First.Gate, "second", c.Second.Device, "second_gate", c.Second.Gate)
	a.claims.contest(c)
}

// claimed settles h once the journal commit of its admission returned:
// the claim is dropped (the journal row now blocks the ticket), or, when
// the commit failed, released.
func (a *Agent) claimed(h *claimHold, err error) {
	if h == nil {
		return
	}
	if err != nil {
		a.claims.close(h.own, nil)
		a.gossip.Release(h.own.c)
		return
	}
	var alone *gatedb.HeldClaim
	if h.alone {
		alone = &gatedb.HeldClaim{Claim: h.own.c, Role: gatedb.ClaimAlone, Expires: a.cfg.Clock.Now().Add(aloneKeep)}
	}
	a.claims.close(h.own, alone)
}

// claimArbiter rules on the claims of the gate's peers (peer.Arbiter).
type claimArbiter struct{ a *Agent }

// Consider rules on a peer's claim: see the comment at the top.
func (r claimArbiter) Consider(ctx context.Context, c gatedb.Claim) (*peer.Conflict, error) {
	a := r.a
	now := a.cfg.Clock.Now()
	if in := a.claims.grant(c, now, now.Add(a.cfg.ClaimTTL)); in != nil {
		a.metrics.claimAnswers.Inc("conflict")
		return &peer.Conflict{Claim: in}, nil
	}
	marks, err := a.db.Marks(ctx, c.Event, c.TicketID)
	if err != nil {
		a.claims.ungrant(c.Event, c.TicketID, c.Same)
		return nil, err
	}
	if res := entry.Allowed(c.Policy, c.Direction, gatedb.Passages(marks), c.At); !res.Admit {
		a.claims.ungrant(c.Event, c.TicketID, c.Same)
		a.metrics.claimAnswers.Inc("conflict")
		p := *res.Entry
		return &peer.Conflict{Passage: &p}, nil
	}
	a.metrics.claimAnswers.Inc("granted")
	return nil, nil
}

// Released ends a grant: its gate refused after all.
func (r claimArbiter) Released(c gatedb.Claim) {
	r.a.claims.ungrant(c.Event, c.TicketID, c.Same)
}

// peerMarked is called for every peer's mark once it counts: the grant of
// the claim it came from ends (the passage now blocks the ticket through
// the entry rule), and a passage of a ticket this gate admitted alone is
// checked for a double admission.
func (a *Agent) peerMarked(m gatedb.Mark) {
	a.claims.ungrant(m.Event, m.TicketID, func(c gatedb.Claim) bool {
		return c.Device == m.Device && !c.At.After(m.At)
	})
	if !m.Exit() && !m.Annulled && m.Device != a.cfg.Device && a.claims.hasAlone(m.Event, m.TicketID) {
		select {
		case a.doubles <- m:
		default:
			a.cfg.Log.Warn("agent: double-admission check queue full", "ticket", m.TicketID)
		}
	}
	if a.cfg.OnPeerMark != nil {
		a.cfg.OnPeerMark(m)
	}
}

// checkDouble reports a contest of kind entry when m, a peer's admission,
// and an admission this gate made alone of the same ticket are two the
// entry rule allows only one of: the later of the two is refused by the
// rule over every passage before it.
func (a *Agent) checkDouble(ctx context.Context, m gatedb.Mark) {
	alone := a.claims.aloneOf(m.Event, m.TicketID)
	if len(alone) == 0 {
		return
	}
	marks, err := a.db.Marks(ctx, m.Event, m.TicketID)
	if err != nil {
		a.cfg.Log.Warn("agent: double-admission check", "ticket", m.TicketID, "err", err)
		return
	}
	ps := gatedb.Passages(marks)
	// precedes orders two admissions as claims are: by time, then device.
	precedes := func(p, q entry.Passage) bool {
		return gatedb.Claim{At: p.At, Device: p.Device}.Precedes(gatedb.Claim{At: q.At, Device: q.Device})
	}
	for _, h := range alone {
		first, second := h.Passage(), m.Passage
		if precedes(second, first) {
			first, second = second, first
		}
		before := slices.DeleteFunc(slices.Clone(ps), func(p entry.Passage) bool { return !precedes(p, second) })
		if !slices.ContainsFunc(ps, func(p entry.Passage) bool { return p.Same(h.Passage()) && !p.Annulled }) {
			continue // this gate's admission was annulled: nobody went through
		}
		if entry.Allowed(h.Policy, entry.In, before, second.At).Admit {
			continue
		}
		a.contest(wire.Contest{Event: m.Event, TicketID: m.TicketID, Kind: wire.ContestEntry,
			First:  wire.ContestSide{Device: first.Device, Gate: first.Gate, At: first.At},
			Second: wire.ContestSide{Device: second.Device, Gate: second.Gate, At: second.At}})
	}
}

// runClaims writes the claims the gate holds and the contests it noticed
// to its database in the background (whatever changed meanwhile goes in
// the next transaction), expires claims, and checks peers' passages for
// double admissions. What is left to write when the gate stops is written
// then.
func (a *Agent) runClaims(ctx context.Context) error {
	persist := func(ctx context.Context) error {
		put, drop, contests := a.claims.take()
		err := a.db.SaveClaims(ctx, put, drop)
		if err == nil {
			a.journaled.Add(int64(len(put) + len(drop))) // the checkpointer's business too
			if err = a.db.AddContests(ctx, contests); err == nil {
				if len(contests) > 0 && a.uplink != nil {
					a.uplink.Kick()
				}
				return nil
			}
			put, drop = nil, nil
		}
		a.claims.requeue(put, drop, contests)
		return err
	}
	var retry, sweep <-chan time.Time
	for {
		// Expiry runs while the book holds something that expires (no
		// timer on an idle gate).
		if sweep == nil && a.claims.expires() {
			sweep = a.cfg.Clock.After(claimSweep)
		}
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := persist(sctx); err != nil {
				a.cfg.Log.Warn("agent: claims not written at stop", "err", err)
			}
			return nil
		case m := <-a.doubles:
			a.checkDouble(ctx, m)
			continue
		case <-sweep:
			a.claims.expire(a.cfg.Clock.Now())
			sweep = nil
			continue
		case <-a.claims.kick:
		case <-retry:
		}
		retry = nil
		if err := persist(ctx); err != nil && ctx.Err() == nil {
			a.cfg.Log.Warn("agent: write claims", "err", err)
			retry = a.cfg.Clock.After(time.Second)
		}
	}
}

// ClaimStatus is what the status says of claims.
type ClaimStatus struct {
	On bool `json:"on"` // the gate claims single-entry tickets from its peers
	// Peers is how many peers take this gate's claims now, of Configured.
	Peers      int `json:"peers"`
	Configured int `json:"configured"`
	// Alone: no peer takes this gate's claims; it decides alone.
	Alone bool `json:"alone"`
	// Granted is how many peers' claims this gate holds as granted.
	Granted int `json:"granted"`
	// Silent are the peers that did not answer this gate's last claim
	// before the deadline (it decided without them); Silences counts such
	// silences since the gate started.
	Silent   []string `json:"silent,omitempty"`
	Silences int64    `json:"silences"`
}

func (a *Agent) claimStatus() ClaimStatus {
	s := ClaimStatus{On: !a.cfg.NoClaims, Configured: len(a.live.Load().peers), Granted: a.claims.heldGranted()}
	s.Silent, s.Silences = a.claims.silence()
	if s.On {
		s.Peers = a.gossip.ClaimPeers()
	}
	s.Alone = s.Peers == 0
	return s
}

func (a *Agent) claimRefused(reason string) { a.metrics.claimsRefused.Inc(reason) }

// ClaimPeers returns how many peers take this gate's claims now.
func (a *Agent) ClaimPeers() int { return a.gossip.ClaimPeers() }

// ClaimsGranted returns how many peers' claims this gate holds as
// granted.
func (a *Agent) ClaimsGranted() int { return a.claims.heldGranted() }

// claimMetrics are the series of claims.
type claimMetrics struct {
	claimsRefused *status.Counter
	claims        *status.Counter
	claimSilent   *status.Counter
	claimAnswers  *status.Counter
	claimTime     *status.Histogram
	contests      *status.Counter
}

func newClaimMetrics(r *status.Registry, a *Agent) claimMetrics {
	r.GaugeFunc("admit_claim_peers", "Peers that take this gate's claims now (0: it decides alone).", func() float64 { return float64(a.gossip.ClaimPeers()) })
	r.GaugeFunc("admit_claims_granted", "Peers' claims this gate holds as granted.", func() float64 { return float64(a.claims.heldGranted()) })
	return claimMetrics{
		claimsRefused: r.Counter("admit_peer_claims_refused_total", "Claims, releases and answers from peer gates refused, by reason (peer.Refused*).", "reason"),
		claims: r.Counter("admit_claims_total",
			"This gate's claims, by outcome: won, won_partly (a peer silent), alone (no peer took it), lost (a claim that precedes it arrived), claim (a peer's claim in the way), granted (a peer's granted claim stood), passage (a passage in the way).", "outcome"),
		claimSilent:  r.Counter("admit_claim_silent_total", "Peers that did not answer a claim of this gate in time (treated as unreachable), by peer device.", "peer"),
		claimAnswers: r.Counter("admit_claim_answers_total", "Peers' claims this gate ruled on, by answer (granted, conflict).", "answer"),
		claimTime: r.Histogram("admit_claim_seconds", "Claim to the last answer (or the deadline).", 250*time.Microsecond, 500*time.Microsecond,
			time.Millisecond, 2*time.Millisecond, 5*time.Millisecond, 10*time.Millisecond, 50*time.Millisecond, 250*time.Millisecond),
		contests: r.Counter("admit_contests_total", "Contests on a ticket this gate noticed, by kind (claim, entry).", "kind"),
	}
}
