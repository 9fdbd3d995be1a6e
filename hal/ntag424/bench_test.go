package ntag424

import (
	"testing"
	"time"

	"admit/clock"
	"admit/hal/pn532"
	"admit/hal/pn532/pn532sim"
	"admit/ticket/sun"
)

// BenchmarkSUNReadI2C reads a programmed tag's SUN URL as a gate would
// (InListPassiveTarget with the ATS, ISOSelectFile of the application and
// of the NDEF file, ISOReadBinary of NLEN and of the message, InRelease)
// through the emulator on I²C, and reports the bus traffic with the time
// a 100 kHz bus needs for it (9 clocks a byte, 11 per transfer).
func BenchmarkSUNReadI2C(b *testing.B) {
	clk := clock.NewAuto(time.Unix(0, 0))
	chip := pn532sim.New(pn532sim.WithClock(clk))
	card := pn532sim.NewNTAG424(uid)
	chip.Place(card)
	dev, err := pn532.NewI2C(chip.I2C(), &pn532.Opts{Clock: clk})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if _, err := dev.Init(ctx); err != nil {
		b.Fatal(err)
	}
	if err := dev.SetMaxRetries(ctx, 0xFF, 0x01, 0x01); err != nil {
		b.Fatal(err)
	}
	tg, err := dev.InListPassiveTarget(ctx)
	if err != nil {
		b.Fatal(err)
	}
	tag, _ := New(dev, tg.Tg, tg.UID)
	p := programming(b, sun.Key{7})
	if err := tag.Program(ctx, p); err != nil {
		b.Fatal(err)
	}
	keys, _ := sun.NewMasterKeys(sun.Key{7})
	chip.ResetStats()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		tg, err := dev.InListPassiveTarget(ctx)
		if err != nil {
			b.Fatal(err)
		}
		tag, _ := New(dev, tg.Tg, tg.UID)
		url, err := tag.ReadURI(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := dev.InRelease(ctx, tg.Tg); err != nil {
			b.Fatal(err)
		}
		if _, err := sun.Verify(keys, url, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	s := chip.Stats()
	n := float64(b.N)
	clocks := float64(s.BytesWritten+s.BytesRead)*9 + float64(s.Transfers)*11
	b.ReportMetric(float64(s.Transfers)/n, "transfers/op")
	b.ReportMetric(float64(s.BytesWritten+s.BytesRead)/n, "bus-bytes/op")
	b.ReportMetric(float64(s.Commands)/n, "commands/op")
	b.ReportMetric(clocks/100e3*1000/n, "ms-at-100kHz/op")
}
