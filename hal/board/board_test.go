package board

import (
	"strings"
	"testing"
	"time"
)

func TestExampleBoards(t *testing.T) {
	f, err := Load("../../build/boards/pi4-turnstile.json")
	if err != nil {
		t.Fatal(err)
	}
	if f.NFC[0].Addr != 0x24 || f.NFC[0].Bus != "i2c" || time.Duration(f.Relay.Pulse) != 800*time.Millisecond || !f.Passage.ActiveLow {
		t.Fatalf("turnstile: %+v", f)
	}
	h, err := Load("../../build/boards/handheld-spi.json")
	if err != nil {
		t.Fatal(err)
	}
	if h.NFC[0].Bus != "spi" || !h.NFC[0].SoftLSBFirst || h.Relay != nil {
		t.Fatalf("handheld: %+v", h)
	}
	k, err := Load("../../build/boards/kiosk-lcd.json")
	if err != nil {
		t.Fatal(err)
	}
	if c, r := k.Display.Size(); k.Display.Chip != "hd44780" || c != 20 || r != 4 {
		t.Fatalf("kiosk display: %+v", k.Display)
	}
}

func TestValidationErrors(t *testing.T) {
	for _, tc := range []struct {
		name, json string
		want       []string
	}{
		{"missing GPIO", `{"model":"rpi4","relay":{"pin":"GPIO99"}}`, []string{"relay: GPIO99 does not exist on rpi4"}},
		{"pin twice", `{"model":"rpi4","relay":{"pin":"GPIO17"},"buzzer":{"pin":"GPIO17"}}`, []string{"buzzer: GPIO17 already used by relay"}},
		{"bus pin", `{"model":"rpi4","nfc":[{"name":"nfc0","chip":"pn532","bus":"i2c","i2c":"1"}],"buzzer":{"pin":"GPIO2"}}`,
			[]string{"buzzer: GPIO2 already used by bus i2c1"}},
		{"several at once", `{"model":"rpi4","nfc":[{"name":"nfc0","chip":"pn531","bus":"uart"}],"relay":{"pin":"17","pulse":"1m"}}`,
			[]string{`nfc0: chip "pn531": want pn532 or mfrc522`, `nfc0: bus "uart": want i2c or spi`, `relay: "17" is not a GPIO name`, "relay: pulse 1m0s"}},
		{"mfrc522 on i2c", `{"model":"generic","nfc":[{"name":"n","chip":"mfrc522","bus":"i2c","i2c":"1"}]}`, []string{"n: the mfrc522 driver works on spi only"}},
		{"unknown field", `{"model":"rpi4","relais":{"pin":"GPIO17"}}`, []string{`unknown field "relais"`}},
		{"syntax", "{\"model\":\"rpi4\",\n\"relay\":{\"pin\":}}", []string{"line 2:"}},
		{"bad duration", `{"model":"rpi4","relay":{"pin":"GPIO17","pulse":800}}`, []string{`duration must be a string like "800ms"`}},
		{"model", `{}`, []string{"board: model missing"}},
		{"hd44780 size", `{"model":"generic","display":{"chip":"hd44780","i2c":"1","addr":"0x27","cols":40,"rows":4}}`, []string{"hd44780 of 40×4 characters"}},
		{"ssd1306 size", `{"model":"generic","display":{"chip":"ssd1306","i2c":"1","addr":"0x3c","cols":16}}`, []string{"cols and rows are for an hd44780"}},
		{"scanner", `{"model":"generic","scanners":[{"name":"s","device":"/tmp/x","terminator":"cr"}]}`,
			[]string{`s: device "/tmp/x"`, `s: terminator "cr"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json))
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
	// Generic boards take any GPIO name; the hardware check finds out.
	if _, err := Parse([]byte(`{"model":"generic","relay":{"pin":"GPIO140"}}`)); err != nil {
		t.Fatal(err)
	}
}
