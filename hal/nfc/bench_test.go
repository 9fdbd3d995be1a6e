package nfc

import (
	"testing"
	"time"

	"admit/clock"
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
	chip := pn532sim.New()
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
