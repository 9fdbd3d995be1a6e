package pn532sim

import (
	"bytes"
	"testing"

	"periph.io/x/conn/v3/physic"
	"periph.io/x/conn/v3/spi"
)

var getFirmware = []byte{0x00, 0x00, 0xFF, 0x02, 0xFE, 0xD4, 0x02, 0x2A, 0x00}

func TestI2CRawGetFirmwareVersion(t *testing.T) {
	c := New()
	bus := c.I2C()
	if err := bus.Tx(0x25, getFirmware, nil); err == nil {
		t.Fatal("wrong address answered")
	}
	if err := bus.Tx(Addr, getFirmware, nil); err != nil {
		t.Fatal(err)
	}
	r := make([]byte, 7)
	if err := bus.Tx(Addr, nil, r); err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{0x01}, ack...); !bytes.Equal(r, want) {
		t.Fatalf("ack read % X, want % X", r, want)
	}
	r = make([]byte, 16)
	if err := bus.Tx(Addr, nil, r); err != nil {
		t.Fatal(err)
	}
	want := []byte{0x01, 0x00, 0x00, 0xFF, 0x06, 0xFA, 0xD5, 0x03, 0x32, 0x01, 0x06, 0x07, 0xE8, 0x00, 0x00, 0x00}
	if !bytes.Equal(r, want) {
		t.Fatalf("response % X\nwant     % X", r, want)
	}
	// Nothing pending: the ready byte is 0.
	r = make([]byte, 1)
	_ = bus.Tx(Addr, nil, r)
	if r[0] != 0 {
		t.Fatalf("idle status %#x", r[0])
	}
}

func TestSPIRawBitReversed(t *testing.T) {
	for _, lsb := range []bool{true, false} {
		c := New()
		mode := spi.Mode0
		if lsb {
			mode |= spi.LSBFirst
		}
		conn, err := c.SPI().Connect(physic.MegaHertz, mode, 8)
		if err != nil {
			t.Fatal(err)
		}
		enc := func(b []byte) []byte {
			if lsb {
				return b
			}
			return reverseAll(b)
		}
		if err := conn.Tx(enc(append([]byte{0x01}, getFirmware...)), nil); err != nil {
			t.Fatal(err)
		}
		st := make([]byte, 2)
		if err := conn.Tx(enc([]byte{0x02, 0x00}), st); err != nil {
			t.Fatal(err)
		}
		if enc(st)[1] != 0x01 {
			t.Fatalf("lsb=%v status % X", lsb, st)
		}
		r := make([]byte, 7)
		if err := conn.Tx(enc([]byte{0x03, 0, 0, 0, 0, 0, 0}), r); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc(r)[1:], ack) {
			t.Fatalf("lsb=%v ack % X", lsb, enc(r))
		}
	}
	if _, err := New().SPI().Connect(physic.MegaHertz, spi.Mode1, 8); err == nil {
		t.Fatal("mode 1 accepted")
	}
}

func TestNDEFTLVLengths(t *testing.T) {
	if got := NDEFTLV(make([]byte, 10))[:2]; !bytes.Equal(got, []byte{0x03, 10}) {
		t.Fatalf("short TLV % X", got)
	}
	if got := NDEFTLV(make([]byte, 300))[:4]; !bytes.Equal(got, []byte{0x03, 0xFF, 0x01, 0x2C}) {
		t.Fatalf("long TLV % X", got)
	}
}
