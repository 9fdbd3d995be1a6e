package pn532sim

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"hash/crc32"
	"io"
	"sync"

	"admit/internal/aescmac"
)

// NTAG424 is an NXP NTAG 424 DNA (NT4H2421Gx) in the field: an ISO-DEP card
// whose NFC Forum Type 4 application holds the capability container (file
// 01, E103), the NDEF file (02, E104, 256 bytes) and a proprietary file
// (03, E105, 128 bytes), guarded by five AES-128 keys (factory: all zero).
//
// It answers the ISO/IEC 7816-4 commands of a Type 4 tag (ISOSelectFile,
// ISOReadBinary) and the native commands, wrapped in APDUs (CLA 90), that
// issuing uses: AuthenticateEV2First with its secure messaging
// (CommMode.MAC and Full), ChangeKey, ChangeFileSettings with Secure
// Dynamic Messaging, WriteData, ReadData and GetCardUID. With SDM enabled
// on the NDEF file, a read mirrors PICCData (or the plain UID and
// counter) and the SDMMAC into the URL as the real tag does, and the read
// counter moves on once per read of the file (the first read after it was
// selected or the card activated).
//
// The card's side of the cryptography is written here independently of
// the reader's (hal/ntag424/ev2), and its tests replay NXP's AN12196
// examples against it.
type NTAG424 struct {
	// Rand supplies RndB, TI and the PICCData padding (crypto/rand when
	// nil); tests set it to replay NXP's examples.
	Rand io.Reader

	mu       sync.Mutex // guards the fields below
	uid      [7]byte
	keys     [5][16]byte
	versions [5]byte
	files    [4]*file424 // by file number; 0 unused
	sdmCtr   uint32

	selectedApp bool
	selectedEF  int  // file number of the selected EF, 0 none
	readSession bool // the NDEF file's mirror of this read is fixed
	mirror      []byte

	auth *authState // AuthenticateEV2First in progress
	ses  *session424
}

type file424 struct {
	fid      uint16
	data     []byte
	mode     byte    // CommMode: 00 plain, 01 MAC, 03 full
	ar       [2]byte // [RW<<4 | Change, R<<4 | W]
	sdm      bool
	sdmOpts  byte
	sdmAR    [2]byte // [RFU<<4 | CtrRet, MetaRead<<4 | FileRead]
	uidOff   int
	ctrOff   int
	piccOff  int
	macInOff int
	macOff   int
}

type authState struct {
	keyNo byte
	rndB  []byte
}

type session424 struct {
	keyNo    byte
	ti       [4]byte
	enc, mac [16]byte
	ctr      uint16
}

// NewNTAG424 returns a tag fresh from the factory: all keys zero (version
// 0), the NDEF file empty (NLEN 0), free read and write access to it
// (access rights E0EE), no SDM.
func NewNTAG424(uid []byte) *NTAG424 {
	if len(uid) != 7 {
		panic("pn532sim: NTAG 424 DNA uid must be 7 bytes")
	}
	t := &NTAG424{}
	copy(t.uid[:], uid)
	cc := make([]byte, 32)
	// CC: CCLEN 0017, mapping 2.0, MLe 0100, MLc 00FF, NDEF file control
	// TLV (E104, 256 bytes, free read, write with key 0 … as shipped: 00),
	// proprietary file TLV (E105, 128 bytes, read 82, write 83).
	copy(cc, []byte{0x00, 0x17, 0x20, 0x01, 0x00, 0x00, 0xFF, 0x04, 0x06, 0xE1, 0x04, 0x01, 0x00, 0x00, 0x00,
		0x05, 0x06, 0xE1, 0x05, 0x00, 0x80, 0x82, 0x83})
	t.files[1] = &file424{fid: 0xE103, data: cc, ar: [2]byte{0x00, 0xE0}}
	t.files[2] = &file424{fid: 0xE104, data: make([]byte, 256), ar: [2]byte{0xE0, 0xEE}}
	t.files[3] = &file424{fid: 0xE105, data: make([]byte, 128), mode: 0x03, ar: [2]byte{0x30, 0x23}}
	return t
}

func (t *NTAG424) UID() []byte   { return t.uid[:] }
func (t *NTAG424) ATQA() [2]byte { return [2]byte{0x03, 0x44} }
func (t *NTAG424) SAK() byte     { return 0x20 }

// ATS is the NTAG 424 DNA's answer to select (NT4H2421Gx §8.3: 06 77 77
// 71 02 80).
func (t *NTAG424) ATS() []byte { return []byte{0x06, 0x77, 0x77, 0x71, 0x02, 0x80} }

// Key returns key n as the tag holds it (tests).
func (t *NTAG424) Key(n int) [16]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.keys[n]
}

// ReadCounter returns SDMReadCtr.
func (t *NTAG424) ReadCounter() uint32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.sdmCtr
}

// SetReadCounter sets SDMReadCtr (tests: NXP's examples read at counter 61).
func (t *NTAG424) SetReadCounter(n uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sdmCtr = n
}

// reset is the card's state at activation: no application selected, no
// authentication.
func (t *NTAG424) reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.selectedApp, t.selectedEF, t.readSession = false, 0, false
	t.auth, t.ses = nil, nil
}

func (t *NTAG424) random(n int) []byte {
	b := make([]byte, n)
	r := t.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		panic(fmt.Sprintf("pn532sim: NTAG424 random: %v", err))
	}
	return b
}

// Native status words (SW1 91) and ISO ones.
const (
	st424OK        = 0x00
	st424More      = 0xAF
	st424Auth      = 0xAE
	st424Integrity = 0x1E
	st424Param     = 0x9E
	st424Perm      = 0x9D
	st424Length    = 0x7E
	st424NoKey     = 0x40
	st424Boundary  = 0xBE
	st424Illegal   = 0x1C
	st424NotFound  = 0xF0
)

func native(sw2 byte, data ...byte) []byte { return append(append([]byte(nil), data...), 0x91, sw2) }

// Exchange answers one APDU (the PN532 has handled ISO-DEP framing).
func (t *NTAG424) Exchange(apdu []byte) ([]byte, byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(apdu) < 4 {
		return sw(nil, 0x67, 0x00), 0
	}
	switch apdu[0] {
	case 0x00:
		return t.isoLocked(apdu), 0
	case 0x90:
		return t.nativeLocked(apdu), 0
	}
	return sw(nil, 0x6E, 0x00), 0 // class not supported
}

// ndefAppName is the ISO DF name of the NDEF application (NFC Forum Type 4).
var ndefAppName = []byte{0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01}

// isoLocked runs ISOSelectFile and ISOReadBinary (NT4H2421Gx §10.9). An
// ISO command ends an authentication (§9.1.1).
func (t *NTAG424) isoLocked(a []byte) []byte {
	t.auth, t.ses = nil, nil
	ins, p1, p2 := a[1], a[2], a[3]
	body := a[4:]
	switch ins {
	case 0xA4: // ISOSelectFile
		if len(body) < 1 || len(body) < 1+int(body[0]) {
			return sw(nil, 0x67, 0x00)
		}
		data := body[1 : 1+int(body[0])]
		switch {
		case p1 == 0x04 && bytes.Equal(data, ndefAppName):
			t.selectedApp, t.selectedEF = true, 0
			return sw(nil, 0x90, 0x00)
		case p1 == 0x00 || p1 == 0x02:
			if len(data) != 2 {
				return sw(nil, 0x6A, 0x86)
			}
			fid := uint16(data[0])<<8 | uint16(data[1])
			if fid == 0xE110 {
				t.selectedApp, t.selectedEF = true, 0
				return sw(nil, 0x90, 0x00)
			}
			for n, f := range t.files {
				if f != nil && f.fid == fid && t.selectedApp {
					t.selectedEF, t.readSession = n, false
					_ = p2
					return sw(nil, 0x90, 0x00)
				}
			}
		}
		return sw(nil, 0x6A, 0x82) // file or application not found
	case 0xB0: // ISOReadBinary
		if p1&0x80 != 0 || t.selectedEF == 0 {
			return sw(nil, 0x69, 0x86) // no current EF
		}
		off := int(p1)<<8 | int(p2)
		n := 256
		if len(body) == 1 && body[0] != 0 {
			n = int(body[0])
		}
		f := t.files[t.selectedEF]
		if f.ar[1]>>4 != 0xE {
			return sw(nil, 0x69, 0x82) // security status not satisfied
		}
		content := t.contentLocked(t.selectedEF)
		if off > len(content) {
			return sw(nil, 0x6B, 0x00)
		}
		return sw(content[off:min(off+n, len(content))], 0x90, 0x00)
	}
	return sw(nil, 0x6D, 0x00)
}

// contentLocked is what a read of file n returns: with SDM, the template
// with this read's mirror, fixed for the rest of the read.
func (t *NTAG424) contentLocked(n int) []byte {
	f := t.files[n]
	if !f.sdm {
		return f.data
	}
	if !t.readSession {
		if t.sdmCtr < 0xFFFFFF {
			t.sdmCtr++
		}
		t.mirror = t.sdmMirrorLocked(f)
		t.readSession = true
	}
	return t.mirror
}

// sdmMirrorLocked fills in the dynamic data of a read (NT4H2421Gx §9.3):
// PICCData encrypted with SDMMetaReadKey (or the UID and counter in plain
// when SDMMetaRead is E), then the SDMMAC over the bytes from
// SDMMACInputOffset to SDMMACOffset under the session key derived from
// SDMFileReadKey, UID and counter; all in uppercase hex (ASCII mirroring).
func (t *NTAG424) sdmMirrorLocked(f *file424) []byte {
	out := append([]byte(nil), f.data...)
	put := func(off int, b []byte) { copy(out[off:], fmt.Sprintf("%X", b)) }
	ctr := []byte{byte(t.sdmCtr), byte(t.sdmCtr >> 8), byte(t.sdmCtr >> 16)}
	meta, file := f.sdmAR[1]>>4, f.sdmAR[1]&0x0F
	switch {
	case meta <= 4:
		p := make([]byte, 16)
		p[0] = 0xC7
		copy(p[1:8], t.uid[:])
		copy(p[8:11], ctr)
		copy(p[11:], t.random(5))
		blk, _ := aes.NewCipher(t.keys[meta][:])
		blk.Encrypt(p, p)
		put(f.piccOff, p)
	case meta == 0xE:
		if f.sdmOpts&0x80 != 0 {
			put(f.uidOff, t.uid[:])
		}
		if f.sdmOpts&0x40 != 0 { // the counter in ASCII is MSB first
			put(f.ctrOff, []byte{ctr[2], ctr[1], ctr[0]})
		}
	}
	if file <= 4 {
		sv := []byte{0x3C, 0xC3, 0x00, 0x01, 0x00, 0x80}
		sv = append(sv, t.uid[:]...)
		sv = append(sv, ctr...)
		m, _ := aescmac.New(t.keys[file][:])
		ks := m.Sum(sv)
		mk, _ := aescmac.New(ks[:])
		mac := mk.SumTruncated(out[f.macInOff:f.macOff])
		put(f.macOff, mac[:])
	}
	return out
}

// nativeLocked runs a native command: 90 INS 00 00 [Lc data] 00.
func (t *NTAG424) nativeLocked(a []byte) []byte {
	ins := a[1]
	var data []byte
	if len(a) > 5 {
		n := int(a[4])
		if len(a) != 5+n+1 {
			return native(st424Length)
		}
		data = a[5 : 5+n]
	}
	if ins != 0xAF {
		t.auth = nil
	}
	switch ins {
	case 0x71:
		return t.authFirstLocked(data)
	case 0xAF:
		return t.authPart2Locked(data)
	case 0x51:
		return t.getCardUIDLocked(data)
	case 0xC4:
		return t.changeKeyLocked(data)
	case 0x5F:
		return t.changeFileSettingsLocked(data)
	case 0x8D:
		return t.writeDataLocked(data)
	case 0xAD:
		return t.readDataLocked(data)
	}
	t.ses = nil
	return native(st424Illegal)
}

func rotl(b []byte) []byte { return append(append([]byte(nil), b[1:]...), b[0]) }

func cbcCrypt(key []byte, iv, in []byte, encrypt bool) []byte {
	blk, _ := aes.NewCipher(key)
	out := make([]byte, len(in))
	if encrypt {
		cipher.NewCBCEncrypter(blk, iv).CryptBlocks(out, in)
	} else {
		cipher.NewCBCDecrypter(blk, iv).CryptBlocks(out, in)
	}
	return out
}

// authFirstLocked is AuthenticateEV2First part 1 (NT4H2421Gx §10.4.1):
// KeyNo LenCap [PCDcap2] → E(Kx, RndB), 91 AF. It ends any session.
func (t *NTAG424) authFirstLocked(d []byte) []byte {
	t.ses = nil
	if len(d) < 2 || len(d) != 2+int(d[1]) {
		return native(st424Length)
	}
	if d[0] > 4 {
		return native(st424NoKey)
	}
	rndB := t.random(16)
	t.auth = &authState{keyNo: d[0], rndB: rndB}
	return native(st424More, cbcCrypt(t.keys[d[0]][:], make([]byte, 16), rndB, true)...)
}

// authPart2Locked checks E(Kx, RndA ‖ RndB') and answers E(Kx, TI ‖ RndA'
// ‖ PDcap2 ‖ PCDcap2); the session keys follow §9.1.7.
func (t *NTAG424) authPart2Locked(d []byte) []byte {
	a := t.auth
	t.auth = nil
	if a == nil {
		return native(st424Illegal)
	}
	if len(d) != 32 {
		return native(st424Length)
	}
	key := t.keys[a.keyNo]
	p := cbcCrypt(key[:], make([]byte, 16), d, false)
	rndA, rndB2 := p[:16], p[16:]
	if !bytes.Equal(rndB2, rotl(a.rndB)) {
		return native(st424Auth)
	}
	s := &session424{keyNo: a.keyNo}
	copy(s.ti[:], t.random(4))
	// SV = label ‖ 0001 0080 ‖ RndA[15..14] ‖ (RndA[13..8] ⊕ RndB[15..10])
	// ‖ RndB[9..0] ‖ RndA[7..0], byte 15 being the first.
	x := make([]byte, 6)
	subtle.XORBytes(x, rndA[2:8], a.rndB[0:6])
	ctx := append(append(append(append([]byte(nil), rndA[0:2]...), x...), a.rndB[6:16]...), rndA[8:16]...)
	m, _ := aescmac.New(key[:])
	s.enc = m.Sum(append([]byte{0xA5, 0x5A, 0x00, 0x01, 0x00, 0x80}, ctx...))
	s.mac = m.Sum(append([]byte{0x5A, 0xA5, 0x00, 0x01, 0x00, 0x80}, ctx...))
	t.ses = s
	resp := append(append([]byte(nil), s.ti[:]...), rotl(rndA)...)
	resp = append(resp, make([]byte, 12)...) // PDcap2, PCDcap2
	return native(st424OK, cbcCrypt(key[:], make([]byte, 16), resp, true)...)
}

func (s *session424) iv(l0, l1 byte, ctr uint16) []byte {
	in := make([]byte, 16)
	in[0], in[1] = l0, l1
	copy(in[2:6], s.ti[:])
	in[6], in[7] = byte(ctr), byte(ctr>>8)
	blk, _ := aes.NewCipher(s.enc[:])
	blk.Encrypt(in, in)
	return in
}

func (s *session424) macT(first byte, ctr uint16, rest []byte) []byte {
	m, _ := aescmac.New(s.mac[:])
	in := append([]byte{first, byte(ctr), byte(ctr >> 8)}, s.ti[:]...)
	t := m.SumTruncated(append(in, rest...))
	return t[:]
}

// secureCommandLocked checks and opens a command in mode (§9.1.9–9.1.10):
// the MACt over Cmd ‖ CmdCtr ‖ TI ‖ header ‖ data, then in Full mode the
// data decrypted with IVc and unpadded. It returns the plain data, or a
// status that ends the session.
func (t *NTAG424) secureCommandLocked(cmd byte, mode byte, header, rest []byte) ([]byte, byte) {
	s := t.ses
	if mode == 0x00 {
		return rest, st424OK
	}
	if s == nil {
		return nil, st424Perm
	}
	if len(rest) < 8 {
		return nil, st424Length
	}
	body, mac := rest[:len(rest)-8], rest[len(rest)-8:]
	want := s.macT(cmd, s.ctr, append(append([]byte(nil), header...), body...))
	if subtle.ConstantTimeCompare(want, mac) != 1 {
		return nil, st424Integrity
	}
	if mode != 0x03 || len(body) == 0 {
		return body, st424OK
	}
	if len(body)%16 != 0 {
		return nil, st424Length
	}
	p := cbcCrypt(s.enc[:], s.iv(0xA5, 0x5A, s.ctr), body, false)
	i := bytes.LastIndexByte(p, 0x80)
	if i < 0 || len(p)-i > 16 {
		return nil, st424Integrity
	}
	for _, b := range p[i+1:] {
		if b != 0 {
			return nil, st424Integrity
		}
	}
	return p[:i], st424OK
}

// secureResponseLocked answers success in mode: the counter moves on, and
// the MACt over RC ‖ CmdCtr ‖ TI ‖ data (encrypted with IVr in Full mode)
// follows the data.
func (t *NTAG424) secureResponseLocked(mode byte, data []byte) []byte {
	s := t.ses
	if s == nil {
		return native(st424OK, data...)
	}
	s.ctr++
	if mode == 0x00 {
		return native(st424OK, data...)
	}
	if mode == 0x03 && len(data) > 0 {
		p := append(append([]byte(nil), data...), 0x80)
		for len(p)%16 != 0 {
			p = append(p, 0)
		}
		data = cbcCrypt(s.enc[:], s.iv(0x5A, 0xA5, s.ctr), p, true)
	}
	return native(st424OK, append(append([]byte(nil), data...), s.macT(st424OK, s.ctr, data)...)...)
}

// failLocked answers an error, which ends the session (§9.1.8).
func (t *NTAG424) failLocked(st byte) []byte {
	t.ses = nil
	return native(st)
}

// getCardUIDLocked is GetCardUID (§10.5.3), CommMode.Full.
func (t *NTAG424) getCardUIDLocked(d []byte) []byte {
	if _, st := t.secureCommandLocked(0x51, 0x03, nil, d); st != st424OK {
		return t.failLocked(st)
	}
	return t.secureResponseLocked(0x03, t.uid[:])
}

// changeKeyLocked is ChangeKey (§10.6.1), CommMode.Full, authenticated with
// key 0: KeyNo, then NewKey ‖ KeyVer for key 0 itself (the session ends;
// the answer carries no MAC), else (NewKey ⊕ OldKey) ‖ KeyVer ‖
// CRC32NK(NewKey).
func (t *NTAG424) changeKeyLocked(d []byte) []byte {
	if t.ses == nil || t.ses.keyNo != 0 {
		return t.failLocked(st424Perm)
	}
	if len(d) < 1 {
		return t.failLocked(st424Length)
	}
	n := d[0]
	if n > 4 {
		return t.failLocked(st424NoKey)
	}
	p, st := t.secureCommandLocked(0xC4, 0x03, d[:1], d[1:])
	if st != st424OK {
		return t.failLocked(st)
	}
	if n == t.ses.keyNo {
		if len(p) != 17 {
			return t.failLocked(st424Length)
		}
		copy(t.keys[n][:], p[:16])
		t.versions[n] = p[16]
		t.ses = nil
		return native(st424OK)
	}
	if len(p) != 21 {
		return t.failLocked(st424Length)
	}
	var nk [16]byte
	subtle.XORBytes(nk[:], p[:16], t.keys[n][:])
	c := ^crc32.ChecksumIEEE(nk[:])
	if !bytes.Equal(p[17:21], []byte{byte(c), byte(c >> 8), byte(c >> 16), byte(c >> 24)}) {
		return t.failLocked(st424Integrity)
	}
	t.keys[n], t.versions[n] = nk, p[16]
	return t.secureResponseLocked(0x03, nil)
}

// access rights nibbles
const (
	arFree = 0xE
	arNone = 0xF
)

func le24(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }

// changeFileSettingsLocked is ChangeFileSettings (§10.7.1), CommMode.Full,
// authenticated with the file's Change key: FileOption AccessRights [SDM
// options, SDM access rights and the offsets they call for, §10.7.1
// Table 69]. Modelled: UID and counter mirroring (ASCII), PICCData under a
// meta read key or in plain, the SDMMAC; SDMENCFileData and
// SDMReadCtrLimit are refused with a parameter error.
func (t *NTAG424) changeFileSettingsLocked(d []byte) []byte {
	if len(d) < 1 {
		return t.failLocked(st424Length)
	}
	no := int(d[0])
	if no < 1 || no > 3 {
		return t.failLocked(st424NotFound)
	}
	f := t.files[no]
	change := f.ar[0] & 0x0F
	if t.ses == nil || (change != arFree && change != t.ses.keyNo) {
		return t.failLocked(st424Perm)
	}
	p, st := t.secureCommandLocked(0x5F, 0x03, d[:1], d[1:])
	if st != st424OK {
		return t.failLocked(st)
	}
	if len(p) < 3 || p[0]&^0x43 != 0 || p[0]&0x03 == 0x02 {
		return t.failLocked(st424Param)
	}
	nf := *f
	nf.mode, nf.ar, nf.sdm = p[0]&0x03, [2]byte{p[1], p[2]}, p[0]&0x40 != 0
	rest := p[3:]
	if nf.sdm {
		if no != 2 || len(rest) < 3 {
			return t.failLocked(st424Param)
		}
		nf.sdmOpts, nf.sdmAR = rest[0], [2]byte{rest[1], rest[2]}
		rest = rest[3:]
		if nf.sdmOpts&^0xC1 != 0 || nf.sdmOpts&0x01 == 0 {
			return t.failLocked(st424Param) // ENCFileData, ReadCtrLimit; ASCII only
		}
		meta, file := nf.sdmAR[1]>>4, nf.sdmAR[1]&0x0F
		take := func() (int, bool) {
			if len(rest) < 3 {
				return 0, false
			}
			v := le24(rest)
			rest = rest[3:]
			return v, v < len(nf.data)
		}
		ok := true
		var o bool
		if meta == 0xE {
			if nf.sdmOpts&0x80 != 0 {
				nf.uidOff, o = take()
				ok = ok && o && nf.uidOff+14 <= len(nf.data)
			}
			if nf.sdmOpts&0x40 != 0 {
				nf.ctrOff, o = take()
				ok = ok && o && nf.ctrOff+6 <= len(nf.data)
			}
		} else if meta <= 4 {
			if nf.sdmOpts&0xC0 != 0xC0 {
				return t.failLocked(st424Param)
			}
			nf.piccOff, o = take()
			ok = ok && o && nf.piccOff+32 <= len(nf.data)
		} else if meta != arNone {
			return t.failLocked(st424Param)
		}
		if file <= 4 {
			if nf.sdmOpts&0xC0 != 0xC0 {
				return t.failLocked(st424Param)
			}
			nf.macInOff, o = take()
			ok = ok && o
			nf.macOff, o = take()
			ok = ok && o && nf.macInOff <= nf.macOff && nf.macOff+16 <= len(nf.data)
		} else if file != arNone {
			return t.failLocked(st424Param)
		}
		if !ok || len(rest) != 0 {
			return t.failLocked(st424Param)
		}
	} else if len(rest) != 0 {
		return t.failLocked(st424Param)
	}
	t.files[no] = &nf
	t.readSession = false
	if no == 2 && nf.sdm {
		t.sdmCtr = 0 // SDMReadCtr is reset when SDM is enabled (§9.3.3)
	}
	return t.secureResponseLocked(0x03, nil)
}

// fileAccessLocked returns the communication mode a data command on f runs
// in: plain when the right is free, the file's own mode when it names the
// authenticated key; ok false when the right is not granted.
func (t *NTAG424) fileAccessLocked(f *file424, rights ...byte) (mode byte, ok bool) {
	for _, r := range rights {
		if r == arFree {
			return 0x00, true
		}
	}
	if t.ses == nil {
		return 0, false
	}
	for _, r := range rights {
		if r == t.ses.keyNo {
			return f.mode, true
		}
	}
	return 0, false
}

// writeDataLocked is WriteData (§10.8.2): FileNo Offset(3) Length(3) data,
// in the mode the file's access rights call for.
func (t *NTAG424) writeDataLocked(d []byte) []byte {
	if len(d) < 7 {
		return t.failLocked(st424Length)
	}
	no := int(d[0])
	if no < 1 || no > 3 {
		return t.failLocked(st424NotFound)
	}
	f := t.files[no]
	mode, ok := t.fileAccessLocked(f, f.ar[1]&0x0F, f.ar[0]>>4)
	if !ok {
		return t.failLocked(st424Perm)
	}
	data, st := t.secureCommandLocked(0x8D, mode, d[:7], d[7:])
	if st != st424OK {
		return t.failLocked(st)
	}
	off, n := le24(d[1:4]), le24(d[4:7])
	if n != len(data) {
		return t.failLocked(st424Length)
	}
	if off+n > len(f.data) {
		return t.failLocked(st424Boundary)
	}
	copy(f.data[off:], data)
	t.readSession = false
	return t.secureResponseLocked(mode, nil)
}

// readDataLocked is ReadData (§10.8.1): FileNo Offset(3) Length(3) (0:
// to the end). An SDM file read with free access returns the mirror.
func (t *NTAG424) readDataLocked(d []byte) []byte {
	if len(d) < 7 {
		return t.failLocked(st424Length)
	}
	no := int(d[0])
	if no < 1 || no > 3 {
		return t.failLocked(st424NotFound)
	}
	f := t.files[no]
	mode, ok := t.fileAccessLocked(f, f.ar[1]>>4, f.ar[0]>>4)
	if !ok {
		return t.failLocked(st424Perm)
	}
	if _, st := t.secureCommandLocked(0xAD, mode, d[:7], d[7:]); st != st424OK {
		return t.failLocked(st)
	}
	content := f.data
	if mode == 0x00 && f.ar[1]>>4 == arFree {
		content = t.contentLocked(no)
	}
	off, n := le24(d[1:4]), le24(d[4:7])
	if n == 0 {
		n = len(content) - off
	}
	if off+n > len(content) || n < 0 {
		return t.failLocked(st424Boundary)
	}
	return t.secureResponseLocked(mode, content[off:off+n])
}

// setSession puts the card in an authenticated state (tests replaying
// NXP's examples mid-session).
func (t *NTAG424) setSession(keyNo byte, ti [4]byte, enc, mac [16]byte, ctr uint16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.ses = &session424{keyNo: keyNo, ti: ti, enc: enc, mac: mac, ctr: ctr}
}

// setFileAccess sets a file's communication mode and access rights
// (tests).
func (t *NTAG424) setFileAccess(no int, mode byte, ar [2]byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.files[no].mode, t.files[no].ar = mode, ar
}
