package ticket

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// TestEveryReason produces each refusal reason from a concrete bad input and
// checks the typed error, its reason and its sentence. A reason added to the
// package without a case here fails the test.
func TestEveryReason(t *testing.T) {
	k1 := fixedKey("fest25", "k1", 1)
	other := fixedKey("fest25", "k1", 2) // same event and kid, different key
	otherEvent := fixedKey("expo25", "k1", 3)
	kr := func() *Keyring { return NewKeyring(k1.Public(), otherEvent.Public()) }
	now := t0.Add(time.Hour)
	good := mustEncode(t, gaClaims(), k1)
	rot := gaClaims()
	rot.Rotating = true
	rotText := mustEncode(t, rot, k1)
	secret := []byte("per-ticket-secret-20")
	codes := CodeSecretsFunc(func(event, id string) ([]byte, bool) { return secret, id == rot.ID })

	expoClaims := gaClaims()
	expoClaims.Event = "expo25"

	badAlg := func() string {
		b := mustEncodeBinary(t, gaClaims(), k1)
		s, err := decodeSign1(b)
		if err != nil {
			t.Fatal(err)
		}
		prot := []byte{0xA2, 0x01, 0x26, 0x04, 0x42, 'k', '1'} // alg -7 (ES256)
		return Prefix + EncodeBase45(encodeSign1(prot, s.payload, s.sig))
	}()

	jwtKey, jwtSign := newEdJWTSigner(t)
	krJWT := kr()
	if err := krJWT.AddJWT(JWTKey{Event: "fest25", ID: "ext1", Issuer: "https://tix.example", Key: jwtKey}); err != nil {
		t.Fatal(err)
	}
	wrongIss := jwtSign(`{"alg":"EdDSA","kid":"ext1"}`, `{"iss":"https://evil.example","jti":"J1","exp":1900000000}`)

	type tc struct {
		reason Reason
		text   string
		kr     *Keyring
		opts   VerifyOptions
		check  bool // use Check instead of VerifyWith
	}
	cases := []tc{
		{reason: ReasonMalformed, text: Prefix + EncodeBase45([]byte{0xFF, 0x00, 0x01})},
		{reason: ReasonMalformed, text: Prefix + "AB#"},
		{reason: ReasonTruncated, text: cutBody(good, 0)}, // whole base45 groups: CBOR ends early
		{reason: ReasonTruncated, text: cutBody(good, 1)}, // a base45 character missing
		{reason: ReasonTruncated, text: Prefix},
		{reason: ReasonTooLarge, text: Prefix + strings.Repeat("0", MaxTextLen)},
		{reason: ReasonBadPrefix, text: "HC1:" + good[len(Prefix):]},
		{reason: ReasonBadPrefix, text: "hello world"},
		{reason: ReasonBadVersion, text: "AD2:" + good[len(Prefix):]},
		{reason: ReasonBadSignature, text: mustEncode(t, gaClaims(), other)},
		{reason: ReasonUnsupportedAlg, text: badAlg},
		{reason: ReasonUnknownKey, text: good, kr: NewKeyring(otherEvent.Public())},
		{reason: ReasonWrongIssuer, text: wrongIss, kr: krJWT},
		{reason: ReasonRetiredKey, text: good, kr: func() *Keyring {
			r := kr()
			if err := r.Retire("fest25", "k1", now.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			return r
		}()},
		{reason: ReasonExpired, text: good, opts: VerifyOptions{Now: t0.Add(49 * time.Hour)}},
		{reason: ReasonNotYetValid, text: good, opts: VerifyOptions{Now: t0.Add(-time.Second)}},
		{reason: ReasonRevoked, text: good, opts: VerifyOptions{Now: now, Revocations: RevocationsFunc(func(e, id string) bool { return e == "fest25" && id == "Q7XK2M4P" })}},
		{reason: ReasonWrongEvent, text: mustEncode(t, expoClaims, otherEvent), opts: VerifyOptions{Now: now, Event: "fest25"}},
		{reason: ReasonExpiredCode, text: mustRotate(t, rotText, secret, now.Add(-2*CodeStep)), opts: VerifyOptions{Now: now, Codes: codes}},
		{reason: ReasonBadCode, text: RotatingPrefix + "000000" + rotText[len(Prefix):], opts: VerifyOptions{Now: now, Codes: codes}},
		{reason: ReasonMissingCode, text: rotText, opts: VerifyOptions{Now: now, Codes: codes}},
		{reason: ReasonLegacyLookup, text: "4006381333931"},
		{reason: ReasonLookupFailed, text: good, opts: VerifyOptions{Now: now, State: func(Claims) (GateState, error) {
			return GateState{}, errors.New("disk on fire")
		}}},
		{reason: ReasonNotInAllowlist, text: "4006381333931", check: true, opts: VerifyOptions{Now: now,
			Legacy: LegacyLookupFunc(func(string) (Claims, bool) { return Claims{}, false })}},
	}
	covered := map[Reason]bool{}
	for _, c := range cases {
		if c.kr == nil {
			c.kr = kr()
		}
		if c.opts.Now.IsZero() {
			c.opts.Now = now
		}
		var err error
		if c.check {
			_, err = Check(c.text, c.kr, c.opts)
		} else {
			_, err = VerifyWith(c.text, c.kr, c.opts)
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%s: got %v, want an *Error", c.reason, err)
			continue
		}
		if e.Reason != c.reason {
			t.Errorf("want %s for %.40q, got %v", c.reason, c.text, err)
		}
		if e.Sentence == "" || e.Sentence != c.reason.Sentence() {
			t.Errorf("%s: sentence %q", c.reason, e.Sentence)
		}
		if !errors.Is(err, &Error{Reason: c.reason}) {
			t.Errorf("%s: errors.Is does not match its own reason", c.reason)
		}
		covered[e.Reason] = true
	}
	for _, r := range Reasons() {
		if !covered[r] {
			t.Errorf("reason %s has no test case", r)
		}
	}
	// The same good ticket passes with the same keyring and clock.
	if _, err := VerifyWith(good, kr(), VerifyOptions{Now: now, Event: "fest25"}); err != nil {
		t.Fatalf("good ticket refused: %v", err)
	}
}

// cutBody shortens text's base45 body to the longest length < full with
// length%3 == mod.
func cutBody(text string, mod int) string {
	n := len(text) - len(Prefix) - 1
	for n%3 != mod {
		n--
	}
	return text[:len(Prefix)+n]
}

func mustRotate(t testing.TB, static string, secret []byte, at time.Time) string {
	t.Helper()
	s, err := Rotate(static, secret, at)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExpiredCodeSentence(t *testing.T) {
	err := CheckCode([]byte("s3cret"), TOTP([]byte("s3cret"), t0.Add(-time.Minute)), t0)
	if ReasonOf(err) != ReasonExpiredCode || !strings.Contains(SentenceOf(err), "expired code (screenshot?)") {
		t.Fatalf("got %v", err)
	}
}

// TestWindowEdges: NotBefore and NotAfter are inclusive.
func TestWindowEdges(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	text := mustEncode(t, gaClaims(), k)
	kr := NewKeyring(k.Public())
	for _, c := range []struct {
		at   time.Time
		want Reason
	}{
		{t0.Add(-time.Second), ReasonNotYetValid},
		{t0, ""},
		{t0.Add(48 * time.Hour), ""},
		{t0.Add(48*time.Hour + time.Second), ReasonExpired},
	} {
		if _, err := Verify(text, kr, c.at); ReasonOf(err) != c.want {
			t.Errorf("at %s: got %v, want %q", c.at, err, c.want)
		}
	}
}

// TestWrongEventKey: a ticket claiming one event but signed with another
// event's key (same kid) is a forgery, not a wrong-event ticket.
func TestWrongEventKey(t *testing.T) {
	a := fixedKey("fest25", "k1", 1)
	b := fixedKey("expo25", "k1", 2)
	forged := mustEncode(t, Claims{ID: "X1", Event: "expo25", NotBefore: t0, NotAfter: t0.Add(time.Hour)}, b)
	// Re-label: sign expo25 claims with fest25's key by lying about the key's event.
	liar := SigningKey{Event: "expo25", ID: "k1", Private: a.Private}
	forged2 := mustEncode(t, Claims{ID: "X1", Event: "expo25", NotBefore: t0, NotAfter: t0.Add(time.Hour)}, liar)
	kr := NewKeyring(a.Public(), b.Public())
	if _, err := Verify(forged, kr, t0); err != nil {
		t.Fatalf("genuine expo25 ticket: %v", err)
	}
	if _, err := Verify(forged2, kr, t0); ReasonOf(err) != ReasonBadSignature {
		t.Fatalf("expo25 claims under fest25 key: got %v, want bad_signature", err)
	}
}
