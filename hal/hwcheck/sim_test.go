package hwcheck

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"admit/hal/board"
)

// Every board file we ship answers in full on its simulated host: the
// PN532 on I²C (with its IRQ) and on SPI, pins, displays, scanners.
func TestSimEnvAnswersEveryShippedBoard(t *testing.T) {
	for _, file := range []string{"pi4-turnstile", "handheld-spi", "kiosk-lcd"} {
		f, err := board.Load("../../build/boards/" + file + ".json")
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Check(context.Background(), f, &out, SimEnv(f)); err != nil {
			t.Fatalf("%s: %v\n%s", file, err, out.String())
		}
		if !strings.Contains(out.String(), "PN532 v1.6") {
			t.Errorf("%s: no PN532 firmware in\n%s", file, out.String())
		}
	}
}
