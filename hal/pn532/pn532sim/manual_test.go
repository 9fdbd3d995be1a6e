package pn532sim

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"admit/clock"
)

func hx(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawBus moves raw bytes to and from the chip, as a host would on I²C or
// SPI, and answers whether the chip said it was ready.
type rawBus interface {
	write(t *testing.T, frame []byte)
	// read reads n bytes of frame if the chip is ready.
	read(t *testing.T, n int) ([]byte, bool)
}

type rawI2C struct{ b *I2CBus }

func (r rawI2C) write(t *testing.T, f []byte) {
	t.Helper()
	if err := r.b.Tx(Addr, f, nil); err != nil {
		t.Fatal(err)
	}
}

func (r rawI2C) read(t *testing.T, n int) ([]byte, bool) {
	t.Helper()
	p := make([]byte, 1+n)
	if err := r.b.Tx(Addr, nil, p); err != nil {
		t.Fatal(err)
	}
	return p[1:], p[0] == 0x01
}

type rawSPI struct{ c spi.Conn }

func (r rawSPI) write(t *testing.T, f []byte) {
	t.Helper()
	if err := r.c.Tx(append([]byte{0x01}, f...), nil); err != nil {
		t.Fatal(err)
	}
}

func (r rawSPI) read(t *testing.T, n int) ([]byte, bool) {
	t.Helper()
	st := make([]byte, 2)
	if err := r.c.Tx([]byte{0x02, 0x00}, st); err != nil {
		t.Fatal(err)
	}
	if st[1] != 0x01 {
		return nil, false
	}
	p := make([]byte, 1+n)
	w := make([]byte, 1+n)
	w[0] = 0x03
	if err := r.c.Tx(w, p); err != nil {
		t.Fatal(err)
	}
	return p[1:], true
}

func rawBuses(t *testing.T, c *Chip) map[string]rawBus {
	conn, err := c.SPI().Connect(physic.MegaHertz, spi.Mode0|spi.LSBFirst, 8)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]rawBus{"i2c": rawI2C{c.I2C()}, "spi": rawSPI{conn}}
}

var (
	ntagUID    = []byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
	classicUID = []byte{0x92, 0x2E, 0x58, 0x32}
)

// The command and answer frames of UM0701-02's command descriptions (§7),
// byte for byte on the wire, with the frame layout of §6.2.1 (preamble,
// start code, LEN, LCS, TFI, data, DCS, postamble). Cards in the field and
// earlier commands set the context each example assumes. The communication
// test's payload is libnfc's ("libnfc", pn53x_check_communication); the
// MIFARE Classic UID 92 2E 58 32 is the one of the manual's
// InListPassiveTarget example as we remember it (the manual's own text was
// not reachable from here: the search tool returned its title pages only).
func TestManualFrames(t *testing.T) {
	read16zero := "00 00 FF 13 ED D5 41 00" + strings.Repeat(" 00", 16) + " EA 00"
	thru16zero := "00 00 FF 13 ED D5 43 00" + strings.Repeat(" 00", 16) + " E8 00"
	ntag := func(c *Chip) { c.Place(NewNTAG(NTAG213, ntagUID, nil)) }
	classic := func(c *Chip) { c.Place(&Classic{ID: classicUID}) }
	list := "00 00 FF 04 FC D4 4A 01 00 E1 00"
	for _, tc := range []struct {
		name    string
		setup   func(c *Chip)
		before  []string // frames sent (and answered) first
		cmd     string
		resp    string        // "" : no answer frame (the chip did not take the command)
		advance time.Duration // virtual time the answer needs
	}{
		{"GetFirmwareVersion §7.2.2", nil, nil, "00 00 FF 02 FE D4 02 2A 00", "00 00 FF 06 FA D5 03 32 01 06 07 E8 00", 0},
		{"SAMConfiguration normal §7.2.10", nil, nil, "00 00 FF 03 FD D4 14 01 17 00", "00 00 FF 02 FE D5 15 16 00", 0},
		{"SAMConfiguration 1 s, no IRQ §7.2.10", nil, nil, "00 00 FF 05 FB D4 14 01 14 00 03 00", "00 00 FF 02 FE D5 15 16 00", 0},
		{"Diagnose communication test §7.2.1", nil, nil, "00 00 FF 09 F7 D4 00 00 6C 69 62 6E 66 63 BE 00", "00 00 FF 09 F7 D5 01 00 6C 69 62 6E 66 63 BC 00", 0},
		{"Diagnose ROM test §7.2.1", nil, nil, "00 00 FF 03 FD D4 00 01 2B 00", "00 00 FF 03 FD D5 01 00 2A 00", 0},
		{"Diagnose card presence §7.2.1", ntag, []string{list}, "00 00 FF 03 FD D4 00 06 26 00", "00 00 FF 03 FD D5 01 00 2A 00", 0},
		{"Diagnose card presence, card gone §7.2.1", ntag, []string{list, "remove"}, "00 00 FF 03 FD D4 00 06 26 00", "00 00 FF 03 FD D5 01 01 29 00", 52 * time.Millisecond},
		{"GetGeneralStatus, no target §7.2.3", nil, nil, "00 00 FF 02 FE D4 04 28 00", "00 00 FF 06 FA D5 05 00 00 00 00 26 00", 0},
		{"GetGeneralStatus, one target §7.2.3", ntag, []string{list}, "00 00 FF 02 FE D4 04 28 00", "00 00 FF 0A F6 D5 05 00 00 01 01 00 00 00 00 24 00", 0},
		{"RFConfiguration MaxRetries §7.3.1", nil, nil, "00 00 FF 06 FA D4 32 05 FF 01 02 F3 00", "00 00 FF 02 FE D5 33 F8 00", 0},
		{"RFConfiguration various timings §7.3.1", nil, nil, "00 00 FF 06 FA D4 32 02 00 0B 0A E3 00", "00 00 FF 02 FE D5 33 F8 00", 0},
		{"InListPassiveTarget MIFARE Classic §7.3.5", classic, nil, list, "00 00 FF 0C F4 D5 4B 01 01 00 04 08 04 92 2E 58 32 84 00", 0},
		{"InListPassiveTarget NTAG §7.3.5", ntag, nil, list, "00 00 FF 0F F1 D5 4B 01 01 00 44 00 07 04 11 22 33 44 55 66 2A 00", 0},
		{"InListPassiveTarget empty field, MaxRetries 02 §7.3.5", nil, []string{"00 00 FF 06 FA D4 32 05 FF 01 02 F3 00"}, list, "00 00 FF 03 FD D5 4B 00 E0 00", 3 * DefaultActivationTime},
		{"InDataExchange READ §7.3.8", ntag, []string{list}, "00 00 FF 05 FB D4 40 01 30 04 B7 00", read16zero, 0},
		{"InDataExchange, card gone: timeout §7.3.8", ntag, []string{list, "remove"}, "00 00 FF 05 FB D4 40 01 30 04 B7 00", "00 00 FF 03 FD D5 41 01 E9 00", 52 * time.Millisecond},
		{"InDataExchange, released: unknown target §7.3.8", ntag, []string{list, "00 00 FF 03 FD D4 52 01 D9 00"}, "00 00 FF 05 FB D4 40 01 30 04 B7 00", "00 00 FF 03 FD D5 41 27 C3 00", 0},
		{"InCommunicateThru READ §7.3.9", ntag, []string{list}, "00 00 FF 04 FC D4 42 30 04 B6 00", thru16zero, 0},
		{"InDeselect §7.3.10", ntag, []string{list}, "00 00 FF 03 FD D4 44 01 E7 00", "00 00 FF 03 FD D5 45 00 E6 00", 0},
		{"InDataExchange, deselected §7.3.10", ntag, []string{list, "00 00 FF 03 FD D4 44 01 E7 00"}, "00 00 FF 05 FB D4 40 01 30 04 B7 00", "00 00 FF 03 FD D5 41 27 C3 00", 0},
		{"InSelect after InDeselect §7.3.12", ntag, []string{list, "00 00 FF 03 FD D4 44 01 E7 00"}, "00 00 FF 03 FD D4 54 01 D7 00", "00 00 FF 03 FD D5 55 00 D6 00", 0},
		{"InRelease §7.3.11", ntag, []string{list}, "00 00 FF 03 FD D4 52 01 D9 00", "00 00 FF 03 FD D5 53 00 D8 00", 0},
		{"InAutoPoll MIFARE §7.3.13", classic, nil, "00 00 FF 05 FB D4 60 01 01 10 BA 00", "00 00 FF 0E F2 D5 61 01 10 09 01 00 04 08 04 92 2E 58 32 55 00", 0},
		{"InAutoPoll, nothing in 1 × 150 ms §7.3.13", nil, nil, "00 00 FF 05 FB D4 60 01 01 10 BA 00", "00 00 FF 03 FD D5 61 00 CA 00", 150 * time.Millisecond},
		{"PowerDown §7.2.11", nil, nil, "00 00 FF 03 FD D4 16 F0 26 00", "00 00 FF 03 FD D5 17 00 14 00", 0},
		{"unknown command: error frame §6.2.1.5", nil, nil, "00 00 FF 02 FE D4 FE 2E 00", "00 00 FF 01 FF 7F 81 00", 0},
		{"no preamble: not a frame §6.2.1.1", nil, nil, "00 FF 02 FE D4 02 2A 00", "", 0},
		{"two leading zeros: not a frame §6.2.1.1", nil, nil, "00 00 00 FF 02 FE D4 02 2A 00", "", 0},
		{"no postamble: NACKed §6.2.1.1, §6.2.1.4", nil, nil, "00 00 FF 02 FE D4 02 2A", "NACK", 0},
		{"wrong DCS: NACKed §6.2.1.4", nil, nil, "00 00 FF 02 FE D4 02 2B 00", "NACK", 0},
	} {
		for _, bus := range []string{"i2c", "spi"} {
			t.Run(bus+"/"+tc.name, func(t *testing.T) {
				clk := clock.NewFake(time.Unix(0, 0))
				c := New(WithClock(clk))
				if tc.setup != nil {
					tc.setup(c)
				}
				b := rawBuses(t, c)[bus]
				exchange := func(cmd, resp string, advance time.Duration) {
					t.Helper()
					b.write(t, hx(t, cmd))
					got, ready := b.read(t, len(ack))
					if resp == "NACK" {
						if !ready || !bytes.Equal(got, nack) {
							t.Fatalf("want a NACK, ready %v % X", ready, got)
						}
						return
					}
					if resp == "" {
						if ready {
							t.Fatalf("the chip took % X: % X", hx(t, cmd), got)
						}
						return
					}
					if !ready || !bytes.Equal(got, ack) {
						t.Fatalf("ACK: ready %v % X", ready, got)
					}
					want := hx(t, resp)
					if advance > 0 {
						if _, ready := b.read(t, len(want)); ready {
							t.Fatal("answered before its time")
						}
						clk.Advance(advance)
					}
					got, ready = b.read(t, len(want))
					if !ready || !bytes.Equal(got, want) {
						t.Fatalf("answer (ready %v)\n got % X\nwant % X", ready, got, want)
					}
				}
				for _, f := range tc.before {
					if f == "remove" {
						c.Remove()
						continue
					}
					b.write(t, hx(t, f))
					if _, ok := b.read(t, len(ack)); !ok {
						t.Fatal("no ACK for a setup frame")
					}
					for i := 0; i < 100; i++ {
						if _, ok := b.read(t, 64); ok {
							break
						}
						clk.Advance(10 * time.Millisecond)
					}
				}
				exchange(tc.cmd, tc.resp, tc.advance)
			})
		}
	}
}

// SAMConfiguration's IRQ parameter 0x00 leaves P70_IRQ high even with a
// frame ready (UM0701-02 §7.2.10); the status byte still says ready.
func TestSAMConfigurationIRQOff(t *testing.T) {
	c := New()
	irq := c.IRQ()
	b := rawI2C{c.I2C()}
	b.write(t, hx(t, "00 00 FF 02 FE D4 02 2A 00"))
	if irq.Read() != gpio.Low {
		t.Fatal("IRQ high with the ACK ready (default: IRQ used)")
	}
	b.read(t, 6)
	b.read(t, 13)
	b.write(t, hx(t, "00 00 FF 05 FB D4 14 01 14 00 03 00"))
	b.read(t, 6)
	b.read(t, 9)
	b.write(t, hx(t, "00 00 FF 02 FE D4 02 2A 00"))
	if irq.Read() != gpio.High {
		t.Fatal("IRQ low after SAMConfiguration turned it off")
	}
	if irq.WaitForEdge(0) {
		t.Fatal("an edge on a line the chip does not drive")
	}
	if _, ready := b.read(t, 6); !ready {
		t.Fatal("status byte not ready")
	}
}

// After PowerDown the chip sleeps: a transfer on an interface allowed to
// wake it wakes it and is lost; one on another interface is ignored
// (UM0701-02 §7.2.11).
func TestPowerDown(t *testing.T) {
	c := New()
	bus := c.I2C()
	b := rawI2C{bus}
	b.write(t, hx(t, "00 00 FF 03 FD D4 16 20 F6 00")) // wake on SPI only
	b.read(t, 6)
	if c.Asleep() {
		t.Fatal("asleep before its answer was read")
	}
	b.read(t, 10)
	if !c.Asleep() {
		t.Fatal("awake after PowerDown")
	}
	if err := bus.Tx(Addr, hx(t, "00 00 FF 02 FE D4 02 2A 00"), nil); err == nil {
		t.Fatal("asleep chip acknowledged its address")
	}
	if !c.Asleep() {
		t.Fatal("woken by I²C, which WakeUpEnable 20 does not allow")
	}
	conn, _ := c.SPI().Connect(physic.MegaHertz, spi.Mode0|spi.LSBFirst, 8)
	_ = conn.Tx([]byte{0x00}, nil) // chip select: wakes, lost
	if c.Asleep() {
		t.Fatal("SPI did not wake it")
	}
	b.write(t, hx(t, "00 00 FF 02 FE D4 02 2A 00"))
	if got, ok := b.read(t, 6); !ok || !bytes.Equal(got, ack) {
		t.Fatalf("after wake-up: % X", got)
	}
}
