// Package ntag424 talks to an NXP NTAG 424 DNA (NT4H2421Gx) through an NFC
// controller's ISO-DEP exchange (the PN532's InDataExchange): it programs a
// tag as an admit ticket — per-tag keys, the NDEF URI template, Secure
// Dynamic Messaging — and reads the URL a tag returns.
//
// Programming (Program), in the order NXP's AN12196 §6 personalizes a tag:
//  1. ISOSelectFile of the NDEF application (DF name D2760000850101);
//  2. AuthenticateEV2First with key 0 as the tag holds it (the factory's
//     all-zero key);
//  3. WriteData of the NDEF file (02): NLEN and one URI record holding the
//     template, zeros where the tag mirrors;
//  4. ChangeFileSettings of file 02 (CommMode.Full): SDM on, UID and read
//     counter mirrored as PICCData encrypted with the meta read key, the
//     SDMMAC with the file read key over the bytes from the MAC input
//     offset; reading stays free, writing and changing need key 0;
//  5. ChangeKey of keys 1–4, then key 0 last (its change ends the
//     session), and a new authentication with the new key 0 to prove it.
//
// The cryptography of the secure channel is package ev2's; which keys a
// tag gets is the caller's business (admit derives them with ticket/sun).
package ntag424

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"admit/hal/ntag424/ev2"
)

// Exchanger sends an APDU to the activated ISO-DEP card tg and reads its
// answer into in; *pn532.Dev has it.
type Exchanger interface {
	InDataExchange(ctx context.Context, tg byte, out, in []byte) (int, error)
}

// Tag is an NTAG 424 DNA activated as target Tg of an Exchanger.
type Tag struct {
	x   Exchanger
	tg  byte
	uid [7]byte
	buf []byte
	// Rand supplies RndA for authentications (crypto/rand when nil).
	Rand io.Reader
}

// ErrNotNTAG424: the card cannot be an NTAG 424 DNA (not ISO-DEP, or not a
// 7-byte UID).
var ErrNotNTAG424 = errors.New("ntag424: not an NTAG 424 DNA")

// New returns the tag activated as tg with uid (from the activation:
// InListPassiveTarget's NFCID1).
func New(x Exchanger, tg byte, uid []byte) (*Tag, error) {
	if len(uid) != 7 {
		return nil, fmt.Errorf("%w: %d-byte UID", ErrNotNTAG424, len(uid))
	}
	t := &Tag{x: x, tg: tg, buf: make([]byte, 512)}
	copy(t.uid[:], uid)
	return t, nil
}

// UID is the tag's 7-byte UID.
func (t *Tag) UID() [7]byte { return t.uid }

// transmit sends apdu and returns the answer, at most respMax bytes: the
// PN532 driver reads that much in one bus transfer, so a tight bound keeps
// an I²C bus short.
func (t *Tag) transmit(ctx context.Context, apdu []byte, respMax int) ([]byte, error) {
	n, err := t.x.InDataExchange(ctx, t.tg, apdu, t.buf[:respMax])
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), t.buf[:n]...), nil
}

// ISOError is an ISO/IEC 7816-4 status word other than 90 00.
type ISOError struct {
	Cmd string
	SW  uint16
}

func (e *ISOError) Error() string { return fmt.Sprintf("ntag424: %s: status word %04X", e.Cmd, e.SW) }

func (t *Tag) iso(ctx context.Context, name string, apdu []byte, respMax int) ([]byte, error) {
	r, err := t.transmit(ctx, apdu, respMax)
	if err != nil {
		return nil, fmt.Errorf("ntag424: %s: %w", name, err)
	}
	if len(r) < 2 {
		return nil, fmt.Errorf("ntag424: %s: %w: % X", name, ev2.ErrMalformed, r)
	}
	if sw := uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1]); sw != 0x9000 {
		return nil, &ISOError{Cmd: name, SW: sw}
	}
	return r[:len(r)-2], nil
}

// NDEFApplication is the ISO DF name of the NFC Forum Type 4 application.
var NDEFApplication = []byte{0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01}

// SelectNDEFApplication selects the NDEF application (ISOSelectFile by
// DF name).
func (t *Tag) SelectNDEFApplication(ctx context.Context) error {
	apdu := append([]byte{0x00, 0xA4, 0x04, 0x00, byte(len(NDEFApplication))}, NDEFApplication...)
	_, err := t.iso(ctx, "select NDEF application", append(apdu, 0x00), 2)
	return err
}

// Authenticate runs AuthenticateEV2First with key number keyNo.
func (t *Tag) Authenticate(ctx context.Context, keyNo byte, key ev2.Key) (*ev2.Session, error) {
	a := &ev2.Auth{KeyNo: keyNo, Key: key, Rand: t.Rand}
	r, err := t.transmit(ctx, a.Start(), 18)
	if err != nil {
		return nil, fmt.Errorf("ntag424: authenticate key %d: %w", keyNo, err)
	}
	cmd, err := a.Answer(r)
	if err != nil {
		return nil, err
	}
	if r, err = t.transmit(ctx, cmd, 34); err != nil {
		return nil, fmt.Errorf("ntag424: authenticate key %d: %w", keyNo, err)
	}
	return a.Finish(r)
}

// command runs one native command without answer data in mode on session
// s (the answer: a MAC at most, and the status).
func (t *Tag) command(ctx context.Context, s *ev2.Session, cmd byte, mode ev2.Mode, header, data []byte) ([]byte, error) {
	r, err := t.transmit(ctx, s.Command(cmd, mode, header, data), 8+2)
	if err != nil {
		return nil, fmt.Errorf("ntag424: command %#02x: %w", cmd, err)
	}
	return s.Response(cmd, mode, r)
}

func le24(n int) []byte { return []byte{byte(n), byte(n >> 8), byte(n >> 16)} }

// WriteData writes data into file fileNo from offset, in mode (the file's
// communication mode for the access right used; plain for free access),
// in pieces that fit one APDU.
func (t *Tag) WriteData(ctx context.Context, s *ev2.Session, fileNo byte, offset int, data []byte, mode ev2.Mode) error {
	const chunk = 128
	for len(data) > 0 {
		n := min(len(data), chunk)
		header := append(append([]byte{fileNo}, le24(offset)...), le24(n)...)
		if _, err := t.command(ctx, s, ev2.CmdWriteData, mode, header, data[:n]); err != nil {
			return fmt.Errorf("ntag424: write file %d at %d: %w", fileNo, offset, err)
		}
		data, offset = data[n:], offset+n
	}
	return nil
}

// ChangeFileSettings sets file fileNo's settings (NT4H2421Gx §10.7.1),
// CommMode.Full.
func (t *Tag) ChangeFileSettings(ctx context.Context, s *ev2.Session, fileNo byte, settings []byte) error {
	if _, err := t.command(ctx, s, ev2.CmdChangeFileSettings, ev2.Full, []byte{fileNo}, settings); err != nil {
		return fmt.Errorf("ntag424: change settings of file %d: %w", fileNo, err)
	}
	return nil
}

// ChangeKey sets key n to newKey (version ver); oldKey is what the tag
// holds for n (unused for the authentication key itself, whose change
// ends the session: s cannot be used after it).
func (t *Tag) ChangeKey(ctx context.Context, s *ev2.Session, n byte, newKey, oldKey ev2.Key, ver byte) error {
	apdu := s.Command(ev2.CmdChangeKey, ev2.Full, []byte{n}, s.ChangeKeyData(n, newKey, oldKey, ver))
	r, err := t.transmit(ctx, apdu, 8+2)
	if err != nil {
		return fmt.Errorf("ntag424: change key %d: %w", n, err)
	}
	if n == s.KeyNo {
		// The answer to changing the session's own key has no MAC.
		if _, sw, err := ev2.SplitResponse(ev2.CmdChangeKey, r); err != nil || sw != ev2.StatusOK {
			if err == nil {
				err = &ev2.StatusError{Cmd: ev2.CmdChangeKey, SW2: sw}
			}
			return fmt.Errorf("ntag424: change key %d: %w", n, err)
		}
		return nil
	}
	if _, err := s.Response(ev2.CmdChangeKey, ev2.Full, r); err != nil {
		return fmt.Errorf("ntag424: change key %d: %w", n, err)
	}
	return nil
}

// ReadNDEF reads the NDEF message of the NDEF file as any Type 4 reader
// does: select the application and file E104, read NLEN, read the message.
// On a tag with SDM this read is what moves its read counter.
func (t *Tag) ReadNDEF(ctx context.Context) ([]byte, error) {
	if err := t.SelectNDEFApplication(ctx); err != nil {
		return nil, err
	}
	if _, err := t.iso(ctx, "select NDEF file", []byte{0x00, 0xA4, 0x00, 0x0C, 0x02, 0xE1, 0x04}, 2); err != nil {
		return nil, err
	}
	nlen, err := t.iso(ctx, "read NLEN", []byte{0x00, 0xB0, 0x00, 0x00, 0x02}, 2+2)
	if err != nil {
		return nil, err
	}
	if len(nlen) != 2 {
		return nil, fmt.Errorf("ntag424: read NLEN: %w: % X", ev2.ErrMalformed, nlen)
	}
	n := int(nlen[0])<<8 | int(nlen[1])
	if n > 254 {
		return nil, fmt.Errorf("ntag424: NLEN %d beyond the 256-byte NDEF file", n)
	}
	msg := make([]byte, 0, n)
	for len(msg) < n {
		off := 2 + len(msg)
		want := min(n-len(msg), 250)
		b, err := t.iso(ctx, "read NDEF", []byte{0x00, 0xB0, byte(off >> 8), byte(off), byte(want)}, want+2)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("ntag424: read NDEF: %w: empty answer", ev2.ErrMalformed)
		}
		msg = append(msg, b...)
	}
	return msg[:n], nil
}

// ReadURI reads the NDEF message and returns the URI of its first record.
func (t *Tag) ReadURI(ctx context.Context) (string, error) {
	msg, err := t.ReadNDEF(ctx)
	if err != nil {
		return "", err
	}
	return ParseURIRecord(msg)
}

// URI identifier codes of the NFC Forum URI record type (RTD-URI §3.2.2)
// that admit writes and reads.
var uriPrefixes = []string{0x00: "", 0x01: "http://www.", 0x02: "https://www.", 0x03: "http://", 0x04: "https://"}

// ErrNotURI: the NDEF message does not start with a short URI record.
var ErrNotURI = errors.New("ntag424: no URI record")

// URIRecord is an NDEF message of one short URI record for uri (MB, ME,
// SR, TNF 1, type "U"), with the longest identifier code that fits.
func URIRecord(uri string) ([]byte, int, error) {
	code, rest := byte(0), uri
	for c := len(uriPrefixes) - 1; c > 0; c-- {
		if p := uriPrefixes[c]; strings.HasPrefix(uri, p) {
			code, rest = byte(c), uri[len(p):]
			break
		}
	}
	if len(rest)+1 > 255 {
		return nil, 0, fmt.Errorf("ntag424: URI of %d bytes does not fit a short record", len(uri))
	}
	msg := []byte{0xD1, 0x01, byte(len(rest) + 1), 'U', code}
	// The URI's byte i sits at msg offset len(msg) + i - len(prefix).
	shift := len(msg) - (len(uri) - len(rest))
	return append(msg, rest...), shift, nil
}

// ParseURIRecord returns the URI of the first record of msg, which must
// be a short URI record.
func ParseURIRecord(msg []byte) (string, error) {
	if len(msg) < 5 || msg[0]&0x17 != 0x11 || msg[1] != 1 || msg[3] != 'U' {
		return "", fmt.Errorf("%w: % X", ErrNotURI, msg[:min(len(msg), 5)])
	}
	if msg[0]&0x08 != 0 { // IL: an ID length byte follows
		return "", fmt.Errorf("%w: record with an ID", ErrNotURI)
	}
	n := int(msg[2])
	if n < 1 || 4+n > len(msg) {
		return "", fmt.Errorf("%w: payload length %d", ErrNotURI, n)
	}
	payload := msg[4 : 4+n]
	if int(payload[0]) >= len(uriPrefixes) {
		return "", fmt.Errorf("%w: identifier code %#02x", ErrNotURI, payload[0])
	}
	return uriPrefixes[payload[0]] + string(payload[1:]), nil
}
