package hwcheck

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

// On a machine without the board's hardware, Run still prints the table
// and says what is missing.
func TestRunOnThisHost(t *testing.T) {
	var out bytes.Buffer
	err := Run(context.Background(), "../../build/boards/pi4-turnstile.json", &out)
	if !errors.Is(err, ErrFailed) {
		t.Fatalf("err %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "DEVICE") || !strings.Contains(out.String(), "pi4-turnstile:") {
		t.Fatalf("no table:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}
