package aztec

import (
	"errors"
	"fmt"
	"strings"

	"admit/decode/internal/eci"
)

// errFormat is returned when the corrected bits do not form a valid Aztec
// data stream.
var errFormat = errors.New("aztec: invalid data stream")

// mode is one of the character tables of ISO/IEC 24778 Table 2.
type mode int

const (
	upper mode = iota
	lower
	mixed
	punct
	digit
	binary
)

// Control entries of the tables: shifts, latches, FLG(n).
const (
	ctrlPS  = -1 - iota // punctuation shift
	ctrlUS              // upper shift
	ctrlBS              // binary shift
	ctrlFLG             // FLG(n): FNC1 or an ECI
	ctrlUL              // latches
	ctrlLL
	ctrlML
	ctrlDL
	ctrlPL
)

// tables maps a mode's codes to characters (as strings: the punctuation
// table has pairs) or control entries.
var tables = func() [5][]entry {
	var t [5][]entry
	chars := func(s string) []entry {
		var out []entry
		for _, r := range s {
			out = append(out, entry{s: string(r)})
		}
		return out
	}
	ctl := func(c int) entry { return entry{ctl: c} }
	// Upper: P/S, space, A–Z, L/L, M/L, D/L, B/S.
	t[upper] = append(append([]entry{ctl(ctrlPS)}, chars(" ABCDEFGHIJKLMNOPQRSTUVWXYZ")...),
		ctl(ctrlLL), ctl(ctrlML), ctl(ctrlDL), ctl(ctrlBS))
	// Lower: P/S, space, a–z, U/S, M/L, D/L, B/S.
	t[lower] = append(append([]entry{ctl(ctrlPS)}, chars(" abcdefghijklmnopqrstuvwxyz")...),
		ctl(ctrlUS), ctl(ctrlML), ctl(ctrlDL), ctl(ctrlBS))
	// Mixed: P/S, space, ^A–^M, ^[, ^\, ^], ^^, ^_, @ \ ^ _ ` | ~ DEL, L/L, U/L, P/L, B/S.
	t[mixed] = append(append([]entry{ctl(ctrlPS)}, chars(" \x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x1b\x1c\x1d\x1e\x1f@\\^_`|~\x7f")...),
		ctl(ctrlLL), ctl(ctrlUL), ctl(ctrlPL), ctl(ctrlBS))
	// Punctuation: FLG(n), CR, CR LF, ". ", ", ", ": ", ! " # $ % & ' ( ) * + , - . / : ; < = > ? [ ] { }, U/L.
	t[punct] = append([]entry{ctl(ctrlFLG), {s: "\r"}, {s: "\r\n"}, {s: ". "}, {s: ", "}, {s: ": "}},
		chars("!\"#$%&'()*+,-./:;<=>?[]{}")...)
	t[punct] = append(t[punct], ctl(ctrlUL))
	// Digit: P/S, space, 0–9, comma, full stop, U/L, U/S.
	t[digit] = append(append([]entry{ctl(ctrlPS)}, chars(" 0123456789,.")...), ctl(ctrlUL), ctl(ctrlUS))
	return t
}()

type entry struct {
	s   string
	ctl int
}

// bitReader reads big-endian fields from a bit slice.
type bitReader struct {
	bits []bool
	pos  int
}

func (r *bitReader) left() int { return len(r.bits) - r.pos }

func (r *bitReader) read(n int) int {
	v := 0
	for i := 0; i < n; i++ {
		v <<= 1
		if r.bits[r.pos] {
			v |= 1
		}
		r.pos++
	}
	return v
}

// content is a decoded symbol's message.
type content struct {
	text  string
	bytes []byte
	eci   bool // an ECI designator occurred
	gs1   bool // FNC1 in first position: GS1 data
	// Structured append (ISO/IEC 24778 8): index is 0-based, -1 when the
	// symbol stands alone; count is 0 when unknown.
	index, count int
	id           string
}

// decodeBits expands the corrected data bits into the message.
func decodeBits(bits []bool) (content, error) {
	out := content{index: -1}
	t := eci.New()
	r := &bitReader{bits: bits}
	latched, cur := upper, upper // the latched mode and the one the next code is read in
	for {
		if cur == binary {
			if r.left() <= 6 { // padding
				break
			}
			n := r.read(5)
			if n == 0 {
				if r.left() < 11 {
					return out, fmt.Errorf("%w: binary shift length", errFormat)
				}
				n = r.read(11) + 31
			}
			if r.left() < 8*n {
				return out, fmt.Errorf("%w: binary shift of %d bytes, %d bits left", errFormat, n, r.left())
			}
			for i := 0; i < n; i++ {
				t.WriteByte(byte(r.read(8)))
			}
			cur = latched
			continue
		}
		size := 5
		if cur == digit {
			size = 4
		}
		if r.left() < size {
			break
		}
		e := tables[cur][r.read(size)]
		if e.ctl == 0 {
			t.Write([]byte(e.s))
			cur = latched
			continue
		}
		switch e.ctl {
		case ctrlFLG:
			if r.left() < 3 {
				return out, fmt.Errorf("%w: FLG(n) at the end", errFormat)
			}
			n := r.read(3)
			switch {
			case n == 0: // FNC1
				b := t.Bytes()
				switch {
				case len(b) == 0:
					out.gs1 = true // first position: GS1 data
				case !out.gs1 && (len(b) == 1 && b[0] >= 'A' && b[0] <= 'Z' ||
					len(b) == 2 && isDigit(b[0]) && isDigit(b[1])):
					// After an AIM application indicator: not data.
				default:
					t.WriteByte(0x1d) // a GS1 separator
				}
			case n <= 6: // ECI of n digits
				if r.left() < 4*n {
					return out, fmt.Errorf("%w: ECI at the end", errFormat)
				}
				v := 0
				for i := 0; i < n; i++ {
					d := r.read(4) - 2
					if d < 0 || d > 9 {
						return out, fmt.Errorf("%w: ECI digit", errFormat)
					}
					v = 10*v + d
				}
				t.SetECI(v)
				out.eci = true
			default:
				return out, fmt.Errorf("%w: FLG(7)", errFormat)
			}
			cur = latched
		default:
			// A shift or latch read in a shifted mode returns, after its
			// character, to that shifted mode's caller: ISO/IEC 24778 ends
			// a shift sequence in the mode it was invoked from.
			latched = cur
			switch e.ctl {
			case ctrlPS:
				cur = punct
			case ctrlUS:
				cur = upper
			case ctrlBS:
				cur = binary
			case ctrlUL:
				cur, latched = upper, upper
			case ctrlLL:
				cur, latched = lower, lower
			case ctrlML:
				cur, latched = mixed, mixed
			case ctrlDL:
				cur, latched = digit, digit
			case ctrlPL:
				cur, latched = punct, punct
			}
		}
	}
	if !t.Valid() {
		return out, fmt.Errorf("%w: bad character encoding", errFormat)
	}
	out.bytes = t.Bytes()
	out.text = t.String()
	if len(out.bytes) == 0 && !out.gs1 {
		return out, fmt.Errorf("%w: empty", errFormat)
	}
	// Structured append: the message starts with M/L U/L, then an optional
	// message ID between spaces, then the symbol's position and the count
	// as capitals ('A' = 1).
	if len(bits) > 20 && code(bits, 0, 5) == 29 && code(bits, 5, 5) == 29 {
		structuredAppend(&out)
	}
	return out, nil
}

func code(bits []bool, at, n int) int {
	return (&bitReader{bits: bits, pos: at}).read(n)
}

// structuredAppend moves a structured-append header from the message into
// out's index, count and id.
func structuredAppend(out *content) {
	s := out.text
	id := ""
	if strings.HasPrefix(s, " ") {
		end := strings.IndexByte(s[1:], ' ')
		if end < 0 {
			return
		}
		id, s = s[1:end+1], s[end+2:]
	}
	if len(s) < 2 || s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' {
		return
	}
	out.index, out.count, out.id = int(s[0]-'A'), int(s[1]-'A')+1, id
	if out.count <= out.index || out.count == 1 {
		out.count = 0
	}
	header := len(out.text) - len(s) + 2
	out.text = s[2:]
	if header <= len(out.bytes) {
		out.bytes = out.bytes[header:]
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
