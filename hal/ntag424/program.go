package ntag424

import (
	"context"
	"errors"
	"fmt"

	"admit/hal/ntag424/ev2"
)

// File numbers of the NDEF application (NT4H2421Gx §8.2.2).
const (
	FileCC   = 0x01
	FileNDEF = 0x02
)

// NumKeys is the number of application keys.
const NumKeys = 5

// Layout is where the tag mirrors its dynamic data in the URL, as byte
// offsets from the URL's first byte (ticket/sun.Layout has the same
// fields).
type Layout struct {
	PICCData int // the 32 hex digits of PICCData
	MACInput int // first byte the SDMMAC covers
	MAC      int // the 16 hex digits of the SDMMAC
}

// Programming is what Program writes into a tag.
type Programming struct {
	URL    string // the URL template, zeros where the tag mirrors
	Layout Layout
	// Keys are the tag's new application keys; MetaReadKey and
	// FileReadKey say which of them encrypts PICCData and makes the MAC.
	Keys                     [NumKeys]ev2.Key
	MetaReadKey, FileReadKey byte
	KeyVersion               byte
	// OldKeys are the keys the tag holds now: the factory's all-zero keys
	// for a new tag.
	OldKeys [NumKeys]ev2.Key
}

// ErrLayout: the layout does not fit the URL.
var ErrLayout = errors.New("ntag424: SDM layout outside the URL")

// ndefFile is the NDEF file content for uri and the file offset of the
// URI's first byte (NLEN, then the record).
func ndefFile(uri string) ([]byte, int, error) {
	rec, shift, err := URIRecord(uri)
	if err != nil {
		return nil, 0, err
	}
	if 2+len(rec) > 256 {
		return nil, 0, fmt.Errorf("ntag424: NDEF message of %d bytes does not fit the 256-byte file", len(rec))
	}
	return append([]byte{byte(len(rec) >> 8), byte(len(rec))}, rec...), 2 + shift, nil
}

// SDMSettings is ChangeFileSettings' data for the NDEF file (NT4H2421Gx
// §10.7.1): FileOption 40 (SDM, CommMode.Plain), access rights 00 E0
// (ReadWrite key 0, Change key 0, Read free, Write key 0), SDMOptions C1
// (UID and SDMReadCtr mirrored, ASCII), SDM access rights F F meta file
// (no counter retrieval), then PICCDataOffset, SDMMACInputOffset and
// SDMMACOffset, each 3 bytes LSB first, as file offsets.
func SDMSettings(meta, file byte, picc, macIn, mac int) []byte {
	s := []byte{0x40, 0x00, 0xE0, 0xC1, 0xFF, meta<<4 | file&0x0F}
	s = append(s, le24(picc)...)
	s = append(s, le24(macIn)...)
	return append(s, le24(mac)...)
}

// Program personalizes the tag (see the package documentation). Any
// failure leaves the tag partly programmed; the error says at which step,
// and OldKeys must then say what the tag holds for a retry.
func (t *Tag) Program(ctx context.Context, p Programming) error {
	l := p.Layout
	if l.MACInput < 0 || l.MACInput > l.MAC || l.PICCData < 0 || l.PICCData+32 > len(p.URL) || l.MAC+16 > len(p.URL) {
		return fmt.Errorf("%w: %+v in %d bytes", ErrLayout, l, len(p.URL))
	}
	if p.MetaReadKey >= NumKeys || p.FileReadKey >= NumKeys {
		return fmt.Errorf("ntag424: meta read key %d, file read key %d", p.MetaReadKey, p.FileReadKey)
	}
	content, at, err := ndefFile(p.URL)
	if err != nil {
		return err
	}
	if at+l.PICCData < 0 || at+l.MACInput < 0 {
		return fmt.Errorf("%w: the URL prefix covers a mirror", ErrLayout)
	}
	if err := t.SelectNDEFApplication(ctx); err != nil {
		return err
	}
	s, err := t.Authenticate(ctx, 0, p.OldKeys[0])
	if err != nil {
		return err
	}
	// A factory tag's NDEF file is writable freely: plain WriteData.
	if err := t.WriteData(ctx, s, FileNDEF, 0, content, ev2.Plain); err != nil {
		return err
	}
	settings := SDMSettings(p.MetaReadKey, p.FileReadKey, at+l.PICCData, at+l.MACInput, at+l.MAC)
	if err := t.ChangeFileSettings(ctx, s, FileNDEF, settings); err != nil {
		return err
	}
	for n := byte(1); n < NumKeys; n++ {
		if err := t.ChangeKey(ctx, s, n, p.Keys[n], p.OldKeys[n], p.KeyVersion); err != nil {
			return err
		}
	}
	if err := t.ChangeKey(ctx, s, 0, p.Keys[0], p.OldKeys[0], p.KeyVersion); err != nil {
		return err
	}
	// Prove the new master key took.
	if _, err := t.Authenticate(ctx, 0, p.Keys[0]); err != nil {
		return fmt.Errorf("ntag424: the new key 0 does not authenticate: %w", err)
	}
	return nil
}
