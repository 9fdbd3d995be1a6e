package nfc

import (
	"context"
	"fmt"
)

func (r *Reader) apdu(ctx context.Context, tg byte, name string, cmd []byte, buf []byte) ([]byte, uint16, error) {
	n, err := r.dev.InDataExchange(ctx, tg, cmd, buf)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: %w", name, err)
	}
	if n < 2 {
		return nil, 0, fmt.Errorf("%w: %s: answer without status word", ErrBadTag, name)
	}
	return buf[:n-2], uint16(buf[n-2])<<8 | uint16(buf[n-1]), nil
}

func (r *Reader) readPhone(ctx context.Context, tg byte) ([]byte, error) {
	buf := make([]byte, 300+r.opts.MaxTicket)
	sel := append([]byte{0x00, 0xA4, 0x04, 0x00, byte(len(AdmitAID))}, AdmitAID...)
	sel = append(sel, 0x00)
	_, sw, err := r.apdu(ctx, tg, "SELECT", sel, buf)
	if err != nil {
		return nil, err
	}
	switch sw {
	case 0x9000:
	case 0x6A82:
		return nil, fmt.Errorf("%w: %w", ErrNoApp, &APDUError{Cmd: "SELECT", SW: sw})
	default:
		return nil, &APDUError{Cmd: "SELECT", SW: sw}
	}
	var ticket []byte
	data, sw, err := r.apdu(ctx, tg, "GET TICKET", []byte{0x80, 0xCA, 0x00, 0x00, 0x00}, buf)
	for {
		if err != nil {
			return nil, err
		}
		ticket = append(ticket, data...)
		if len(ticket) > r.opts.MaxTicket {
			return nil, fmt.Errorf("%w: ticket over %d bytes", ErrBadTag, r.opts.MaxTicket)
		}
		switch {
		case sw == 0x9000:
			if len(ticket) == 0 {
				return nil, ErrNoTicket
			}
			return ticket, nil
		case sw>>8 == 0x61: // more data: GET RESPONSE
			data, sw, err = r.apdu(ctx, tg, "GET RESPONSE", []byte{0x00, 0xC0, 0x00, 0x00, byte(sw)}, buf)
		case sw == 0x6A88:
			return nil, fmt.Errorf("%w: %w", ErrNoTicket, &APDUError{Cmd: "GET TICKET", SW: sw})
		default:
			return nil, &APDUError{Cmd: "GET TICKET", SW: sw}
		}
	}
}
