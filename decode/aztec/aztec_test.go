package aztec

import (
	"image"
	"image/color"
	"math"
	"math/rand"
	"strings"
	"testing"

	bbaztec "github.com/boombuler/barcode/aztec"
	"github.com/makiuchi-d/gozxing"
)

// render draws data as an Aztec symbol (boombuler's encoder) with px
// pixels per module and a quiet zone, optionally mirrored and turned by
// deg degrees, and binarizes it.
func render(t testing.TB, data []byte, ecc, layers int, px float64, deg float64, mirror bool) *gozxing.BitMatrix {
	t.Helper()
	bc, err := bbaztec.Encode(data, ecc, layers)
	if err != nil {
		t.Fatal(err)
	}
	n := bc.Bounds().Dx()
	side := int(float64(n+8)*px*1.5) + 1
	img := image.NewGray(image.Rect(0, 0, side, side))
	c := float64(side) / 2
	sin, cos := math.Sincos(deg * math.Pi / 180)
	for y := 0; y < side; y++ {
		for x := 0; x < side; x++ {
			// Back to module coordinates.
			dx, dy := float64(x)+0.5-c, float64(y)+0.5-c
			u := (dx*cos + dy*sin) / px
			v := (-dx*sin + dy*cos) / px
			if mirror {
				u = -u
			}
			mx, my := int(math.Floor(u+float64(n)/2)), int(math.Floor(v+float64(n)/2))
			val := uint8(230)
			if mx >= 0 && my >= 0 && mx < n && my < n {
				if r, _, _, _ := bc.At(mx, my).RGBA(); r < 0x8000 {
					val = 30
				}
			}
			img.SetGray(x, y, color.Gray{val})
		}
	}
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewLuminanceSourceFromImage(img)))
	if err != nil {
		t.Fatal(err)
	}
	m, err := bmp.GetBlackMatrix()
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDecodeEncodedSymbols(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:;!?-/+%$#@\r\n"
	cases := []struct {
		name   string
		n      int // characters
		layers int // boombuler's userSpecifiedLayers: negative compact, 0 auto
		px     float64
		deg    float64
		mirror bool
	}{
		{"compact 1 layer", 6, -1, 4, 0, false},
		{"compact 2 layers", 20, -2, 4, 0, false},
		{"compact 3 layers", 30, -3, 4, 0, false},
		{"compact 4 layers", 60, -4, 3, 0, false},
		{"full 4 layers", 50, 4, 3, 0, false},
		{"full 8 layers", 200, 8, 3, 0, false},
		{"full 12 layers", 300, 12, 3, 0, false},
		{"full 22 layers", 900, 22, 2, 0, false},
		{"full 32 layers", 1800, 32, 2, 0, false},
		{"auto, turned 90°", 100, 0, 4, 90, false},
		{"auto, turned 180°", 100, 0, 4, 180, false},
		{"auto, turned 30°", 100, 0, 5, 30, false},
		{"auto, turned 45°", 120, 0, 5, 45, false},
		{"mirrored", 100, 0, 4, 0, true},
		{"mirrored and turned", 60, 0, 4, 270, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var sb strings.Builder
			for i := 0; i < tc.n; i++ {
				sb.WriteByte(alphabet[rng.Intn(len(alphabet))])
			}
			want := sb.String()
			// Shorten the text until it fits the layers asked for.
			for ; len(want) > 1; want = want[:len(want)*9/10] {
				if _, err := bbaztec.Encode([]byte(want), 23, tc.layers); err == nil {
					break
				}
			}
			m := render(t, []byte(want), 23, tc.layers, tc.px, tc.deg, tc.mirror)
			res, err := DecodeMatrix(m)
			if err != nil {
				im := &picture{m: m, w: m.GetWidth(), h: m.GetHeight()}
				t.Fatalf("%v (centres %v)", err, findCenters(im, maxCenters))
			}
			if res.Text != want || res.Mirrored != tc.mirror {
				t.Fatalf("read %q (mirrored %v), want %q", res.Text, res.Mirrored, want)
			}
		})
	}
}
