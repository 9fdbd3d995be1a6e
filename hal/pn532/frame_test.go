package pn532

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

// Frames worked out by hand from UM0701-02 §6.2.1: LEN counts TFI and data,
// LEN+LCS = 0, TFI+data+DCS = 0 (mod 256).
func TestAppendFrameByteExact(t *testing.T) {
	for _, tc := range []struct {
		name string
		tfi  byte
		data string
		want string
	}{
		{"GetFirmwareVersion", TFIHost, "02", "00 00 FF 02 FE D4 02 2A 00"},
		{"GetFirmwareVersion response", TFIChip, "03 32 01 06 07", "00 00 FF 06 FA D5 03 32 01 06 07 E8 00"},
		{"SAMConfiguration normal, 1 s, IRQ", TFIHost, "14 01 14 01", "00 00 FF 05 FB D4 14 01 14 01 02 00"},
		{"SAMConfiguration response", TFIChip, "15", "00 00 FF 02 FE D5 15 16 00"},
		{"InListPassiveTarget 1 target 106 kbps A", TFIHost, "4A 01 00", "00 00 FF 04 FC D4 4A 01 00 E1 00"},
		{"InListPassiveTarget response NTAG", TFIChip, "4B 01 01 00 44 00 07 04 11 22 33 44 55 66",
			"00 00 FF 0F F1 D5 4B 01 01 00 44 00 07 04 11 22 33 44 55 66 2A 00"},
		{"InDataExchange READ page 4", TFIHost, "40 01 30 04", "00 00 FF 05 FB D4 40 01 30 04 B7 00"},
		{"InDataExchange response", TFIChip, "41 00 01 02 03 04", "00 00 FF 07 F9 D5 41 00 01 02 03 04 E0 00"},
		{"RFConfiguration MaxRetries", TFIHost, "32 05 FF 01 02", "00 00 FF 06 FA D4 32 05 FF 01 02 F3 00"},
		{"InRelease", TFIHost, "52 01", "00 00 FF 03 FD D4 52 01 D9 00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := AppendFrame(nil, tc.tfi, unhex(t, tc.data))
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tc.want); !bytes.Equal(got, want) {
				t.Fatalf("AppendFrame = % X\nwant          % X", got, want)
			}
			f, n, err := ParseFrame(got)
			if err != nil || n != len(got) || f.Kind != FrameInfo || f.TFI != tc.tfi || !bytes.Equal(f.Data, unhex(t, tc.data)) {
				t.Fatalf("ParseFrame = %+v, %d, %v", f, n, err)
			}
		})
	}
}

func TestExtendedFrame(t *testing.T) {
	data := make([]byte, 260)
	for i := range data {
		data[i] = byte(i)
	}
	got, err := AppendFrame(nil, TFIHost, data)
	if err != nil {
		t.Fatal(err)
	}
	// LEN = 261 = 0x0105, LCS = -(0x01+0x05) = 0xFA.
	if want := unhex(t, "00 00 FF FF FF 01 05 FA D4"); !bytes.Equal(got[:9], want) {
		t.Fatalf("header % X, want % X", got[:9], want)
	}
	if len(got) != FrameLen(len(data)) {
		t.Fatalf("len %d, FrameLen %d", len(got), FrameLen(len(data)))
	}
	var sum byte = TFIHost
	for _, b := range data {
		sum += b
	}
	if dcs := got[len(got)-2]; sum+dcs != 0 || got[len(got)-1] != 0 {
		t.Fatalf("DCS %#x postamble %#x", dcs, got[len(got)-1])
	}
	f, n, err := ParseFrame(got)
	if err != nil || n != len(got) || !f.Extended || !bytes.Equal(f.Data, data) {
		t.Fatalf("ParseFrame = %v %d %v", f.Extended, n, err)
	}
	if _, err := AppendFrame(nil, TFIHost, make([]byte, MaxFrameData+1)); !errors.Is(err, ErrFrameLength) {
		t.Fatalf("oversized frame: %v", err)
	}
	// 254 data bytes still fit a normal frame (LEN 255).
	if f, _ := AppendFrame(nil, TFIHost, make([]byte, 254)); f[3] != 0xFF || f[4] != 0x01 {
		t.Fatalf("254 bytes: header % X", f[:5])
	}
}

func TestParseFrameKinds(t *testing.T) {
	for _, tc := range []struct {
		in      string
		kind    FrameKind
		n       int
		wantErr error
	}{
		{"00 00 FF 00 FF 00", FrameACK, 6, nil},
		{"00 00 FF FF 00 00", FrameNACK, 6, nil},
		{"00 00 FF 01 FF 7F 81 00", FrameError, 8, nil},
		{"00 00 00 00 FF 00 FF 00 AA", FrameACK, 8, nil},  // long preamble, trailing junk
		{"00 FF 02 FE D5 15 16", FrameInfo, 7, nil},       // no preamble, no postamble
		{"00 00 FF 02 FF D5 15 16 00", 0, 0, ErrChecksum}, // LCS
		{"00 00 FF 02 FE D5 15 17 00", 0, 0, ErrChecksum}, // DCS
		{"00 00 FF FF FF 01 05 F0 D4", 0, 0, ErrChecksum}, // extended LCS
		{"00 00 FF FF FF 00 10 F0 D4", 0, 0, ErrFrameLength},
		{"00 00 FF 06 FA D5 03 32", 0, 0, ErrTruncated},
		{"00 00", 0, 0, ErrTruncated},
		{"", 0, 0, ErrTruncated},
		{"80 00 FF 00 FF 00", 0, 0, ErrNoStartCode},
		{"00 00 FE 00 FF 00", 0, 0, ErrNoStartCode},
		{"FF 00 FF", 0, 0, ErrNoStartCode},
	} {
		f, n, err := ParseFrame(unhex(t, tc.in))
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s: err %v, want %v", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || f.Kind != tc.kind || n != tc.n {
			t.Errorf("%s: %v %d %v, want %v %d", tc.in, f.Kind, n, err, tc.kind, tc.n)
		}
	}
}

// FuzzParseFrame: the parser never panics, never reads past its input, and a
// frame it accepts re-encodes to a frame that parses to the same content.
func FuzzParseFrame(f *testing.F) {
	f.Add(unhex(f, "00 00 FF 06 FA D5 03 32 01 06 07 E8 00"))
	f.Add(unhex(f, "00 00 FF 00 FF 00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, n, err := ParseFrame(b)
		if err != nil {
			return
		}
		if n > len(b) || n <= 0 {
			t.Fatalf("consumed %d of %d", n, len(b))
		}
		if fr.Kind != FrameInfo {
			return
		}
		again, err := AppendFrame(nil, fr.TFI, fr.Data)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		fr2, n2, err := ParseFrame(again)
		if err != nil || n2 != len(again) || fr2.TFI != fr.TFI || !bytes.Equal(fr2.Data, fr.Data) || fr2.Extended != fr.Extended {
			t.Fatalf("round trip: %+v %v", fr2, err)
		}
	})
}
