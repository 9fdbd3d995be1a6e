package decode

import (
	"context"
	"errors"
	"image"
	"image/color"
	"math/rand"
	"testing"
	"time"

	bbpdf417 "github.com/boombuler/barcode/pdf417"
	"gocv.io/x/gocv"
)

func grayMat(t testing.TB, img image.Image) gocv.Mat {
	t.Helper()
	g, ok := img.(*image.Gray)
	if !ok {
		b := img.Bounds()
		g = image.NewGray(b)
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				g.Set(x, y, img.At(x, y))
			}
		}
	}
	m, err := gocv.ImageGrayToMatGray(g)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// pdf417Frame draws a PDF417 symbol (px per module) on a w×h gray frame.
func pdf417Frame(t testing.TB, text string, px, w, h int) *image.Gray {
	t.Helper()
	bc, err := bbpdf417.Encode(text, 3)
	if err != nil {
		t.Fatal(err)
	}
	b := bc.Bounds()
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 210
	}
	ox, oy := (w-b.Dx()*px)/2, (h-b.Dy()/2*3*px)/2
	for y := 0; y < b.Dy()/2*3*px; y++ {
		for x := 0; x < b.Dx()*px; x++ {
			v := uint8(250)
			if r, _, _, _ := bc.At(x/px, y/(3*px)*2).RGBA(); r < 0x8000 {
				v = 30
			}
			img.SetGray(ox+x, oy+y, color.Gray{v})
		}
	}
	return img
}

// fakeClock advances by step on every reading.
type fakeClock struct {
	t    time.Time
	step time.Duration
}

func (c *fakeClock) now() time.Time { c.t = c.t.Add(c.step); return c.t }

func TestStrategyPasses(t *testing.T) {
	ctx := context.Background()
	all := []Format{QR, PDF417, Aztec, Code128, DataMatrix}
	invert := func(img image.Image) *image.Gray {
		g := image.NewGray(img.Bounds())
		b := img.Bounds()
		for y := b.Min.Y; y < b.Max.Y; y++ {
			for x := b.Min.X; x < b.Max.X; x++ {
				r, _, _, _ := img.At(x, y).RGBA()
				g.SetGray(x, y, color.Gray{255 - uint8(r>>8)})
			}
		}
		return g
	}
	cases := []struct {
		name     string
		img      image.Image
		format   Format
		text     string
		wantPass string
	}{
		{"qr on gray", qrFrame(t, "AD1:QR-TICKET", 200, 640, 480), QR, "AD1:QR-TICKET", "gray"},
		{"dark-mode qr", invert(qrFrame(t, "AD1:DARK", 200, 640, 480)), QR, "AD1:DARK", "inverted"},
		{"pdf417 boarding pass", pdf417Frame(t, "M1DOE/JANE EABC123 LHRJFKBA 0117", 2, 640, 480), PDF417, "M1DOE/JANE EABC123 LHRJFKBA 0117", "gray"},
		// Light and dark 20 grey levels apart: under the hybrid
		// binarizer's dynamic range, read once stretched.
		{"dim qr", scaleGray(qrFrame(t, "AD1:DIM", 200, 640, 480), 70, 90), QR, "AD1:DIM", "stretched"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := grayMat(t, tc.img)
			defer m.Close()
			d := NewDecoder(Options{Formats: all, Budget: time.Hour, Share: -1}) // every pass, whatever the machine load
			defer d.Close()
			sym, err := d.Decode(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			if sym.Format != tc.format || sym.Text != tc.text || sym.Pass != tc.wantPass {
				t.Fatalf("got %s %q via %s, want %s %q via %s", sym.Format, sym.Text, sym.Pass, tc.format, tc.text, tc.wantPass)
			}
		})
	}
}

func TestStrategyFormatsGate(t *testing.T) {
	m := grayMat(t, pdf417Frame(t, "PDF417 ONLY", 2, 640, 480))
	defer m.Close()
	d := NewDecoder(Options{Formats: []Format{QR}})
	defer d.Close()
	if sym, err := d.Decode(context.Background(), m); !errors.Is(err, ErrNoSymbol) {
		t.Fatalf("QR-only decoder read %+v, %v", sym, err)
	}
}

func TestStrategyBudgetStopsOptionalPasses(t *testing.T) {
	// A clock that jumps 1 s per reading exhausts any budget after pass 1,
	// so an inverted code (only the second pass reads it) is not found.
	clk := &fakeClock{t: time.Unix(0, 0), step: time.Second}
	img := qrFrame(t, "AD1:DARK", 200, 640, 480)
	g := image.NewGray(img.Bounds())
	for i := range g.Pix {
		r, _, _, _ := img.At(i%640, i/640).RGBA()
		g.Pix[i] = 255 - uint8(r>>8)
	}
	m := grayMat(t, g)
	defer m.Close()
	d := NewDecoder(Options{Formats: []Format{QR}, Budget: 10 * time.Millisecond, Now: clk.now})
	defer d.Close()
	if _, err := d.Decode(context.Background(), m); !errors.Is(err, ErrNoSymbol) {
		t.Fatalf("with the budget spent: %v", err)
	}
	d2 := NewDecoder(Options{Formats: []Format{QR}, Budget: time.Hour, Now: clk.now})
	defer d2.Close()
	if sym, err := d2.Decode(context.Background(), m); err != nil || sym.Pass != "inverted" {
		t.Fatalf("with budget: %+v %v", sym, err)
	}
}

func TestStrategyNoFalsePositivesOnNoise(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	img := image.NewGray(image.Rect(0, 0, 640, 480))
	for i := range img.Pix {
		img.Pix[i] = uint8(rng.Intn(256))
	}
	m := grayMat(t, img)
	defer m.Close()
	d := NewDecoder(Options{Formats: AllFormats, Budget: time.Hour, Share: -1})
	defer d.Close()
	if sym, err := d.Decode(context.Background(), m); !errors.Is(err, ErrNoSymbol) {
		t.Fatalf("noise decoded: %+v %v", sym, err)
	}
}

func benchFrame(b *testing.B, img image.Image, want error) {
	m := grayMat(b, img)
	defer m.Close()
	d := NewDecoder(Options{Formats: []Format{QR, PDF417, Aztec, Code128, DataMatrix}})
	defer d.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_, err := d.Decode(ctx, m)
		if !errors.Is(err, want) {
			b.Fatalf("decode: %v", err)
		}
	}
}

func blankish(w, h int) *image.Gray {
	// A plausible empty scene: a soft gradient with sensor noise.
	rng := rand.New(rand.NewSource(9))
	img := image.NewGray(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Pix[y*w+x] = uint8(90 + 80*x/w + rng.Intn(12))
		}
	}
	return img
}

func BenchmarkDecode640x480Ticket(b *testing.B) {
	benchFrame(b, qrFrame(b, "AD1:6BFR3$KQ0S9%ZX-EXAMPLE-TICKET-PAYLOAD", 180, 640, 480), nil)
}

func BenchmarkDecode640x480Empty(b *testing.B) { benchFrame(b, blankish(640, 480), ErrNoSymbol) }

func BenchmarkDecode1280x720Ticket(b *testing.B) {
	benchFrame(b, qrFrame(b, "AD1:6BFR3$KQ0S9%ZX-EXAMPLE-TICKET-PAYLOAD", 260, 1280, 720), nil)
}

func BenchmarkDecode1280x720Empty(b *testing.B) { benchFrame(b, blankish(1280, 720), ErrNoSymbol) }

// BenchmarkDecode640x480EmptyFirstPass is the floor of an empty frame: the
// first pass only (Budget < 0).
func BenchmarkDecode640x480EmptyFirstPass(b *testing.B) {
	m := grayMat(b, blankish(640, 480))
	defer m.Close()
	d := NewDecoder(Options{Formats: []Format{QR, PDF417, Aztec, Code128, DataMatrix}, Budget: -1})
	defer d.Close()
	for i := 0; i < b.N; i++ {
		if _, err := d.Decode(context.Background(), m); !errors.Is(err, ErrNoSymbol) {
			b.Fatal(err)
		}
	}
}

// scaleGray maps img's grey levels 0..255 onto lo..hi (a dim or washed-out
// scene).
func scaleGray(img image.Image, lo, hi int) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, _, _, _ := img.At(x, y).RGBA()
			g.SetGray(x, y, color.Gray{uint8(lo + int(r>>8)*(hi-lo)/255)})
		}
	}
	return g
}
