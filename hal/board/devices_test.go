package board

import (
	"slices"
	"testing"
)

func TestDevicesOfShippedBoards(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []DeviceNode
	}{
		{"pi4-turnstile", []DeviceNode{{"/dev/gpiomem", "rw"}, {"/dev/i2c-1", "rw"}, {"/dev/input/by-id/usb-barcode-scanner-event-kbd", "r"}}},
		{"handheld-spi", []DeviceNode{{"/dev/gpiomem", "rw"}, {"/dev/i2c-1", "rw"}, {"/dev/spidev0.0", "rw"}}},
		{"kiosk-lcd", []DeviceNode{{"/dev/gpiomem", "rw"}, {"/dev/i2c-1", "rw"}}},
	} {
		f, err := Load("../../build/boards/" + tc.file + ".json")
		if err != nil {
			t.Fatal(err)
		}
		d := f.Devices()
		if !slices.Equal(d.Nodes, tc.want) || !d.GPIOChips {
			t.Errorf("%s: %+v, want %+v and the GPIO chips", tc.file, d, tc.want)
		}
	}
	// A reader alone on SPI, no pins: no GPIO access.
	f, err := Parse([]byte(`{"name": "x", "model": "generic", "nfc": [{"name": "nfc0", "chip": "pn532", "bus": "spi", "spi": "SPI0.1"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if d := f.Devices(); !slices.Equal(d.Nodes, []DeviceNode{{"/dev/spidev0.1", "rw"}}) || d.GPIOChips {
		t.Errorf("spi only: %+v", d)
	}
}
