package agent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"admit/agent/gatedb"
	"admit/fleet/wire"
	"admit/internal/argon2id"
)

// Gate staff sign in at the gate with the PIN an admin or event manager
// set for them in the fleet (or with their badge and the PIN): the gate
// checks it against the argon2id hash its venue scope replicated, and
// opens a short local session. Forced admissions, annulments and lookups
// need one, and carry the staff member into the journal and upstream.

// Staff session and sign-in policy.
const (
	StaffSessionIdle = 10 * time.Minute // a session unused this long ends
	StaffSessionMax  = 4 * time.Hour    // and every session this long after sign-in
	maxStaffSessions = 64               // the oldest session goes beyond

	StaffFailures    = 5                // failed sign-ins that lock a staff member out at this gate
	GateFailures     = 20               // failed sign-ins (any staff) that lock this gate's sign-in
	StaffFailWindow  = 15 * time.Minute // within which failures count together
	StaffLockFor     = 15 * time.Minute // how long a lock-out lasts
	maxPINMemoryKiB  = 64 << 10         // a hash asking more memory than this is refused, not computed
	staffCookie      = "admit-staff"
	staffCSRFHeader  = "X-CSRF-Token"
	gateThrottleName = "gate"
)

// ErrStaffSignIn is a failed sign-in: unknown staff member or badge, or a
// wrong PIN (the caller cannot tell which).
var ErrStaffSignIn = errors.New("agent: wrong staff member, badge or PIN")

// ErrNoStaffYet: the gate has not received its event's venue data (its
// staff) from the fleet yet; nobody can sign in, and trying counts for
// nothing.
var ErrNoStaffYet = errors.New("agent: this gate has not received its staff from the fleet yet")

// StaffLockedError says sign-in is refused until Until.
type StaffLockedError struct {
	Gate  bool // the whole gate's sign-in, not one staff member's
	Until time.Time
	Now   time.Time
}

// RetryAfter is how long until sign-in is tried again.
func (e *StaffLockedError) RetryAfter() time.Duration {
	return max(0, e.Until.Sub(e.Now)).Round(time.Second)
}

func (e *StaffLockedError) Error() string {
	if e.Gate {
		return fmt.Sprintf("too many failed sign-ins at this gate: try again in %s", e.RetryAfter())
	}
	return fmt.Sprintf("too many failed sign-ins for this staff member: try again in %s", e.RetryAfter())
}

// StaffSession is a signed-in staff member at this gate.
type StaffSession struct {
	Staff   string    `json:"staff"` // the operator's name in the fleet
	Name    string    `json:"name"`
	CSRF    string    `json:"csrf"` // send it as X-CSRF-Token with every change
	Expires time.Time `json:"expires"`

	idHash    string
	createdAt time.Time
	lastSeen  time.Time
}

// staffAuth holds the sessions of one gate.
type staffAuth struct {
	a     *Agent
	hosts hostSet // loopback names until the listener adds its own
	// verify admits one PIN check at a time: each takes tens of MiB and a
	// few hundred ms on a Pi; sign-ins wait their turn.
	verify    chan struct{}
	dummyOnce sync.Once
	dummy     string // a hash nobody matches, checked for an unknown staff member

	mu       sync.Mutex // guards sessions
	sessions map[string]*StaffSession
}

func newStaffAuth(a *Agent) *staffAuth {
	return &staffAuth{a: a, verify: make(chan struct{}, 1), sessions: map[string]*StaffSession{}, hosts: newHostSet(nil, nil)}
}

// dummyHash is a hash of a random PIN: what a sign-in of an unknown staff
// member is checked against, so that it costs what a known one's does.
func (s *staffAuth) dummyHash() string {
	s.dummyOnce.Do(func() {
		var pin [16]byte
		rand.Read(pin[:])
		s.dummy, _ = argon2id.Hash(pin[:], staffArgon2Dummy)
	})
	return s.dummy
}

// staffArgon2Dummy are the parameters the fleet hashes PINs with
// (fleet.StaffArgon2, which the agent does not import): what an unknown
// staff member's sign-in costs, like a known one's.
var staffArgon2Dummy = argon2id.Params{Time: 2, Memory: 19 * 1024, Threads: 1, KeyLen: 32}

func hashID(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

func newToken() string {
	var b [32]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// StaffCredentials are what staff type or present to sign in: their name
// (the operator's in the fleet) and PIN, or their badge's UID (hex, as the
// gate's badge reader reports it) and PIN.
type StaffCredentials struct {
	Staff string `json:"staff,omitempty"`
	Badge string `json:"badge,omitempty"`
	PIN   string `json:"pin"`
}

// SignInStaff checks credentials against the staff of the gate's event
// and opens a session; it returns the session's secret (the cookie) with
// it. Failures count towards lock-outs per staff member and per gate.
func (s *staffAuth) signIn(ctx context.Context, c StaffCredentials) (string, *StaffSession, error) {
	a := s.a
	now := a.cfg.Clock.Now()
	events := a.Events()
	synced := false
	for _, ev := range events {
		synced = synced || a.db.VenueSynced(ev)
	}
	if !synced {
		return "", nil, ErrNoStaffYet
	}
	if err := s.locked(ctx, gateThrottleName, true, now); err != nil {
		return "", nil, err
	}
	var uid []byte
	if c.Badge != "" {
		var err error
		if uid, err = hex.DecodeString(strings.ReplaceAll(c.Badge, ":", "")); err != nil || len(uid) == 0 || len(uid) > 16 {
			return "", nil, s.failed(ctx, "", now)
		}
	}
	if len(c.PIN) == 0 || len(c.PIN) > 16 || len(c.Staff) > wire.MaxIDLen || (c.Staff == "") == (uid == nil) {
		return "", nil, s.failed(ctx, "", now)
	}
	// The staff member of the first event served that names them.
	var st gatedb.Staff
	err := gatedb.ErrUnknownStaff
	for _, ev := range events {
		if uid != nil {
			st, err = a.db.StaffByBadge(ctx, ev, wire.BadgeLookup(uid))
		} else {
			st, err = a.db.StaffMember(ctx, ev, c.Staff)
			if err == nil && st.Badge != "" {
				err = gatedb.ErrUnknownStaff // a badge-and-PIN account: the PIN alone does not open it
			}
		}
		if !errors.Is(err, gatedb.ErrUnknownStaff) {
			break
		}
	}
	if err != nil && !errors.Is(err, gatedb.ErrUnknownStaff) {
		return "", nil, err
	}
	if st.ID != "" {
		if err := s.locked(ctx, "staff:"+st.ID, false, now); err != nil {
			return "", nil, err
		}
	}
	phc := st.PINHash
	if p, _, _, ok := argon2id.Parse(phc); st.ID == "" || !ok || p.Memory > maxPINMemoryKiB {
		phc = s.dummyHash() // the same cost whatever failed
		st.ID = ""
	}
	select {
	case s.verify <- struct{}{}:
	case <-ctx.Done():
		return "", nil, ctx.Err()
	}
	ok := argon2id.Check(wire.StaffSecret(uid, c.PIN), phc)
	<-s.verify
	if !ok || st.ID == "" {
		return "", nil, s.failed(ctx, st.ID, now)
	}
	if err := a.db.ClearStaffThrottle(ctx, "staff:"+st.ID); err != nil {
		return "", nil, err
	}
	name := st.Name
	if name == "" {
		name = st.ID
	}
	secret := newToken()
	sess := &StaffSession{Staff: st.ID, Name: name, CSRF: newToken(), idHash: hashID(secret), createdAt: now, lastSeen: now}
	sess.Expires = s.expiry(sess)
	s.mu.Lock()
	if len(s.sessions) >= maxStaffSessions {
		var oldest *StaffSession
		for _, o := range s.sessions {
			if oldest == nil || o.lastSeen.Before(oldest.lastSeen) {
				oldest = o
			}
		}
		delete(s.sessions, oldest.idHash)
	}
	s.sessions[sess.idHash] = sess
	s.mu.Unlock()
	a.metrics.staffSignIns.Inc("ok")
	a.cfg.Log.Info("agent: staff signed in", "staff", st.ID)
	if err := a.db.Log(ctx, now, "staff_sign_in", st.ID); err != nil {
		a.cfg.Log.Warn("agent: gate log", "err", err)
	}
	cp := *sess
	return secret, &cp, nil
}

func (s *staffAuth) expiry(sess *StaffSession) time.Time {
	return minTime(sess.lastSeen.Add(StaffSessionIdle), sess.createdAt.Add(StaffSessionMax))
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// locked returns a StaffLockedError while subject is locked out.
func (s *staffAuth) locked(ctx context.Context, subject string, gate bool, now time.Time) error {
	th, err := s.a.db.StaffThrottle(ctx, subject)
	if err != nil {
		return err
	}
	if th.LockedUntil.After(now) {
		s.a.metrics.staffSignIns.Inc("locked")
		return &StaffLockedError{Gate: gate, Until: th.LockedUntil, Now: now}
	}
	return nil
}

// failed counts a failed sign-in against the gate and, when known, the
// staff member, and returns ErrStaffSignIn (or the lock-out it caused).
func (s *staffAuth) failed(ctx context.Context, staff string, now time.Time) error {
	a := s.a
	a.metrics.staffSignIns.Inc("failed")
	a.cfg.Log.Warn("agent: staff sign-in failed", "staff", staff)
	if err := a.db.Log(ctx, now, "staff_sign_in_failed", staff); err != nil {
		a.cfg.Log.Warn("agent: gate log", "err", err)
	}
	th, err := a.db.StaffFailure(ctx, gateThrottleName, now, now.Add(-StaffFailWindow), GateFailures, now.Add(StaffLockFor))
	if err != nil {
		return err
	}
	if staff != "" {
		sth, err := a.db.StaffFailure(ctx, "staff:"+staff, now, now.Add(-StaffFailWindow), StaffFailures, now.Add(StaffLockFor))
		if err != nil {
			return err
		}
		if sth.LockedUntil.After(now) {
			return &StaffLockedError{Until: sth.LockedUntil, Now: now}
		}
	}
	if th.LockedUntil.After(now) {
		return &StaffLockedError{Gate: true, Until: th.LockedUntil, Now: now}
	}
	return ErrStaffSignIn
}

// session returns the live session of a cookie's secret, touching it.
func (s *staffAuth) session(secret string) (*StaffSession, bool) {
	if secret == "" {
		return nil, false
	}
	now := s.a.cfg.Clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	sess := s.sessions[hashID(secret)]
	if sess == nil {
		return nil, false
	}
	if !now.Before(s.expiry(sess)) {
		delete(s.sessions, sess.idHash)
		return nil, false
	}
	sess.lastSeen = now
	sess.Expires = s.expiry(sess)
	cp := *sess
	return &cp, true
}

// signOut ends the session of a cookie's secret.
func (s *staffAuth) signOut(secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, hashID(secret))
}

// forget ends every session (the gate was revoked: its staff are gone).
func (s *staffAuth) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.sessions)
}

func checkCSRF(sess *StaffSession, header string) bool {
	return header != "" && subtle.ConstantTimeCompare([]byte(sess.CSRF), []byte(header)) == 1
}

// hostSet is the Host names the staff listener answers to.
type hostSet map[string]bool

func newHostSet(addr net.Addr, extra []string) hostSet {
	s := hostSet{"localhost": true, "127.0.0.1": true, "::1": true}
	if tcp, ok := addr.(*net.TCPAddr); ok {
		if tcp.IP.IsUnspecified() {
			// Every address of the machine: the listener answers on all.
			if addrs, err := net.InterfaceAddrs(); err == nil {
				for _, a := range addrs {
					if ipn, ok := a.(*net.IPNet); ok {
						s[ipn.IP.String()] = true
					}
				}
			}
		} else {
			s[tcp.IP.String()] = true
		}
	}
	for _, h := range extra {
		s[strings.ToLower(stripPort(h))] = true
	}
	return s
}

func stripPort(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.Trim(h, "[]")
}

func (s hostSet) allowed(host string) bool {
	return host != "" && s[strings.ToLower(stripPort(host))]
}
