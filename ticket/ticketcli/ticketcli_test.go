package ticketcli

import (
	"bytes"
	"context"
	"errors"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"

	"admit/ticket"
)

var epoch = time.Date(2025, 7, 4, 18, 0, 0, 0, time.UTC)

type harness struct {
	t   *testing.T
	dir string
	now time.Time
}

func (h *harness) run(stdin string, args ...string) (string, error) {
	h.t.Helper()
	var out, errOut bytes.Buffer
	c := cli{now: func() time.Time { return h.now }, stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut}
	err := c.run(context.Background(), args)
	return out.String() + errOut.String(), err
}

func (h *harness) must(args ...string) string {
	h.t.Helper()
	out, err := h.run("", args...)
	if err != nil {
		h.t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return out
}

func TestTicketLifecycle(t *testing.T) {
	h := &harness{t: t, dir: t.TempDir(), now: epoch}
	keys := filepath.Join(h.dir, "keys")
	h.must("keys", "generate", "-keys", keys, "-event", "fest25", "-id", "k1")
	out := h.must("keys", "list", "-keys", keys)
	if !strings.Contains(out, "fest25") || !strings.Contains(out, "k1") || !strings.Contains(out, "active") {
		t.Fatalf("list:\n%s", out)
	}
	qr := filepath.Join(h.dir, "t.png")
	text := strings.TrimSpace(h.must("ticket", "issue", "-keys", keys, "-event", "fest25", "-id", "Q7XK2M4P",
		"-type", "VIP", "-zones", "vip,main", "-seat", "B12", "-policy", "reentry", "-for", "48h", "-qr", qr))
	if !strings.HasPrefix(text, ticket.Prefix) {
		t.Fatalf("issue printed %q", text)
	}
	if got := readQR(t, qr); got != text {
		t.Fatalf("QR holds %q, want %q", got, text)
	}
	out = h.must("ticket", "show", text)
	for _, want := range []string{"UNVERIFIED", "Q7XK2M4P", "VIP", "vip,main", "B12", "reentry", "QR version"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}
	// Gates get public keys only.
	pub := filepath.Join(h.dir, "pub")
	h.must("keys", "export", "-keys", keys, "-out", pub)
	h.now = epoch.Add(time.Hour)
	out = h.must("ticket", "verify", "-keys", pub, "-event", "fest25", text)
	if !strings.HasPrefix(out, "OK (ad1, assurance high)") {
		t.Fatalf("verify:\n%s", out)
	}
	if out, err := h.run(text+"\n", "ticket", "verify", "-keys", pub, "-revoked", "Q7XK2M4P", "-"); ticket.ReasonOf(err) != ticket.ReasonRevoked ||
		!strings.Contains(out, "REFUSED revoked: ticket has been revoked") {
		t.Fatalf("revoked: %v\n%s", err, out)
	}
	if _, err := h.run("", "ticket", "verify", "-keys", pub, "-event", "expo25", text); ticket.ReasonOf(err) != ticket.ReasonWrongEvent {
		t.Fatalf("wrong event: %v", err)
	}
	// Rotate: new key, old tickets still verify, then retire the old key.
	h.must("keys", "generate", "-keys", keys, "-event", "fest25", "-id", "k2")
	h.must("keys", "retire", "-keys", keys, "-event", "fest25", "-id", "k1", "-at", epoch.Add(2*time.Hour).Format(time.RFC3339))
	text2 := strings.TrimSpace(h.must("ticket", "issue", "-keys", keys, "-event", "fest25", "-id", "NEW1"))
	if c, err := ticket.ParseUnverified(text2); err != nil || c.KeyID != "k2" {
		t.Fatalf("issued with %q (%v), want the active key k2", c.KeyID, err)
	}
	h.must("ticket", "verify", "-keys", keys, text)
	if _, err := h.run("", "ticket", "verify", "-keys", keys, "-at", epoch.Add(3*time.Hour).Format(time.RFC3339), text); ticket.ReasonOf(err) != ticket.ReasonRetiredKey {
		t.Fatalf("retired: %v", err)
	}
	h.must("ticket", "verify", "-keys", keys, "-at", epoch.Add(3*time.Hour).Format(time.RFC3339), text2)
}

func TestRotatingAndLegacy(t *testing.T) {
	h := &harness{t: t, dir: t.TempDir(), now: epoch}
	keys := filepath.Join(h.dir, "keys")
	h.must("keys", "generate", "-keys", keys, "-event", "fest25", "-id", "k1")
	out := h.must("ticket", "issue", "-keys", keys, "-event", "fest25", "-id", "R1", "-rotating")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[1], "code-secret ") {
		t.Fatalf("issue -rotating:\n%s", out)
	}
	secretHex := strings.TrimPrefix(lines[1], "code-secret ")
	secret := mustHex(t, secretHex)
	shown, err := ticket.Rotate(lines[0], secret, epoch)
	if err != nil {
		t.Fatal(err)
	}
	h.must("ticket", "verify", "-keys", keys, "-secret", secretHex, shown)
	h.now = epoch.Add(time.Minute)
	out, err = h.run("", "ticket", "verify", "-keys", keys, "-secret", secretHex, shown)
	if ticket.ReasonOf(err) != ticket.ReasonExpiredCode || !strings.Contains(out, "expired code (screenshot?)") {
		t.Fatalf("old code: %v\n%s", err, out)
	}
	if _, err := h.run("", "ticket", "verify", "-keys", keys, lines[0]); ticket.ReasonOf(err) != ticket.ReasonMissingCode {
		t.Fatalf("static part only: %v", err)
	}
	out = h.must("ticket", "show", "4006381333931")
	if !strings.Contains(out, "legacy") || !strings.Contains(out, "low assurance") {
		t.Fatalf("show legacy:\n%s", out)
	}
	if _, err := h.run("", "ticket", "verify", "-keys", keys, "4006381333931"); ticket.ReasonOf(err) != ticket.ReasonLegacyLookup {
		t.Fatalf("verify legacy: %v", err)
	}
}

func TestUsageErrors(t *testing.T) {
	h := &harness{t: t, dir: t.TempDir(), now: epoch}
	for _, args := range [][]string{
		{},
		{"ticket"},
		{"ticket", "frobnicate"},
		{"ticket", "issue", "-event", "x"},
		{"ticket", "verify", "-keys", h.dir},
		{"keys", "retire", "-keys", h.dir, "-event", "e", "-id", "k", "-at", "yesterday"},
		{"ticket", "issue", "-keys", h.dir, "-event", "e", "-id", "i", "-policy", "twice"},
		{"keys", "generate", "-nope"},
	} {
		if _, err := h.run("", args...); !errors.Is(err, ErrUsage) {
			t.Errorf("%v: got %v, want ErrUsage", args, err)
		}
	}
	if _, err := h.run("", "keys", "generate", "-keys", h.dir, "-event", "../etc", "-id", "k"); err == nil {
		t.Error("generate accepted a path traversal event id")
	}
}

func readQR(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := qrcode.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.GetText()
}
