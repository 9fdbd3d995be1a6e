package pn532

import (
	"context"
	"fmt"
)

// AutoPollType is a target type of InAutoPoll (UM0701-02 §7.3.13).
type AutoPollType byte

// The InAutoPoll types that find 106 kbps type A cards.
const (
	AutoPollGeneric106 AutoPollType = 0x00 // generic passive 106 kbps (ISO/IEC 14443-4A, MIFARE, DEP)
	AutoPollMIFARE     AutoPollType = 0x10 // MIFARE card (and any 14443-3 A)
	AutoPollISO14443A4 AutoPollType = 0x20 // ISO/IEC 14443-4 A: the answer carries the ATS
)

// AutoPollForever as InAutoPoll's polls: poll until a card comes.
const AutoPollForever = 0xFF

// InAutoPoll polls for a card of one of types, polls times (1–254, or
// AutoPollForever), each round period × 150 ms (period 1–15), and returns
// the first target found, activated as the next commands' target, with
// its type. It returns ErrNoCard when none came. Polling forever is bounded
// by ctx only, like InListPassiveTarget with MaxRetries 0xFF.
func (d *Dev) InAutoPoll(ctx context.Context, polls, period byte, types ...AutoPollType) (Target, AutoPollType, error) {
	if polls == 0 || period == 0 || period > 0x0F || len(types) == 0 || len(types) > 15 {
		return Target{}, 0, fmt.Errorf("pn532: in auto poll: invalid polls %d, period %d or %d types", polls, period, len(types))
	}
	params := []byte{polls, period}
	for _, t := range types {
		params = append(params, byte(t))
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	r, err := d.callLocked(ctx, cmdInAutoPoll, params, 2+2+inListMax, polls == AutoPollForever)
	if err != nil {
		return Target{}, 0, fmt.Errorf("pn532: in auto poll: %w", err)
	}
	if len(r) < 1 {
		return Target{}, 0, fmt.Errorf("pn532: in auto poll: %w: empty answer", ErrUnexpected)
	}
	if r[0] == 0 {
		return Target{}, 0, ErrNoCard
	}
	if len(r) < 3 || int(r[2]) > len(r)-3 {
		return Target{}, 0, fmt.Errorf("pn532: in auto poll: %w: % X", ErrUnexpected, r)
	}
	ty := AutoPollType(r[1])
	t, err := parseTarget(r[3 : 3+int(r[2])])
	if err != nil {
		return Target{}, 0, fmt.Errorf("pn532: in auto poll: %w", err)
	}
	return t, ty, nil
}

// statusCall runs a command whose answer is one status byte.
func (d *Dev) statusCall(ctx context.Context, name string, code byte, params ...byte) error {
	r, err := d.call(ctx, code, params, 1)
	if err != nil {
		return fmt.Errorf("pn532: %s: %w", name, err)
	}
	if len(r) != 1 {
		return fmt.Errorf("pn532: %s: %w: % X", name, ErrUnexpected, r)
	}
	if st := r[0] & 0x3F; st != 0 {
		return fmt.Errorf("pn532: %s: %w", name, &StatusError{Code: st})
	}
	return nil
}

// InSelect selects target tg again after InDeselect (UM0701-02 §7.3.12).
func (d *Dev) InSelect(ctx context.Context, tg byte) error {
	return d.statusCall(ctx, "in select", cmdInSelect, tg)
}

// InDeselect deselects target tg (0: all), keeping what the chip knows of
// it for InSelect (UM0701-02 §7.3.10).
func (d *Dev) InDeselect(ctx context.Context, tg byte) error {
	return d.statusCall(ctx, "in deselect", cmdInDeselect, tg)
}

// InCommunicateThru sends out to the current target as it is, without the
// chip's protocol handling (UM0701-02 §7.3.9): for an ISO-DEP card, out is
// an ISO/IEC 14443-4 block. It returns the number of bytes read into in.
func (d *Dev) InCommunicateThru(ctx context.Context, out, in []byte) (int, error) {
	r, err := d.call(ctx, cmdInCommunicateThru, out, 1+len(in))
	if err != nil {
		return 0, fmt.Errorf("pn532: in communicate thru: %w", err)
	}
	if len(r) < 1 {
		return 0, fmt.Errorf("pn532: in communicate thru: %w: no status", ErrUnexpected)
	}
	if st := r[0] & 0x3F; st != 0 {
		return 0, fmt.Errorf("pn532: in communicate thru: %w", &StatusError{Code: st})
	}
	if len(r)-1 > len(in) {
		return 0, fmt.Errorf("pn532: in communicate thru: %w (%d bytes, buffer %d)", ErrShortBuffer, len(r)-1, len(in))
	}
	return copy(in, r[1:]), nil
}

// GeneralStatus is the answer of GetGeneralStatus (UM0701-02 §7.2.3).
type GeneralStatus struct {
	Err     byte           // status of the last command
	Field   bool           // an external RF field is present
	Targets []TargetStatus // the targets the chip controls
	SAM     byte           // SAM status
}

// TargetStatus is one target of GeneralStatus.
type TargetStatus struct {
	Tg, BrRx, BrTx, Type byte
}

// GetGeneralStatus asks the chip for its last error, the external field and
// the targets it controls.
func (d *Dev) GetGeneralStatus(ctx context.Context) (GeneralStatus, error) {
	r, err := d.call(ctx, cmdGetGeneralStatus, nil, 3+2*4+1)
	if err != nil {
		return GeneralStatus{}, fmt.Errorf("pn532: get general status: %w", err)
	}
	if len(r) < 4 || len(r) != 4+4*int(r[2]) {
		return GeneralStatus{}, fmt.Errorf("pn532: get general status: %w: % X", ErrUnexpected, r)
	}
	s := GeneralStatus{Err: r[0], Field: r[1] != 0, SAM: r[len(r)-1]}
	for i := 0; i < int(r[2]); i++ {
		b := r[3+4*i:]
		s.Targets = append(s.Targets, TargetStatus{Tg: b[0], BrRx: b[1], BrTx: b[2], Type: b[3]})
	}
	return s, nil
}

// Diagnose runs self-test test with in (UM0701-02 §7.2.1) and returns its
// answer after the echoed test number for test 0x00 (the communication
// line test answers NumTst ‖ in), the result bytes otherwise.
func (d *Dev) Diagnose(ctx context.Context, test byte, in ...byte) ([]byte, error) {
	r, err := d.call(ctx, cmdDiagnose, append([]byte{test}, in...), 1+len(in)+1)
	if err != nil {
		return nil, fmt.Errorf("pn532: diagnose %#02x: %w", test, err)
	}
	if test == 0x00 {
		if len(r) < 1 || r[0] != 0x00 {
			return nil, fmt.Errorf("pn532: diagnose: %w: % X", ErrUnexpected, r)
		}
		return r[1:], nil
	}
	return r, nil
}

// Wake-up sources of PowerDown (UM0701-02 §7.2.11, WakeUpEnable).
const (
	WakeI2C  = 0x80
	WakeGPIO = 0x40
	WakeSPI  = 0x20
	WakeHSU  = 0x10
	WakeRF   = 0x08
)

// PowerDown puts the chip to sleep until one of the wake-up sources wake
// (WakeI2C, WakeSPI, …) sees activity. The first transfer after it wakes
// the chip and is lost: call Wake before the next command.
func (d *Dev) PowerDown(ctx context.Context, wake byte) error {
	return d.statusCall(ctx, "power down", cmdPowerDown, wake)
}
