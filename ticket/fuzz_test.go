package ticket

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzKey signs the seed corpus; the fuzz targets verify with it, so a
// mutated input that still verifies must re-encode to itself byte for byte.
var fuzzKey = fixedKey("fest25", "k1", 7)

func fuzzKeyring() *Keyring { return NewKeyring(fuzzKey.Public()) }

var fuzzNow = t0.Add(time.Hour)

// FuzzVerifyText: the text decoder never panics, refuses with a typed
// reason, and anything it accepts is exactly what Encode produces.
func FuzzVerifyText(f *testing.F) {
	for _, s := range seedTexts(f) {
		f.Add(s)
	}
	kr := fuzzKeyring()
	f.Fuzz(func(t *testing.T, text string) {
		c, err := VerifyWith(text, kr, VerifyOptions{Now: fuzzNow})
		if err != nil {
			if ReasonOf(err) == "" || SentenceOf(err) == "" {
				t.Fatalf("untyped refusal %v", err)
			}
			if _, ok := err.(*Error); !ok {
				t.Fatalf("refusal is %T, want *Error", err)
			}
			return
		}
		again, err := Encode(c, fuzzKey)
		if err != nil {
			t.Fatalf("accepted claims do not re-encode: %v", err)
		}
		if again != text {
			t.Fatalf("accepted %q but it re-encodes as %q", text, again)
		}
	})
}

// FuzzDecodeBinary: the binary (COSE_Sign1) decoder never panics, and
// anything it decodes is in canonical form.
func FuzzDecodeBinary(f *testing.F) {
	for _, s := range seedTexts(f) {
		if strings.HasPrefix(s, Prefix) {
			if b, err := DecodeBase45(s[len(Prefix):]); err == nil {
				f.Add(b)
			}
		}
	}
	kr := fuzzKeyring()
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSign1(b)
		if err != nil {
			if ReasonOf(err) == "" {
				t.Fatalf("untyped refusal %v", err)
			}
			return
		}
		if !bytes.Equal(encodeSign1(s.protected, s.payload, s.sig), b) {
			t.Fatalf("decoded non-canonical input %x", b)
		}
		if c, err := VerifyBinary(b, kr, VerifyOptions{Now: fuzzNow}); err == nil {
			again, err := EncodeBinary(c, fuzzKey)
			if err != nil || !bytes.Equal(again, b) {
				t.Fatalf("verified %x, re-encodes as %x (%v)", b, again, err)
			}
		}
	})
}

// FuzzBase45: strict decoding means decode∘encode is the identity on
// everything decode accepts.
func FuzzBase45(f *testing.F) {
	for _, s := range []string{"", "BB8", "%69 VD92EX0", "GGW", "00", "FGW", ":::", "U7"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := DecodeBase45(s)
		if err != nil {
			return
		}
		if got := EncodeBase45(b); got != s {
			t.Fatalf("DecodeBase45(%q) = %x, re-encodes as %q", s, b, got)
		}
	})
}

// FuzzJWT: the JWT path never panics and refuses with a typed reason.
func FuzzJWT(f *testing.F) {
	pub, sign := newEdJWTSigner(f)
	kr := NewKeyring()
	if err := kr.AddJWT(JWTKey{Event: "fest25", ID: "ed1", Key: pub}); err != nil {
		f.Fatal(err)
	}
	f.Add(sign(`{"alg":"EdDSA","kid":"ed1"}`, `{"jti":"A","exp":1900000000,"zones":["a"],"policy":"multi"}`))
	f.Add(sign(`{"alg":"EdDSA"}`, `{"jti":"A"}`))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Fuzz(func(t *testing.T, text string) {
		if _, err := VerifyJWT(text, kr, VerifyOptions{Now: fuzzNow}); err != nil && ReasonOf(err) == "" {
			t.Fatalf("untyped refusal %v", err)
		}
	})
}

// seedTexts are valid and nearly valid tickets signed with fuzzKey.
func seedTexts(t testing.TB) []string {
	ga := gaClaims()
	vip := vipClaims()
	rot := gaClaims()
	rot.Rotating = true
	rot.Policy = MultiEntry
	var out []string
	for _, c := range []Claims{ga, vip, rot} {
		out = append(out, mustEncode(t, c, fuzzKey))
	}
	out = append(out,
		mustRotate(t, out[2], []byte("seed-secret"), fuzzNow),
		"AD2:"+out[0][len(Prefix):],
		out[0][:len(out[0])-5],
		Prefix+EncodeBase45([]byte{0x84, 0x5B, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}),
		"4006381333931",
		"",
	)
	return out
}

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz seed corpora from seedTexts")

// TestWriteSeeds regenerates the checked-in seed corpora when run with
// -write-seeds; otherwise it checks they are present.
func TestWriteSeeds(t *testing.T) {
	texts := seedTexts(t)
	corpora := map[string][]string{}
	for _, s := range texts {
		corpora["FuzzVerifyText"] = append(corpora["FuzzVerifyText"], fmt.Sprintf("string(%s)", strconv.Quote(s)))
		if strings.HasPrefix(s, Prefix) {
			if b, err := DecodeBase45(s[len(Prefix):]); err == nil {
				corpora["FuzzDecodeBinary"] = append(corpora["FuzzDecodeBinary"], fmt.Sprintf("[]byte(%s)", strconv.Quote(string(b))))
			}
		}
	}
	for name, entries := range corpora {
		dir := filepath.Join("testdata", "fuzz", name)
		if !*writeSeeds {
			if ents, err := os.ReadDir(dir); err != nil || len(ents) == 0 {
				t.Errorf("%s: no seed corpus (run go test -run TestWriteSeeds -write-seeds)", dir)
			}
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, e := range entries {
			data := "go test fuzz v1\n" + e + "\n"
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%02d", i)), []byte(data), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
