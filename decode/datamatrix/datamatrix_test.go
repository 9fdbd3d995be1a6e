package datamatrix

import (
	"testing"
)

// triples packs C40/Text/X12 values three to a codeword pair.
func triples(vals ...int) []byte {
	var out []byte
	for len(vals)%3 != 0 {
		vals = append(vals, 0) // shift 1 as padding
	}
	for i := 0; i < len(vals); i += 3 {
		v := 1600*vals[i] + 40*vals[i+1] + vals[i+2] + 1
		out = append(out, byte(v/256), byte(v%256))
	}
	return out
}

// b256 randomizes a Base 256 field (length, then bytes) that starts at
// codeword position pos (1-based).
func b256(pos int, data []byte) []byte {
	field := append([]byte{byte(len(data))}, data...)
	for i := range field {
		r := (149*(pos+i))%255 + 1
		field[i] = byte((int(field[i]) + r) % 256)
	}
	return field
}

func cat(parts ...[]byte) []byte {
	var out []byte
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDecode(t *testing.T) {
	cases := []struct {
		name  string
		cw    []byte
		text  string
		bytes string
		gs1   bool
		eci   bool
		index int
		count int
	}{
		{name: "ascii and digit pairs", cw: []byte{'A' + 1, 'b' + 1, 130 + 42, 129, 200}, text: "Ab42", index: -1},
		{name: "upper shift", cw: []byte{235, 'A' + 1}, text: "Á", bytes: "\xc1", index: -1},
		// C40: A I M (14+0, 14+8, 14+12), then unlatch and ASCII.
		{name: "c40", cw: cat([]byte{230}, triples(14, 22, 26, 3, 4, 5), []byte{254, 'x' + 1}), text: "AIM 01x", index: -1},
		// Shift 2 (/ is 14) and shift 3 in Text (A is 1), then a space.
		{name: "text shifts", cw: cat([]byte{239}, triples(14, 1, 14, 2, 1, 3)), text: "a/A ", index: -1},
		{name: "x12", cw: cat([]byte{238}, triples(14, 15, 2, 0, 1, 4)), text: "AB>\r*0", index: -1},
		// EDIFACT: "ABC" then unlatch in the fourth value, then ASCII.
		{name: "edifact", cw: []byte{240, 0x04, 0x20, 0xdf, 'z' + 1}, text: "ABCz", index: -1},
		{name: "base 256", cw: cat([]byte{231}, b256(2, []byte{0, 0xff, 'q'})), text: "\x00ÿq", bytes: "\x00\xffq", index: -1},
		// A lone codeword after C40 pairs is ASCII.
		{name: "c40 then one ascii", cw: cat([]byte{230}, triples(14, 15, 16), []byte{'d' + 1}), text: "ABCd", index: -1},
		{name: "gs1", cw: []byte{232, 130 + 1, 130 + 0, 232, '9' + 1}, text: "0100\x1d9", gs1: true, index: -1},
		// ECI 26 (UTF-8): 241, 27; then the two bytes of "é".
		{name: "eci utf-8", cw: []byte{241, 27, 235, 0x43 + 1, 235, 0x29 + 1}, text: "é", bytes: "\xc3\xa9", eci: true, index: -1},
		// Structured append: symbol 3 of 5 (sequence 0x2c: position-1 = 2, 17-5 = 12).
		{name: "structured append", cw: []byte{233, 0x2c, 1, 1, 'Z' + 1}, text: "Z", index: 2, count: 5},
		{name: "macro 05", cw: []byte{236, 'A' + 1}, text: "[)>\x1e05\x1dA\x1e\x04", index: -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.cw)
			if err != nil {
				t.Fatal(err)
			}
			bytes := tc.bytes
			if bytes == "" {
				bytes = tc.text
			}
			if got.Text != tc.text || string(got.Bytes) != bytes || got.GS1 != tc.gs1 || got.ECI != tc.eci || got.Index != tc.index || got.Count != tc.count {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func TestDecodeRefuses(t *testing.T) {
	for name, cw := range map[string][]byte{
		"codeword 0":        {0},
		"unused codeword":   {250},
		"ECI at the end":    {241},
		"base 256 too long": cat([]byte{231}, b256(2, []byte{1, 2, 3})[:2]),
	} {
		if got, err := Decode(cw); err == nil {
			t.Errorf("%s: decoded %+v", name, got)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte{230, 91, 11, 91, 11, 254, 66})
	f.Add([]byte{241, 27, 235, 68, 231, 151, 2})
	f.Add([]byte{240, 0x04, 0x20, 0xdf, 123})
	f.Fuzz(func(t *testing.T, cw []byte) {
		if c, err := Decode(cw); err == nil && c.Index >= 0 && c.Count != 0 && c.Index >= c.Count {
			t.Fatalf("structured append %d of %d", c.Index, c.Count)
		}
	})
}
