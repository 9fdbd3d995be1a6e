package agent

import (
	"slices"
	"sync"
	"time"

	"admit/agent/gatedb"
	"admit/fleet/wire"
)

// claimBook is what a gate knows of the claims on tickets (claim.go has
// the rules): its own, those
// of peers it granted, its admissions made alone, and what must be written
// to the database.
type claimBook struct {
	kick chan struct{} // one token: something to write

	mu       sync.Mutex // guards the fields below
	tickets  map[ticketKey]*ticketClaims
	granted  int // granted claims held
	dirty    map[heldKey]dirtyClaim
	contests []wire.Contest
	// silent are the peers that did not answer this gate's last claim in
	// time; silences counts them since the start.
	silent   []string
	silences int64
}

type ticketKey struct{ event, id string }

// heldKey names one row of the claims table.
type heldKey struct {
	event, id, device string
	at                int64
	role              gatedb.ClaimRole
}

// dirtyClaim is a row to write (put) or delete.
type dirtyClaim struct {
	h   gatedb.HeldClaim
	put bool
}

// ticketClaims are the claims on one ticket.
type ticketClaims struct {
	own     *ownClaim
	granted []gatedb.HeldClaim
	alone   []gatedb.HeldClaim
}

func (t *ticketClaims) empty() bool { return t.own == nil && len(t.granted) == 0 && len(t.alone) == 0 }

// ownClaim is this gate's claim on a ticket: waiting for its round, or won.
type ownClaim struct {
	c       gatedb.Claim
	won     bool
	expires time.Time
	lost    chan struct{} // closed when a claim that precedes it arrived
	lostTo  gatedb.Claim  // that claim
}

func newClaimBook() *claimBook {
	return &claimBook{kick: make(chan struct{}, 1), tickets: map[ticketKey]*ticketClaims{}, dirty: map[heldKey]dirtyClaim{}}
}

func keyOf(h gatedb.HeldClaim) heldKey {
	return heldKey{h.Event, h.TicketID, h.Device, h.At.UnixMilli(), h.Role}
}

// writeLocked queues h to be written (put) or deleted; b.mu is held.
func (b *claimBook) writeLocked(h gatedb.HeldClaim, put bool) {
	b.dirty[keyOf(h)] = dirtyClaim{h, put}
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *claimBook) ticketLocked(event, id string) *ticketClaims {
	k := ticketKey{event, id}
	t := b.tickets[k]
	if t == nil {
		t = &ticketClaims{}
		b.tickets[k] = t
	}
	return t
}

// tidyLocked forgets t when nothing is left in it; b.mu is held.
func (b *claimBook) tidyLocked(event, id string, t *ticketClaims) {
	if t.empty() {
		delete(b.tickets, ticketKey{event, id})
	}
}

// load puts back what the gate held when it stopped.
func (b *claimBook) load(held []gatedb.HeldClaim) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, h := range held {
		t := b.ticketLocked(h.Event, h.TicketID)
		switch h.Role {
		case gatedb.ClaimGranted:
			t.granted = append(t.granted, h)
			b.granted++
		case gatedb.ClaimWon:
			t.own = &ownClaim{c: h.Claim, won: true, expires: h.Expires, lost: make(chan struct{})}
		case gatedb.ClaimAlone:
			t.alone = append(t.alone, h)
		}
	}
}

// standing returns the first granted claim of t that stands at now; the
// book's lock is held.
func (t *ticketClaims) standing(now time.Time) *gatedb.HeldClaim {
	for i := range t.granted {
		if t.granted[i].Expires.After(now) {
			return &t.granted[i]
		}
	}
	return nil
}

// open registers c, this gate's claim: nil and the granted claim that
// stands in its way if one does.
func (b *claimBook) open(c gatedb.Claim, now, expires time.Time) (*ownClaim, *gatedb.Claim) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.ticketLocked(c.Event, c.TicketID)
	if g := t.standing(now); g != nil {
		gc := g.Claim
		return nil, &gc
	}
	if t.own != nil && t.own.won {
		// A won claim of an earlier run whose journal row never committed
		// (the gate stopped in between): this claim replaces it.
		b.writeLocked(gatedb.HeldClaim{Claim: t.own.c, Role: gatedb.ClaimWon}, false)
	}
	t.own = &ownClaim{c: c, expires: expires, lost: make(chan struct{})}
	return t.own, nil
}

// win marks own as won, unless a claim that precedes it arrived first: it
// reports whether it did.
func (b *claimBook) win(own *ownClaim) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-own.lost:
		return false
	default:
	}
	own.won = true
	b.writeLocked(gatedb.HeldClaim{Claim: own.c, Role: gatedb.ClaimWon, Expires: own.expires}, true)
	return true
}

// close drops own: it refused, or its journal row committed (the passage
// now blocks the ticket through the entry rule). alone, when set, keeps
// the admission as made alone.
func (b *claimBook) close(own *ownClaim, alone *gatedb.HeldClaim) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.ticketLocked(own.c.Event, own.c.TicketID)
	if t.own == own {
		t.own = nil
	}
	if own.won {
		b.writeLocked(gatedb.HeldClaim{Claim: own.c, Role: gatedb.ClaimWon}, false)
	}
	if alone != nil {
		t.alone = append(t.alone, *alone)
		b.writeLocked(*alone, true)
	}
	b.tidyLocked(own.c.Event, own.c.TicketID, t)
}

// grant is step 1 of ruling on a peer's claim c (see above): the claim in
// its way, if any, else c is granted until expires.
func (b *claimBook) grant(c gatedb.Claim, now, expires time.Time) *gatedb.Claim {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.ticketLocked(c.Event, c.TicketID)
	defer b.tidyLocked(c.Event, c.TicketID, t)
	if own := t.own; own != nil && (own.won || own.c.Precedes(c)) && own.expires.After(now) {
		oc := own.c
		return &oc
	}
	for _, g := range t.granted {
		if !g.Same(c) && g.Precedes(c) && g.Expires.After(now) {
			gc := g.Claim
			return &gc
		}
	}
	if own := t.own; own != nil && !own.won {
		select {
		case <-own.lost:
		default:
			own.lostTo = c
			close(own.lost)
		}
	}
	h := gatedb.HeldClaim{Claim: c, Role: gatedb.ClaimGranted, Expires: expires}
	if i := slices.IndexFunc(t.granted, func(g gatedb.HeldClaim) bool { return g.Same(c) }); i >= 0 {
		t.granted[i] = h // the same claim again: it stands longer
	} else {
		t.granted = append(t.granted, h)
		b.granted++
	}
	b.writeLocked(h, true)
	return nil
}

// ungrant drops the granted claims of t that match.
func (b *claimBook) ungrant(event, id string, match func(gatedb.Claim) bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.tickets[ticketKey{event, id}]
	if t == nil {
		return
	}
	t.granted = slices.DeleteFunc(t.granted, func(g gatedb.HeldClaim) bool {
		if !match(g.Claim) {
			return false
		}
		b.granted--
		b.writeLocked(g, false)
		return true
	})
	b.tidyLocked(event, id, t)
}

// aloneOf returns this gate's admissions of a ticket made alone.
func (b *claimBook) aloneOf(event, id string) []gatedb.HeldClaim {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.tickets[ticketKey{event, id}]
	if t == nil {
		return nil
	}
	return slices.Clone(t.alone)
}

// expires reports whether the book holds claims that expire.
func (b *claimBook) expires() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.tickets) > 0
}

// hasAlone reports whether the gate admitted the ticket alone.
func (b *claimBook) hasAlone(event, id string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	t := b.tickets[ticketKey{event, id}]
	return t != nil && len(t.alone) > 0
}

// expire drops what expired by now.
func (b *claimBook) expire(now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, t := range b.tickets {
		keep := func(hs []gatedb.HeldClaim, granted bool) []gatedb.HeldClaim {
			return slices.DeleteFunc(hs, func(h gatedb.HeldClaim) bool {
				if h.Expires.After(now) {
					return false
				}
				if granted {
					b.granted--
				}
				b.writeLocked(h, false)
				return true
			})
		}
		t.granted = keep(t.granted, true)
		t.alone = keep(t.alone, false)
		if own := t.own; own != nil && own.won && !own.expires.After(now) {
			b.writeLocked(gatedb.HeldClaim{Claim: own.c, Role: gatedb.ClaimWon}, false)
			t.own = nil
		}
		b.tidyLocked(k.event, k.id, t)
	}
}

// contest queues a contest for the fleet.
func (b *claimBook) contest(c wire.Contest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.contests = append(b.contests, c)
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// take returns what must be written and forgets it.
func (b *claimBook) take() (put, drop []gatedb.HeldClaim, contests []wire.Contest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, d := range b.dirty {
		if d.put {
			put = append(put, d.h)
		} else {
			drop = append(drop, d.h)
		}
	}
	clear(b.dirty)
	contests, b.contests = b.contests, nil
	return put, drop, contests
}

// requeue puts back what could not be written, unless newer state
// replaced it meanwhile.
func (b *claimBook) requeue(put, drop []gatedb.HeldClaim, contests []wire.Contest) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, hs := range []struct {
		hs  []gatedb.HeldClaim
		put bool
	}{{put, true}, {drop, false}} {
		for _, h := range hs.hs {
			if _, newer := b.dirty[keyOf(h)]; !newer {
				b.dirty[keyOf(h)] = dirtyClaim{h, hs.put}
			}
		}
	}
	b.contests = append(contests, b.contests...)
}

// forget drops everything (the gate was revoked and wiped).
func (b *claimBook) forget() {
	b.mu.Lock()
	defer b.mu.Unlock()
	clear(b.tickets)
	clear(b.dirty)
	b.granted, b.contests = 0, nil
}

// heard records the peers silent at this gate's last claim.
func (b *claimBook) heard(silent []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.silent = silent
	b.silences += int64(len(silent))
}

// silence returns the peers silent at this gate's last claim, and the
// silences since the start.
func (b *claimBook) silence() ([]string, int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.silent), b.silences
}

// heldGranted returns how many peers' claims the gate holds as granted.
func (b *claimBook) heldGranted() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.granted
}
