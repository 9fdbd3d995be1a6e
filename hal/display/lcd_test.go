package display

import (
	"strings"
	"sync"
	"testing"

	"periph.io/x/conn/v3/physic"
)

// backpack is an HD44780 behind a PCF8574 on a fake I²C bus: it decodes
// the expander's pin writes (P0 RS, P1 R/W, P2 E, P3 backlight, P4–P7
// D4–D7) as the controller latches them on E's falling edge, and keeps
// its display RAM.
type backpack struct {
	mu       sync.Mutex
	addr     uint16
	pins     byte
	fourBit  bool
	high     *byte // first nibble of a 4-bit transfer
	twoLines bool
	ac       int
	ddram    [128]byte
	light    bool
	rwHigh   bool
}

func newBackpack(addr uint16) *backpack {
	b := &backpack{addr: addr}
	for i := range b.ddram {
		b.ddram[i] = ' '
	}
	return b
}

func (b *backpack) String() string                  { return "backpack" }
func (b *backpack) SetSpeed(physic.Frequency) error { return nil }

func (b *backpack) Tx(addr uint16, w, r []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if addr != b.addr || len(w) != 1 || len(r) != 0 {
		return nil
	}
	prev := b.pins
	b.pins = w[0]
	b.light = b.pins&0x08 != 0
	b.rwHigh = b.rwHigh || b.pins&0x02 != 0
	if prev&0x04 != 0 && b.pins&0x04 == 0 { // E falls: latch
		b.latch(prev&0x01 != 0, prev>>4)
	}
	return nil
}

func (b *backpack) latch(rs bool, nib byte) {
	if !b.fourBit {
		if !rs && nib == 0x2 {
			b.fourBit = true
		}
		return
	}
	if b.high == nil {
		b.high = &nib
		return
	}
	v := *b.high<<4 | nib
	b.high = nil
	if rs {
		b.ddram[b.ac&0x7F] = v
		b.ac++
		return
	}
	switch {
	case v&0x80 != 0:
		b.ac = int(v & 0x7F)
	case v&0x20 != 0: // Function Set
		b.twoLines = v&0x08 != 0
	case v == 0x01:
		for i := range b.ddram {
			b.ddram[i] = ' '
		}
		b.ac = 0
	case v == 0x02:
		b.ac = 0
	}
}

// row returns what the panel shows on row r of a cols-wide panel.
func (b *backpack) row(r, cols int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if r%2 == 1 && !b.twoLines {
		return strings.Repeat(" ", cols) // one-line mode: nothing there
	}
	start := (r%2)*0x40 + r/2*cols
	return string(b.ddram[start : start+cols])
}

func TestHD44780OnPCF8574(t *testing.T) {
	bus := newBackpack(0x27)
	lcd, err := NewHD44780(bus, 0x27, 16, 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bus.light || bus.rwHigh {
		t.Fatalf("backlight %v, R/W ever high %v", bus.light, bus.rwHigh)
	}
	if err := lcd.Show("Welcome", "Gate A"); err != nil {
		t.Fatal(err)
	}
	if r0, r1 := bus.row(0, 16), bus.row(1, 16); r0 != "Welcome         " || r1 != "Gate A          " {
		t.Fatalf("rows %q %q", r0, r1)
	}
	// Long text wraps, accents go, what does not fit ends with the arrow;
	// shorter text later leaves nothing of the old behind.
	if err := lcd.Show("Déjà utilisé à Porte 3, 19:04 — voir le personnel"); err != nil {
		t.Fatal(err)
	}
	if r0, r1 := bus.row(0, 16), bus.row(1, 16); r0 != "Deja utilise a  " || r1 != "Porte 3, 19:04 \x7E" {
		t.Fatalf("rows %q %q", r0, r1)
	}
	if err := lcd.Show("OK"); err != nil {
		t.Fatal(err)
	}
	if r0, r1 := bus.row(0, 16), bus.row(1, 16); r0 != "OK              " || r1 != strings.Repeat(" ", 16) {
		t.Fatalf("rows %q %q", r0, r1)
	}
	if got := lcd.Shown(); len(got) != 1 || got[0] != "OK" {
		t.Fatalf("shown %q", got)
	}
}

func TestLCD20x4Rows(t *testing.T) {
	bus := newBackpack(0x3F)
	lcd, err := NewHD44780(bus, 0x3F, 20, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := lcd.Show("one", "two", "three", "four"); err != nil {
		t.Fatal(err)
	}
	for r, want := range []string{"one", "two", "three", "four"} {
		if got := bus.row(r, 20); got != want+strings.Repeat(" ", 20-len(want)) {
			t.Fatalf("row %d %q", r, got)
		}
	}
	if _, err := NewLCD(nil, 80, 2); err == nil {
		t.Fatal("80×2 accepted")
	}
}
