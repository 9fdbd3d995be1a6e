package pdf417

import (
	"math/rand"
	"slices"
	"testing"

	"github.com/makiuchi-d/gozxing"
)

// edgesByPixel is the plain definition of view.edges: one pixel at a time
// through orig.
func edgesByPixel(v *view, y int) []int {
	buf := []int{0}
	black := false
	for x := 0; x < v.w; x++ {
		mx, my := v.orig(x, y)
		if b := v.m.Get(mx, my); b != black {
			buf = append(buf, x)
			black = b
		}
	}
	return append(buf, v.w)
}

func TestViewEdgesMatchPixels(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	for _, size := range [][2]int{{37, 23}, {64, 64}, {70, 33}, {1, 5}} {
		m, err := gozxing.NewBitMatrix(size[0], size[1])
		if err != nil {
			t.Fatal(err)
		}
		black := false
		for y := 0; y < size[1]; y++ {
			for x := 0; x < size[0]; x++ {
				if rng.Intn(4) == 0 {
					black = !black
				}
				if black {
					m.Set(x, y)
				}
			}
		}
		for _, rot := range []int{0, 90, 180, 270} {
			v := newView(m, rot)
			var buf []int
			for y := 0; y < v.h; y++ {
				buf = v.edges(y, buf)
				if want := edgesByPixel(v, y); !slices.Equal(buf, want) {
					t.Fatalf("%dx%d rot %d row %d: edges %v, want %v", size[0], size[1], rot, y, buf, want)
				}
			}
		}
	}
}
