package display

import (
	"fmt"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/devices/v3/hd44780"
	"periph.io/x/devices/v3/pcf857x"

	"admit/hal"
)

// CharPanel is what an LCD writes to; periph's *hd44780.Dev is one.
type CharPanel interface {
	SetCursor(line, column uint8) error
	Print(s string) error
	Halt() error
}

// LCD shows status text on a character LCD with an HD44780 controller
// (16×2, 20×4, …): words wrapped to the width, one row per line of the
// panel, each row written whole (padded with spaces) so no old text stays.
// Characters outside the controller's ASCII range lose their accents
// ("é" → "e") or become "?"; text that does not fit ends with the ROM's
// right arrow (0x7E).
type LCD struct {
	panel      CharPanel
	cols, rows int

	mu   sync.Mutex // guards last
	last []string
}

var _ hal.Display = (*LCD)(nil)

// NewLCD returns an LCD of cols × rows characters on panel.
func NewLCD(panel CharPanel, cols, rows int) (*LCD, error) {
	if cols < 8 || cols > 40 || rows < 1 || rows > 4 || cols*rows > 80 {
		return nil, fmt.Errorf("hd44780: %d×%d characters: want 8–40 columns, 1–4 rows, at most 80 characters", cols, rows)
	}
	return &LCD{panel: panel, cols: cols, rows: rows}, nil
}

// The usual wiring of a PCF8574 I²C backpack to an HD44780 in 4-bit mode:
// P0 RS, P1 R/W, P2 E, P3 backlight, P4–P7 D4–D7.
const (
	bpRS, bpRW, bpE, bpLight = 0, 1, 2, 3
	bpD4                     = 4
)

// NewHD44780 opens an HD44780 behind a PCF8574 backpack at addr (usually
// 0x27, or 0x3F) through periph's pcf857x and hd44780 drivers, turns the
// backlight on and clears the panel.
func NewHD44780(bus i2c.Bus, addr uint16, cols, rows int) (*LCD, error) {
	x, err := pcf857x.New(bus, addr, pcf857x.PCF8574)
	if err != nil {
		return nil, fmt.Errorf("hd44780: pcf8574 at %#02x: %w", addr, err)
	}
	p := x.Pins
	if err := p[bpRW].Out(gpio.Low); err != nil { // always writing
		return nil, fmt.Errorf("hd44780: pcf8574 at %#02x: %w", addr, err)
	}
	if err := p[bpLight].Out(gpio.High); err != nil {
		return nil, fmt.Errorf("hd44780: pcf8574 at %#02x: %w", addr, err)
	}
	data := []gpio.PinOut{p[bpD4], p[bpD4+1], p[bpD4+2], p[bpD4+3]}
	dev, err := hd44780.New(data, p[bpRS], p[bpE])
	if err != nil {
		return nil, fmt.Errorf("hd44780: %w", err)
	}
	// Erratum: periph's initialisation sends 0x14 where the HD44780's
	// Function Set belongs (datasheet, "Initializing by Instruction",
	// 4-bit), which leaves the controller in its one-line reset mode: the
	// second row of a 16×2 stays blank. Send Function Set 0x28 (4-bit, two
	// lines, 5×8 dots) ourselves.
	if err := instruction4(data, p[bpRS], p[bpE], 0x28); err != nil {
		return nil, fmt.Errorf("hd44780: function set: %w", err)
	}
	return NewLCD(dev, cols, rows)
}

// instruction4 writes one instruction in 4-bit mode: RS low, the high
// nibble then the low one on D4–D7, each latched by a pulse on E. Every
// pin change is one I²C write to the expander, far longer than the
// controller's 450 ns pulse and 37 µs execution times.
func instruction4(data []gpio.PinOut, rs, e gpio.PinOut, v byte) error {
	if err := rs.Out(gpio.Low); err != nil {
		return err
	}
	for _, nib := range []byte{v >> 4, v & 0x0F} {
		for i, d := range data {
			if err := d.Out(gpio.Level(nib&(1<<i) != 0)); err != nil {
				return err
			}
		}
		if err := e.Out(gpio.High); err != nil {
			return err
		}
		if err := e.Out(gpio.Low); err != nil {
			return err
		}
	}
	return nil
}

// Show writes lines, wrapped, to the panel's rows.
func (l *LCD) Show(lines ...string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ascii []string
	for _, s := range lines {
		ascii = append(ascii, toROM(s))
	}
	rows := wrap(ascii, l.cols)
	if len(rows) > l.rows {
		rows = rows[:l.rows]
		last := rows[l.rows-1]
		if len(last) >= l.cols {
			last = last[:l.cols-1]
		}
		rows[l.rows-1] = last + "\x7E"
	}
	for r := 0; r < l.rows; r++ {
		text := ""
		if r < len(rows) {
			text = rows[r]
		}
		// DDRAM: rows 0 and 1 start at 0x00 and 0x40; rows 2 and 3 continue
		// them past the width (0x00+cols, 0x40+cols) on 4-row panels.
		if err := l.panel.SetCursor(uint8(r%2), uint8(r/2*l.cols)); err != nil {
			return fmt.Errorf("hd44780: %w", err)
		}
		if err := l.panel.Print(text + strings.Repeat(" ", l.cols-len(text))); err != nil {
			return fmt.Errorf("hd44780: %w", err)
		}
	}
	l.last = append(l.last[:0], lines...)
	return nil
}

// Shown returns the lines last shown.
func (l *LCD) Shown() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.last...)
}

// Halt clears the panel.
func (l *LCD) Halt() error { return l.panel.Halt() }

// toROM maps s to the HD44780's ASCII range: accents dropped, anything
// else outside 0x20–0x7D a "?".
func toROM(s string) string {
	t := transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	plain, _, err := transform.String(t, s)
	if err != nil {
		plain = s
	}
	var b strings.Builder
	for _, r := range plain {
		if r < 0x20 || r > 0x7D {
			r = '?'
		}
		b.WriteRune(r)
	}
	return b.String()
}
