package pdf417

import (
	"image"
	"image/color"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/boombuler/barcode"
	bbpdf417 "github.com/boombuler/barcode/pdf417"
)

// render encodes text with an independent encoder and draws it with a
// quiet zone, px pixels per module (row height 3 modules).
func render(t testing.TB, text string, level byte, px int) *image.Gray {
	t.Helper()
	bc, err := bbpdf417.Encode(text, level)
	if err != nil {
		t.Fatalf("encode %q: %v", text, err)
	}
	b := bc.Bounds()
	rows := b.Dy() / 2
	q := 4 * px
	img := image.NewGray(image.Rect(0, 0, b.Dx()*px+2*q, rows*3*px+2*q))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	for y := 0; y < rows*3*px; y++ {
		for x := 0; x < b.Dx()*px; x++ {
			if r, _, _, _ := bc.At(x/px, (y/(3*px))*2).RGBA(); r < 0x8000 {
				img.SetGray(x+q, y+q, color.Gray{0})
			}
		}
	}
	var _ barcode.Barcode = bc
	return img
}

// warp rotates img by deg degrees about its centre onto a larger canvas,
// optionally blurring edges and adding noise.
func warp(img *image.Gray, deg float64, noise float64, rng *rand.Rand) *image.Gray {
	b := img.Bounds()
	pad := b.Dx() / 3
	side := max(b.Dx(), b.Dy()) + 2*pad
	out := image.NewGray(image.Rect(0, 0, side, side))
	cx, cy := float64(out.Bounds().Dx())/2, float64(out.Bounds().Dy())/2
	s, c := math.Sincos(deg * math.Pi / 180)
	for y := 0; y < out.Bounds().Dy(); y++ {
		for x := 0; x < out.Bounds().Dx(); x++ {
			dx, dy := float64(x)-cx, float64(y)-cy
			sx := c*dx + s*dy + float64(b.Dx())/2
			sy := -s*dx + c*dy + float64(b.Dy())/2
			v := 255.0
			ix, iy := int(math.Floor(sx)), int(math.Floor(sy))
			if ix >= 0 && iy >= 0 && ix+1 < b.Dx() && iy+1 < b.Dy() {
				fx, fy := sx-float64(ix), sy-float64(iy)
				g := func(x, y int) float64 { return float64(img.GrayAt(x, y).Y) }
				v = (g(ix, iy)*(1-fx)+g(ix+1, iy)*fx)*(1-fy) + (g(ix, iy+1)*(1-fx)+g(ix+1, iy+1)*fx)*fy
			}
			if noise > 0 {
				v += rng.NormFloat64() * noise
			}
			out.SetGray(x, y, color.Gray{uint8(math.Max(0, math.Min(255, v)))})
		}
	}
	return out
}

func TestDecodeGenerated(t *testing.T) {
	rng := rand.New(rand.NewSource(7))
	long := strings.Repeat("AD1:6BFR3$KQ0S9%ZX-", 12)
	cases := []struct {
		name  string
		text  string
		level byte
		px    int
		deg   float64
		noise float64
	}{
		{"text", "Hello, PDF417 world!", 2, 2, 0, 0},
		{"numeric", "12345678901234567890123456789", 2, 2, 0, 0},
		{"mixed", "Gate 3 / Row 12 seat 7 :: 1700000000", 3, 3, 0, 0},
		{"utf-8 bytes", "caf\u00e9 \u00fcber \x01\x02\x03 binary", 2, 3, 0, 0},
		{"long ticket", long, 4, 2, 0, 0},
		{"rotated 3deg", "ROTATING-CODE::842193::1700000015", 3, 3, 3, 8},
		{"rotated -4deg", "ROTATING-CODE::842193::1700000015", 3, 3, -4, 8},
		{"upside down", "turned around", 2, 3, 180, 0},
		{"sideways", "turned sideways", 2, 3, 90, 0},
		{"noisy", "noise does not stop it", 4, 3, 1, 25},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := render(t, tc.text, tc.level, tc.px)
			if tc.deg != 0 || tc.noise != 0 {
				img = warp(img, tc.deg, tc.noise, rng)
			}
			res, err := DecodeImage(img)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			// The encoder writes UTF-8 bytes without an ECI: compare bytes.
			if string(res.Bytes) != tc.text {
				t.Fatalf("bytes = %q, want %q", res.Bytes, tc.text)
			}
			if int(tc.level) != res.ECLevel {
				t.Errorf("EC level = %d, want %d", res.ECLevel, tc.level)
			}
		})
	}
}

func TestDecodeDamaged(t *testing.T) {
	text := "damaged but correctable 0123456789"
	img := render(t, text, 5, 3)
	// Paint a white blob over part of the data area.
	b := img.Bounds()
	for y := b.Dy() / 3; y < b.Dy()/2; y++ {
		for x := b.Dx() / 3; x < b.Dx()/3+20; x++ {
			img.SetGray(x, y, color.Gray{255})
		}
	}
	res, err := DecodeImage(img)
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if res.Text != text {
		t.Fatalf("text = %q", res.Text)
	}
	if res.Corrected == 0 {
		t.Errorf("expected some corrected codewords")
	}
}

func TestDecodeNoSymbol(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	img := image.NewGray(image.Rect(0, 0, 320, 240))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Intn(256))
	}
	if _, err := DecodeImage(img); err == nil {
		t.Fatal("decoded a symbol from noise")
	}
	// Vertical stripes look like bars but carry no start/stop pattern.
	for y := 0; y < 240; y++ {
		for x := 0; x < 320; x++ {
			v := uint8(255)
			if (x/3)%3 == 0 {
				v = 0
			}
			img.SetGray(x, y, color.Gray{v})
		}
	}
	if _, err := DecodeImage(img); err == nil {
		t.Fatal("decoded a symbol from stripes")
	}
}

func TestTableMatchesClusters(t *testing.T) {
	seen := map[uint32]bool{}
	for k := 0; k < 3; k++ {
		for v, p := range codewordPatterns[k] {
			if seen[p] {
				t.Fatalf("pattern %05x repeated", p)
			}
			seen[p] = true
			// Bar widths e1..e4 give the cluster: (e1 - e2 + e3 - e4 + 9) % 9.
			var bars []int
			run, last := 0, uint32(1)
			for i := 16; i >= 0; i-- {
				bit := p >> uint(i) & 1
				if bit != last {
					if last == 1 {
						bars = append(bars, run)
					}
					run, last = 0, bit
				}
				run++
			}
			if len(bars) != 4 {
				t.Fatalf("cluster %d value %d: %d bars", 3*k, v, len(bars))
			}
			if got := (bars[0] - bars[1] + bars[2] - bars[3] + 9) % 9; got != 3*k {
				t.Fatalf("cluster %d value %d: pattern %05x is in cluster %d", 3*k, v, p, got)
			}
		}
	}
}
