package pdf417

import (
	"bytes"
	"testing"
)

func TestDecodeCodewordsModes(t *testing.T) {
	cases := []struct {
		name string
		cw   []int // without the length descriptor
		want string
	}{
		// "PDF417": P=15 D=3 | F=5 ml=28 | 4 1 | 7 pad(29 as PS)
		{"text", []int{15*30 + 3, 5*30 + 28, 4*30 + 1, 7*30 + 29}, "PDF417"},
		{"lower latch and shift", []int{0*30 + 27, 1*30 + 27, 2*30 + 3}, "AbCd"},
		{"punct shift", []int{7*30 + 29, 10*30 + 26}, "H! "},
		{"byte shift", []int{0*30 + 1, cwShiftByte, 0xe9, 2*30 + 29}, "AB\u00e9C"},
		{"numeric", []int{cwNumeric, 1, 624, 434, 632, 282, 200}, "000213298174000"},
		{"bytes 924", []int{cwByte6, 1, 8, 119, 531, 491, 0, 127}, ""},
		{"eci utf8 bytes", []int{cwECI, 26, cwByte, 0xc3, 0xa9}, "\u00e9"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cw := append([]int{len(tc.cw) + 1}, tc.cw...)
			d, err := decodeCodewords(cw)
			if err != nil {
				t.Fatal(err)
			}
			if tc.want != "" && d.text != tc.want {
				t.Fatalf("text = %q, want %q", d.text, tc.want)
			}
		})
	}
}

func TestDecodeBytesGroups(t *testing.T) {
	// Six bytes in five codewords, then one single byte (latch 901).
	data := []byte("ticket!")
	var v uint64
	for _, b := range data[:6] {
		v = v<<8 | uint64(b)
	}
	group := make([]int, 5)
	for i := 4; i >= 0; i-- {
		group[i] = int(v % 900)
		v /= 900
	}
	cw := append([]int{0, cwByte}, group...)
	cw = append(cw, int(data[6]))
	cw[0] = len(cw)
	d, err := decodeCodewords(cw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.raw, data) {
		t.Fatalf("raw = %q, want %q", d.raw, data)
	}
}

func TestDecodeMacro(t *testing.T) {
	// segment 2, file id 017 053, optional segment count 4, last segment.
	cw := []int{0, 0*30 + 1, cwMacroBegin, 0, 2, 17, 53, cwMacroOpt, 1, 1, 4*30 + 0, cwMacroTerm}
	_ = cw
	// The segment count field is in numeric compaction: "14" -> value 14
	// needs the leading 1, so "4" is 14 = 0*900+14.
	cw = []int{0, 0*30 + 1, cwMacroBegin, 0, 2, 17, 53, cwMacroOpt, 1, 14, cwMacroTerm}
	cw[0] = len(cw)
	d, err := decodeCodewords(cw)
	if err != nil {
		t.Fatal(err)
	}
	m := d.macro
	if m == nil || m.SegmentIndex != 2 || m.FileID != "017053" || m.SegmentCount != 4 || !m.LastSegment {
		t.Fatalf("macro = %+v", m)
	}
	if d.text != "AB" {
		t.Fatalf("text = %q", d.text)
	}
}

func FuzzDecodeCodewords(f *testing.F) {
	f.Add([]byte{5, 1, 200, 3, 0})
	f.Add([]byte{9, 2, 134, 3, 133, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		cw := make([]int, 0, len(b)/2)
		for i := 0; i+1 < len(b); i += 2 {
			cw = append(cw, (int(b[i])<<8|int(b[i+1]))%929)
		}
		_, _ = decodeCodewords(cw) // must not panic
	})
}
