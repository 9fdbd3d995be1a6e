package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"periph.io/x/conn/v3/i2c"

	"admit/clock"
	"admit/hal/hwcheck"
	"admit/hal/pn532/pn532sim"
	"admit/ticket/sun"
)

type i2cCloser struct{ *pn532sim.I2CBus }

func (i2cCloser) Close() error { return nil }

// emulated is a reader on I²C bus "1" with the emulated PN532.
func emulated(chip *pn532sim.Chip) *hwcheck.Env {
	return &hwcheck.Env{
		OpenI2C: func(name string) (i2c.BusCloser, error) {
			if name != "1" {
				return nil, errors.New("no such bus")
			}
			return i2cCloser{chip.I2C()}, nil
		},
		Clock: clock.Real{},
	}
}

func nfc(t *testing.T, env *hwcheck.Env, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := nfcCmd(context.Background(), args, &out, &errOut, env)
	return out.String(), err
}

// A tag programmed by admitctl through the emulated PN532 reads back and
// verifies; a copy of a read is refused by the counter rule; a tag made
// with another event's key is refused as forged; a tag can be programmed
// again with its old key.
func TestNFCProgramReadVerify(t *testing.T) {
	dir := t.TempDir()
	keyA, keyB := filepath.Join(dir, "a.key"), filepath.Join(dir, "b.key")
	for _, k := range []string{keyA, keyB} {
		if _, err := nfc(t, nil, "keygen", "-out", k); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := nfc(t, nil, "keygen", "-out", keyA); err == nil {
		t.Fatal("keygen overwrote a key file")
	}
	if fi, _ := os.Stat(keyA); fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode())
	}

	chip := pn532sim.New()
	env := emulated(chip)
	tag := pn532sim.NewNTAG424([]byte{0x04, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60})
	chip.Place(tag)
	out, err := nfc(t, env, "program", "-i2c", "1", "-key", keyA, "-ticket", "T-7", "-url", "https://tickets.example.org/n")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "programmed tag 04102030405060 for ticket T-7") {
		t.Fatalf("output %q", out)
	}

	// Two taps read back and verify, the counter moving on.
	master, err := readKey(keyA)
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := sun.NewMasterKeys(master)
	seen := sun.Counters{}
	var urls []string
	for i := 1; i <= 2; i++ {
		out, err := nfc(t, env, "read", "-i2c", "1", "-key", keyA)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if !strings.Contains(out, "ticket T-7 tag 04102030405060 read counter "+string(rune('0'+i))+": authentic") {
			t.Fatalf("read %d: %q", i, out)
		}
		url := strings.SplitN(out, "\n", 2)[0]
		tap, err := sun.Verify(keys, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := seen.Accept(tap); err != nil {
			t.Fatalf("fresh tap %d refused: %v", i, err)
		}
		urls = append(urls, url)
	}
	// The clone: the first read's bytes replayed.
	tap, err := sun.Verify(keys, urls[0], nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := seen.Accept(tap); !errors.Is(err, sun.ErrReplay) {
		t.Fatalf("replayed read: %v", err)
	}

	// A tag programmed with another event's master key: forged for A.
	chip.Remove()
	other := pn532sim.NewNTAG424([]byte{0x04, 0x99, 0x20, 0x30, 0x40, 0x50, 0x61})
	chip.Place(other)
	if _, err := nfc(t, env, "program", "-i2c", "1", "-key", keyB, "-ticket", "T-8", "-url", "https://tickets.example.org/n"); err != nil {
		t.Fatal(err)
	}
	if _, err := nfc(t, env, "read", "-i2c", "1", "-key", keyA); !errors.Is(err, sun.ErrForged) {
		t.Fatalf("tag of another key: %v", err)
	}
	// Reprogrammed into event A with its old key B.
	if _, err := nfc(t, env, "program", "-i2c", "1", "-key", keyA, "-old-key", keyB, "-ticket", "T-8", "-url", "https://tickets.example.org/n"); err != nil {
		t.Fatal(err)
	}
	if _, err := nfc(t, env, "read", "-i2c", "1", "-key", keyA); err != nil {
		t.Fatal(err)
	}
}

func TestNFCUsage(t *testing.T) {
	if _, err := nfc(t, nil, "program", "-i2c", "1"); err == nil {
		t.Fatal("program without key, ticket and url")
	}
	if _, err := nfc(t, nil, "read", "-i2c", "1", "-spi", "SPI0.0", "-key", "x"); err == nil {
		t.Fatal("two readers accepted")
	}
	if _, err := nfc(t, nil, "frob"); err == nil {
		t.Fatal("unknown command")
	}
}
