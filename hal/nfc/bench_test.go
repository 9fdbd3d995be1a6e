package nfc

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio/gpiotest"

	"admit/clock"
	halgpio "admit/hal/gpio"
	"admit/hal/pn532"
	"admit/hal/pn532/pn532sim"
)

// i2cBusTime estimates the time a 100 kHz I²C bus needs for the traffic in
// s: every byte is 9 clocks (8 bits and ACK); every transfer adds the
// address byte (9 clocks) and START/STOP (about 2 clocks).
func i2cBusTime(s pn532sim.Stats, hz float64) time.Duration {
	clocks := float64(s.BytesWritten+s.BytesRead)*9 + float64(s.Transfers)*11
	return time.Duration(clocks / hz * float64(time.Second))
}

// BenchmarkNTAGTicketReadI2C reads one AD1-sized ticket from an NTAG215
// end to end (InListPassiveTarget, READ of the CC and the NDEF pages,
// InRelease) through the emulator on I²C, and reports the bus traffic with
// the time a 100 kHz bus would need for it.
func BenchmarkNTAGTicketReadI2C(b *testing.B) {
	clk := clock.NewAuto(time.Unix(100, 0))
	chip := pn532sim.New(pn532sim.WithClock(clk))
	chip.Place(pn532sim.NewNTAG(pn532sim.NTAG215, uid7, pn532sim.NDEFTLV(pn532sim.TextRecord("en", ticketText))))
	r := NewReader(newDev(b, chip, "i2c", clk), &Opts{Clock: clk, Logger: quiet})
	chip.ResetStats()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.last = nil // present the card anew
		c, err := r.ReadOnce(ctx)
		if err != nil || len(c.Payload) != len(ticketText) {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	s := chip.Stats()
	n := float64(b.N)
	b.ReportMetric(float64(s.Transfers)/n, "transfers/op")
	b.ReportMetric(float64(s.BytesWritten+s.BytesRead)/n, "bus-bytes/op")
	b.ReportMetric(float64(s.Commands)/n, "commands/op")
	b.ReportMetric(float64(i2cBusTime(s, 100e3).Microseconds())/n/1000, "ms-at-100kHz/op")
}

// BenchmarkTapToRelay measures, on the wall clock, the software's share of
// tap → relay for an NTAG215 ticket: from the card entering the emulated
// field while the Reader waits (the chip waiting for a card, MaxRetries
// 0xFF) to the Reader's credential (tap-to-credential) and to the relay
// pin driven by halgpio.Relay (tap-to-relay). The emulator answers at once,
// so the figures are the driver's and the Reader's time, their status
// polling included (the card arrives at a random moment of it) (every WaitPollInterval without an IRQ line, on the
// line's edge with one); RF and bus time come on top on a board (see
// docs/performance.md). The gate's decision (verify, lookup, journal) is
// measured apart, by agent's BenchmarkDecisionPath.
func BenchmarkTapToRelay(b *testing.B) {
	for _, bus := range []string{"i2c", "i2c-irq", "spi"} {
		b.Run(bus, func(b *testing.B) {
			chip := pn532sim.New() // the wall clock
			o := pn532.Opts{}
			if bus == "i2c-irq" {
				o.IRQ = chip.IRQ()
			}
			var d *pn532.Dev
			var err error
			if bus == "spi" {
				d, err = pn532.NewSPI(chip.SPI(), &o)
			} else {
				d, err = pn532.NewI2C(chip.I2C(), &o)
			}
			if err != nil {
				b.Fatal(err)
			}
			pin := &gpiotest.Pin{N: "RELAY"}
			relay, err := halgpio.NewRelay(pin, halgpio.RelayOpts{ActiveLow: true})
			if err != nil {
				b.Fatal(err)
			}
			defer relay.Halt()
			r := NewReader(d, &Opts{Logger: quiet, PollInterval: time.Millisecond})
			card := pn532sim.NewNTAG(pn532sim.NTAG215, uid7, pn532sim.NDEFTLV(pn532sim.TextRecord("en", ticketText)))
			var toCred, toRelay []time.Duration
			type res struct {
				at  time.Time // credential
				rel time.Time // relay driven
				err error
			}
			done := make(chan res, 1)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				go func() {
					c, err := r.Read(ctx)
					got := time.Now()
					if err == nil && len(c.Payload) != len(ticketText) {
						err = fmt.Errorf("payload %q", c.Payload)
					}
					if err == nil {
						err = relay.Pulse(ctx, time.Millisecond)
					}
					done <- res{got, time.Now(), err}
				}()
				// The reader waits for a card with the field empty (not a
				// bounded presence check of the card just removed).
				for !chip.Waiting() || chip.MaxRetries()[2] != 0xFF {
					runtime.Gosched()
				}
				// A card arrives at a random moment of the status polling.
				time.Sleep(time.Duration(rand.Int64N(int64(pn532.DefaultOpts.WaitPollInterval))))
				tap := time.Now()
				chip.Place(card)
				got := <-done
				if got.err != nil {
					b.Fatal(got.err)
				}
				toCred = append(toCred, got.at.Sub(tap))
				toRelay = append(toRelay, got.rel.Sub(tap))
				chip.Remove()
			}
			b.StopTimer()
			reportPercentiles(b, "tap-to-credential-", toCred)
			reportPercentiles(b, "tap-to-relay-", toRelay)
		})
	}
}

// reportPercentiles reports p50 and p99 of ds in milliseconds.
func reportPercentiles(b *testing.B, prefix string, ds []time.Duration) {
	slices.Sort(ds)
	at := func(q float64) float64 {
		return float64(ds[int(q*float64(len(ds)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.5), prefix+"p50-ms")
	b.ReportMetric(at(0.99), prefix+"p99-ms")
}
