package pdf417

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	"admit/decode/internal/eci"
)

// errFormat is returned when the corrected codewords do not form a valid
// PDF417 data stream.
var errFormat = errors.New("pdf417: invalid codeword stream")

const (
	cwText        = 900
	cwByte        = 901
	cwNumeric     = 902
	cwMacroOpt    = 923
	cwByte6       = 924
	cwECIUser     = 925
	cwECIGeneral  = 926
	cwECI         = 927
	cwMacroBegin  = 928
	cwMacroTerm   = 922
	cwReaderInit  = 921
	cwShiftByte   = 913
	cwLinkedStart = 903 // 903..912 and 914..920 are reserved
)

// Macro is the macro PDF417 control block: how one message is split over
// several symbols (structured append).
type Macro struct {
	SegmentIndex int
	FileID       string
	SegmentCount int // 0 when not given
	LastSegment  bool
	FileName     string
}

// decodedData is the expanded content of one symbol.
type decodedData struct {
	text       string
	raw        []byte
	macro      *Macro
	readerInit bool
	hasECI     bool
}

// decodeCodewords expands the data codewords (cw[0] is the symbol length
// descriptor).
func decodeCodewords(cw []int) (*decodedData, error) {
	if len(cw) < 1 || cw[0] < 1 || cw[0] > len(cw) {
		return nil, fmt.Errorf("%w: length descriptor %v", errFormat, cw[:min(1, len(cw))])
	}
	cw = cw[:cw[0]]
	out := &decodedData{}
	seg := eci.New()
	i := 1
	mode := cwText
	sub := subAlpha
	for i < len(cw) {
		c := cw[i]
		switch {
		case c == cwText:
			mode, sub = cwText, subAlpha
			i++
		case c == cwByte || c == cwByte6:
			mode = c
			i = decodeBytes(cw, i+1, c, seg)
		case c == cwNumeric:
			var err error
			mode = cwNumeric
			i, err = decodeNumeric(cw, i+1, seg)
			if err != nil {
				return nil, err
			}
			mode = cwNumeric
		case c == cwShiftByte:
			if i+1 >= len(cw) {
				return nil, fmt.Errorf("%w: byte shift at end", errFormat)
			}
			seg.WriteByte(byte(cw[i+1]))
			i += 2
		case c == cwECI:
			if i+1 >= len(cw) {
				return nil, fmt.Errorf("%w: ECI at end", errFormat)
			}
			seg.SetECI(cw[i+1])
			out.hasECI = true
			i += 2
		case c == cwECIGeneral:
			i += 3
		case c == cwECIUser:
			i += 2
		case c == cwReaderInit:
			out.readerInit = true
			i++
		case c == cwMacroBegin:
			m, next, err := decodeMacro(cw, i+1)
			if err != nil {
				return nil, err
			}
			out.macro = m
			i = next
		case c == cwMacroOpt || c == cwMacroTerm:
			// Only valid inside the control block.
			return nil, fmt.Errorf("%w: stray macro codeword %d", errFormat, c)
		case c >= 900:
			i++ // reserved
		case mode == cwByte || mode == cwByte6:
			// Byte compaction goes on after an ECI.
			i = decodeBytes(cw, i, mode, seg)
		case mode == cwNumeric:
			var err error
			i, err = decodeNumeric(cw, i, seg)
			if err != nil {
				return nil, err
			}
		default:
			i, sub = decodeText(cw, i, sub, seg)
		}
	}
	if !seg.Valid() {
		return nil, fmt.Errorf("%w: bad character encoding", errFormat)
	}
	out.text = seg.String()
	out.raw = seg.Bytes()
	return out, nil
}

type textSub int

const (
	subAlpha textSub = iota
	subLower
	subMixed
	subPunct
)

var mixedChars = [25]byte{'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '&', '\r', '\t', ',', ':', '#', '-', '.', '$', '/', '+', '%', '*', '=', '^'}
var punctChars = [29]byte{';', '<', '>', '@', '[', '\\', ']', '_', '`', '~', '!', '\r', '\t', ',', ':', '\n', '-', '.', '$', '/', '"', '|', '*', '(', ')', '?', '{', '}', '\''}

// decodeText expands text compaction codewords from cw[i] until a mode
// codeword; it returns the next index and the sub-mode in force.
func decodeText(cw []int, i int, sub textSub, seg *eci.Text) (int, textSub) {
	var vals []int
	var byteShifts = map[int]byte{}
	for i < len(cw) {
		c := cw[i]
		if c < 900 {
			vals = append(vals, c/30, c%30)
			i++
			continue
		}
		if c == cwShiftByte && i+1 < len(cw) {
			byteShifts[len(vals)] = byte(cw[i+1])
			i += 2
			continue
		}
		break
	}
	shift := textSub(-1) // one-character shift in force
	for k := 0; k <= len(vals); k++ {
		if b, ok := byteShifts[k]; ok {
			seg.WriteByte(b)
			shift = -1 // a byte shift ends a pending one-character shift
		}
		if k == len(vals) {
			break
		}
		v := vals[k]
		mode := sub
		if shift >= 0 {
			mode = shift
			shift = -1
		}
		switch mode {
		case subAlpha, subLower:
			switch {
			case v < 26:
				if mode == subAlpha {
					seg.WriteByte(byte('A' + v))
				} else {
					seg.WriteByte(byte('a' + v))
				}
			case v == 26:
				seg.WriteByte(' ')
			case v == 27:
				if mode == subAlpha {
					sub = subLower
				} else {
					shift = subAlpha
				}
			case v == 28:
				sub = subMixed
			case v == 29:
				shift = subPunct
			}
		case subMixed:
			switch {
			case v < 25:
				seg.WriteByte(mixedChars[v])
			case v == 25:
				sub = subPunct
			case v == 26:
				seg.WriteByte(' ')
			case v == 27:
				sub = subLower
			case v == 28:
				sub = subAlpha
			case v == 29:
				shift = subPunct
			}
		case subPunct:
			if v < 29 {
				seg.WriteByte(punctChars[v])
			} else {
				sub = subAlpha
			}
		}
	}
	return i, sub
}

// decodeBytes expands byte compaction starting at cw[i] (after latch 901 or
// 924) and returns the next index. Five codewords make six bytes; with 901
// the final group (and any group not followed by more byte data) is one byte
// per codeword. ECIs may occur inside.
func decodeBytes(cw []int, i, latch int, seg *eci.Text) int {
	for i < len(cw) {
		var group [5]int
		count := 0
		for i < len(cw) && count < 5 {
			c := cw[i]
			if c < 900 {
				group[count] = c
				count++
				i++
			} else if c == cwECI && i+1 < len(cw) {
				seg.SetECI(cw[i+1])
				i += 2
			} else {
				break
			}
		}
		if count == 0 {
			return i
		}
		if count == 5 && (latch == cwByte6 || i < len(cw) && cw[i] < 900) {
			var v uint64
			for _, c := range group {
				v = v*900 + uint64(c)
			}
			for t := 5; t >= 0; t-- {
				seg.WriteByte(byte(v >> (8 * uint(t))))
			}
			continue
		}
		for _, c := range group[:count] {
			seg.WriteByte(byte(c))
		}
		if count < 5 {
			return i
		}
	}
	return i
}

var big900 = big.NewInt(900)

// decodeNumeric expands numeric compaction from cw[i] and returns the next
// index.
func decodeNumeric(cw []int, i int, seg *eci.Text) (int, error) {
	j := i
	for j < len(cw) && cw[j] < 900 {
		j++
	}
	for k := i; k < j; k += 15 {
		end := min(k+15, j)
		n := new(big.Int)
		for _, c := range cw[k:end] {
			n.Mul(n, big900)
			n.Add(n, big.NewInt(int64(c)))
		}
		s := n.String()
		if len(s) < 2 || s[0] != '1' {
			return 0, fmt.Errorf("%w: numeric group", errFormat)
		}
		for _, d := range []byte(s[1:]) {
			seg.WriteByte(d)
		}
	}
	return j, nil
}

// decodeMacro parses the macro PDF417 control block from cw[i] (after 928)
// to the end of the data codewords.
func decodeMacro(cw []int, i int) (*Macro, int, error) {
	if i+2 > len(cw) {
		return nil, 0, fmt.Errorf("%w: short macro block", errFormat)
	}
	m := &Macro{SegmentIndex: cw[i]*900 + cw[i+1]}
	i += 2
	var id strings.Builder
	for i < len(cw) && cw[i] < 900 {
		fmt.Fprintf(&id, "%03d", cw[i])
		i++
	}
	m.FileID = id.String()
	for i < len(cw) {
		switch cw[i] {
		case cwMacroTerm:
			m.LastSegment = true
			i++
		case cwMacroOpt:
			if i+1 >= len(cw) {
				return nil, 0, fmt.Errorf("%w: macro field", errFormat)
			}
			field := cw[i+1]
			j := i + 2
			for j < len(cw) && cw[j] < 900 {
				j++
			}
			// Fields are in numeric (count, size, time, checksum) or text
			// compaction; decode the ones we use.
			switch field {
			case 0:
				s := eci.New()
				decodeText(cw, i+2, subAlpha, s)
				m.FileName = s.String()
			case 1:
				s := eci.New()
				if _, err := decodeNumeric(cw, i+2, s); err == nil {
					m.SegmentCount, _ = strconv.Atoi(string(s.Bytes()))
				}
			}
			i = j
		default:
			// Anything else ends the control block (data may follow in
			// some encoders, though the standard places it last).
			return m, i, nil
		}
	}
	return m, i, nil
}
