package aztec

import (
	"testing"
)

// stream builds a bit stream from (width, value) pairs.
func stream(fields ...[2]int) []bool {
	var bits []bool
	for _, f := range fields {
		for i := f[0] - 1; i >= 0; i-- {
			bits = append(bits, f[1]>>i&1 == 1)
		}
	}
	return bits
}

// Field helpers: a 5-bit code, a 4-bit (digit) code, raw bits.
func c5(v int) [2]int       { return [2]int{5, v} }
func c4(v int) [2]int       { return [2]int{4, v} }
func bitsN(n, v int) [2]int { return [2]int{n, v} }

func TestDecodeBits(t *testing.T) {
	cases := []struct {
		name   string
		bits   []bool
		text   string
		bytes  string
		gs1    bool
		eci    bool
		index  int
		count  int
		id     string
		failed bool
	}{
		{name: "upper", bits: stream(c5(2), c5(3), c5(1), c5(27)), text: "AB Z", index: -1},
		{name: "lower latch and upper shift", bits: stream(c5(28), c5(9), c5(28), c5(9), c5(13)), text: "hHl", index: -1},
		{name: "mixed and punctuation", bits: stream(c5(29), c5(20), c5(30), c5(3), c5(6), c5(31), c5(2)), text: "@. !A", index: -1},
		{name: "digits", bits: stream(c5(30), c4(3), c4(11), c4(12), c4(1), c4(14), c5(4)), text: "19, C", index: -1},
		// P/S then FLG(0) first: GS1; later FNC1s are GS separators.
		{name: "gs1", bits: stream(c5(0), c5(0), bitsN(3, 0), c5(30), c4(2), c4(3), c4(0), c5(0), bitsN(3, 0), c4(4)), text: "01\x1d2", gs1: true, index: -1},
		// ECI 26 (UTF-8), then a binary shift of the two bytes of "é".
		{name: "eci utf-8", bits: stream(c5(0), c5(0), bitsN(3, 2), c4(4), c4(8), c5(31), c5(2), bitsN(8, 0xc3), bitsN(8, 0xa9)), text: "é", bytes: "\xc3\xa9", eci: true, index: -1},
		// Without an ECI the same bytes are ISO-8859-1.
		{name: "binary latin-1", bits: stream(c5(31), c5(2), bitsN(8, 0xc3), bitsN(8, 0xa9)), text: "Ã©", bytes: "\xc3\xa9", index: -1},
		// A long binary shift: length 0, then 11 bits + 31.
		{name: "long binary", bits: append(stream(c5(31), c5(0), bitsN(11, 1)), stream(repeat(32, bitsN(8, 'x'))...)...), text: stringOf(32, 'x'), index: -1},
		// Structured append: M/L U/L, then " ID " and "DG" (part 4 of 7).
		{name: "structured append", bits: stream(c5(29), c5(29), c5(1), c5(10), c5(5), c5(1), c5(5), c5(8), c5(30), c4(5), c4(6)), text: "34", index: 3, count: 7, id: "ID"},
		{name: "structured append without id", bits: stream(c5(29), c5(29), c5(3), c5(4), c5(6)), text: "E", index: 1, count: 3},
		// Padding after the last character: fewer bits than a code.
		{name: "padding", bits: stream(c5(2), bitsN(3, 7)), text: "A", index: -1},
		{name: "ECI digit out of range", bits: stream(c5(0), c5(0), bitsN(3, 1), c4(15)), failed: true},
		{name: "binary shift past the end", bits: stream(c5(31), c5(5), bitsN(8, 1)), failed: true},
		{name: "empty", bits: stream(c5(28)), failed: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeBits(tc.bits)
			if tc.failed {
				if err == nil {
					t.Fatalf("decoded %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			bytes := tc.bytes
			if bytes == "" {
				bytes = tc.text
			}
			if got.text != tc.text || string(got.bytes) != bytes || got.gs1 != tc.gs1 || got.eci != tc.eci ||
				got.index != tc.index || got.count != tc.count || got.id != tc.id {
				t.Fatalf("got %+v", got)
			}
		})
	}
}

func repeat(n int, f [2]int) [][2]int {
	out := make([][2]int, n)
	for i := range out {
		out[i] = f
	}
	return out
}

func stringOf(n int, c byte) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = c
	}
	return string(b)
}
