// Package datamatrix reads the data of Data Matrix symbols (ISO/IEC 16022
// 5.2): the error-corrected data codewords, as gozxing's reader finds and
// corrects them, expanded into the message. gozxing's own expansion
// ignores ECI designators and keeps a GS1 symbol's leading FNC1; this one
// applies the character sets the designators select (through
// decode/internal/eci), drops the FNC1 that marks GS1 data, and reports
// structured append.
package datamatrix

import (
	"errors"
	"fmt"

	"admit/decode/internal/eci"
)

// ErrFormat is returned when the codewords do not form a valid data
// stream.
var ErrFormat = errors.New("datamatrix: invalid data stream")

// Content is a symbol's message.
type Content struct {
	Text  string // bytes interpreted per ECI (ISO-8859-1 by default)
	Bytes []byte // content bytes as encoded
	ECI   bool   // an ECI designator occurred
	GS1   bool   // FNC1 in first position: GS1 data
	// Structured append: Index is the 0-based position, -1 when the
	// symbol stands alone; Count is the number of symbols (0 if unknown).
	Index, Count int
}

// encodation modes of ISO/IEC 16022 5.2.
type encodation int

const (
	ascii encodation = iota
	c40
	text
	x12
	edifact
	base256
)

// Macro headers and trailer (ISO/IEC 16022 5.2.9.3).
const (
	macro05  = "[)>\x1e05\x1d"
	macro06  = "[)>\x1e06\x1d"
	macroEnd = "\x1e\x04"
)

// Decode expands the data codewords cw.
func Decode(cw []byte) (Content, error) {
	out := Content{Index: -1}
	t := eci.New()
	trailer := ""
	mode := ascii
	upper := false // the next character gets 128 added (Upper Shift)
	emit := func(c byte) {
		if upper {
			c += 128
			upper = false
		}
		t.WriteByte(c)
	}
	fnc1 := func(pos int) {
		if pos == 0 {
			out.GS1 = true
			return
		}
		t.WriteByte(0x1d)
	}
	i := 0
	for i < len(cw) {
		switch mode {
		case ascii:
			c := int(cw[i])
			first := i == 0
			i++
			switch {
			case c == 0:
				return out, fmt.Errorf("%w: codeword 0", ErrFormat)
			case c <= 128:
				emit(byte(c - 1))
			case c == 129: // padding: the data ends
				i = len(cw)
			case c <= 229:
				d := c - 130
				emit(byte('0' + d/10))
				emit(byte('0' + d%10))
			case c == 230:
				mode = c40
			case c == 231:
				mode = base256
			case c == 232:
				fnc1(t.Len())
			case c == 233: // structured append: sequence, file ID
				if i+3 > len(cw) {
					return out, fmt.Errorf("%w: structured append", ErrFormat)
				}
				s := int(cw[i])
				out.Index, out.Count = s>>4, 17-s&0x0f
				if out.Count <= out.Index || out.Count > 16 {
					out.Count = 0
				}
				i += 3
			case c == 234: // reader programming
			case c == 235:
				upper = true
			case c == 236 || c == 237:
				if !first {
					return out, fmt.Errorf("%w: macro not first", ErrFormat)
				}
				h := macro05
				if c == 237 {
					h = macro06
				}
				t.Write([]byte(h))
				trailer = macroEnd
			case c == 238:
				mode = x12
			case c == 239:
				mode = text
			case c == 240:
				mode = edifact
			case c == 241:
				v, n, err := eciValue(cw[i:])
				if err != nil {
					return out, err
				}
				i += n
				t.SetECI(v)
				out.ECI = true
			default:
				return out, fmt.Errorf("%w: codeword %d", ErrFormat, c)
			}
		case c40, text:
			var err error
			i, err = decodeTriples(cw, i, mode, emit, func() { fnc1(t.Len()) }, &upper)
			if err != nil {
				return out, err
			}
			mode = ascii
		case x12:
			var err error
			i, err = decodeX12(cw, i, emit)
			if err != nil {
				return out, err
			}
			mode = ascii
		case edifact:
			i = decodeEdifact(cw, i, emit)
			mode = ascii
		case base256:
			var err error
			i, err = decodeBase256(cw, i, t)
			if err != nil {
				return out, err
			}
			mode = ascii
		}
	}
	t.Write([]byte(trailer))
	if !t.Valid() {
		return out, fmt.Errorf("%w: bad character encoding", ErrFormat)
	}
	out.Bytes, out.Text = t.Bytes(), t.String()
	return out, nil
}

// eciValue reads an ECI designator's codewords after codeword 241 and
// returns the designator and how many codewords it took.
func eciValue(cw []byte) (int, int, error) {
	if len(cw) < 1 {
		return 0, 0, fmt.Errorf("%w: ECI at the end", ErrFormat)
	}
	c1 := int(cw[0])
	switch {
	case c1 >= 1 && c1 <= 127:
		return c1 - 1, 1, nil
	case c1 >= 128 && c1 <= 191 && len(cw) >= 2:
		return (c1-128)*254 + int(cw[1]) - 1 + 127, 2, nil
	case c1 >= 192 && c1 <= 207 && len(cw) >= 3:
		return (c1-192)*64516 + (int(cw[1])-1)*254 + int(cw[2]) - 1 + 16383, 3, nil
	}
	return 0, 0, fmt.Errorf("%w: ECI designator", ErrFormat)
}

// The C40 and Text sets (ISO/IEC 16022 Annex C): the basic sets after
// the three shifts and space, and the shift 2 and 3 sets.
const (
	c40Basic  = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	textBasic = "0123456789abcdefghijklmnopqrstuvwxyz"
	shift2Set = "!\"#$%&'()*+,-./:;<=>?@[\\]^_"
	c40Shift3 = "`abcdefghijklmnopqrstuvwxyz{|}~\x7f"
	txtShift3 = "`ABCDEFGHIJKLMNOPQRSTUVWXYZ{|}~\x7f"
)

// decodeTriples reads C40 or Text codeword pairs (three values each) from
// cw[i:] until an unlatch (254) or the end, and returns where it stopped.
func decodeTriples(cw []byte, i int, mode encodation, emit func(byte), fnc1 func(), upper *bool) (int, error) {
	basic, shift3 := c40Basic, c40Shift3
	if mode == text {
		basic, shift3 = textBasic, txtShift3
	}
	shift := 0
	for i < len(cw) {
		if cw[i] == 254 {
			return i + 1, nil
		}
		if i+1 >= len(cw) {
			return i, nil // one codeword left: it is ASCII (5.2.5.2)
		}
		v := int(cw[i])*256 + int(cw[i+1]) - 1
		if v < 0 || v >= 64000 {
			return i, fmt.Errorf("%w: codeword pair %d, %d", ErrFormat, cw[i], cw[i+1])
		}
		i += 2
		for _, c := range [3]int{v / 1600, v / 40 % 40, v % 40} {
			switch shift {
			case 0:
				switch {
				case c < 3:
					shift = c + 1
				case c == 3:
					emit(' ')
				default:
					if c-4 >= len(basic) {
						return i, fmt.Errorf("%w: C40/Text value %d", ErrFormat, c)
					}
					emit(basic[c-4])
				}
			case 1:
				emit(byte(c))
				shift = 0
			case 2:
				switch {
				case c < len(shift2Set):
					emit(shift2Set[c])
				case c == 27:
					fnc1()
				case c == 30:
					*upper = true
				default:
					return i, fmt.Errorf("%w: C40/Text shift 2 value %d", ErrFormat, c)
				}
				shift = 0
			case 3:
				if c >= len(shift3) {
					return i, fmt.Errorf("%w: C40/Text shift 3 value %d", ErrFormat, c)
				}
				emit(shift3[c])
				shift = 0
			}
		}
	}
	return i, nil
}

// decodeX12 reads ANSI X12 codeword pairs until an unlatch or the end.
func decodeX12(cw []byte, i int, emit func(byte)) (int, error) {
	const set = "\r*> 0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	for i < len(cw) {
		if cw[i] == 254 {
			return i + 1, nil
		}
		if i+1 >= len(cw) {
			return i, nil // one codeword left: it is ASCII
		}
		v := int(cw[i])*256 + int(cw[i+1]) - 1
		if v < 0 || v >= 64000 {
			return i, fmt.Errorf("%w: codeword pair %d, %d", ErrFormat, cw[i], cw[i+1])
		}
		i += 2
		for _, c := range [3]int{v / 1600, v / 40 % 40, v % 40} {
			if c >= len(set) {
				return i, fmt.Errorf("%w: X12 value %d", ErrFormat, c)
			}
			emit(set[c])
		}
	}
	return i, nil
}

// decodeEdifact reads EDIFACT triples (four 6-bit values each) until the
// unlatch value or the last two codewords (which are ASCII).
func decodeEdifact(cw []byte, i int, emit func(byte)) int {
	for i+3 <= len(cw) {
		v := int(cw[i])<<16 | int(cw[i+1])<<8 | int(cw[i+2])
		for k := 0; k < 4; k++ {
			c := v >> (18 - 6*k) & 0x3f
			if c == 0x1f {
				// Unlatch: the rest of its codeword is padding, the next
				// codewords are ASCII.
				return i + (6*k+6+7)/8
			}
			if c&0x20 == 0 {
				c |= 0x40
			}
			emit(byte(c))
		}
		i += 3
	}
	return i
}

// decodeBase256 reads a Base 256 field (a randomized length, then
// randomized bytes) starting at cw[i].
func decodeBase256(cw []byte, i int, t *eci.Text) (int, error) {
	unrand := func(pos int) int {
		r := (149*(pos+1))%255 + 1 // pos is 0-based: the codeword's position is pos+1
		return (int(cw[pos]) - r + 256) % 256
	}
	if i >= len(cw) {
		return i, nil
	}
	n := unrand(i)
	i++
	switch {
	case n == 0:
		n = len(cw) - i
	case n >= 250:
		if i >= len(cw) {
			return i, fmt.Errorf("%w: Base 256 length", ErrFormat)
		}
		n = 250*(n-249) + unrand(i)
		i++
	}
	if n < 0 || i+n > len(cw) {
		return i, fmt.Errorf("%w: Base 256 field of %d bytes", ErrFormat, n)
	}
	for k := 0; k < n; k++ {
		t.WriteByte(byte(unrand(i)))
		i++
	}
	return i, nil
}
