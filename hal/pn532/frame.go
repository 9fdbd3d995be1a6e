package pn532

import (
	"errors"
	"fmt"
)

// Frame identifiers (TFI) of information frames, UM0701-02 §6.2.1.1.
const (
	TFIHost byte = 0xD4 // host controller to PN532
	TFIChip byte = 0xD5 // PN532 to host controller
)

// MaxFrameData is the largest number of bytes after the TFI that a frame
// can carry; the PN532's buffer holds 265 bytes including the TFI.
const MaxFrameData = 264

// Frame overheads in bytes, preamble and postamble included.
const (
	normalOverhead   = 8  // 00 00 FF LEN LCS TFI … DCS 00, TFI counted
	extendedOverhead = 11 // 00 00 FF FF FF LENM LENL LCS TFI … DCS 00
)

var (
	ackFrame  = []byte{0x00, 0x00, 0xFF, 0x00, 0xFF, 0x00}
	nackFrame = []byte{0x00, 0x00, 0xFF, 0xFF, 0x00, 0x00}
)

// FrameKind tells the frames of the PN532 protocol apart.
type FrameKind int

const (
	FrameInfo  FrameKind = iota + 1 // normal or extended information frame
	FrameACK                        // 00 00 FF 00 FF 00
	FrameNACK                       // 00 00 FF FF 00 00
	FrameError                      // application level error, 00 00 FF 01 FF 7F 81 00
)

func (k FrameKind) String() string {
	switch k {
	case FrameInfo:
		return "information"
	case FrameACK:
		return "ACK"
	case FrameNACK:
		return "NACK"
	case FrameError:
		return "error"
	}
	return fmt.Sprintf("FrameKind(%d)", int(k))
}

// Frame is one parsed frame.
type Frame struct {
	Kind     FrameKind
	Extended bool   // information frame with the 0xFFFF extended length
	TFI      byte   // information frames only
	Data     []byte // bytes after the TFI (command code first); aliases the input
}

// Errors of the frame parser. They are wrapped with detail; test with
// errors.Is.
var (
	// ErrTruncated: the bytes end before the frame does.
	ErrTruncated = errors.New("pn532: truncated frame")
	// ErrNoStartCode: no 00 FF start code where a frame must begin.
	ErrNoStartCode = errors.New("pn532: no frame start code")
	// ErrChecksum: the length (LCS) or data (DCS) checksum does not add up.
	ErrChecksum = errors.New("pn532: frame checksum mismatch")
	// ErrFrameLength: a length that no valid frame has.
	ErrFrameLength = errors.New("pn532: invalid frame length")
)

// AppendFrame appends the information frame TFI+data to dst: a normal frame
// when it fits in 255 bytes, else an extended frame (UM0701-02 §6.2.1.1–2).
func AppendFrame(dst []byte, tfi byte, data []byte) ([]byte, error) {
	n := len(data) + 1 // LEN counts TFI and data
	if len(data) > MaxFrameData {
		return dst, fmt.Errorf("%w: %d data bytes, at most %d", ErrFrameLength, len(data), MaxFrameData)
	}
	dst = append(dst, 0x00, 0x00, 0xFF)
	if n <= 0xFF {
		dst = append(dst, byte(n), -byte(n))
	} else {
		hi, lo := byte(n>>8), byte(n)
		dst = append(dst, 0xFF, 0xFF, hi, lo, -(hi + lo))
	}
	sum := tfi
	dst = append(dst, tfi)
	for _, b := range data {
		sum += b
	}
	dst = append(dst, data...)
	return append(dst, -sum, 0x00), nil
}

// FrameLen is the number of bytes AppendFrame produces for n data bytes.
func FrameLen(n int) int {
	if n+1 <= 0xFF {
		return normalOverhead + n
	}
	return extendedOverhead + n
}

// ParseFrame parses the first frame in b. Leading 0x00 bytes (preamble,
// padding) are skipped; the start code 00 FF must follow. It returns the
// frame and the number of bytes consumed, postamble included when present.
// Frame.Data aliases b.
func ParseFrame(b []byte) (Frame, int, error) {
	i := 0
	for i < len(b) && b[i] == 0x00 {
		i++
	}
	if i == len(b) {
		return Frame{}, 0, fmt.Errorf("%w: no start code in %d bytes", ErrTruncated, len(b))
	}
	if i == 0 || b[i] != 0xFF {
		return Frame{}, 0, fmt.Errorf("%w: found %#02x at offset %d", ErrNoStartCode, b[i], i)
	}
	i++ // past 00 FF
	if len(b) < i+2 {
		return Frame{}, 0, fmt.Errorf("%w: no length", ErrTruncated)
	}
	l, lcs := b[i], b[i+1]
	switch {
	case l == 0x00 && lcs == 0xFF:
		return Frame{Kind: FrameACK}, postamble(b, i+2), nil
	case l == 0xFF && lcs == 0x00:
		return Frame{Kind: FrameNACK}, postamble(b, i+2), nil
	}
	var n int
	ext := false
	if l == 0xFF && lcs == 0xFF {
		ext = true
		if len(b) < i+5 {
			return Frame{}, 0, fmt.Errorf("%w: no extended length", ErrTruncated)
		}
		hi, lo, cs := b[i+2], b[i+3], b[i+4]
		if hi+lo+cs != 0 {
			return Frame{}, 0, fmt.Errorf("%w: extended LCS %#02x for length %#02x%02x", ErrChecksum, cs, hi, lo)
		}
		n = int(hi)<<8 | int(lo)
		if n <= 0xFF || n > MaxFrameData+1 {
			return Frame{}, 0, fmt.Errorf("%w: extended length %d", ErrFrameLength, n)
		}
		i += 5
	} else {
		if l+lcs != 0 {
			return Frame{}, 0, fmt.Errorf("%w: LCS %#02x for length %#02x", ErrChecksum, lcs, l)
		}
		n = int(l)
		if n == 0 {
			return Frame{}, 0, fmt.Errorf("%w: zero length", ErrFrameLength)
		}
		i += 2
	}
	if len(b) < i+n+1 {
		return Frame{}, 0, fmt.Errorf("%w: want %d bytes of data and DCS, have %d", ErrTruncated, n+1, len(b)-i)
	}
	body := b[i : i+n]
	var sum byte
	for _, c := range body {
		sum += c
	}
	if sum+b[i+n] != 0 {
		return Frame{}, 0, fmt.Errorf("%w: DCS %#02x", ErrChecksum, b[i+n])
	}
	end := postamble(b, i+n+1)
	if !ext && n == 1 && body[0] == 0x7F {
		return Frame{Kind: FrameError}, end, nil
	}
	return Frame{Kind: FrameInfo, Extended: ext, TFI: body[0], Data: body[1:]}, end, nil
}

// postamble returns i+1 when b[i] is the 00 postamble, else i.
func postamble(b []byte, i int) int {
	if i < len(b) && b[i] == 0x00 {
		return i + 1
	}
	return i
}
