package display

import (
	"image"
	"reflect"
	"testing"

	"periph.io/x/conn/v3/i2c/i2ctest"
)

func TestWrap(t *testing.T) {
	got := wrap([]string{"Already used at Gate 3 at 19:04", "", "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}, 18)
	want := []string{"Already used at", "Gate 3 at 19:04", "", "ABCDEFGHIJKLMNOPQR", "STUVWXYZ"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("wrap = %q\nwant   %q", got, want)
	}
}

// lit counts white pixels in rows [y0, y1).
func lit(img *image.Gray, y0, y1 int) int {
	n := 0
	for y := y0; y < y1; y++ {
		for x := img.Rect.Min.X; x < img.Rect.Max.X; x++ {
			if img.GrayAt(x, y).Y > 128 {
				n++
			}
		}
	}
	return n
}

func TestRenderPlacesLinesAndCutsOverflow(t *testing.T) {
	b := image.Rect(0, 0, 128, 32) // two rows of 13 px
	img := Render(b, "Welcome")
	if lit(img, 0, 13) == 0 || lit(img, 13, 32) != 0 {
		t.Fatalf("one line should light only the first row: %d / %d", lit(img, 0, 13), lit(img, 13, 32))
	}
	img = Render(b, "one", "two", "three")
	if lit(img, 13, 26) == 0 {
		t.Fatal("second row empty")
	}
	if blank := Render(b); lit(blank, 0, 32) != 0 {
		t.Fatal("no text should leave the panel dark")
	}
}

type fakePanel struct {
	b     image.Rectangle
	drawn image.Image
}

func (p *fakePanel) Bounds() image.Rectangle { return p.b }
func (p *fakePanel) Draw(r image.Rectangle, src image.Image, sp image.Point) error {
	p.drawn = src
	return nil
}
func (p *fakePanel) Halt() error { return nil }

func TestShowDrawsOnThePanel(t *testing.T) {
	p := &fakePanel{b: image.Rect(0, 0, 128, 64)}
	d := New(p)
	if err := d.Show("Welcome", "Gate A"); err != nil {
		t.Fatal(err)
	}
	g, ok := p.drawn.(*image.Gray)
	if !ok || lit(g, 0, 26) == 0 {
		t.Fatal("nothing drawn")
	}
	if got := d.Shown(); !reflect.DeepEqual(got, []string{"Welcome", "Gate A"}) {
		t.Fatalf("Shown = %q", got)
	}
}

// Through periph's real SSD1306 driver on a recording I²C bus: the panel
// is initialised and a frame of pixels is written to address 0x3C.
func TestSSD1306OverI2C(t *testing.T) {
	bus := &i2ctest.Record{}
	d, err := NewSSD1306(bus, 0x3C, 32)
	if err != nil {
		t.Fatal(err)
	}
	before := len(bus.Ops)
	if err := d.Show("Welcome"); err != nil {
		t.Fatal(err)
	}
	var frame int
	for _, op := range bus.Ops[before:] {
		if op.Addr != 0x3C {
			t.Fatalf("write to %#x", op.Addr)
		}
		if len(op.W) > 0 && op.W[0] == 0x40 { // data stream: pixels
			for _, b := range op.W[1:] {
				if b != 0 {
					frame++
				}
			}
		}
	}
	if frame == 0 {
		t.Fatal("no lit pixels written to the panel")
	}
	if _, err := NewSSD1306(bus, 0x3D, 64); err == nil {
		t.Fatal("0x3d accepted")
	}
}
