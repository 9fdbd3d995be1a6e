// Package display shows a gate's status text — "Welcome", "Already used at
// Gate 3 at 19:04" — on a small OLED: an SSD1306 (128×64 or 128×32, I²C)
// through periph's driver. Text is drawn with a fixed 7×13 bitmap font and
// wrapped to the panel's width; what does not fit is cut with an ellipsis.
package display

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"strings"
	"sync"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/devices/v3/ssd1306"

	"admit/hal"
)

// Panel is what the Display draws on; *ssd1306.Dev is one.
type Panel interface {
	Bounds() image.Rectangle
	Draw(r image.Rectangle, src image.Image, sp image.Point) error
	Halt() error
}

// Display renders lines of text on a Panel.
type Display struct {
	panel Panel

	mu   sync.Mutex // guards last
	last []string
}

var _ hal.Display = (*Display)(nil)

// New returns a Display on panel.
func New(panel Panel) *Display { return &Display{panel: panel} }

// NewSSD1306 opens an SSD1306 at I²C address 0x3C (periph's driver only
// speaks to that address) with the given height (64 or 32 rows).
func NewSSD1306(bus i2c.Bus, addr uint16, height int) (*Display, error) {
	if addr != 0 && addr != 0x3C {
		return nil, fmt.Errorf("ssd1306: address %#x not supported (periph's driver uses 0x3c)", addr)
	}
	opts := ssd1306.DefaultOpts
	if height != 0 {
		opts.H = height
	}
	dev, err := ssd1306.NewI2C(bus, &opts)
	if err != nil {
		return nil, fmt.Errorf("ssd1306: %w", err)
	}
	return New(dev), nil
}

// Show clears the panel and draws lines, wrapped to its width.
func (d *Display) Show(lines ...string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	img := Render(d.panel.Bounds(), lines...)
	if err := d.panel.Draw(img.Bounds(), img, image.Point{}); err != nil {
		return fmt.Errorf("display: %w", err)
	}
	d.last = append(d.last[:0], lines...)
	return nil
}

// Shown returns the lines last shown.
func (d *Display) Shown() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.last...)
}

// Halt blanks the panel.
func (d *Display) Halt() error { return d.panel.Halt() }

// Render draws lines in white on black into an image of bounds b, wrapping
// words to the width and ending with "…" when the text does not fit.
func Render(b image.Rectangle, lines ...string) *image.Gray {
	img := image.NewGray(b)
	draw.Draw(img, b, image.Black, image.Point{}, draw.Src)
	face := basicfont.Face7x13
	cols := max(1, b.Dx()/face.Advance)
	rows := max(1, b.Dy()/face.Height)
	wrapped := wrap(lines, cols)
	if len(wrapped) > rows {
		wrapped = wrapped[:rows]
		last := []rune(wrapped[rows-1])
		if len(last) >= cols {
			last = last[:cols-1]
		}
		wrapped[rows-1] = string(last) + "…"
	}
	dr := font.Drawer{Dst: img, Src: image.NewUniform(color.White), Face: face}
	for i, l := range wrapped {
		dr.Dot = fixed.P(b.Min.X, b.Min.Y+face.Ascent+i*face.Height)
		dr.DrawString(l)
	}
	return img
}

// wrap breaks each line into rows of at most cols runes, at spaces where it
// can.
func wrap(lines []string, cols int) []string {
	var out []string
	for _, l := range lines {
		row := ""
		for _, w := range strings.Fields(l) {
			for len([]rune(w)) > cols { // a word longer than a row
				if row != "" {
					out = append(out, row)
					row = ""
				}
				r := []rune(w)
				out = append(out, string(r[:cols]))
				w = string(r[cols:])
			}
			switch {
			case row == "":
				row = w
			case len([]rune(row))+1+len([]rune(w)) <= cols:
				row += " " + w
			default:
				out = append(out, row)
				row = w
			}
		}
		out = append(out, row)
	}
	return out
}
