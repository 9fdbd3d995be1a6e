package nfc

import (
	"context"
	"fmt"
)

const (
	cmdRead     = 0x30 // Type 2 READ: 16 bytes from a page
	cmdFastRead = 0x3A // NTAG21x FAST_READ start end: pages start to end

	// maxFastReadPages keeps a FAST_READ answer within one PN532 frame.
	maxFastReadPages = 60
)

// tagMem is the TLV area of a Type 2 tag, read lazily 16 bytes at a time.
type tagMem struct {
	ctx  context.Context
	dev  Initiator
	tg   byte
	size int    // bytes of data area (CC size × 8)
	fast bool   // the tag is an NTAG215/216: FAST_READ is there
	b    []byte // data area bytes read so far, from page 4
}

// need makes sure the first n bytes of the data area are read.
func (m *tagMem) need(n int) error {
	if n > m.size {
		return fmt.Errorf("%w: TLV runs past the %d-byte data area", ErrBadTag, m.size)
	}
	for len(m.b) < n {
		page := 4 + len(m.b)/4
		pages := (n - len(m.b) + 3) / 4
		if !m.fast || pages <= 4 {
			var p [16]byte
			if _, err := m.dev.InDataExchange(m.ctx, m.tg, []byte{cmdRead, byte(page)}, p[:]); err != nil {
				return fmt.Errorf("read page %d: %w", page, err)
			}
			m.b = append(m.b, p[:]...)
			continue
		}
		pages = min(pages, maxFastReadPages)
		p := make([]byte, pages*4)
		end := page + pages - 1
		if _, err := m.dev.InDataExchange(m.ctx, m.tg, []byte{cmdFastRead, byte(page), byte(end)}, p); err != nil {
			return fmt.Errorf("fast read pages %d-%d: %w", page, end, err)
		}
		m.b = append(m.b, p...)
	}
	return nil
}

func (r *Reader) readNTAG(ctx context.Context, tg byte) ([]byte, error) {
	var p [16]byte
	if _, err := r.dev.InDataExchange(ctx, tg, []byte{cmdRead, 3}, p[:]); err != nil {
		return nil, fmt.Errorf("read capability container: %w", err)
	}
	cc := p[:4]
	if cc[0] != 0xE1 {
		return nil, fmt.Errorf("%w: no NDEF magic in CC % X", ErrNoTicket, cc)
	}
	if cc[1]>>4 != 1 {
		return nil, fmt.Errorf("%w: NDEF mapping version %d.%d", ErrBadTag, cc[1]>>4, cc[1]&0xF)
	}
	if cc[3]>>4 != 0 {
		return nil, fmt.Errorf("%w: no read access (CC % X)", ErrBadTag, cc)
	}
	// NTAG215 and NTAG216 are the only Type 2 tags with these data area
	// sizes; a 144-byte area may be an Ultralight C, which lacks FAST_READ.
	fast := cc[2] == 0x3E || cc[2] == 0x6D
	m := &tagMem{ctx: ctx, dev: r.dev, tg: tg, size: int(cc[2]) * 8, fast: fast}
	m.b = append(m.b, p[4:]...) // pages 4–6 came with the CC
	msg, err := findNDEF(m)
	if err != nil {
		return nil, err
	}
	return ticketFromNDEF(msg)
}

// findNDEF walks the TLVs to the first NDEF message TLV.
func findNDEF(m *tagMem) ([]byte, error) {
	i := 0
	for {
		if err := m.need(i + 1); err != nil {
			return nil, err
		}
		t := m.b[i]
		switch t {
		case 0x00: // NULL TLV
			i++
			continue
		case 0xFE: // terminator
			return nil, fmt.Errorf("%w: no NDEF message TLV", ErrNoTicket)
		}
		if err := m.need(i + 2); err != nil {
			return nil, err
		}
		l, hdr := int(m.b[i+1]), 2
		if l == 0xFF {
			if err := m.need(i + 4); err != nil {
				return nil, err
			}
			l, hdr = int(m.b[i+2])<<8|int(m.b[i+3]), 4
			if l < 0xFF {
				return nil, fmt.Errorf("%w: 3-byte TLV length %d below 255", ErrBadTag, l)
			}
		}
		if err := m.need(i + hdr + l); err != nil {
			return nil, err
		}
		if t == 0x03 {
			return m.b[i+hdr : i+hdr+l], nil
		}
		i += hdr + l // lock control, memory control, proprietary
	}
}

// ticketFromNDEF returns the payload of the first Text record or admit
// ticket MIME record of an NDEF message.
func ticketFromNDEF(msg []byte) ([]byte, error) {
	for len(msg) > 0 {
		hdr := msg[0]
		tnf, sr, il, cf := hdr&0x07, hdr&0x10 != 0, hdr&0x08 != 0, hdr&0x20 != 0
		i := 1
		if len(msg) < 2 {
			return nil, fmt.Errorf("%w: NDEF record header cut", ErrBadTag)
		}
		typeLen := int(msg[i])
		i++
		var payLen int
		if sr {
			if len(msg) < i+1 {
				return nil, fmt.Errorf("%w: NDEF record header cut", ErrBadTag)
			}
			payLen = int(msg[i])
			i++
		} else {
			if len(msg) < i+4 {
				return nil, fmt.Errorf("%w: NDEF record header cut", ErrBadTag)
			}
			payLen = int(msg[i])<<24 | int(msg[i+1])<<16 | int(msg[i+2])<<8 | int(msg[i+3])
			i += 4
		}
		idLen := 0
		if il {
			if len(msg) < i+1 {
				return nil, fmt.Errorf("%w: NDEF record header cut", ErrBadTag)
			}
			idLen = int(msg[i])
			i++
		}
		if payLen < 0 || len(msg)-i < typeLen+idLen+payLen {
			return nil, fmt.Errorf("%w: NDEF record longer than its message", ErrBadTag)
		}
		typ := msg[i : i+typeLen]
		payload := msg[i+typeLen+idLen : i+typeLen+idLen+payLen]
		msg = msg[i+typeLen+idLen+payLen:]
		if cf {
			return nil, fmt.Errorf("%w: chunked NDEF records are not supported", ErrBadTag)
		}
		switch {
		case tnf == 0x01 && string(typ) == "T":
			if len(payload) < 1 {
				return nil, fmt.Errorf("%w: empty Text record", ErrBadTag)
			}
			st := payload[0]
			if st&0x80 != 0 {
				return nil, fmt.Errorf("%w: UTF-16 Text record", ErrBadTag)
			}
			lang := int(st & 0x3F)
			if len(payload) < 1+lang {
				return nil, fmt.Errorf("%w: Text record language overruns", ErrBadTag)
			}
			return append([]byte(nil), payload[1+lang:]...), nil
		case tnf == 0x02 && string(typ) == TicketMIME:
			return append([]byte(nil), payload...), nil
		}
		if hdr&0x40 != 0 { // ME: last record
			break
		}
	}
	return nil, fmt.Errorf("%w: no ticket record in the NDEF message", ErrNoTicket)
}
