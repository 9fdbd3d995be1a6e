// Package ev2 is the reader's side of NTAG 424 DNA's EV2 secure messaging,
// without I/O: AuthenticateEV2First (NT4H2421Gx §9.1.5), the session keys
// it yields (§9.1.7: SesAuthENCKey and SesAuthMACKey, CMAC of a 32-byte
// session vector mixing RndA and RndB), and the wrapping of commands and
// unwrapping of responses in CommMode.MAC and CommMode.Full (§9.1.8–9.1.10:
// MACt over Cmd ‖ CmdCtr ‖ TI ‖ header ‖ data; AES-CBC with IVs from
// A55A/5AA5 ‖ TI ‖ CmdCtr; ISO 9797-1 method 2 padding). The worked
// examples of NXP's AN12196 are its tests.
//
// Native commands travel in ISO/IEC 7816-4 APDUs: CLA 0x90, INS the command
// code, P1 P2 0, Lc, header ‖ data, Le 0; answers end with SW 91 XX.
package ev2

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash/crc32"
	"io"

	"admit/internal/aescmac"
)

// Key is an AES-128 key.
type Key [16]byte

// Native command codes used here (NT4H2421Gx §10).
const (
	CmdAuthenticateEV2First = 0x71
	CmdAdditionalFrame      = 0xAF
	CmdGetCardUID           = 0x51
	CmdChangeKey            = 0xC4
	CmdChangeFileSettings   = 0x5F
	CmdWriteData            = 0x8D
	CmdReadData             = 0xAD
	CmdGetFileSettings      = 0xF5
)

// Status codes (SW2 after 91, §10.2).
const (
	StatusOK             = 0x00
	StatusMoreFrames     = 0xAF
	StatusAuthError      = 0xAE
	StatusIntegrityError = 0x1E
	StatusParameterError = 0x9E
	StatusPermission     = 0x9D
	StatusLengthError    = 0x7E
	StatusNoSuchKey      = 0x40
	StatusBoundaryError  = 0xBE
	StatusCommandAborted = 0xCA
	StatusFileNotFound   = 0xF0
	StatusIllegalCommand = 0x1C
)

// Mode is a communication mode (§8.2.3.6).
type Mode byte

const (
	Plain Mode = 0x00
	MAC   Mode = 0x01
	Full  Mode = 0x03
)

// Errors of the secure channel; test with errors.Is.
var (
	// ErrAuth: the card's answer shows it does not hold the key (or it
	// refused the authentication, 91 AE).
	ErrAuth = errors.New("ntag424: authentication failed")
	// ErrResponseMAC: a response's MAC does not verify (an answer not from
	// the authenticated card, or damaged).
	ErrResponseMAC = errors.New("ntag424: response MAC does not verify")
	// ErrMalformed: a response too short or wrongly padded.
	ErrMalformed = errors.New("ntag424: malformed response")
)

// StatusError is an answer with SW 91 XX other than 00 (or AF where not
// expected).
type StatusError struct {
	Cmd byte
	SW2 byte
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("ntag424: command %#02x: status 91 %02X%s", e.Cmd, e.SW2, statusText(e.SW2))
}

func statusText(sw2 byte) string {
	switch sw2 {
	case StatusAuthError:
		return " (authentication error)"
	case StatusIntegrityError:
		return " (integrity error: CRC or MAC)"
	case StatusParameterError:
		return " (parameter error)"
	case StatusPermission:
		return " (permission denied)"
	case StatusLengthError:
		return " (length error)"
	case StatusNoSuchKey:
		return " (no such key)"
	case StatusBoundaryError:
		return " (boundary error)"
	case StatusCommandAborted:
		return " (command aborted)"
	case StatusFileNotFound:
		return " (file not found)"
	}
	return ""
}

// Is makes a 91 AE answer match ErrAuth.
func (e *StatusError) Is(target error) bool { return target == ErrAuth && e.SW2 == StatusAuthError }

// APDU wraps a native command: 90 cmd 00 00 Lc data 00 (Lc absent without
// data).
func APDU(cmd byte, data []byte) []byte {
	if len(data) == 0 {
		return []byte{0x90, cmd, 0x00, 0x00, 0x00}
	}
	out := []byte{0x90, cmd, 0x00, 0x00, byte(len(data))}
	out = append(out, data...)
	return append(out, 0x00)
}

// SplitResponse separates an R-APDU into data and SW2, checking SW1 = 91.
func SplitResponse(cmd byte, r []byte) ([]byte, byte, error) {
	if len(r) < 2 || r[len(r)-2] != 0x91 {
		return nil, 0, fmt.Errorf("%w: % X to command %#02x", ErrMalformed, r, cmd)
	}
	return r[:len(r)-2], r[len(r)-1], nil
}

func rotl(b []byte) []byte { return append(append([]byte(nil), b[1:]...), b[0]) }

func cbc(key Key, iv []byte, in []byte, encrypt bool) []byte {
	blk, _ := aes.NewCipher(key[:])
	out := make([]byte, len(in))
	if encrypt {
		cipher.NewCBCEncrypter(blk, iv).CryptBlocks(out, in)
	} else {
		cipher.NewCBCDecrypter(blk, iv).CryptBlocks(out, in)
	}
	return out
}

var zeroIV = make([]byte, 16)

// Auth is one AuthenticateEV2First exchange with key number KeyNo under
// Key (§9.1.5).
type Auth struct {
	KeyNo byte
	Key   Key
	// Rand supplies RndA (crypto/rand when nil).
	Rand io.Reader

	rndA, rndB []byte
}

// Start is the first C-APDU: 90 71 00 00 02 KeyNo 00 00 (LenCap 0).
func (a *Auth) Start() []byte { return APDU(CmdAuthenticateEV2First, []byte{a.KeyNo, 0x00}) }

// Answer takes the card's E(Key, RndB) (R-APDU with 91 AF) and returns the
// second C-APDU: 90 AF 00 00 20 E(Key, RndA ‖ RndB') 00.
func (a *Auth) Answer(resp []byte) ([]byte, error) {
	data, sw, err := SplitResponse(CmdAuthenticateEV2First, resp)
	if err != nil {
		return nil, err
	}
	if sw != StatusMoreFrames {
		return nil, fmt.Errorf("ntag424: authenticate key %d: %w", a.KeyNo, &StatusError{CmdAuthenticateEV2First, sw})
	}
	if len(data) != 16 {
		return nil, fmt.Errorf("%w: encrypted RndB of %d bytes", ErrMalformed, len(data))
	}
	a.rndB = cbc(a.Key, zeroIV, data, false)
	a.rndA = make([]byte, 16)
	if err := readRand(a.Rand, a.rndA); err != nil {
		return nil, err
	}
	msg := cbc(a.Key, zeroIV, append(append([]byte(nil), a.rndA...), rotl(a.rndB)...), true)
	return APDU(CmdAdditionalFrame, msg), nil
}

// Finish takes the card's last answer, E(Key, TI ‖ RndA' ‖ PDcap2 ‖
// PCDcap2), checks RndA' and returns the session.
func (a *Auth) Finish(resp []byte) (*Session, error) {
	data, sw, err := SplitResponse(CmdAdditionalFrame, resp)
	if err != nil {
		return nil, err
	}
	if sw != StatusOK {
		return nil, fmt.Errorf("ntag424: authenticate key %d: %w", a.KeyNo, &StatusError{CmdAuthenticateEV2First, sw})
	}
	if len(data) != 32 || a.rndA == nil {
		return nil, fmt.Errorf("%w: last authentication answer of %d bytes", ErrMalformed, len(data))
	}
	p := cbc(a.Key, zeroIV, data, false)
	if !bytes.Equal(p[4:20], rotl(a.rndA)) {
		return nil, fmt.Errorf("%w: key %d: the card did not return RndA", ErrAuth, a.KeyNo)
	}
	enc, mac := SessionKeys(a.Key, a.rndA, a.rndB)
	s := &Session{KeyNo: a.KeyNo, Enc: enc, Mac: mac}
	copy(s.TI[:], p[0:4])
	return s, nil
}

// SessionKeys derives SesAuthENCKey and SesAuthMACKey from the key and the
// two random numbers (§9.1.7): CMAC(Key, SV) with SV = label ‖ 0001 0080 ‖
// RndA[15..14] ‖ (RndA[13..8] ⊕ RndB[15..10]) ‖ RndB[9..0] ‖ RndA[7..0],
// labels A55A (ENC) and 5AA5 (MAC); byte 15 is the first byte.
func SessionKeys(key Key, rndA, rndB []byte) (enc, mac Key) {
	ctx := make([]byte, 0, 26)
	ctx = append(ctx, rndA[0:2]...)
	x := make([]byte, 6)
	subtle.XORBytes(x, rndA[2:8], rndB[0:6])
	ctx = append(ctx, x...)
	ctx = append(ctx, rndB[6:16]...)
	ctx = append(ctx, rndA[8:16]...)
	m, _ := aescmac.New(key[:])
	sv1 := append([]byte{0xA5, 0x5A, 0x00, 0x01, 0x00, 0x80}, ctx...)
	sv2 := append([]byte{0x5A, 0xA5, 0x00, 0x01, 0x00, 0x80}, ctx...)
	return Key(m.Sum(sv1)), Key(m.Sum(sv2))
}

func readRand(r io.Reader, p []byte) error {
	if r == nil {
		r = cryptoRand
	}
	if _, err := io.ReadFull(r, p); err != nil {
		return fmt.Errorf("ntag424: random: %w", err)
	}
	return nil
}

// Session is an authenticated channel (§9.1.8): transaction identifier,
// session keys and the command counter, which every command in the
// session moves on by one.
type Session struct {
	KeyNo    byte
	TI       [4]byte
	Enc, Mac Key
	CmdCtr   uint16
}

func (s *Session) iv(label [2]byte, ctr uint16) []byte {
	in := make([]byte, 16)
	in[0], in[1] = label[0], label[1]
	copy(in[2:6], s.TI[:])
	in[6], in[7] = byte(ctr), byte(ctr>>8)
	blk, _ := aes.NewCipher(s.Enc[:])
	blk.Encrypt(in, in)
	return in
}

// macT is the truncated MAC of cmdOrRC ‖ ctr ‖ TI ‖ rest.
func (s *Session) macT(first byte, ctr uint16, rest []byte) [8]byte {
	m, _ := aescmac.New(s.Mac[:])
	in := append([]byte{first, byte(ctr), byte(ctr >> 8)}, s.TI[:]...)
	return m.SumTruncated(append(in, rest...))
}

// Pad is ISO/IEC 9797-1 padding method 2: 80 then zeros to a multiple of
// 16 bytes, always at least one byte.
func Pad(b []byte) []byte {
	out := append(append([]byte(nil), b...), 0x80)
	for len(out)%16 != 0 {
		out = append(out, 0x00)
	}
	return out
}

// Unpad undoes Pad.
func Unpad(b []byte) ([]byte, error) {
	i := bytes.LastIndexByte(b, 0x80)
	if i < 0 || len(b)-i > 16 || !allZero(b[i+1:]) {
		return nil, fmt.Errorf("%w: padding", ErrMalformed)
	}
	return b[:i], nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Command wraps a native command in mode: in MAC mode MACt(Cmd ‖ CmdCtr ‖
// TI ‖ header ‖ data) follows the data; in Full mode the data is padded
// and encrypted with IVc = E(SesAuthENC, A55A ‖ TI ‖ CmdCtr ‖ 0⁸) first,
// and the MAC covers the ciphertext. The header goes in clear.
func (s *Session) Command(cmd byte, mode Mode, header, data []byte) []byte {
	body := append([]byte(nil), header...)
	switch mode {
	case Plain:
		body = append(body, data...)
	case MAC, Full:
		payload := data
		if mode == Full && len(data) > 0 {
			payload = cbc(s.Enc, s.iv([2]byte{0xA5, 0x5A}, s.CmdCtr), Pad(data), true)
		}
		body = append(body, payload...)
		t := s.macT(cmd, s.CmdCtr, body)
		body = append(body, t[:]...)
	}
	return APDU(cmd, body)
}

// Response checks the card's answer to cmd sent in mode and moves the
// command counter on. In MAC and Full mode the last 8 data bytes are
// MACt(RC ‖ CmdCtr+1 ‖ TI ‖ data); in Full mode the data is decrypted with
// IVr = E(SesAuthENC, 5AA5 ‖ TI ‖ CmdCtr+1 ‖ 0⁸) and unpadded. An answer
// other than 91 00 is a *StatusError and ends the session (§9.1.8).
func (s *Session) Response(cmd byte, mode Mode, r []byte) ([]byte, error) {
	data, sw, err := SplitResponse(cmd, r)
	if err != nil {
		return nil, err
	}
	if sw != StatusOK {
		return nil, &StatusError{Cmd: cmd, SW2: sw}
	}
	next := s.CmdCtr + 1
	if mode == Plain {
		s.CmdCtr = next
		return data, nil
	}
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: no MAC in the answer to %#02x", ErrMalformed, cmd)
	}
	body, got := data[:len(data)-8], data[len(data)-8:]
	want := s.macT(sw, next, body)
	if subtle.ConstantTimeCompare(want[:], got) != 1 {
		return nil, fmt.Errorf("%w: command %#02x", ErrResponseMAC, cmd)
	}
	s.CmdCtr = next
	if mode == Full && len(body) > 0 {
		if len(body)%16 != 0 {
			return nil, fmt.Errorf("%w: encrypted answer of %d bytes", ErrMalformed, len(body))
		}
		return Unpad(cbc(s.Enc, s.iv([2]byte{0x5A, 0xA5}, next), body, false))
	}
	return body, nil
}

// CRC32 is the CRC32 of NXP's DESFire family (§10.6.1, CRC32NK): the
// IEEE 802.3 polynomial without the final inversion, LSB first.
func CRC32(b []byte) [4]byte {
	c := ^crc32.ChecksumIEEE(b)
	return [4]byte{byte(c), byte(c >> 8), byte(c >> 16), byte(c >> 24)}
}

// ChangeKeyData is ChangeKey's command data (§10.6.1) for key number n,
// authenticated with key s.KeyNo: the new key and its version when n is
// the authentication key, else (new ⊕ old) ‖ version ‖ CRC32NK(new).
func (s *Session) ChangeKeyData(n byte, newKey, oldKey Key, version byte) []byte {
	if n == s.KeyNo {
		return append(append([]byte(nil), newKey[:]...), version)
	}
	x := make([]byte, 16)
	subtle.XORBytes(x, newKey[:], oldKey[:])
	x = append(x, version)
	crc := CRC32(newKey[:])
	return append(x, crc[:]...)
}
