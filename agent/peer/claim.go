package peer

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"admit/agent/gatedb"
	"admit/ticket"
	"admit/ticket/entry"
)

// Claims (protocol 3).
//
// A gate about to admit a single-entry or re-entry ticket claims it first
// (Gossip.Claim): it signs a Claim and sends it on every link it dialed
// whose peer takes claims, and each peer answers on the same link with a
// signed Answer: "granted" (nothing stands in the way; the peer now holds
// the claim and refuses the ticket itself while it stands), "conflict"
// (with what stands in the way: a passage the entry rule counts, or a
// competing claim that wins the tie-break, gatedb.Claim.Precedes), or
// "refused" (the peer would not rule on it: a claim it cannot check). The
// peer's Arbiter — the agent — rules; this package carries, signs and
// checks. A gate that refuses after all (it lost, or its journal failed)
// sends a signed "release", so its peers stop holding the claim before it
// expires.
//
// Claims travel ahead of marks on a link (a writer sends queued claims
// first) and are answered by the receiving link's reader at once: a claim
// round trip on a LAN is two frames, two signatures and two checks, and a
// lookup of the ticket's passages on the peer (docs/performance.md has
// the figures). A link takes claims only once its catch-up is done, so a
// peer that takes a claim knows every passage this gate made. Both the
// claim and the answer are signed, since the dialing gate does not
// authenticate the gate it dialed: an answer counts only with the
// signature of the device the link's challenge named, as the venue scope
// has its key.

// Answer verdicts.
const (
	AnswerGranted  = "granted"
	AnswerConflict = "conflict"
	AnswerRefused  = "refused"
)

// MaxClaimAge: a claim dated further back than this on the receiving
// gate's clock is refused (a replay: a genuine claim is answered within
// its deadline).
const MaxClaimAge = time.Minute

// Claim is a claim (gatedb.Claim) on the gossip wire, signed by the
// claiming device: in a "claim" frame it asks, in a "release" frame it
// takes the claim back.
type Claim struct {
	Event     string    `json:"event"`
	TicketID  string    `json:"ticket_id"`
	Device    string    `json:"device"`
	Gate      string    `json:"gate"`
	At        time.Time `json:"at"`
	Direction string    `json:"direction"`
	Policy    string    `json:"policy"` // ticket.Policy's text: "single" or "reentry"
	// Signature is Device's Ed25519 signature over ClaimSigningBytes.
	Signature []byte `json:"sig,omitempty"`
}

// Answer is a peer's answer to a claim, signed by the answering device.
type Answer struct {
	// The claim answered: its event, ticket, device and time.
	Event    string    `json:"event"`
	TicketID string    `json:"ticket_id"`
	Claimant string    `json:"claimant"`
	ClaimAt  time.Time `json:"claim_at"`
	Device   string    `json:"device"` // the answering gate
	Verdict  string    `json:"verdict"`
	// Blocker is what stands in the way (AnswerConflict).
	Blocker *Blocker `json:"blocker,omitempty"`
	// Refused says why the peer would not rule (AnswerRefused): a
	// Refused* reason.
	Refused string `json:"refused,omitempty"`
	// Signature is Device's Ed25519 signature over AnswerSigningBytes.
	Signature []byte `json:"sig,omitempty"`
}

// Blocker kinds.
const (
	BlockerPassage = "passage" // a passage the entry rule counts
	BlockerClaim   = "claim"   // a claim that wins the tie-break
)

// Blocker is what stands in the way of a claim: a passage or a claim, of a
// device at a gate at a time.
type Blocker struct {
	Kind      string    `json:"kind"`
	Device    string    `json:"device"`
	Gate      string    `json:"gate"`
	At        time.Time `json:"at"`
	Direction string    `json:"direction,omitempty"`
}

// Conflict is what an Arbiter found in the way of a claim: a passage the
// entry rule counts, or a claim that wins the tie-break. Exactly one is
// set.
type Conflict struct {
	Passage *entry.Passage
	Claim   *gatedb.Claim
}

// Gate is the name of the gate of the passage or claim in the way.
func (c *Conflict) Gate() string {
	if c.Claim != nil {
		return c.Claim.Gate
	}
	return c.Passage.Gate
}

// Arbiter rules on the claims peers send: the agent.
type Arbiter interface {
	// Consider rules on claim c of a peer: nil when nothing stands in the
	// way (the gate then holds c as granted until it is released, becomes
	// a mark or expires), else what does. An error: the gate could not
	// rule (the peer is answered "refused").
	Consider(ctx context.Context, c gatedb.Claim) (*Conflict, error)
	// Released: c's gate takes its claim back.
	Released(c gatedb.Claim)
}

const (
	domainClaim   = "admit-claim-v3\x00"
	domainRelease = "admit-release-v3\x00"
	domainAnswer  = "admit-answer-v3\x00"
)

func appendClaim(b []byte, c *Claim) []byte {
	b = appendStr(b, c.Event)
	b = appendStr(b, c.TicketID)
	b = appendStr(b, c.Device)
	b = appendStr(b, c.Gate)
	b = binary.BigEndian.AppendUint64(b, uint64(c.At.UnixMilli()))
	b = appendStr(b, c.Direction)
	return appendStr(b, c.Policy)
}

// ClaimSigningBytes is what a claiming device signs: every field of the
// claim but the signature, at millisecond precision, under a domain of
// its own for a claim and for its release (release true), so that neither
// passes for the other, nor for a mark.
func ClaimSigningBytes(c *Claim, release bool) []byte {
	d := domainClaim
	if release {
		d = domainRelease
	}
	return appendClaim(append(make([]byte, 0, 96+len(c.Event)+len(c.TicketID)+len(c.Device)+len(c.Gate)), d...), c)
}

// AnswerSigningBytes is what an answering device signs: the claim it
// answers, itself, the verdict and what stands in the way.
func AnswerSigningBytes(a *Answer) []byte {
	b := []byte(domainAnswer)
	b = appendStr(b, a.Event)
	b = appendStr(b, a.TicketID)
	b = appendStr(b, a.Claimant)
	b = binary.BigEndian.AppendUint64(b, uint64(a.ClaimAt.UnixMilli()))
	b = appendStr(b, a.Device)
	b = appendStr(b, a.Verdict)
	b = appendStr(b, a.Refused)
	if k := a.Blocker; k != nil {
		b = append(b, 1)
		b = appendStr(b, k.Kind)
		b = appendStr(b, k.Device)
		b = appendStr(b, k.Gate)
		b = binary.BigEndian.AppendUint64(b, uint64(k.At.UnixMilli()))
		return appendStr(b, k.Direction)
	}
	return append(b, 0)
}

// Sign signs c, or its release, with key, the key of c.Device.
func (c *Claim) Sign(key ed25519.PrivateKey, release bool) {
	c.At = c.At.UTC().Truncate(time.Millisecond)
	c.Signature = ed25519.Sign(key, ClaimSigningBytes(c, release))
}

// Sign signs a with key, the key of a.Device.
func (a *Answer) Sign(key ed25519.PrivateKey) {
	a.ClaimAt = a.ClaimAt.UTC().Truncate(time.Millisecond)
	if a.Blocker != nil {
		a.Blocker.At = a.Blocker.At.UTC().Truncate(time.Millisecond)
	}
	a.Signature = ed25519.Sign(key, AnswerSigningBytes(a))
}

func claimToWire(c gatedb.Claim) Claim {
	return Claim{Event: c.Event, TicketID: c.TicketID, Device: c.Device, Gate: c.Gate, At: c.At.UTC().Truncate(time.Millisecond),
		Direction: string(c.Direction), Policy: c.Policy.String()}
}

func (c *Claim) db() (gatedb.Claim, error) {
	p, err := ticket.ParsePolicy(c.Policy)
	if err != nil {
		return gatedb.Claim{}, err
	}
	return gatedb.Claim{Event: c.Event, TicketID: c.TicketID, Device: c.Device, Gate: c.Gate, At: c.At.UTC().Truncate(time.Millisecond),
		Direction: entry.Direction(c.Direction), Policy: p}, nil
}

func (c *Claim) validate() error {
	if c.Event == "" || c.TicketID == "" || c.Device == "" || c.At.IsZero() || entry.Direction(c.Direction) != entry.In ||
		(c.Policy != ticket.SingleEntry.String() && c.Policy != ticket.ReEntry.String()) ||
		len(c.Event) > maxField || len(c.TicketID) > maxField || len(c.Device) > maxField || len(c.Gate) > maxField {
		return fmt.Errorf("peer: bad claim of %.64q", c.TicketID)
	}
	return nil
}

// conflict is the Conflict a verified answer names.
func (a *Answer) conflict() *Conflict {
	k := a.Blocker
	if k == nil {
		return nil
	}
	switch k.Kind {
	case BlockerClaim:
		return &Conflict{Claim: &gatedb.Claim{Event: a.Event, TicketID: a.TicketID, Device: k.Device, Gate: k.Gate, At: k.At,
			Direction: entry.Direction(k.Direction)}}
	case BlockerPassage:
		return &Conflict{Passage: &entry.Passage{Device: k.Device, Gate: k.Gate, At: k.At, Direction: entry.Direction(k.Direction)}}
	}
	return nil
}

func blocker(c *Conflict) *Blocker {
	if c.Claim != nil {
		return &Blocker{Kind: BlockerClaim, Device: c.Claim.Device, Gate: c.Claim.Gate, At: c.Claim.At, Direction: string(c.Claim.Direction)}
	}
	return &Blocker{Kind: BlockerPassage, Device: c.Passage.Device, Gate: c.Passage.Gate, At: c.Passage.At, Direction: string(c.Passage.Direction)}
}

func (a *Answer) validate() error {
	switch {
	case a.Event == "" || a.TicketID == "" || a.Claimant == "" || a.Device == "" || a.ClaimAt.IsZero():
		return fmt.Errorf("peer: answer of %.64q incomplete", a.Device)
	case a.Verdict == AnswerConflict && (a.Blocker == nil || (a.Blocker.Kind != BlockerClaim && a.Blocker.Kind != BlockerPassage) ||
		a.Blocker.Device == "" || a.Blocker.At.IsZero() || len(a.Blocker.Device) > maxField || len(a.Blocker.Gate) > maxField):
		return fmt.Errorf("peer: conflict answer of %.64q names nothing in the way", a.Device)
	case !slices.Contains([]string{AnswerGranted, AnswerConflict, AnswerRefused}, a.Verdict):
		return fmt.Errorf("peer: answer of %.64q: verdict %.16q", a.Device, a.Verdict)
	}
	return nil
}

// Outcome is what a claim's round brought back.
type Outcome struct {
	// Asked is how many peers the claim went to: those whose links take
	// claims. 0: the gate decides alone.
	Asked int
	// Granted are the peers that answered "granted".
	Granted []string
	// Conflict is the first conflict answered (nil: none), By the peer
	// that answered it.
	Conflict *Conflict
	By       string
	// Silent are the peers asked that did not answer in time, whose link
	// went, or that would not rule (Refused): the gate treats them as
	// unreachable.
	Silent []string
	// Lost: the gate learnt while it waited that a claim winning the
	// tie-break arrived (the caller's lost channel closed).
	Lost bool
}

// claimQueue bounds the claim and release frames queued for one link; a
// claim that does not fit is not sent on it (the peer counts as not
// asked), a release that does not fit leaves the claim to expire.
const claimQueue = 64

// roundKey names this gate's claim: its ticket and time.
type roundKey struct {
	ticket string
	at     int64
}

// Round is one claim of this gate, sent to its peers and waiting for their
// answers.
type Round struct {
	g      *Gossip
	key    roundKey
	asked  map[*out]string // link → the peer's device
	events chan roundEvent
	heard  map[*out]bool // links whose event was delivered; g.mu guards it
}

// roundEvent is an answer on a link asked, or (a nil) the link's end.
type roundEvent struct {
	o *out
	a *Answer
}

// Claim signs c, this gate's claim, and sends it to every peer that takes
// claims: a link this gate dialed, caught up, of protocol 3, to a device
// the venue scope names with a key. It does not wait: Round.Wait
// collects the answers. A gate without a device key claims from nobody
// (its peers would refuse its claims).
func (g *Gossip) Claim(c gatedb.Claim) *Round {
	r := &Round{g: g, key: roundKey{c.TicketID, c.At.UnixMilli()}, asked: map[*out]string{}, heard: map[*out]bool{}}
	if g.opts.Key == nil {
		return r
	}
	wc := claimToWire(c)
	wc.Sign(g.opts.Key, false)
	m := &Message{Type: "claim", Device: g.opts.Device, Claim: &wc}
	g.mu.Lock()
	defer g.mu.Unlock()
	// The round is registered before anything is sent, under the lock the
	// links' readers take to deliver an answer: no answer can miss it.
	r.events = make(chan roundEvent, len(g.outs))
	for o := range g.outs {
		if !g.takesClaimsLocked(o, c.Event) {
			continue
		}
		select {
		case o.claims <- m:
			r.asked[o] = o.device
		default:
		}
	}
	if len(r.asked) > 0 {
		g.rounds[r.key] = r
	}
	return r
}

// takesClaimsLocked reports whether o takes this gate's claims on tickets
// of event: a link of protocol 3, caught up, to a device event's venue
// scope names with a key. g.mu is held.
func (g *Gossip) takesClaimsLocked(o *out, event string) bool {
	if !o.ready.Load() {
		return false
	}
	_, why := g.checkDevice(event, o.device)
	return why == ""
}

// Wait waits until every peer asked has answered (or its link went), one
// answered "conflict", lost is closed (the gate learnt meanwhile that a
// claim winning the tie-break arrived), timeout fires or ctx ends; a peer
// not heard from by then is Silent. Call it once.
func (r *Round) Wait(ctx context.Context, lost <-chan struct{}, timeout <-chan time.Time) Outcome {
	o := Outcome{Asked: len(r.asked)}
	if len(r.asked) == 0 {
		return o
	}
	defer r.close()
	pending := make(map[*out]string, len(r.asked))
	for l, d := range r.asked {
		pending[l] = d
	}
	silent := func() {
		for _, d := range pending {
			o.Silent = append(o.Silent, d)
		}
		slices.Sort(o.Silent)
	}
	for len(pending) > 0 {
		select {
		case ev := <-r.events:
			d, ok := pending[ev.o]
			if !ok {
				continue
			}
			delete(pending, ev.o)
			switch {
			case ev.a == nil || ev.a.Verdict == AnswerRefused:
				o.Silent = append(o.Silent, d)
			case ev.a.Verdict == AnswerGranted:
				o.Granted = append(o.Granted, d)
			default:
				o.Conflict, o.By = ev.a.conflict(), d
				return o
			}
		case <-lost:
			o.Lost = true
			return o
		case <-timeout:
			silent()
			return o
		case <-ctx.Done():
			silent()
			return o
		}
	}
	return o
}

// Asked returns how many peers the claim went to.
func (r *Round) Asked() int { return len(r.asked) }

// Abandon ends a round without waiting for its answers (the gate refused
// for a reason of its own).
func (r *Round) Abandon() { r.close() }

func (r *Round) close() {
	g := r.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.rounds[r.key] == r {
		delete(g.rounds, r.key)
	}
}

// Release takes c, this gate's claim, back from every peer that takes
// claims: the gate refused after all (it lost, or its journal failed). It
// never blocks; a peer whose queue is full keeps the claim until it
// expires.
func (g *Gossip) Release(c gatedb.Claim) {
	if g.opts.Key == nil {
		return
	}
	wc := claimToWire(c)
	wc.Sign(g.opts.Key, true)
	m := &Message{Type: "release", Device: g.opts.Device, Claim: &wc}
	g.mu.Lock()
	defer g.mu.Unlock()
	for o := range g.outs {
		if g.takesClaimsLocked(o, c.Event) {
			select {
			case o.claims <- m:
			default:
			}
		}
	}
}

// ClaimPeers returns how many peers take this gate's claims now (on
// tickets of one of its events at least).
func (g *Gossip) ClaimPeers() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for o := range g.outs {
		if slices.ContainsFunc(g.events, func(ev string) bool { return g.takesClaimsLocked(o, ev) }) {
			n++
		}
	}
	return n
}

// answered delivers an answer read on link o to the claim it answers,
// once it checks out: well formed, about this gate's claim, from the
// device the link's challenge named, signed by that device's key as the
// venue scope has it.
func (g *Gossip) answered(o *out, a *Answer) {
	why := ""
	switch {
	case a.validate() != nil:
		why = RefusedBadClaim
	case !slices.Contains(g.servedEvents(), a.Event):
		why = RefusedOtherEvent
	case a.Device != o.device || a.Claimant != g.opts.Device:
		why = RefusedNotSender
	case len(a.Signature) == 0:
		why = RefusedUnsigned
	}
	if why == "" {
		pub, w := g.checkDevice(a.Event, o.device)
		switch {
		case w != "":
			why = w
		case !ed25519.Verify(pub, AnswerSigningBytes(a), a.Signature):
			why = RefusedBadSignature
		}
	}
	if why != "" {
		g.claimRefused(why)
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.rounds[roundKey{a.TicketID, a.ClaimAt.UnixMilli()}]
	if r == nil {
		return // answered too late: the round ended
	}
	r.deliverLocked(roundEvent{o, a})
}

// deliverLocked hands r the first event of a link it asked (one per link:
// the channel has room for them all); g.mu is held.
func (r *Round) deliverLocked(ev roundEvent) {
	if _, ok := r.asked[ev.o]; !ok || r.heard[ev.o] {
		return
	}
	r.heard[ev.o] = true
	r.events <- ev
}

// dropOut forgets link o, which ended: the claims waiting for its answer
// stop waiting for it.
func (g *Gossip) dropOut(o *out) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.outs, o)
	for _, r := range g.rounds {
		r.deliverLocked(roundEvent{o: o})
	}
}

func (g *Gossip) claimRefused(reason string) {
	if g.opts.OnClaimRefused != nil {
		g.opts.OnClaimRefused(reason)
	}
}
