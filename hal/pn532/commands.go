package pn532

import (
	"context"
	"fmt"
	"time"
)

// Command codes, UM0701-02 §7.
const (
	cmdDiagnose            = 0x00
	cmdGetFirmwareVersion  = 0x02
	cmdGetGeneralStatus    = 0x04
	cmdSAMConfiguration    = 0x14
	cmdPowerDown           = 0x16
	cmdRFConfiguration     = 0x32
	cmdInDataExchange      = 0x40
	cmdInCommunicateThru   = 0x42
	cmdInDeselect          = 0x44
	cmdInListPassiveTarget = 0x4A
	cmdInRelease           = 0x52
	cmdInSelect            = 0x54
	cmdInAutoPoll          = 0x60
)

// Firmware is the answer to GetFirmwareVersion.
type Firmware struct {
	IC      byte // 0x32 for a PN532
	Ver     byte
	Rev     byte
	Support byte // bit 0 ISO/IEC 14443 A, bit 1 B, bit 2 ISO 18092
}

func (f Firmware) String() string {
	return fmt.Sprintf("PN5%02x v%d.%d", f.IC, f.Ver, f.Rev)
}

// GetFirmwareVersion asks the chip for its IC and firmware version.
func (d *Dev) GetFirmwareVersion(ctx context.Context) (Firmware, error) {
	r, err := d.call(ctx, cmdGetFirmwareVersion, nil, 4)
	if err != nil {
		return Firmware{}, fmt.Errorf("pn532: get firmware version: %w", err)
	}
	if len(r) != 4 {
		return Firmware{}, fmt.Errorf("pn532: get firmware version: %w: % X", ErrUnexpected, r)
	}
	return Firmware{IC: r[0], Ver: r[1], Rev: r[2], Support: r[3]}, nil
}

// SAMMode is the Security Access Module mode of SAMConfiguration.
type SAMMode byte

const (
	SAMNormal  SAMMode = 0x01 // no SAM: the mode admit uses
	SAMVirtual SAMMode = 0x02
	SAMWired   SAMMode = 0x03
	SAMDual    SAMMode = 0x04
)

// SAMConfiguration sets the SAM mode; timeout (virtual card mode only) is
// rounded to 50 ms units. The IRQ output is always enabled.
func (d *Dev) SAMConfiguration(ctx context.Context, mode SAMMode, timeout time.Duration) error {
	units := timeout / (50 * time.Millisecond)
	if units > 0xFF {
		units = 0xFF
	}
	if _, err := d.call(ctx, cmdSAMConfiguration, []byte{byte(mode), byte(units), 0x01}, 0); err != nil {
		return fmt.Errorf("pn532: SAM configuration: %w", err)
	}
	return nil
}

// RFConfiguration sets configuration item item to data (UM0701-02
// §7.3.1).
func (d *Dev) RFConfiguration(ctx context.Context, item byte, data ...byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, err := d.callLocked(ctx, cmdRFConfiguration, append([]byte{item}, data...), 0, false); err != nil {
		return fmt.Errorf("pn532: RF configuration %#02x: %w", item, err)
	}
	if item == 0x05 && len(data) == 3 {
		d.passiveRetries = data[2]
	}
	return nil
}

// SetMaxRetries is RFConfiguration item 0x05: retries for ATR_REQ, PSL_REQ
// and passive activation (InListPassiveTarget); n means n+1 tries, 0xFF
// tries until a card comes. The chip starts with FF 01 FF.
func (d *Dev) SetMaxRetries(ctx context.Context, atr, psl, passive byte) error {
	return d.RFConfiguration(ctx, 0x05, atr, psl, passive)
}

// Target is a card found by InListPassiveTarget at 106 kbps type A.
type Target struct {
	Tg   byte   // logical number used by InDataExchange and InRelease
	ATQA uint16 // SENS_RES
	SAK  byte   // SEL_RES
	UID  []byte // NFCID1: 4, 7 or 10 bytes
	ATS  []byte // answer to select (TL first), ISO-DEP targets only
}

// ISODEP reports whether the target speaks ISO/IEC 14443-4 (a phone, a
// DESFire): SAK bit 6.
func (t Target) ISODEP() bool { return t.SAK&0x20 != 0 }

// Type2 reports whether the target looks like an NFC Forum Type 2 tag
// (NTAG21x, Ultralight): SAK 0x00.
func (t Target) Type2() bool { return t.SAK == 0x00 }

func (t Target) String() string {
	return fmt.Sprintf("target %d uid %X atqa %04X sak %02X", t.Tg, t.UID, t.ATQA, t.SAK)
}

// inListMax bounds an InListPassiveTarget answer for one target: NbTg, Tg,
// SENS_RES, SEL_RES, UID length, a 10-byte UID and a 20-byte ATS. Longer
// answers are fetched whole anyway.
const inListMax = 1 + 1 + 2 + 1 + 1 + 10 + 20

// InListPassiveTarget looks for one card at 106 kbps type A, as many times
// as MaxRetries allows. It returns ErrNoCard when the field stays empty.
// With MxRtyPassiveActivation 0xFF (the chip's default; SetMaxRetries) the
// chip waits for a card as long as it takes, and so does the call: no
// Opts.Timeout, only ctx, on whose end the command is aborted (an ACK
// frame) and ctx.Err() returned.
func (d *Dev) InListPassiveTarget(ctx context.Context) (Target, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.callLocked(ctx, cmdInListPassiveTarget, []byte{0x01, 0x00}, inListMax, d.passiveRetries == 0xFF)
	if err != nil {
		return Target{}, fmt.Errorf("pn532: in list passive target: %w", err)
	}
	if len(r) < 1 {
		return Target{}, fmt.Errorf("pn532: in list passive target: %w: empty answer", ErrUnexpected)
	}
	if r[0] == 0 {
		return Target{}, ErrNoCard
	}
	t, err := parseTarget(r[1:])
	if err != nil {
		return Target{}, fmt.Errorf("pn532: in list passive target: %w", err)
	}
	return t, nil
}

func parseTarget(b []byte) (Target, error) {
	if len(b) < 5 {
		return Target{}, fmt.Errorf("%w: target data % X", ErrUnexpected, b)
	}
	t := Target{Tg: b[0], ATQA: uint16(b[1])<<8 | uint16(b[2]), SAK: b[3]}
	n := int(b[4])
	b = b[5:]
	if n > len(b) || (n != 4 && n != 7 && n != 10) {
		return Target{}, fmt.Errorf("%w: UID length %d", ErrUnexpected, n)
	}
	t.UID = append([]byte(nil), b[:n]...)
	b = b[n:]
	if t.ISODEP() && len(b) > 0 {
		l := int(b[0])
		if l < 1 || l > len(b) {
			return Target{}, fmt.Errorf("%w: ATS length %d", ErrUnexpected, l)
		}
		t.ATS = append([]byte(nil), b[:l]...)
	}
	return t, nil
}

// maxDataOut is the most data one InDataExchange frame carries; longer data
// is chained with the MI bit.
const maxDataOut = 262

// InDataExchange sends out to target tg and reads its answer into in,
// returning the number of bytes read. Data longer than 262 bytes is sent in
// chained parts (MI bit set in Tg); an answer the chip marks with MI is
// fetched part by part. A status other than success is a *StatusError.
func (d *Dev) InDataExchange(ctx context.Context, tg byte, out, in []byte) (int, error) {
	for len(out) > maxDataOut {
		st, _, err := d.exchange(ctx, tg|0x40, out[:maxDataOut], nil)
		if err != nil {
			return 0, err
		}
		if st&0x40 != 0 {
			return 0, fmt.Errorf("pn532: in data exchange: %w: MI answer to a chained part", ErrUnexpected)
		}
		out = out[maxDataOut:]
	}
	st, n, err := d.exchange(ctx, tg, out, in)
	if err != nil {
		return 0, err
	}
	for st&0x40 != 0 { // more information: ask for the next part
		if n == len(in) {
			return n, fmt.Errorf("pn532: in data exchange: %w (%d bytes)", ErrShortBuffer, len(in))
		}
		var m int
		st, m, err = d.exchange(ctx, tg, nil, in[n:])
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// exchange runs one InDataExchange frame, copying the data into in.
func (d *Dev) exchange(ctx context.Context, tg byte, out, in []byte) (status byte, n int, err error) {
	want := len(in)
	if want > maxDataOut {
		want = maxDataOut
	}
	r, err := d.call(ctx, cmdInDataExchange, append([]byte{tg}, out...), 1+want)
	if err != nil {
		return 0, 0, fmt.Errorf("pn532: in data exchange: %w", err)
	}
	if len(r) < 1 {
		return 0, 0, fmt.Errorf("pn532: in data exchange: %w: no status", ErrUnexpected)
	}
	if code := r[0] & 0x3F; code != 0 {
		return 0, 0, fmt.Errorf("pn532: in data exchange: %w", &StatusError{Code: code})
	}
	if len(r)-1 > len(in) {
		return 0, 0, fmt.Errorf("pn532: in data exchange: %w (%d bytes, buffer %d)", ErrShortBuffer, len(r)-1, len(in))
	}
	return r[0], copy(in, r[1:]), nil
}

// InRelease releases target tg (0: all targets).
func (d *Dev) InRelease(ctx context.Context, tg byte) error {
	r, err := d.call(ctx, cmdInRelease, []byte{tg}, 1)
	if err != nil {
		return fmt.Errorf("pn532: in release: %w", err)
	}
	if len(r) != 1 {
		return fmt.Errorf("pn532: in release: %w: % X", ErrUnexpected, r)
	}
	if code := r[0] & 0x3F; code != 0 {
		return fmt.Errorf("pn532: in release: %w", &StatusError{Code: code})
	}
	return nil
}

// StatusError is a non-zero status byte of InDataExchange or InRelease
// (UM0701-02 table 4). errors.Is(err, ErrTargetGone) holds for the codes
// that mean the card did not answer.
type StatusError struct {
	Code byte
}

func (e *StatusError) Error() string {
	if s, ok := statusText[e.Code]; ok {
		return fmt.Sprintf("pn532: status %#02x: %s", e.Code, s)
	}
	return fmt.Sprintf("pn532: status %#02x", e.Code)
}

// Is matches ErrTargetGone for timeouts and vanished targets.
func (e *StatusError) Is(target error) bool {
	if target != ErrTargetGone {
		return false
	}
	switch e.Code {
	case 0x01, 0x29, 0x2A, 0x2B:
		return true
	}
	return false
}

var statusText = map[byte]string{
	0x01: "timeout, the target did not answer",
	0x02: "CRC error",
	0x03: "parity error",
	0x04: "erroneous bit count during anticollision",
	0x05: "framing error",
	0x06: "abnormal bit collision",
	0x07: "communication buffer too small",
	0x09: "RF buffer overflow",
	0x0A: "RF field not switched on in time",
	0x0B: "RF protocol error",
	0x0D: "temperature error",
	0x0E: "internal buffer overflow",
	0x10: "invalid parameter",
	0x12: "DEP command not supported",
	0x13: "DEP data format wrong",
	0x14: "MIFARE authentication error",
	0x23: "UID check byte wrong",
	0x25: "invalid device state",
	0x26: "operation not allowed",
	0x27: "command not acceptable in this context",
	0x29: "target released by the initiator",
	0x2A: "card ID mismatch, card exchanged",
	0x2B: "card disappeared",
	0x2C: "NFCID3 mismatch",
	0x2D: "over-current",
	0x2E: "NAD missing",
}
