package pn532sim

import (
	"bytes"
	"sync"
)

// Target is a card in the field, seen through ISO/IEC 14443 type A.
type Target interface {
	UID() []byte
	ATQA() [2]byte // SENS_RES as the PN532 reports it
	SAK() byte     // SEL_RES; bit 0x20 means ISO-DEP (then ATS is sent)
	ATS() []byte   // answer to select, TL byte first; nil without ISO-DEP
	// Exchange answers one command of the reader; st is a non-zero
	// InDataExchange status when the card does not answer properly.
	Exchange(cmd []byte) (resp []byte, st byte)
}

// NTAG models are the three sizes of NXP's NTAG21x.
type NTAGModel int

const (
	NTAG213 NTAGModel = iota
	NTAG215
	NTAG216
)

// pages, user bytes (CC size × 8), GET_VERSION storage byte.
func (m NTAGModel) geometry() (pages, user int, storage byte) {
	switch m {
	case NTAG215:
		return 135, 496, 0x11
	case NTAG216:
		return 231, 872, 0x13
	}
	return 45, 144, 0x0F
}

// NTAG is an NTAG213/215/216 tag: 4-byte pages, READ (0x30) returns 16
// bytes from a page and wraps around past the last page, FAST_READ (0x3A)
// returns pages start to end, GET_VERSION (0x60).
type NTAG struct {
	mu  sync.Mutex // guards mem
	uid []byte
	mem []byte
	mdl NTAGModel
}

// NewNTAG returns a tag of model m with a 7-byte uid (first byte 0x04, NXP),
// a capability container for NDEF and user memory holding tlv (the TLV
// area from page 4: use NDEFTLV). It panics if tlv does not fit: test
// fixtures only.
func NewNTAG(m NTAGModel, uid []byte, tlv []byte) *NTAG {
	pages, user, _ := m.geometry()
	if len(uid) != 7 {
		panic("pn532sim: NTAG uid must be 7 bytes")
	}
	if len(tlv) > user {
		panic("pn532sim: NDEF content larger than the tag")
	}
	mem := make([]byte, pages*4)
	copy(mem[0:3], uid[0:3])
	mem[3] = 0x88 ^ uid[0] ^ uid[1] ^ uid[2]
	copy(mem[4:8], uid[3:7])
	mem[8] = uid[3] ^ uid[4] ^ uid[5] ^ uid[6]
	mem[9] = 0x48
	copy(mem[12:16], []byte{0xE1, 0x10, byte(user / 8), 0x00}) // CC: NDEF 1.0, size, read/write
	copy(mem[16:], tlv)
	return &NTAG{uid: append([]byte(nil), uid...), mem: mem, mdl: m}
}

func (t *NTAG) UID() []byte   { return t.uid }
func (t *NTAG) ATQA() [2]byte { return [2]byte{0x00, 0x44} }
func (t *NTAG) SAK() byte     { return 0x00 }
func (t *NTAG) ATS() []byte   { return nil }

// Poke overwrites tag memory from byte offset off (tests: broken CC, etc).
func (t *NTAG) Poke(off int, b []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	copy(t.mem[off:], b)
}

func (t *NTAG) Exchange(cmd []byte) ([]byte, byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	pages, _, storage := t.mdl.geometry()
	switch {
	case len(cmd) == 2 && cmd[0] == 0x30: // READ
		p := int(cmd[1])
		if p >= pages {
			return nil, stTimeout // the tag NAKs; the PN532 sees no proper answer
		}
		out := make([]byte, 16)
		for i := range out {
			out[i] = t.mem[(p*4+i)%len(t.mem)]
		}
		return out, 0
	case len(cmd) == 3 && cmd[0] == 0x3A: // FAST_READ start end
		start, end := int(cmd[1]), int(cmd[2])
		if start > end || end >= pages {
			return nil, stTimeout
		}
		return append([]byte(nil), t.mem[start*4:(end+1)*4]...), 0
	case len(cmd) == 1 && cmd[0] == 0x60: // GET_VERSION
		return []byte{0x00, 0x04, 0x04, 0x02, 0x01, 0x00, storage, 0x03}, 0
	}
	return nil, stTimeout
}

// NDEFTLV wraps an NDEF message in its TLV (1-byte length below 255 bytes,
// else 0xFF and a 2-byte length) followed by the terminator TLV.
func NDEFTLV(msg []byte) []byte {
	var b []byte
	if len(msg) < 0xFF {
		b = []byte{0x03, byte(len(msg))}
	} else {
		b = []byte{0x03, 0xFF, byte(len(msg) >> 8), byte(len(msg))}
	}
	b = append(b, msg...)
	return append(b, 0xFE)
}

// TextRecord is a one-record NDEF message: a well-known Text record ("T")
// in language lang holding text. It uses the short record form when the
// payload fits in 255 bytes.
func TextRecord(lang, text string) []byte {
	payload := append([]byte{byte(len(lang))}, lang...)
	payload = append(payload, text...)
	return record(0x01, []byte("T"), payload)
}

// MIMERecord is a one-record NDEF message of MIME type typ.
func MIMERecord(typ string, payload []byte) []byte {
	return record(0x02, []byte(typ), payload)
}

func record(tnf byte, typ, payload []byte) []byte {
	hdr := byte(0xC0) | tnf // MB | ME
	if len(payload) < 256 {
		b := []byte{hdr | 0x10, byte(len(typ)), byte(len(payload))}
		b = append(b, typ...)
		return append(b, payload...)
	}
	n := len(payload)
	b := []byte{hdr, byte(len(typ)), byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	b = append(b, typ...)
	return append(b, payload...)
}

// Classic is a MIFARE Classic 1K badge: only its UID matters to admit.
type Classic struct {
	ID []byte // 4 or 7 bytes
}

func (c *Classic) UID() []byte   { return c.ID }
func (c *Classic) ATQA() [2]byte { return [2]byte{0x00, 0x04} }
func (c *Classic) SAK() byte     { return 0x08 }
func (c *Classic) ATS() []byte   { return nil }

// Exchange: without authentication a Classic answers nothing useful.
func (c *Classic) Exchange(cmd []byte) ([]byte, byte) {
	if len(cmd) > 0 && (cmd[0] == 0x60 || cmd[0] == 0x61) {
		return nil, 0x14 // MIFARE authentication error
	}
	return nil, stTimeout
}

// AdmitAID is the application identifier of admit's phone ticket app, a
// proprietary AID (RID category F).
var AdmitAID = []byte{0xF0, 0x41, 0x44, 0x4D, 0x49, 0x54, 0x01}

// Phone is a phone emulating an ISO-DEP card with admit's application
// (host card emulation). It answers SELECT by AID (00 A4 04 00) and
// GET TICKET (80 CA 00 00 Le); a ticket longer than 256 bytes is returned
// in parts (61 XX, then GET RESPONSE 00 C0) unless ExtendedLength is set,
// in which case it comes in one response that the PN532 must chain (MI).
type Phone struct {
	ID             []byte // 4-byte random UID (first byte 0x08)
	Ticket         []byte // nil: the app answers 6A 88, no ticket
	NoApp          bool   // the app is not installed: SELECT gives 6A 82
	ExtendedLength bool

	mu       sync.Mutex // guards the fields below
	selected bool
	rest     []byte
}

func (p *Phone) UID() []byte   { return p.ID }
func (p *Phone) ATQA() [2]byte { return [2]byte{0x00, 0x04} }
func (p *Phone) SAK() byte     { return 0x20 }
func (p *Phone) ATS() []byte   { return []byte{0x05, 0x78, 0x80, 0x70, 0x02} }

func (p *Phone) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.selected, p.rest = false, nil
}

func sw(data []byte, sw1, sw2 byte) []byte {
	return append(append([]byte(nil), data...), sw1, sw2)
}

func (p *Phone) Exchange(apdu []byte) ([]byte, byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(apdu) < 4 {
		return sw(nil, 0x67, 0x00), 0 // wrong length
	}
	cla, ins := apdu[0], apdu[1]
	switch {
	case cla == 0x00 && ins == 0xA4 && apdu[2] == 0x04: // SELECT by name
		if len(apdu) < 5 || len(apdu) < 5+int(apdu[4]) {
			return sw(nil, 0x67, 0x00), 0
		}
		aid := apdu[5 : 5+int(apdu[4])]
		if p.NoApp || !bytes.Equal(aid, AdmitAID) {
			p.selected = false
			return sw(nil, 0x6A, 0x82), 0 // file or application not found
		}
		p.selected = true
		return sw(nil, 0x90, 0x00), 0
	case cla == 0x80 && ins == 0xCA: // GET TICKET
		if !p.selected {
			return sw(nil, 0x69, 0x85), 0 // conditions of use not satisfied
		}
		if p.Ticket == nil {
			return sw(nil, 0x6A, 0x88), 0 // referenced data not found
		}
		p.rest = p.Ticket
		return p.nextLocked(), 0
	case cla == 0x00 && ins == 0xC0: // GET RESPONSE
		if len(p.rest) == 0 {
			return sw(nil, 0x69, 0x85), 0
		}
		return p.nextLocked(), 0
	}
	return sw(nil, 0x6D, 0x00), 0 // instruction not supported
}

func (p *Phone) nextLocked() []byte {
	if p.ExtendedLength || len(p.rest) <= 256 {
		out := sw(p.rest, 0x90, 0x00)
		p.rest = nil
		return out
	}
	part := p.rest[:256]
	p.rest = p.rest[256:]
	n := len(p.rest)
	if n > 255 {
		n = 0 // 61 00: 256 or more bytes remain
	}
	return sw(part, 0x61, byte(n))
}
