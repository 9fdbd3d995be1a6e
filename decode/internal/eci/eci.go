// Package eci interprets a symbol's content bytes under the character sets
// that Extended Channel Interpretation designators select (AIM ECI): PDF417
// and Aztec symbols switch character sets inside their data. Without a
// designator the bytes are ISO-8859-1, as common readers take them.
package eci

import (
	"bytes"
	"strings"
	"unicode/utf8"

	"github.com/makiuchi-d/gozxing/common"
	"golang.org/x/text/encoding/charmap"
)

// Text accumulates content bytes and the text they spell. The zero value
// is not ready; use New.
type Text struct {
	text strings.Builder
	raw  bytes.Buffer
	cur  bytes.Buffer // bytes under the current designator, not yet converted
	eci  int          // -1: none yet (ISO-8859-1)
	fail bool
}

// New returns an empty Text under the default character set.
func New() *Text { return &Text{eci: -1} }

// WriteByte appends one content byte. It never fails.
func (t *Text) WriteByte(c byte) error {
	t.raw.WriteByte(c)
	t.cur.WriteByte(c)
	return nil
}

// Write appends content bytes. It never fails.
func (t *Text) Write(b []byte) (int, error) {
	t.raw.Write(b)
	t.cur.Write(b)
	return len(b), nil
}

// SetECI makes the designator v (0–999999) apply to the bytes that follow.
func (t *Text) SetECI(v int) {
	t.flush()
	t.eci = v
}

// String returns the content as text (UTF-8).
func (t *Text) String() string {
	t.flush()
	return t.text.String()
}

// Bytes returns the content bytes as encoded, all designators' together.
func (t *Text) Bytes() []byte { return t.raw.Bytes() }

// Len returns the number of content bytes.
func (t *Text) Len() int { return t.raw.Len() }

// Valid reports whether every byte sequence was valid in its character
// set (UTF-8 under ECI 26, for instance).
func (t *Text) Valid() bool {
	t.flush()
	return !t.fail
}

func (t *Text) flush() {
	if t.cur.Len() == 0 {
		return
	}
	b := t.cur.Bytes()
	switch t.eci {
	case -1, 1, 3, 899: // ISO-8859-1 by default; 899 is binary
		for _, c := range b {
			t.text.WriteRune(rune(c))
		}
	case 26:
		t.text.Write(b)
		if !utf8.Valid(b) {
			t.fail = true
		}
	case 0, 2:
		out, err := charmap.CodePage437.NewDecoder().Bytes(b)
		if err != nil {
			t.fail = true
		}
		t.text.Write(out)
	default:
		cs, err := common.GetCharacterSetECIByValue(t.eci)
		if err != nil || cs == nil {
			for _, c := range b {
				t.text.WriteRune(rune(c))
			}
			break
		}
		out, err := cs.GetCharset().NewDecoder().Bytes(b)
		if err != nil {
			t.fail = true
		}
		t.text.Write(out)
	}
	t.cur.Reset()
}
