package hwcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/conn/v3/i2c"
	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"

	"admit/clock"
	"admit/hal/board"
	"admit/hal/pn532/pn532sim"
)

type i2cCloser struct{ *pn532sim.I2CBus }

func (i2cCloser) Close() error { return nil }

func TestCheckTable(t *testing.T) {
	f, err := board.Parse([]byte(`{
	  "name": "test-gate", "model": "generic",
	  "nfc": [
	    {"name": "nfc0", "chip": "pn532", "bus": "i2c", "i2c": "1"},
	    {"name": "nfc1", "chip": "pn532", "bus": "spi", "spi": "SPI0.0", "soft_lsb_first": true},
	    {"name": "nfc2", "chip": "pn532", "bus": "i2c", "i2c": "7"}
	  ],
	  "relay": {"pin": "GPIO17", "active_low": true},
	  "buzzer": {"pin": "GPIO99"},
	  "passage": {"pin": "GPIO23", "active_low": true},
	  "display": {"chip": "ssd1306", "i2c": "1", "addr": "0x3c"}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	i2cChip, spiChip := pn532sim.New(), pn532sim.New()
	pins := map[string]gpio.PinIO{
		"GPIO17": &gpiotest.Pin{N: "GPIO17", Fn: "Out/High", L: gpio.High},
		"GPIO23": &gpiotest.Pin{N: "GPIO23", Fn: "In/High", L: gpio.High},
	}
	env := Env{
		OpenI2C: func(name string) (i2c.BusCloser, error) {
			if name != "1" {
				return nil, fmt.Errorf("i2c bus %q not found", name)
			}
			return i2cCloser{i2cChip.I2C()}, nil
		},
		OpenSPI: func(name string) (spi.PortCloser, error) { return spiPort{spiChip.SPI()}, nil },
		Pin:     func(name string) gpio.PinIO { return pins[name] },
		Stat:    func(string) error { return nil },
		Clock:   clock.NewAuto(time.Unix(0, 0)),
	}
	var out bytes.Buffer
	err = Check(context.Background(), f, &out, env)
	if !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "3 of 7") {
		t.Fatalf("err %v\n%s", err, out.String())
	}
	got := out.String()
	for _, want := range []string{
		"nfc0             i2c 1",
		"ok      PN532 v1.6",
		"nfc1             spi SPI0.0",
		`FAIL    i2c bus "7" not found`,
		"relay            GPIO17",
		"present, Out/High",
		"buzzer           GPIO99",
		"GPIO99 does not exist on this host",
		"reads High",
		"display ssd1306  i2c 1 0x3c",
		"test-gate: 4 of 7 devices answered",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	// The relay pin was not driven by the check.
	if pins["GPIO17"].Read() != gpio.High {
		t.Error("hwcheck drove the relay pin")
	}
}

type spiPort struct{ *pn532sim.SPIPort }

func (spiPort) Close() error                      { return nil }
func (spiPort) LimitSpeed(physic.Frequency) error { return nil }

func TestRunReportsMissingBoardFile(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), "testdata/nonexistent.json", &out); err == nil {
		t.Fatal("missing board file accepted")
	}
}
