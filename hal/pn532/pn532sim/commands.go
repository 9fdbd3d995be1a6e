package pn532sim

import (
	"bytes"
	"time"
)

// Status codes of the PN532 (UM0701-02 §7.1, table "Error code list").
const (
	stTimeout  = 0x01 // the target did not answer in time
	stInvalid  = 0x10 // invalid parameter
	stContext  = 0x27 // not acceptable in the current context (unknown target…)
	stReleased = 0x29
	stMI       = 0x40 // more information: chained answer
)

// Command codes (UM0701-02 §7).
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

// maxDataIn is the most card data one InDataExchange response carries.
const maxDataIn = 262

// timeoutUnit converts the RFConfiguration timeout codes of item 0x02
// (UM0701-02 §7.3.1: 0x01 = 100 µs, doubling up to 0x10 = 3.28 s; 0x00 =
// no timeout).
func timeoutUnit(code byte) time.Duration {
	if code == 0 || code > 0x10 {
		return 0
	}
	return 100 * time.Microsecond << (code - 1)
}

// silentTimeoutLocked is how long the chip waits for a target that does
// not answer before it reports status 0x01: fRetryTimeout (RFConfiguration
// item 0x02, default 51.2 ms) for each of 1+MaxRtyCOM tries (item 0x04).
func (c *Chip) silentTimeoutLocked() time.Duration {
	t := timeoutUnit(c.timings[2])
	if t == 0 {
		t = timeoutUnit(0x10)
	}
	tries := int(c.maxRtyCOM) + 1
	if c.maxRtyCOM == 0xFF {
		tries = 1 << 16 // "infinite": far beyond any test
	}
	return t * time.Duration(tries)
}

// after returns a pending command that answers resp once d has passed.
func (c *Chip) after(d time.Duration, resp []byte) *pending {
	due := c.clk.Now().Add(d)
	return &pending{due: due, resolve: func(now time.Time) ([]byte, bool) {
		return resp, !now.Before(due)
	}}
}

// commandLocked runs one command. ok false means a syntax error (the error
// frame); a non-nil pending means the answer comes later.
func (c *Chip) commandLocked(d []byte) (resp []byte, ok bool, p *pending) {
	cmd, prm := d[0], d[1:]
	switch cmd {
	case cmdDiagnose:
		return c.diagnoseLocked(prm)
	case cmdGetFirmwareVersion: // §7.2.2
		return append([]byte{0x03}, c.firmware[:]...), true, nil
	case cmdGetGeneralStatus: // §7.2.3
		return c.generalStatusLocked(), true, nil
	case cmdSAMConfiguration: // §7.2.10: Mode [Timeout [IRQ]]
		if len(prm) < 1 || len(prm) > 3 || prm[0] < 1 || prm[0] > 4 {
			return nil, false, nil
		}
		if prm[0] == 0x02 && len(prm) < 2 { // virtual card mode needs its timeout
			return nil, false, nil
		}
		c.sam = true
		// IRQ (optional, default 0x01): whether the chip drives P70_IRQ.
		// With 0x00 the line stays high whatever the chip has to say.
		c.irqEnable = len(prm) < 3 || prm[2] != 0
		return []byte{0x15}, true, nil
	case cmdPowerDown: // §7.2.11: WakeUpEnable [GenerateIRQ]
		if len(prm) < 1 || len(prm) > 2 || (len(prm) == 2 && prm[1] > 1) {
			return nil, false, nil
		}
		c.wakeOn = prm[0]
		c.sleepNext = true
		return []byte{0x17, 0x00}, true, nil
	case cmdRFConfiguration:
		return c.rfConfigurationLocked(prm)
	case cmdInListPassiveTarget:
		return c.inListLocked(prm)
	case cmdInDataExchange:
		return c.inDataExchangeLocked(prm)
	case cmdInCommunicateThru:
		return c.inCommunicateThruLocked(prm)
	case cmdInDeselect, cmdInRelease, cmdInSelect:
		return c.targetControlLocked(cmd, prm)
	case cmdInAutoPoll:
		return c.inAutoPollLocked(prm)
	}
	return nil, false, nil
}

// rfConfigurationLocked is §7.3.1: CfgItem and its data, whose length each
// item fixes.
func (c *Chip) rfConfigurationLocked(p []byte) ([]byte, bool, *pending) {
	if len(p) < 2 {
		return nil, false, nil
	}
	item, data := p[0], p[1:]
	want := map[byte]int{0x01: 1, 0x02: 3, 0x04: 1, 0x05: 3, 0x0A: 11, 0x0B: 8, 0x0C: 3, 0x0D: 9}
	n, known := want[item]
	if !known || len(data) != n {
		return nil, false, nil
	}
	switch item {
	case 0x02:
		copy(c.timings[:], data)
	case 0x04:
		c.maxRtyCOM = data[0]
	case 0x05:
		copy(c.maxRetries[:], data)
	}
	return []byte{0x33}, true, nil
}

// inFieldLocked reports whether card is still in the field.
func (c *Chip) inFieldLocked(card Target) bool {
	for _, t := range c.field {
		if t == card {
			return true
		}
	}
	return false
}

// targetData is the TargetData of a 106 kbps type A target (§7.3.5): Tg,
// SENS_RES, SEL_RES, NFCIDLength, NFCID1, and the ATS of an ISO-DEP card.
func targetData(tg byte, t Target, withATS bool) []byte {
	atqa := t.ATQA()
	uid := t.UID()
	out := []byte{tg, atqa[0], atqa[1], t.SAK(), byte(len(uid))}
	out = append(out, uid...)
	if withATS && t.SAK()&0x20 != 0 {
		out = append(out, t.ATS()...)
	}
	return out
}

// activateLocked makes card the activated target Tg 1.
func (c *Chip) activateLocked(card Target) {
	c.active = &target{card: card, tg: 1, selected: true}
	c.rxChain, c.txChain = nil, nil
	if r, ok := card.(interface{ reset() }); ok {
		r.reset()
	}
}

// inListLocked is InListPassiveTarget (§7.3.5): MaxTg BrTy [InitiatorData].
// Only 106 kbps type A (BrTy 0) has cards in this field. The command
// releases the previous target (§7.3.5: the chip forgets it), then tries
// 1+MxRtyPassiveActivation times (0xFF: until a card comes), answering NbTg
// 0 when every try found nothing.
func (c *Chip) inListLocked(p []byte) ([]byte, bool, *pending) {
	if len(p) < 2 || p[0] < 1 || p[0] > 2 || p[1] > 0x04 {
		return nil, false, nil
	}
	var want []byte // InitiatorData at 106 kbps A: the UID to select
	if p[1] == 0x00 && len(p) > 2 {
		want = p[2:]
		if n := len(want); n != 4 && n != 7 && n != 10 {
			return nil, false, nil
		}
	}
	c.active = nil
	find := func() ([]byte, bool) {
		if p[1] != 0x00 {
			return nil, false
		}
		for _, t := range c.field {
			if want != nil && !bytes.Equal(want, t.UID()) {
				continue
			}
			c.activateLocked(t)
			return append([]byte{0x4B, 0x01}, targetData(1, t, true)...), true
		}
		return nil, false
	}
	if resp, ok := find(); ok {
		return resp, true, nil
	}
	pend := &pending{}
	if n := c.maxRetries[2]; n != 0xFF {
		pend.due = c.clk.Now().Add(time.Duration(int(n)+1) * c.activation)
	}
	pend.resolve = func(now time.Time) ([]byte, bool) {
		if resp, ok := find(); ok {
			return resp, true
		}
		if !pend.due.IsZero() && !now.Before(pend.due) {
			return []byte{0x4B, 0x00}, true
		}
		return nil, false
	}
	return nil, true, pend
}

// Target types of InAutoPoll that reach 106 kbps type A cards (§7.3.13).
const (
	autoGeneric106 = 0x00
	autoMifare     = 0x10
	autoISO14443A4 = 0x20
)

// inAutoPollLocked is InAutoPoll (§7.3.13): PollNr Period Type1…TypeN.
// PollNr 0xFF polls until a card comes; otherwise the chip answers NbTg 0
// after PollNr rounds of every type, each round Period × 150 ms.
func (c *Chip) inAutoPollLocked(p []byte) ([]byte, bool, *pending) {
	if len(p) < 3 || len(p) > 17 || p[0] == 0 || p[1] < 1 || p[1] > 0x0F {
		return nil, false, nil
	}
	pollNr, period, types := p[0], p[1], p[2:]
	c.active = nil
	find := func() ([]byte, bool) {
		for _, t := range c.field {
			// An ISO-DEP card is reported as 14443-4 A when that type is
			// polled for (with its ATS), else as the first 106 kbps type.
			ty, found := byte(0), false
			for _, x := range types {
				if x == autoISO14443A4 && t.SAK()&0x20 != 0 {
					ty, found = x, true
					break
				}
				if (x == autoMifare || x == autoGeneric106) && !found {
					ty, found = x, true
				}
			}
			if found {
				c.activateLocked(t)
				d := targetData(1, t, ty == autoISO14443A4)
				return append([]byte{0x61, 0x01, ty, byte(len(d))}, d...), true
			}
		}
		return nil, false
	}
	if resp, ok := find(); ok {
		return resp, true, nil
	}
	pend := &pending{}
	if pollNr != 0xFF {
		round := time.Duration(period) * 150 * time.Millisecond * time.Duration(len(types))
		pend.due = c.clk.Now().Add(time.Duration(pollNr) * round)
	}
	pend.resolve = func(now time.Time) ([]byte, bool) {
		if resp, ok := find(); ok {
			return resp, true
		}
		if !pend.due.IsZero() && !now.Before(pend.due) {
			return []byte{0x61, 0x00}, true
		}
		return nil, false
	}
	return nil, true, pend
}

// exchangeTargetLocked checks tg against the activated target: the status
// 0x27 when there is none by that number (released, never listed) or it is
// deselected.
func (c *Chip) exchangeTargetLocked(tg byte) (*target, byte) {
	if c.active == nil || tg&0x3F != c.active.tg || !c.active.selected {
		return nil, stContext
	}
	return c.active, 0
}

// goneLocked reports whether the activated target has left the field,
// counting down RemoveAfter.
func (c *Chip) goneLocked(t *target) bool {
	if c.removeIn == 0 {
		c.field = nil
		c.removeIn = -1
	}
	if !c.inFieldLocked(t.card) {
		return true
	}
	if c.removeIn > 0 {
		c.removeIn--
	}
	return false
}

// inDataExchangeLocked is InDataExchange (§7.3.8): Tg (MI bit 0x40 for
// chained data) DataOut. A target that left the field does not answer: the
// chip reports status 0x01 once its timeout has passed. It still knows the
// target (only InRelease or a new activation forgets it, §7.3.8, §7.3.11),
// so every exchange with it times out the same way.
func (c *Chip) inDataExchangeLocked(p []byte) ([]byte, bool, *pending) {
	if len(p) < 1 {
		return nil, false, nil
	}
	tg, data := p[0], p[1:]
	t, st := c.exchangeTargetLocked(tg)
	if t == nil {
		c.lastErr = st
		return []byte{0x41, st}, true, nil
	}
	if len(c.txChain) > 0 && len(data) == 0 && tg&stMI == 0 {
		return append([]byte{0x41}, c.deliverLocked()...), true, nil
	}
	c.txChain = nil
	c.rxChain = append(c.rxChain, data...)
	if tg&stMI != 0 { // more to come from the host
		return []byte{0x41, 0x00}, true, nil
	}
	apdu := c.rxChain
	c.rxChain = nil
	if c.goneLocked(t) {
		c.lastErr = stTimeout
		return nil, true, c.after(c.silentTimeoutLocked(), []byte{0x41, stTimeout})
	}
	resp, st := t.card.Exchange(apdu)
	c.lastErr = st
	if st != 0 {
		if st == stTimeout {
			return nil, true, c.after(c.silentTimeoutLocked(), []byte{0x41, st})
		}
		return []byte{0x41, st}, true, nil
	}
	c.txChain = resp
	return append([]byte{0x41}, c.deliverLocked()...), true, nil
}

func (c *Chip) deliverLocked() []byte {
	if len(c.txChain) > maxDataIn {
		out := append([]byte{stMI}, c.txChain[:maxDataIn]...)
		c.txChain = c.txChain[maxDataIn:]
		return out
	}
	out := append([]byte{0x00}, c.txChain...)
	c.txChain = nil
	return out
}

// inCommunicateThruLocked is InCommunicateThru (§7.3.9): DataOut goes to
// the current target as it is, without the chip's protocol handling. For
// an ISO-DEP card the host writes the ISO/IEC 14443-4 block itself: an
// I-block (PCB 02/03, no CID or NAD) carries an APDU, S(DESELECT) (C2)
// deselects; the card ignores anything else.
func (c *Chip) inCommunicateThruLocked(p []byte) ([]byte, bool, *pending) {
	if len(p) < 1 {
		return nil, false, nil
	}
	if c.active == nil || !c.active.selected {
		c.lastErr = stContext
		return []byte{0x43, stContext}, true, nil
	}
	t := c.active
	silent := c.after(c.silentTimeoutLocked(), []byte{0x43, stTimeout})
	if c.goneLocked(t) {
		c.lastErr = stTimeout
		return nil, true, silent
	}
	cmd := p
	var pcb byte
	iso := t.card.SAK()&0x20 != 0
	if iso {
		switch {
		case p[0] == 0xC2: // S(DESELECT)
			t.selected = false
			return []byte{0x43, 0x00, 0xC2}, true, nil
		case p[0]&0xFE == 0x02:
			pcb, cmd = p[0], p[1:]
		default:
			c.lastErr = stTimeout
			return nil, true, silent
		}
	}
	resp, st := t.card.Exchange(cmd)
	c.lastErr = st
	if st == stTimeout {
		return nil, true, silent
	}
	if st != 0 {
		return []byte{0x43, st}, true, nil
	}
	if iso {
		resp = append([]byte{pcb}, resp...)
	}
	return append([]byte{0x43, 0x00}, resp...), true, nil
}

// targetControlLocked is InDeselect (§7.3.10), InRelease (§7.3.11) and
// InSelect (§7.3.12): Tg (0 for all targets, InDeselect and InRelease
// only). Deselect keeps the target for a later InSelect; release forgets
// it; select activates a deselected target again, or times out when it
// left the field.
func (c *Chip) targetControlLocked(cmd byte, p []byte) ([]byte, bool, *pending) {
	if len(p) != 1 {
		return nil, false, nil
	}
	code := cmd + 1
	tg := p[0]
	if tg == 0 && cmd == cmdInSelect {
		return nil, false, nil
	}
	if tg != 0 && (c.active == nil || tg != c.active.tg) {
		c.lastErr = stContext
		return []byte{code, stContext}, true, nil
	}
	c.lastErr = 0
	switch cmd {
	case cmdInRelease:
		c.active = nil
	case cmdInDeselect:
		if c.active != nil {
			c.active.selected = false
		}
	case cmdInSelect:
		if !c.inFieldLocked(c.active.card) {
			c.lastErr = stTimeout
			return nil, true, c.after(c.silentTimeoutLocked(), []byte{code, stTimeout})
		}
		c.activateLocked(c.active.card)
	}
	return []byte{code, 0x00}, true, nil
}

// generalStatusLocked is GetGeneralStatus (§7.2.3): Err Field NbTg
// [Tg BrRx BrTx Type] SAMStatus. Field is an external field (target mode:
// never here); BrRx, BrTx 0x00 = 106 kbps; Type 0x00 = ISO/IEC 14443 A.
func (c *Chip) generalStatusLocked() []byte {
	out := []byte{0x05, c.lastErr, 0x00}
	if c.active != nil {
		out = append(out, 0x01, c.active.tg, 0x00, 0x00, 0x00)
	} else {
		out = append(out, 0x00)
	}
	return append(out, 0x00)
}

// diagnoseLocked is Diagnose (§7.2.1): NumTst InParam. Modelled: 0x00
// communication line test (echo), 0x01 ROM and 0x02 RAM tests (pass), 0x04
// polling test (failures out of 128 polls), 0x06 card presence
// (attention request to the current target), 0x07 antenna self test
// (pass). 0x03 (RFU) and 0x05 (echo back, which loops until reset) are
// answered with the error frame.
func (c *Chip) diagnoseLocked(p []byte) ([]byte, bool, *pending) {
	if len(p) < 1 {
		return nil, false, nil
	}
	switch p[0] {
	case 0x00:
		return append([]byte{0x01}, p...), true, nil
	case 0x01, 0x02:
		if len(p) != 1 {
			return nil, false, nil
		}
		return []byte{0x01, 0x00}, true, nil
	case 0x04:
		if len(p) != 2 {
			return nil, false, nil
		}
		fails := byte(128)
		if len(c.field) > 0 {
			fails = 0
		}
		return []byte{0x01, fails}, true, nil
	case 0x06:
		if len(p) != 1 {
			return nil, false, nil
		}
		if c.active == nil {
			return []byte{0x01, stContext}, true, nil
		}
		if !c.inFieldLocked(c.active.card) {
			return nil, true, c.after(c.silentTimeoutLocked(), []byte{0x01, stTimeout})
		}
		return []byte{0x01, 0x00}, true, nil
	case 0x07:
		if len(p) != 2 {
			return nil, false, nil
		}
		return []byte{0x01, 0x00}, true, nil
	}
	return nil, false, nil
}
