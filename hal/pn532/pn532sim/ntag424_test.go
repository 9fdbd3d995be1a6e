package pn532sim

import (
	"bytes"
	"strings"
	"testing"
)

type fixedRand struct{ b []byte }

func (f *fixedRand) Read(p []byte) (int, error) { n := copy(p, f.b); f.b = f.b[n:]; return n, nil }

func apdu(t *testing.T, card Target, cmd, want string) []byte {
	t.Helper()
	got, st := card.Exchange(hx(t, cmd))
	if st != 0 {
		t.Fatalf("status %#x to % X", st, hx(t, cmd))
	}
	if want != "" && !bytes.Equal(got, hx(t, want)) {
		t.Fatalf("to %s\n got % X\nwant %s", cmd, got, want)
	}
	return got
}

// The emulated tag answers NXP's AN12196 personalization examples byte for
// byte: AuthenticateEV2First with key 0 (§6.6; RndB and TI from the
// example fed in as the card's randomness), WriteData of the NDEF file in
// CommMode.Full (§5.4, the file set to Full with write key 0 as the
// example assumes; a fresh tag's NDEF file is plain and free), then
// ChangeFileSettings enabling SDM (Table 19). A read then mirrors exactly
// the SUN message of AN12196 §3.4 (Table 2 and Table 4) for the tag's UID
// 04DE5F1EACC040 at counter 61 with the example's padding DA5CF60941.
// The vectors' sources are cited in hal/ntag424/ev2's tests.
func TestNTAG424AN12196Personalization(t *testing.T) {
	tag := NewNTAG424(hx(t, "04DE5F1EACC040"))
	tag.Rand = &fixedRand{hx(t, "B9E2FC789B64BF237CCCAA20EC7E6E48"+"9D00C4DF"+"DA5CF60941")}
	apdu(t, tag, "00A4040007D276000085010100", "9000")
	apdu(t, tag, "9071000002000000", "A04C124213C186F22399D33AC2A3021591AF")
	apdu(t, tag, "90AF00002035C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D00",
		"3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F081206639100")
	tag.setFileAccess(2, 0x03, [2]byte{0x00, 0xE0})
	apdu(t, tag, "908D00009F02000000800000421C73A27D827658AF481FDFF20A5025B559D0E3AA21E58D347F343CFFC768BFE596C706BC00F2176781D4B0242642A0FF5A42C461AAF894D9A1284B8C76BCFA658ACD40555D362E08DB15CF421B51283F9064BCBE20E96CAE545B407C9D651A3315B27373772E5DA2367D2064AE054AF996C6F1F669170FA88CE8C4E3A4A7BBBEF0FD971FF532C3A802AF745660F2B4D1D9A8499661EBF300",
		"FC222E5F7A5424529100")
	apdu(t, tag, "905F0000190261B6D97903566E84C3AE5274467E89EAD799B7C1A0EF7A0400", "57BFF87B1241E93D9100")

	tag.SetReadCounter(60)
	apdu(t, tag, "00A4000C02E104", "9000")
	got := apdu(t, tag, "00B0000080", "")
	want := "\x00\x51\xD1\x01\x4D\x55\x04choose.url.com/ntag424?e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086"
	if !bytes.HasPrefix(got, []byte(want)) || !bytes.HasSuffix(got, []byte{0x90, 0x00}) {
		t.Fatalf("SDM read\n got %q\nwant %q", got, want)
	}
	if tag.ReadCounter() != 61 {
		t.Fatalf("counter %d", tag.ReadCounter())
	}
	// The rest of the same read sees the same mirror; a new read counts.
	again := apdu(t, tag, "00B0000080", "")
	if !bytes.Equal(again, got) || tag.ReadCounter() != 61 {
		t.Fatal("the mirror changed within one read")
	}
	apdu(t, tag, "00A4000C02E104", "9000")
	tag.Rand = &fixedRand{make([]byte, 5)}
	next := apdu(t, tag, "00B0000080", "")
	if bytes.Equal(next, got) || tag.ReadCounter() != 62 {
		t.Fatal("a new read did not move the counter")
	}
}

// ChangeKey (AN12196 §5.16.1, both cases) and GetCardUID (§7.3) replayed
// on the emulated tag in the examples' session state.
func TestNTAG424ChangeKeyAndCardUID(t *testing.T) {
	tag := NewNTAG424(hx(t, "04958CAA5C5E80"))
	tag.setSession(0, [4]byte(hx(t, "7614281A")), [16]byte(hx(t, "4CF3CB41A22583A61E89B158D252FC53")), [16]byte(hx(t, "5529860B2FC5FB6154B7F28361D30BF9")), 2)
	apdu(t, tag, "90C4000029022CF362B7BF4311FF3BE1DAA295E8C68DE09050560D19B9E16C2393AE9CD1FAC75D0CE20BCD1D06E600", "203BB55D1089D5879100")
	if k := tag.Key(2); !bytes.Equal(k[:], hx(t, "F3847D627727ED3BC9C4CC050489B966")) {
		t.Fatalf("key 2 % X", k)
	}
	apdu(t, tag, "90C400002900C0EB4DEEFEDDF0B513A03A95A75491818580503190D4D05053FF75668A01D6FDA6610234BDED643200", "9100")
	if k := tag.Key(0); !bytes.Equal(k[:], hx(t, "5004BF991F408672B1EF00F08F9E8647")) {
		t.Fatalf("key 0 % X", k)
	}
	// Changing key 0 ended the session.
	apdu(t, tag, "90510000088E2C155ADDA99BE300", "919D")

	tag.setSession(0, [4]byte(hx(t, "DF055522")), [16]byte(hx(t, "2B4D963C014DC36F24F69A50A394F875")), [16]byte(hx(t, "379D32130CE61705DD5FD8C36B95D764")), 0)
	apdu(t, tag, "90510000088E2C155ADDA99BE300", "70756055688505B52A5E26E59E329CD6595F672298EA41B79100")
}

func TestNTAG424Refusals(t *testing.T) {
	tag := NewNTAG424(hx(t, "04010203040506"))
	// Without authentication, ChangeKey and ChangeFileSettings are refused.
	apdu(t, tag, "90C400000100"+"00", "919D")
	apdu(t, tag, "905F00000102"+"00", "919D")
	// A wrong key fails the second step of the authentication.
	tag.Rand = &fixedRand{bytes.Repeat([]byte{7}, 20)}
	apdu(t, tag, "9071000002000000", "")
	apdu(t, tag, "90AF000020"+strings.Repeat("00", 32)+"00", "91AE")
	// Unknown native command, unknown class.
	apdu(t, tag, "9099000000", "911C")
	apdu(t, tag, "80CA000000", "6E00")
	// ISO read before any select.
	apdu(t, tag, "00B0000010", "6986")
}
