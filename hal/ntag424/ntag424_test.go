package ntag424

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"admit/clock"
	"admit/hal/ntag424/ev2"
	"admit/hal/pn532"
	"admit/hal/pn532/pn532sim"
	"admit/ticket/sun"
)

var ctx = context.Background()

var uid = []byte{0x04, 0x5A, 0x11, 0x22, 0x33, 0x44, 0x80}

// reader lists the tag through an emulated PN532 on I²C, as a gate or
// admitctl does.
func reader(t *testing.T, card pn532sim.Target) (*pn532sim.Chip, *pn532.Dev, *Tag) {
	t.Helper()
	clk := clock.NewAuto(time.Unix(0, 0))
	chip := pn532sim.New(pn532sim.WithClock(clk))
	chip.Place(card)
	dev, err := pn532.NewI2C(chip.I2C(), &pn532.Opts{Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Init(ctx); err != nil {
		t.Fatal(err)
	}
	if err := dev.SetMaxRetries(ctx, 0xFF, 0x01, 0x01); err != nil {
		t.Fatal(err)
	}
	tg, err := dev.InListPassiveTarget(ctx)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := New(dev, tg.Tg, tg.UID)
	if err != nil {
		t.Fatal(err)
	}
	return chip, dev, tag
}

func programming(t testing.TB, master sun.Key) Programming {
	t.Helper()
	url, l, err := sun.Template("https://tickets.example.org/n", "T-0042")
	if err != nil {
		t.Fatal(err)
	}
	keys, err := sun.TagKeys(master, sun.UID(uid))
	if err != nil {
		t.Fatal(err)
	}
	p := Programming{URL: url, Layout: Layout(l), MetaReadKey: sun.KeyMetaRead, FileReadKey: sun.KeyFileRead, KeyVersion: 1}
	for i, k := range keys {
		p.Keys[i] = ev2.Key(k)
	}
	return p
}

func TestProgramAndRead(t *testing.T) {
	card := pn532sim.NewNTAG424(uid)
	_, _, tag := reader(t, card)
	master := sun.Key{1, 2, 3}
	p := programming(t, master)
	if err := tag.Program(ctx, p); err != nil {
		t.Fatal(err)
	}
	for n := range NumKeys {
		if card.Key(n) != p.Keys[n] {
			t.Fatalf("key %d not set", n)
		}
	}
	keys, _ := sun.NewMasterKeys(master)
	var last uint32
	for i := 0; i < 3; i++ {
		url, err := tag.ReadURI(ctx)
		if err != nil {
			t.Fatal(err)
		}
		bound := sun.UID(uid)
		tap, err := sun.Verify(keys, url, &bound)
		if err != nil {
			t.Fatalf("read %d: %v\n%s", i, err, url)
		}
		if tap.Ticket != "T-0042" || tap.Counter != last+1 {
			t.Fatalf("tap %+v after counter %d", tap, last)
		}
		last = tap.Counter
	}
	// Only the new key 0 opens the tag now.
	if _, err := tag.Authenticate(ctx, 0, ev2.Key{}); !errors.Is(err, ev2.ErrAuth) {
		t.Fatalf("factory key still works: %v", err)
	}
	// Programming it again with the factory keys as "old" fails at once.
	if err := tag.Program(ctx, p); !errors.Is(err, ev2.ErrAuth) {
		t.Fatalf("reprogram with wrong old keys: %v", err)
	}
	p.OldKeys = p.Keys
	if err := tag.Program(ctx, p); err != nil {
		t.Fatalf("reprogram with the right old keys: %v", err)
	}
}

func TestProgramFailsWhenTheCardLeaves(t *testing.T) {
	chip, _, tag := reader(t, pn532sim.NewNTAG424(uid))
	chip.RemoveAfter(3) // select, authenticate (two exchanges), then gone
	err := tag.Program(ctx, programming(t, sun.Key{9}))
	if !errors.Is(err, pn532.ErrTargetGone) {
		t.Fatalf("card removed mid-programming: %v", err)
	}
}

func TestURIRecord(t *testing.T) {
	for _, uri := range []string{"https://a.example/x", "http://a.example/x", "https://www.a.example/", "urn:x:y"} {
		rec, shift, err := URIRecord(uri)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseURIRecord(rec)
		if err != nil || got != uri {
			t.Fatalf("%q: %q %v", uri, got, err)
		}
		if rec[len(uri)-1+shift] != uri[len(uri)-1] {
			t.Fatalf("%q: shift %d", uri, shift)
		}
	}
	if _, err := ParseURIRecord([]byte{0xD1, 0x01, 0x05, 'T', 0x02}); !errors.Is(err, ErrNotURI) {
		t.Fatal("a Text record parsed as a URI")
	}
	if _, _, err := URIRecord("https://" + string(bytes.Repeat([]byte("a"), 300))); err == nil {
		t.Fatal("300-byte URI accepted")
	}
}
