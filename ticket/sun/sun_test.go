package sun

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"admit/internal/aescmac"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key(t testing.TB, s string) Key   { return Key(unhex(t, s)) }
func uidOf(t testing.TB, s string) UID { return UID(unhex(t, s)) }

// AN10922 §2.2.1 (AES-128, M of 18 bytes) and AN10957 pp. 13–14 (a 7-byte
// M, padded to 32 bytes as AN10922 wants): the vectors as
// nfc-tools/libfreefare test/test_mifare_key_deriver_an10922.c reproduces
// them (test_mifare_key_deriver_an10922_aes128 and …_aes128_short_m).
func TestDiversifyAN10922(t *testing.T) {
	for _, tc := range []struct{ name, master, m, want string }{
		{"AN10922 2.2.1", "00112233445566778899AABBCCDDEEFF", "04782E21801D80 3042F5 4E585020416275", "A8DD63A3B89D54B37CA802473FDA9175"},
		{"AN10957 short M", "F3F9377698707B688EAF84ABE39E3791", "04DEADBEEFFEED", "0BB408BAFF98B6EE9F2E1585777F6A51"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Diversify(key(t, tc.master), unhex(t, tc.m))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[:], unhex(t, tc.want)) {
				t.Fatalf("%X, want %s", got, tc.want)
			}
		})
	}
	// M of 31 bytes makes D exactly 32 bytes: CMAC's K1 path, no padding.
	m := bytes.Repeat([]byte{0xAB}, 31)
	got, err := Diversify(Key{}, m)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := aescmac.Sum(make([]byte, 16), append([]byte{0x01}, m...))
	if got != Key(want) {
		t.Fatal("32-byte D is not a plain CMAC")
	}
	for _, n := range []int{0, 32} {
		if _, err := Diversify(Key{}, make([]byte, n)); !errors.Is(err, ErrDiversifyInput) {
			t.Fatalf("M of %d bytes: %v", n, err)
		}
	}
}

// AN12196 §3.3 Table 1: the SDM session keys of UID 04C767F2066180 at
// SDMReadCtr 1 under SDMFileReadKey 5ACE7E50…; the bytes as
// Amperstrand/ntag424-vectors vectors.json quotes the table
// (an12196-table1-sv1-session-enc-key, …-sv2-session-mac-key).
func TestSessionKeysAN12196Table1(t *testing.T) {
	enc, mac := sessionKeys(key(t, "5ACE7E50AB65D5D51FD5BF5A16B8205B"), uidOf(t, "04C767F2066180"), 1)
	if !bytes.Equal(enc[:], unhex(t, "66DA61797E23DECA5D8ECA13BBADF7A9")) {
		t.Errorf("KSesSDMFileReadENC %X", enc)
	}
	if !bytes.Equal(mac[:], unhex(t, "3A3E8110E05311F7A3FCF0D969BF2B48")) {
		t.Errorf("KSesSDMFileReadMAC %X", mac)
	}
	sv := sessionVector([2]byte{0x3C, 0xC3}, uidOf(t, "04DE5F1EACC040"), 61)
	if !bytes.Equal(sv[:], unhex(t, "3CC30001008004DE5F1EACC0403D0000")) {
		t.Errorf("SV2 %X (AN12196 Table 4)", sv)
	}
}

// The worked SUN messages of AN12196, all with the all-zero factory keys:
//   - §3.4.2.1 Table 2 and §3.4.4.2.1 Table 4 (p. 12): the URL
//     https://ntag.nxp.com/424?e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086,
//     UID 04DE5F1EACC040, counter 61 (3D0000 LSB first), MAC over nothing;
//   - §3.4.4.2.2 (p. 18): picc_data=FD91EC26…&enc=CEE9A53E…&cmac=ECC1E7F6C6C73BF6,
//     UID 04958CAA5C5E80, counter 8, the MAC over "CEE9A53E…&cmac=".
//
// Also a plain (unencrypted) mirror from nfc-developer/sdm-backend
// tests/test_libsdm.py test_plain_sdm: UID 041E3C8A2D6B80, counter 6, MAC
// 4B00064004B0B3D3. The AN12196 URLs are the ones sdm-backend's test_sun1
// and test_sun2 check; we could not read AN12196's own text, only the
// search tool's excerpt of its title pages.
func TestSUNAN12196(t *testing.T) {
	zero := StaticKeys{}
	for _, tc := range []struct {
		name, picc, mac, input string
		uid                    string
		ctr                    uint32
	}{
		{"AN12196 Table 4", "EF963FF7828658A599F3041510671E88", "94EED9EE65337086", "", "04DE5F1EACC040", 61},
		{"AN12196 p.18 with file data", "FD91EC264309878BE6345CBE53BADF40", "ECC1E7F6C6C73BF6", "CEE9A53E3E463EF1F459635736738962&cmac=", "04958CAA5C5E80", 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := Message{PICCData: [16]byte(unhex(t, tc.picc)), MAC: [8]byte(unhex(t, tc.mac)), MACInput: []byte(tc.input)}
			tap, err := VerifyMessage(zero, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tap.UID != uidOf(t, tc.uid) || tap.Counter != tc.ctr {
				t.Fatalf("UID %s counter %d", tap.UID, tap.Counter)
			}
			m.MAC[7] ^= 1
			if _, err := VerifyMessage(zero, m, nil); !errors.Is(err, ErrForged) {
				t.Fatalf("flipped MAC bit: %v", err)
			}
		})
	}
	p := decryptPICCData(Key{}, [16]byte(unhex(t, "EF963FF7828658A599F3041510671E88")))
	if p.tag != 0xC7 {
		t.Fatalf("PICCDataTag %#x (Table 2: C7)", p.tag)
	}
	if got := sdmMAC(Key{}, uidOf(t, "041E3C8A2D6B80"), 6, nil); !bytes.Equal(got[:], unhex(t, "4B00064004B0B3D3")) {
		t.Fatalf("plain mirror MAC %X", got)
	}
}

// tag plays the NTAG 424 DNA's part: the URL it returns for a read at
// counter ctr of the template url laid out as l.
func tag(t testing.TB, meta, file Key, uid UID, ctr uint32, url string, l Layout) string {
	t.Helper()
	var p [16]byte
	p[0] = piccDataTag
	copy(p[1:8], uid[:])
	p[8], p[9], p[10] = byte(ctr), byte(ctr>>8), byte(ctr>>16)
	copy(p[11:], "RANDM")
	b, _ := aes.NewCipher(meta[:])
	b.Encrypt(p[:], p[:])
	out := []byte(url)
	copy(out[l.PICCData:], fmt.Sprintf("%X", p))
	mac := sdmMAC(file, uid, ctr, out[l.MACInput:l.MAC])
	copy(out[l.MAC:], fmt.Sprintf("%X", mac))
	return string(out)
}

func TestVerifyAdmitURL(t *testing.T) {
	master := key(t, "000102030405060708090A0B0C0D0E0F")
	keys, err := NewMasterKeys(master)
	if err != nil {
		t.Fatal(err)
	}
	uid := uidOf(t, "04A1B2C3D4E5F6")
	url, l, err := Template("https://tickets.example.org/n", "T-0042")
	if err != nil {
		t.Fatal(err)
	}
	if url != "https://tickets.example.org/n?t=T-0042&e=00000000000000000000000000000000&c=0000000000000000" ||
		url[l.MACInput:l.MACInput+6] != "T-0042" || url[l.PICCData-3:l.PICCData] != "&e=" || url[l.MAC-3:l.MAC] != "&c=" {
		t.Fatalf("template %s %+v", url, l)
	}
	file, err := TagKey(master, uid, KeyFileRead)
	if err != nil {
		t.Fatal(err)
	}
	read := tag(t, keys.MetaReadKey(), file, uid, 5, url, l)
	tap, err := Verify(keys, read, &uid)
	if err != nil {
		t.Fatal(err)
	}
	if tap != (Tap{Ticket: "T-0042", UID: uid, Counter: 5}) {
		t.Fatalf("tap %+v", tap)
	}

	// The rule: a copy of the same URL is refused, a fresh read accepted.
	seen := Counters{}
	if err := seen.Accept(tap); err != nil {
		t.Fatal(err)
	}
	again, _ := Verify(keys, read, &uid)
	if err := seen.Accept(again); !errors.Is(err, ErrReplay) {
		t.Fatalf("replayed URL: %v", err)
	}
	next, err := Verify(keys, tag(t, keys.MetaReadKey(), file, uid, 6, url, l), &uid)
	if err != nil || seen.Accept(next) != nil {
		t.Fatalf("next read: %v", err)
	}

	other := uidOf(t, "04000000000001")
	if _, err := Verify(keys, read, &other); !errors.Is(err, ErrWrongTag) {
		t.Fatalf("bound to another tag: %v", err)
	}
	// The MAC covers the ticket id: the same read relabelled is forged.
	if _, err := Verify(keys, strings.Replace(read, "T-0042", "T-0043", 1), nil); !errors.Is(err, ErrForged) {
		t.Fatalf("ticket id edited: %v", err)
	}
	// A tag programmed with another event's keys (or the factory keys).
	otherMaster, _ := NewMasterKeys(key(t, "FF0102030405060708090A0B0C0D0E0F"))
	if _, err := Verify(otherMaster, read, nil); !errors.Is(err, ErrForged) {
		t.Fatalf("other event's keys: %v", err)
	}
	// Right meta key, wrong file key: decrypts, MAC fails.
	if _, err := Verify(keys, tag(t, keys.MetaReadKey(), Key{}, uid, 7, url, l), nil); !errors.Is(err, ErrForged) {
		t.Fatalf("wrong file key: %v", err)
	}
}

func TestTagKeys(t *testing.T) {
	master := key(t, "000102030405060708090A0B0C0D0E0F")
	a, err := TagKeys(master, uidOf(t, "04A1B2C3D4E5F6"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := TagKeys(master, uidOf(t, "04A1B2C3D4E5F7"))
	meta, _ := MetaReadKey(master)
	if a[KeyMetaRead] != meta || b[KeyMetaRead] != meta {
		t.Fatal("the meta read key is not event-wide")
	}
	for n := range a {
		if n != KeyMetaRead && a[n] == b[n] {
			t.Fatalf("key %d is the same on two tags", n)
		}
		for m := n + 1; m < NumKeys; m++ {
			if a[n] == a[m] {
				t.Fatalf("keys %d and %d equal", n, m)
			}
		}
	}
	if _, err := TagKey(master, UID{}, 5); err == nil {
		t.Fatal("key 5 accepted")
	}
}

func TestParseMalformed(t *testing.T) {
	good := "https://a.example/n?t=X1&e=00000000000000000000000000000000&c=0000000000000000"
	if _, err := Parse(good); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		"",
		"https://a.example/n?t=X1&e=0000000000000000000000000000000&c=0000000000000000",   // 31 hex
		"https://a.example/n?t=X1&e=00000000000000000000000000000000&c=000000000000000G",  // not hex
		"https://a.example/n?t=X1&x=00000000000000000000000000000000&c=0000000000000000",  // no e=
		"https://a.example/n?u=X1&e=00000000000000000000000000000000&c=0000000000000000",  // no t=
		"https://a.example/n?t=&e=00000000000000000000000000000000&c=0000000000000000",    // empty id
		"https://a.example/n?t=a/b&e=00000000000000000000000000000000&c=0000000000000000", // bad id
		"?t=X1&e=00000000000000000000000000000000&c=0000000000000000",                     // not a URL
	} {
		if _, err := Parse(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("%q: %v", bad, err)
		}
	}
	for _, base := range []string{"ftp://x", "https://x/?q=1", "https://x#f"} {
		if _, _, err := Template(base, "T1"); err == nil {
			t.Errorf("template base %q accepted", base)
		}
	}
}

func TestCounterRule(t *testing.T) {
	var c Counter
	c, err := c.Accept(0)
	if err != nil || c != (Counter{Last: 0, Seen: true}) {
		t.Fatalf("first read at 0: %+v %v", c, err)
	}
	if _, err := c.Accept(0); !errors.Is(err, ErrReplay) {
		t.Fatal("same counter accepted twice")
	}
	c, _ = c.Accept(9)
	if got, err := c.Accept(8); !errors.Is(err, ErrReplay) || got != c {
		t.Fatal("lower counter accepted")
	}
	peer := Counter{Last: 12, Seen: true}
	if m := c.Merge(peer); m != peer {
		t.Fatalf("merge %+v", m)
	}
	if m := peer.Merge(c); m != peer {
		t.Fatalf("merge is not symmetric: %+v", m)
	}
	if m := c.Merge(Counter{}); m != c {
		t.Fatal("merging nothing changed the counter")
	}
	if m := (Counter{}).Merge(c); m != c {
		t.Fatal("merging into nothing lost the counter")
	}
}

// BenchmarkVerify: one SUN URL verified (parse, PICCData decryption, the
// file read key diversified, session key and MAC).
func BenchmarkVerify(b *testing.B) {
	master := Key{1, 2, 3}
	keys, _ := NewMasterKeys(master)
	uid := UID{4, 1, 2, 3, 4, 5, 6}
	url, l, _ := Template("https://tickets.example.org/n", "T-0042")
	file, _ := TagKey(master, uid, KeyFileRead)
	read := tag(b, keys.MetaReadKey(), file, uid, 5, url, l)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(keys, read, &uid); err != nil {
			b.Fatal(err)
		}
	}
}
