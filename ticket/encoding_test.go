package ticket

import (
	"bytes"
	"runtime"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"
)

// RFC 9285 §4.3 examples plus edge cases.
func TestBase45(t *testing.T) {
	for _, v := range []struct{ in, out string }{
		{"AB", "BB8"},
		{"Hello!!", "%69 VD92EX0"},
		{"base-45", "UJCLQE7W581"},
		{"ietf!", "QED8WEX0"},
		{"", ""},
		{"\x00", "00"},
		{"\xff\xff", "FGW"},
	} {
		if got := EncodeBase45([]byte(v.in)); got != v.out {
			t.Errorf("encode %q = %q, want %q", v.in, got, v.out)
		}
		got, err := DecodeBase45(v.out)
		if err != nil || string(got) != v.in {
			t.Errorf("decode %q = %q, %v", v.out, got, err)
		}
	}
	for _, bad := range []string{
		"GGW",  // 65536+: group overflow
		"GGW0", // length 1 mod 3
		"0",    // length 1 mod 3
		":::",  // 44+44*45+44*2025 > 65535
		"U7",   // 30+7*45=345 > 255: final pair overflow
		"ab",   // lowercase not in the alphabet
		"A_B",  // not in the alphabet
	} {
		if _, err := DecodeBase45(bad); err == nil {
			t.Errorf("decode %q succeeded", bad)
		}
	}
}

// TestSizeAndQR: a realistic ticket (8-char id, event id, type, 2-day
// window, key id "k1") is at most 120 bytes binary and fits a QR code of
// version <= 7 at error correction level M, in alphanumeric mode.
func TestSizeAndQR(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	for _, tc := range []struct {
		name       string
		c          Claims
		maxBytes   int
		maxVersion int
	}{
		{"GA", gaClaims(), 120, 7},
		// As the fleet issues it: with the issue time (claim 10), a month
		// ahead (held at MaxIssuedBefore) or the day before.
		{"GA issued a month ahead", func() Claims { c := gaClaims(); c.IssuedAt = t0.Add(-30 * 24 * time.Hour); return c }(), 120, 7},
		{"GA issued the day before", func() Claims { c := gaClaims(); c.IssuedAt = t0.Add(-20 * time.Hour); return c }(), 120, 7},
		{"GA one zone", func() Claims { c := gaClaims(); c.Zones = []string{"main"}; return c }(), 120, 8},
		{"VIP zone+seat+reentry", vipClaims(), 130, 8},
	} {
		text := mustEncode(t, tc.c, k)
		bin := mustEncodeBinary(t, tc.c, k)
		qr, err := encoder.Encoder_encodeWithoutHint(text, decoder.ErrorCorrectionLevel_M)
		if err != nil {
			t.Fatalf("%s: QR encode: %v", tc.name, err)
		}
		v := qr.GetVersion().GetVersionNumber()
		t.Logf("%s: %d bytes binary, %d chars text, QR version %d-M, mode %s", tc.name, len(bin), len(text), v, qr.GetMode())
		if len(bin) > tc.maxBytes {
			t.Errorf("%s: %d bytes, want <= %d", tc.name, len(bin), tc.maxBytes)
		}
		if v > tc.maxVersion {
			t.Errorf("%s: QR version %d, want <= %d", tc.name, v, tc.maxVersion)
		}
		if qr.GetMode() != decoder.Mode_ALPHANUMERIC {
			t.Errorf("%s: QR mode %s, want alphanumeric", tc.name, qr.GetMode())
		}
	}
}

// TestEveryByteFlipRefused flips every byte of an encoded ticket in turn,
// with several masks, and every character of its text: each is refused.
func TestEveryByteFlipRefused(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	kr := NewKeyring(k.Public())
	for _, c := range []Claims{gaClaims(), vipClaims()} {
		bin := mustEncodeBinary(t, c, k)
		if _, err := VerifyBinary(bin, kr, VerifyOptions{Now: t0}); err != nil {
			t.Fatalf("unflipped: %v", err)
		}
		for i := range bin {
			for _, mask := range []byte{0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0xFF} {
				b := bytes.Clone(bin)
				b[i] ^= mask
				text := Prefix + EncodeBase45(b)
				if _, err := Verify(text, kr, t0); err == nil {
					t.Fatalf("byte %d ^ %#x accepted", i, mask)
				}
				if _, err := VerifyBinary(b, kr, VerifyOptions{Now: t0}); err == nil {
					t.Fatalf("binary byte %d ^ %#x accepted", i, mask)
				}
			}
		}
		text := Prefix + EncodeBase45(bin)
		for i := range text {
			for j := 0; j < len(base45Alphabet); j += 7 {
				if base45Alphabet[j] == text[i] {
					continue
				}
				s := text[:i] + string(base45Alphabet[j]) + text[i+1:]
				if _, err := Verify(s, kr, t0); err == nil {
					t.Fatalf("char %d -> %q accepted", i, base45Alphabet[j])
				}
			}
		}
	}
}

// TestBoundedAllocation: length prefixes claiming huge items must not make
// the decoder allocate anything near their claimed size.
func TestBoundedAllocation(t *testing.T) {
	inputs := [][]byte{
		{0x84, 0x5B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00},       // bstr of 2^64-1
		{0x84, 0x5A, 0x7F, 0xFF, 0xFF, 0xFF, 0x00},                               // bstr of 2 GiB
		{0x9B, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00},                   // array of 2^32
		{0x84, 0x43, 0xA1, 0x01, 0x27, 0xA0, 0x58, 0x05, 0xBA, 0x10, 0, 0, 0},    // claims map of 2^28 pairs
		{0x84, 0x41, 0x9A, 0xA0, 0x45, 0x84, 0x7A, 0x40, 0, 0, 0, 0x58, 0x40, 0}, // tstr of 1 GiB inside
		bytes.Repeat([]byte{0x81}, 300),                                          // deep nesting
	}
	for _, in := range inputs {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for i := 0; i < 100; i++ {
			if _, err := decodeSign1(in); err == nil {
				t.Fatalf("%x decoded", in)
			}
			if _, err := Verify(Prefix+EncodeBase45(in), NewKeyring(), t0); err == nil {
				t.Fatalf("%x verified", in)
			}
		}
		runtime.ReadMemStats(&after)
		if per := (after.TotalAlloc - before.TotalAlloc) / 100; per > 64<<10 {
			t.Errorf("%x: %d bytes allocated per decode", in, per)
		}
	}
	// Oversized input is refused before decoding.
	big := make([]byte, MaxBinaryLen+1)
	if _, err := decodeSign1(big); ReasonOf(err) != ReasonTooLarge {
		t.Fatalf("oversized binary: %v", err)
	}
}

// TestCanonicalOnly: the same claims encoded non-canonically (here: a
// definite-length map re-ordered, an explicit false) are refused even when
// signed by the right key, so a ticket has exactly one valid encoding.
func TestCanonicalOnly(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	kr := NewKeyring(k.Public())
	good := mustEncodeBinary(t, gaClaims(), k)
	s, err := decodeSign1(good)
	if err != nil {
		t.Fatal(err)
	}
	// Append "9: false" to the claims map: same meaning, not canonical.
	payload := bytes.Clone(s.payload)
	payload[0]++
	payload = append(payload, 0x09, 0xF4)
	sign := func(prot, payload []byte) []byte {
		return encodeSign1(prot, payload, ed25519Sign(k, sigStructure(prot, payload)))
	}
	if _, err := VerifyBinary(sign(s.protected, payload), kr, VerifyOptions{Now: t0}); ReasonOf(err) != ReasonMalformed {
		t.Fatalf("explicit false: %v", err)
	}
	// Protected header with keys in the other order.
	prot := []byte{0xA2, 0x04, 0x42, 'k', '1', 0x01, 0x27}
	if _, err := VerifyBinary(sign(prot, s.payload), kr, VerifyOptions{Now: t0}); ReasonOf(err) != ReasonMalformed {
		t.Fatalf("reordered protected header: %v", err)
	}
	// Non-empty unprotected header.
	b := bytes.Clone(good)
	i := 1 + 1 + len(s.protected)
	if b[i] != 0xA0 {
		t.Fatalf("unprotected header not at %d", i)
	}
	b = append(b[:i:i], append([]byte{0xA1, 0x04, 0x41, 'x'}, good[i+1:]...)...)
	if _, err := VerifyBinary(b, kr, VerifyOptions{Now: t0}); ReasonOf(err) != ReasonMalformed {
		t.Fatalf("unprotected header: %v", err)
	}
	// Tagged COSE_Sign1 (tag 18) is not our profile.
	if _, err := VerifyBinary(append([]byte{0xD2}, good...), kr, VerifyOptions{Now: t0}); ReasonOf(err) != ReasonMalformed {
		t.Fatalf("tagged: %v", err)
	}
	// Trailing bytes.
	if _, err := VerifyBinary(append(bytes.Clone(good), 0), kr, VerifyOptions{Now: t0}); ReasonOf(err) != ReasonMalformed {
		t.Fatalf("trailing: %v", err)
	}
}

func TestClassifyAndLegacy(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	text := mustEncode(t, gaClaims(), k)
	for in, want := range map[string]Format{
		text:                                FormatAD1,
		"AD2:XYZ":                           FormatAD1,
		"AD1R:123456ABC":                    FormatAD1Rotating,
		"eyJhbGciOi.eyJ.x":                  FormatJWT,
		"4006381333931":                     FormatLegacy,
		"12345":                             FormatUnknown,
		"123456789012345678901234567890123": FormatUnknown,
		"12 34 56":                          FormatUnknown,
		"":                                  FormatUnknown,
	} {
		if got := Classify(in); got != want {
			t.Errorf("Classify(%.20q) = %v, want %v", in, got, want)
		}
	}
	row := Claims{ID: "L-1", Event: "fest25", NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	lookup := LegacyLookupFunc(func(code string) (Claims, bool) { return row, code == "4006381333931" })
	opts := VerifyOptions{Now: t0, Legacy: lookup}
	res, err := Check("4006381333931", NewKeyring(), opts)
	if err != nil || res.Assurance != AssuranceLow || res.Format != FormatLegacy || res.Claims.ID != "L-1" {
		t.Fatalf("legacy Check = %+v, %v", res, err)
	}
	opts.Now = t0.Add(2 * time.Hour)
	if _, err := Check("4006381333931", NewKeyring(), opts); ReasonOf(err) != ReasonExpired {
		t.Fatalf("legacy expired: %v", err)
	}
	opts.Now = t0
	opts.Revocations = RevocationsFunc(func(e, id string) bool { return id == "L-1" })
	if _, err := Check("4006381333931", NewKeyring(), opts); ReasonOf(err) != ReasonRevoked {
		t.Fatalf("legacy revoked: %v", err)
	}
	res, err = Check(text, NewKeyring(k.Public()), VerifyOptions{Now: t0})
	if err != nil || res.Assurance != AssuranceHigh || res.Format != FormatAD1 {
		t.Fatalf("AD1 Check = %+v, %v", res, err)
	}
	if _, err := Check("what?", NewKeyring(), VerifyOptions{Now: t0}); ReasonOf(err) != ReasonBadPrefix {
		t.Fatalf("unknown text: %v", err)
	}
}

func TestParseUnverified(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	c, err := ParseUnverified(mustEncode(t, vipClaims(), k))
	if err != nil || c.ID != "V3N8R2KD" || c.KeyID != "k1" || c.Seat != "B12" {
		t.Fatalf("%+v %v", c, err)
	}
}

// TestIssuedAt: the issue time travels in whole hours after NotBefore,
// rounded up (never earlier than it was), held at MaxIssuedBefore hours
// before it; a ticket without one has none; a hostile claim 10 out of
// range is refused.
func TestIssuedAt(t *testing.T) {
	k := fixedKey("fest25", "k1", 1)
	kr := NewKeyring(k.Public())
	for _, tc := range []struct {
		name   string
		issued time.Time
		want   time.Time
	}{
		{"none", time.Time{}, time.Time{}},
		{"at NotBefore", t0, t0},
		{"a minute after", t0.Add(time.Minute), t0.Add(time.Hour)},
		{"during the event", t0.Add(30*time.Hour + time.Second), t0.Add(31 * time.Hour)},
		{"a minute before", t0.Add(-time.Minute), t0},
		{"two days before", t0.Add(-48 * time.Hour), t0.Add(-48 * time.Hour)},
		{"a month before", t0.Add(-30 * 24 * time.Hour), t0.Add(-MaxIssuedBefore * time.Hour)},
	} {
		c := gaClaims()
		c.IssuedAt = tc.issued
		got, err := Verify(mustEncode(t, c, k), kr, t0)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if !got.IssuedAt.Equal(tc.want) {
			t.Errorf("%s: issued at %v, want %v", tc.name, got.IssuedAt, tc.want)
		}
		if !tc.issued.IsZero() && got.IssuedAt.Before(tc.issued) {
			t.Errorf("%s: issued at %v, earlier than %v", tc.name, got.IssuedAt, tc.issued)
		}
	}
	for _, hours := range []int64{-MaxIssuedBefore - 1, maxIssuedAfter + 1} {
		w := gaClaims().wire()
		w.IssuedAt = &hours
		payload, err := encMode.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		protected := encodeProtected(k.ID)
		b := encodeSign1(protected, payload, ed25519Sign(k, sigStructure(protected, payload)))
		if _, err := VerifyBinary(b, kr, VerifyOptions{Now: t0}); ReasonOf(err) != ReasonMalformed {
			t.Errorf("claim 10 = %d hours: %v, want refused as malformed", hours, err)
		}
	}
}
