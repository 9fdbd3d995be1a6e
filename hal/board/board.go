// Package board reads a board file: the JSON that tells the agent which
// buses and pins its devices hang on (NFC readers, relay, LEDs, buzzer,
// passage sensor, button, display, USB scanners). Load checks it and
// reports every problem at once, each prefixed by the device it concerns:
// "relay: GPIO99 does not exist on rpi4".
package board

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// File is the board file format.
type File struct {
	Name      string     `json:"name"`
	Model     string     `json:"model"` // rpi3, rpi4, rpi5, rpi-zero2, generic
	NFC       []NFC      `json:"nfc,omitempty"`
	Relay     *Relay     `json:"relay,omitempty"`
	Indicator *Indicator `json:"indicator,omitempty"`
	Buzzer    *Output    `json:"buzzer,omitempty"`
	Passage   *Input     `json:"passage,omitempty"`
	Button    *Input     `json:"button,omitempty"`
	Display   *Display   `json:"display,omitempty"`
	Scanners  []Scanner  `json:"scanners,omitempty"`
}

// NFC is one NFC reader.
type NFC struct {
	Name         string `json:"name"`           // credential source, "nfc0"
	Chip         string `json:"chip"`           // pn532 or mfrc522
	Bus          string `json:"bus"`            // i2c or spi
	I2C          string `json:"i2c,omitempty"`  // I²C bus name for periph, "1"
	Addr         Addr   `json:"addr,omitempty"` // I²C address, 0x24 when empty
	SPI          string `json:"spi,omitempty"`  // SPI port name for periph, "SPI0.0"
	SPIHz        int    `json:"spi_hz,omitempty"`
	SoftLSBFirst bool   `json:"soft_lsb_first,omitempty"` // Pi SPI cannot shift LSB first
	IRQ          string `json:"irq,omitempty"`
	Reset        string `json:"reset,omitempty"`
}

// Relay is the turnstile or door release.
type Relay struct {
	Pin       string   `json:"pin"`
	ActiveLow bool     `json:"active_low,omitempty"`
	Pulse     Duration `json:"pulse,omitempty"`
}

// Indicator is two or three discrete LEDs, or the channels of an RGB LED
// (wire R to red and G to green: amber lights both).
type Indicator struct {
	Green string `json:"green,omitempty"`
	Red   string `json:"red,omitempty"`
	Amber string `json:"amber,omitempty"` // optional third LED
}

// Output is a device on one output pin.
type Output struct {
	Pin string `json:"pin"`
}

// Input is a debounced input pin.
type Input struct {
	Pin       string   `json:"pin"`
	ActiveLow bool     `json:"active_low,omitempty"`
	Debounce  Duration `json:"debounce,omitempty"`
}

// Display is a status display on I²C.
type Display struct {
	Chip string `json:"chip"` // ssd1306 or hd44780 (PCF8574 backpack)
	I2C  string `json:"i2c"`
	Addr Addr   `json:"addr"`
	// Cols and Rows are an hd44780's characters (16 × 2 when empty).
	Cols int `json:"cols,omitempty"`
	Rows int `json:"rows,omitempty"`
}

// Size returns an hd44780's columns and rows, 16 × 2 by default.
func (d Display) Size() (cols, rows int) {
	cols, rows = d.Cols, d.Rows
	if cols == 0 {
		cols = 16
	}
	if rows == 0 {
		rows = 2
	}
	return cols, rows
}

// Scanner is a USB barcode scanner in keyboard mode.
type Scanner struct {
	Name       string `json:"name"`
	Device     string `json:"device"`               // /dev/input/by-id/…-event-kbd
	Terminator string `json:"terminator,omitempty"` // enter (default), tab, none
}

// Duration is a time.Duration written as "800ms".
type Duration time.Duration

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"800ms\": %s", b)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// Addr is an I²C address written as "0x24" or 36.
type Addr uint16

func (a *Addr) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	v, err := strconv.ParseUint(s, 0, 16)
	if err != nil {
		return fmt.Errorf("address %s: want a number like \"0x24\"", b)
	}
	*a = Addr(v)
	return nil
}

func (a Addr) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprintf("%#02x", uint16(a))) }

// Load reads and validates a board file.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("board: %w", err)
	}
	f, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("board %s: %w", path, err)
	}
	return f, nil
}

// Parse decodes and validates a board file. Unknown fields are errors (a
// misspelt key would otherwise silently drop a device).
func Parse(b []byte) (*File, error) {
	var f File
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line := 1 + bytes.Count(b[:se.Offset], []byte("\n"))
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		return nil, err
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

// headerGPIOs is the GPIO range on the 40-pin header of each model.
var headerGPIOs = map[string]int{"rpi3": 27, "rpi4": 27, "rpi5": 27, "rpi-zero2": 27}

// Bus pins on the Raspberry Pi header, reserved when the bus is used.
var piBusPins = map[string][]string{
	"i2c1":   {"GPIO2", "GPIO3"},
	"spi0.0": {"GPIO7", "GPIO8", "GPIO9", "GPIO10", "GPIO11"},
	"spi0.1": {"GPIO7", "GPIO8", "GPIO9", "GPIO10", "GPIO11"},
}

// Validate reports every problem of the file, joined.
func (f *File) Validate() error {
	v := &validator{f: f, used: map[string]string{}}
	if f.Model == "" {
		v.errf("board", "model missing (rpi3, rpi4, rpi5, rpi-zero2 or generic)")
	} else if _, ok := headerGPIOs[f.Model]; !ok && f.Model != "generic" {
		v.errf("board", "unknown model %q (rpi3, rpi4, rpi5, rpi-zero2 or generic)", f.Model)
	}
	names := map[string]bool{}
	for i, n := range f.NFC {
		who := n.Name
		if who == "" {
			who = fmt.Sprintf("nfc[%d]", i)
			v.errf(who, "name missing")
		} else if names[who] {
			v.errf(who, "name used twice")
		}
		names[who] = true
		switch n.Chip {
		case "pn532":
		case "mfrc522":
			if n.Bus != "spi" {
				v.errf(who, "the mfrc522 driver works on spi only")
			}
		default:
			v.errf(who, "chip %q: want pn532 or mfrc522", n.Chip)
		}
		switch n.Bus {
		case "i2c":
			if n.I2C == "" {
				v.errf(who, "i2c bus name missing (\"1\" on a Raspberry Pi)")
			}
			if n.Addr > 0x7F {
				v.errf(who, "I²C address %#02x is not a 7-bit address", uint16(n.Addr))
			}
			v.bus(who, "i2c"+n.I2C)
		case "spi":
			if n.SPI == "" {
				v.errf(who, "spi port name missing (\"SPI0.0\" on a Raspberry Pi)")
			}
			if n.SPIHz < 0 || n.SPIHz > 5_000_000 {
				v.errf(who, "spi_hz %d: the chip takes at most 5 MHz", n.SPIHz)
			}
			v.bus(who, strings.ToLower(n.SPI))
		default:
			v.errf(who, "bus %q: want i2c or spi", n.Bus)
		}
		v.pin(who+" irq", n.IRQ, false)
		v.pin(who+" reset", n.Reset, false)
	}
	if r := f.Relay; r != nil {
		v.pin("relay", r.Pin, true)
		if r.Pulse < 0 || time.Duration(r.Pulse) > 30*time.Second {
			v.errf("relay", "pulse %s: want between 0 and 30s", time.Duration(r.Pulse))
		}
	}
	if ind := f.Indicator; ind != nil {
		if ind.Green == "" && ind.Red == "" {
			v.errf("indicator", "no pin")
		}
		v.pin("indicator green", ind.Green, false)
		v.pin("indicator red", ind.Red, false)
		v.pin("indicator amber", ind.Amber, false)
	}
	if b := f.Buzzer; b != nil {
		v.pin("buzzer", b.Pin, true)
	}
	for _, in := range []struct {
		who string
		in  *Input
	}{{"passage", f.Passage}, {"button", f.Button}} {
		if in.in == nil {
			continue
		}
		v.pin(in.who, in.in.Pin, true)
		if d := time.Duration(in.in.Debounce); d < 0 || d > time.Second {
			v.errf(in.who, "debounce %s: want between 0 and 1s", d)
		}
	}
	if d := f.Display; d != nil {
		switch d.Chip {
		case "ssd1306":
			if d.Cols != 0 || d.Rows != 0 {
				v.errf("display", "cols and rows are for an hd44780; an ssd1306 is 128 pixels wide")
			}
		case "hd44780":
			if c, r := d.Size(); c < 8 || c > 40 || r < 1 || r > 4 || c*r > 80 {
				v.errf("display", "hd44780 of %d×%d characters: want 8–40 columns, 1–4 rows", c, r)
			}
		default:
			v.errf("display", "chip %q: want ssd1306 or hd44780", d.Chip)
		}
		if d.I2C == "" {
			v.errf("display", "i2c bus name missing")
		}
		if d.Addr == 0 || d.Addr > 0x7F {
			v.errf("display", "I²C address %#02x is not a 7-bit address", uint16(d.Addr))
		}
		v.bus("display", "i2c"+d.I2C)
	}
	for i, s := range f.Scanners {
		who := s.Name
		if who == "" {
			who = fmt.Sprintf("scanners[%d]", i)
			v.errf(who, "name missing")
		} else if names[who] {
			v.errf(who, "name used twice")
		}
		names[who] = true
		if !strings.HasPrefix(s.Device, "/dev/input/") {
			v.errf(who, "device %q: want a /dev/input/ event device", s.Device)
		}
		switch s.Terminator {
		case "", "enter", "tab", "none":
		default:
			v.errf(who, "terminator %q: want enter, tab or none", s.Terminator)
		}
	}
	return errors.Join(v.errs...)
}

type validator struct {
	f     *File
	used  map[string]string // pin → device using it
	buses map[string]bool
	errs  []error
}

func (v *validator) errf(who, format string, a ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", who, fmt.Sprintf(format, a...)))
}

// bus reserves the header pins of a Raspberry Pi bus (shared buses are fine).
func (v *validator) bus(who, name string) {
	if v.buses == nil {
		v.buses = map[string]bool{}
	}
	if v.buses[name] {
		return
	}
	v.buses[name] = true
	if _, pi := headerGPIOs[v.f.Model]; !pi {
		return
	}
	for _, p := range piBusPins[name] {
		if prev, ok := v.used[p]; ok && !strings.HasPrefix(prev, "bus ") {
			v.errf(prev, "%s is a pin of bus %s (used by %s)", p, name, who)
		}
		v.used[p] = "bus " + name
	}
}

// pin checks a GPIO name; required pins must be given.
func (v *validator) pin(who, name string, required bool) {
	if name == "" {
		if required {
			v.errf(who, "pin missing")
		}
		return
	}
	if max, pi := headerGPIOs[v.f.Model]; pi {
		n, err := strconv.Atoi(strings.TrimPrefix(name, "GPIO"))
		if !strings.HasPrefix(name, "GPIO") || err != nil {
			v.errf(who, "%q is not a GPIO name (GPIO0 to GPIO%d)", name, max)
			return
		}
		if n < 0 || n > max {
			v.errf(who, "%s does not exist on %s (GPIO0 to GPIO%d)", name, v.f.Model, max)
			return
		}
	}
	if prev, ok := v.used[name]; ok {
		v.errf(who, "%s already used by %s", name, prev)
		return
	}
	v.used[name] = who
}
