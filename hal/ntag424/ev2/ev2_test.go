package ev2

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func key(t testing.TB, s string) Key { return Key(unhex(t, s)) }

func session(t testing.TB, ti, enc, mac string, ctr uint16) *Session {
	return &Session{TI: [4]byte(unhex(t, ti)), Enc: key(t, enc), Mac: key(t, mac), CmdCtr: ctr}
}

// Vector sources. We could not read AN12196's text here (the search tool
// returned its title pages only); the bytes are AN12196's worked examples
// as open implementations' tests reproduce them, cited per test:
//   - icedevml/nfc-ev2-crypto test_ev2.py (AuthenticateEV2First §6.6 and
//     §6.10, CommMode.MAC §5.3, CommMode.Full §5.4, §6.12, §7.3);
//   - the Rust crate ntag424 (docs.rs ntag424 0.1.0,
//     src/commands/change_key.rs tests, "AN12196 §5.16.1") for ChangeKey,
//     whose APDUs several other implementations' tests repeat, as they do
//     ChangeFileSettings' (AN12196 Table 19: 905F0000190261B6…).

type fixedRand struct{ b []byte }

func (f *fixedRand) Read(p []byte) (int, error) { n := copy(p, f.b); f.b = f.b[n:]; return n, nil }

func TestAuthenticateEV2FirstAN12196(t *testing.T) {
	for _, tc := range []struct {
		name, rndA, part1, cmd2, part2, ti, enc, mac string
	}{
		{"§6.6", "13C5DB8A5930439FC3DEF9A4C675360F", "A04C124213C186F22399D33AC2A3021591AF",
			"90AF00002035C3E05A752E0144BAC0DE51C1F22C56B34408A23D8AEA266CAB947EA8E0118D00",
			"3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F081206639100",
			"9D00C4DF", "1309C877509E5A215007FF0ED19CA564", "4C6626F5E72EA694202139295C7A7FC7"},
		{"§6.10", "B98F4C50CF1C2E084FD150E33992B048", "B875CEB0E66A6C5CD00898DC371F92D191AF",
			"90AF000020FF0306E47DFBC50087C4D8A78E88E62DE1E8BE457AA477C707E2F0874916A8B100",
			"0CC9A8094A8EEA683ECAAC5C7BF20584206D0608D477110FC6B3D5D3F65C3A6A9100",
			"7614281A", "7A93D6571E4B180FCA6AC90C9A7488D4", "FC4AF159B62E549B5812394CAB1918CC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Auth{KeyNo: 0, Rand: &fixedRand{unhex(t, tc.rndA)}}
			if got := a.Start(); !bytes.Equal(got, unhex(t, "9071000002000000")) {
				t.Fatalf("start % X", got)
			}
			cmd, err := a.Answer(unhex(t, tc.part1))
			if err != nil || !bytes.Equal(cmd, unhex(t, tc.cmd2)) {
				t.Fatalf("part 2 % X %v", cmd, err)
			}
			s, err := a.Finish(unhex(t, tc.part2))
			if err != nil {
				t.Fatal(err)
			}
			if s.TI != [4]byte(unhex(t, tc.ti)) || s.Enc != key(t, tc.enc) || s.Mac != key(t, tc.mac) || s.CmdCtr != 0 {
				t.Fatalf("session TI %X enc %X mac %X", s.TI, s.Enc, s.Mac)
			}
		})
	}
	// A card that does not hold the key cannot return RndA.
	a := &Auth{KeyNo: 0, Rand: &fixedRand{unhex(t, "00000000000000000000000000000001")}}
	if _, err := a.Answer(unhex(t, "A04C124213C186F22399D33AC2A3021591AF")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Finish(unhex(t, "3FA64DB5446D1F34CD6EA311167F5E4985B89690C04A05F17FA7AB2F081206639100")); !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong RndA: %v", err)
	}
	if _, err := a.Finish(unhex(t, "91AE")); !errors.Is(err, ErrAuth) {
		t.Fatalf("91 AE: %v", err)
	}
}

func TestSecureMessagingAN12196(t *testing.T) {
	// §5.3, CommMode.MAC: GetFileSettings of file 02.
	s := session(t, "7A21085E", "00000000000000000000000000000000", "8248134A386E86EB7FAF54A52E536CB6", 0)
	if got := s.Command(CmdGetFileSettings, MAC, []byte{0x02}, nil); !bytes.Equal(got, unhex(t, "90F5000009026597A457C8CD442C00")) {
		t.Fatalf("MAC command % X", got)
	}
	data, err := s.Response(CmdGetFileSettings, MAC, unhex(t, "0040EEEE000100D1FE001F00004400004400002000006A00002A474282E7A479869100"))
	if err != nil || !bytes.Equal(data, unhex(t, "0040EEEE000100D1FE001F00004400004400002000006A0000")) || s.CmdCtr != 1 {
		t.Fatalf("MAC response % X %v", data, err)
	}

	// §5.4, CommMode.Full: WriteData of 128 bytes into file 02 at CmdCtr 0.
	s = session(t, "9D00C4DF", "1309C877509E5A215007FF0ED19CA564", "4C6626F5E72EA694202139295C7A7FC7", 0)
	ndef := unhex(t, "0051D1014D550463686F6F73652E75726C2E636F6D2F6E7461673432343F653D"+strings.Repeat("30", 32)+"26633D"+strings.Repeat("30", 16))
	ndef = append(ndef, make([]byte, 128-len(ndef))...)
	want := "908D00009F02000000800000421C73A27D827658AF481FDFF20A5025B559D0E3AA21E58D347F343CFFC768BFE596C706BC00F2176781D4B0242642A0FF5A42C461AAF894D9A1284B8C76BCFA658ACD40555D362E08DB15CF421B51283F9064BCBE20E96CAE545B407C9D651A3315B27373772E5DA2367D2064AE054AF996C6F1F669170FA88CE8C4E3A4A7BBBEF0FD971FF532C3A802AF745660F2B4D1D9A8499661EBF300"
	if got := s.Command(CmdWriteData, Full, unhex(t, "02000000800000"), ndef); !bytes.Equal(got, unhex(t, want)) {
		t.Fatalf("Full WriteData\n got % X", got)
	}
	if _, err := s.Response(CmdWriteData, Full, unhex(t, "FC222E5F7A5424529100")); err != nil {
		t.Fatal(err)
	}
	// Table 19, the next command: ChangeFileSettings at CmdCtr 1.
	if got := s.Command(CmdChangeFileSettings, Full, []byte{0x02}, unhex(t, "4000E0C1F121200000430000430000")); !bytes.Equal(got, unhex(t, "905F0000190261B6D97903566E84C3AE5274467E89EAD799B7C1A0EF7A0400")) {
		t.Fatalf("ChangeFileSettings % X", got)
	}
	if _, err := s.Response(CmdChangeFileSettings, Full, unhex(t, "57BFF87B1241E93E9100")); !errors.Is(err, ErrResponseMAC) || s.CmdCtr != 1 {
		t.Fatalf("forged response MAC: %v, counter %d", err, s.CmdCtr)
	}
	if _, err := s.Response(CmdChangeFileSettings, Full, unhex(t, "57BFF87B1241E93D9100")); err != nil || s.CmdCtr != 2 {
		t.Fatalf("response: %v counter %d", err, s.CmdCtr)
	}

	// §6.12: WriteData of 10 bytes into file 03, Full.
	s = session(t, "7614281A", "7A93D6571E4B180FCA6AC90C9A7488D4", "FC4AF159B62E549B5812394CAB1918CC", 0)
	if got := s.Command(CmdWriteData, Full, unhex(t, "030000000A0000"), unhex(t, "0102030405060708090A")); !bytes.Equal(got, unhex(t, "908D00001F030000000A00006B5E6804909962FC4E3FF5522CF0F8436C0C53315B9C73AA00")) {
		t.Fatalf("§6.12 % X", got)
	}
	if _, err := s.Response(CmdWriteData, Full, unhex(t, "C26D236E4A7C046D9100")); err != nil {
		t.Fatal(err)
	}

	// §7.3: GetCardUID, response in CommMode.Full.
	s = session(t, "DF055522", "2B4D963C014DC36F24F69A50A394F875", "379D32130CE61705DD5FD8C36B95D764", 0)
	if got := s.Command(CmdGetCardUID, Full, nil, nil); !bytes.Equal(got, unhex(t, "90510000088E2C155ADDA99BE300")) {
		t.Fatalf("GetCardUID % X", got)
	}
	uid, err := s.Response(CmdGetCardUID, Full, unhex(t, "70756055688505B52A5E26E59E329CD6595F672298EA41B79100"))
	if err != nil || !bytes.Equal(uid, unhex(t, "04958CAA5C5E80")) {
		t.Fatalf("UID % X %v", uid, err)
	}
}

func TestChangeKeyAN12196(t *testing.T) {
	// Case 1: key 2 changed while authenticated with key 0, CmdCtr 2.
	s := session(t, "7614281A", "4CF3CB41A22583A61E89B158D252FC53", "5529860B2FC5FB6154B7F28361D30BF9", 2)
	newKey := key(t, "F3847D627727ED3BC9C4CC050489B966")
	if crc := CRC32(newKey[:]); !bytes.Equal(crc[:], unhex(t, "789DFADC")) {
		t.Fatalf("CRC32NK % X", crc)
	}
	d := s.ChangeKeyData(2, newKey, Key{}, 0x01)
	if got := s.Command(CmdChangeKey, Full, []byte{0x02}, d); !bytes.Equal(got, unhex(t, "90C4000029022CF362B7BF4311FF3BE1DAA295E8C68DE09050560D19B9E16C2393AE9CD1FAC75D0CE20BCD1D06E600")) {
		t.Fatalf("case 1 % X", got)
	}
	if _, err := s.Response(CmdChangeKey, Full, unhex(t, "203BB55D1089D5879100")); err != nil {
		t.Fatal(err)
	}
	// Case 2: the authentication key itself, CmdCtr 3.
	d = s.ChangeKeyData(0, key(t, "5004BF991F408672B1EF00F08F9E8647"), Key{}, 0x01)
	if got := s.Command(CmdChangeKey, Full, []byte{0x00}, d); !bytes.Equal(got, unhex(t, "90C400002900C0EB4DEEFEDDF0B513A03A95A75491818580503190D4D05053FF75668A01D6FDA6610234BDED643200")) {
		t.Fatalf("case 2 % X", got)
	}
}

func TestPad(t *testing.T) {
	if got := Pad(nil); !bytes.Equal(got, unhex(t, "80000000000000000000000000000000")) {
		t.Fatal(got)
	}
	if len(Pad(make([]byte, 16))) != 32 {
		t.Fatal("a full block gets a padding block")
	}
	for _, b := range [][]byte{nil, {1}, make([]byte, 15), make([]byte, 16)} {
		got, err := Unpad(Pad(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("% X: % X %v", b, got, err)
		}
	}
	if _, err := Unpad(unhex(t, "00000000000000000000000000000001")); !errors.Is(err, ErrMalformed) {
		t.Fatal("no 80")
	}
}
