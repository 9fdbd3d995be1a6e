package aztec

import (
	"testing"

	"github.com/makiuchi-d/gozxing"
)

// FuzzDecodeBits: any corrected bit stream is decoded or refused, never a
// panic, and what it decodes to is consistent.
func FuzzDecodeBits(f *testing.F) {
	f.Add([]byte{0x10, 0xc8})                   // "AB"
	f.Add([]byte{0xe8, 0x4c, 0x1e, 0xd7, 0xc0}) // mixed, punctuation, digits
	f.Add([]byte{0xf8, 0x00, 0x3f, 0xff, 0x00}) // long binary shift
	f.Add([]byte{0x00, 0x08, 0x91, 0x3e, 0x16, 0x1a, 0x90})
	f.Fuzz(func(t *testing.T, b []byte) {
		bits := make([]bool, 8*len(b))
		for i := range bits {
			bits[i] = b[i/8]>>(7-i%8)&1 == 1
		}
		c, err := decodeBits(bits)
		if err != nil {
			return
		}
		if c.index >= 0 && c.count != 0 && c.index >= c.count {
			t.Fatalf("structured append %d of %d", c.index, c.count)
		}
	})
}

// FuzzDecodeMatrix: any small binary image is read or refused, never a
// panic. The first two bytes give the size, the rest the pixels.
func FuzzDecodeMatrix(f *testing.F) {
	seed := func(data string, layers int, deg float64) []byte {
		m := render(f, []byte(data), 23, layers, 2, deg, false)
		w, h := m.GetWidth(), m.GetHeight()
		out := []byte{byte(w), byte(h)}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				if x%8 == 0 {
					out = append(out, 0)
				}
				if m.Get(x, y) {
					out[len(out)-1] |= 1 << (x % 8)
				}
			}
		}
		return out
	}
	f.Add(seed("AZTEC", -1, 0))
	f.Add(seed("RAIL TICKET 0042", -2, 30))
	f.Add(seed("Full range symbol with a few more characters", 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 2 {
			return
		}
		w, h := int(b[0])+1, int(b[1])+1
		m, err := gozxing.NewBitMatrix(w, h)
		if err != nil {
			return
		}
		stride := (w + 7) / 8
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				i := 2 + y*stride + x/8
				if i < len(b) && b[i]>>(x%8)&1 == 1 {
					m.Set(x, y)
				}
			}
		}
		res, err := DecodeMatrix(m)
		if err == nil && res.Text == "" && len(res.Bytes) == 0 && !res.GS1 {
			t.Fatal("decoded an empty symbol")
		}
	})
}
