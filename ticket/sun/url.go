package sun

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// The URL parameters of admit's SUN URL, in the order they appear.
const (
	ParamTicket = "t" // the ticket id, written at programming time
	ParamPICC   = "e" // PICCData, 32 uppercase hex digits, mirrored by the tag
	ParamMAC    = "c" // SDMMAC, 16 uppercase hex digits, mirrored by the tag
)

// MaxTicketID is the longest ticket id a URL carries.
const MaxTicketID = 64

// Layout is where the tag mirrors its dynamic data in a URL, as byte
// offsets from the URL's first byte; the programmer turns them into the
// NDEF file offsets of ChangeFileSettings.
type Layout struct {
	PICCData int // first of the 32 hex digits of PICCData
	MACInput int // first byte the MAC covers: the ticket id
	MAC      int // first of the 16 hex digits of the MAC; the input ends before it
}

// ErrMalformed: the URL is not a SUN URL of admit's layout.
var ErrMalformed = errors.New("sun: malformed SUN URL")

// Template returns the URL to program into a tag for ticketID under base
// (an http or https URL without query or fragment), with zeros where the
// tag mirrors its data, and the Layout of those places.
func Template(base, ticketID string) (string, Layout, error) {
	if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") {
		return "", Layout{}, fmt.Errorf("sun: base URL %q: want http:// or https://", base)
	}
	if strings.ContainsAny(base, "?#& ") {
		return "", Layout{}, fmt.Errorf("sun: base URL %q must have no query, fragment or spaces", base)
	}
	if err := checkTicketID(ticketID); err != nil {
		return "", Layout{}, err
	}
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("?" + ParamTicket + "=")
	var l Layout
	l.MACInput = b.Len()
	b.WriteString(ticketID)
	b.WriteString("&" + ParamPICC + "=")
	l.PICCData = b.Len()
	b.WriteString(strings.Repeat("0", 32))
	b.WriteString("&" + ParamMAC + "=")
	l.MAC = b.Len()
	b.WriteString(strings.Repeat("0", 16))
	return b.String(), l, nil
}

func checkTicketID(id string) error {
	if id == "" || len(id) > MaxTicketID {
		return fmt.Errorf("sun: ticket id must be 1 to %d characters", MaxTicketID)
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == '~'
		if !ok {
			return fmt.Errorf("sun: ticket id %q: only letters, digits and - _ . ~", id)
		}
	}
	return nil
}

// Message is a SUN URL taken apart.
type Message struct {
	Ticket   string   // the ticket id
	PICCData [16]byte // PICCENCData
	MAC      [8]byte  // SDMMAC
	MACInput []byte   // the bytes the MAC covers: "<ticket>&e=<32 hex>&c="
}

// Parse takes a SUN URL of admit's layout apart: it must end with
// t=<ticket>&e=<32 hex>&c=<16 hex>, the t parameter first in the query or
// after an &.
func Parse(uri string) (Message, error) {
	const macLen, piccLen = 16, 32
	var m Message
	n := len(uri)
	if n < macLen+3+piccLen+3+3 || n > 1024 {
		return m, fmt.Errorf("%w: length %d", ErrMalformed, n)
	}
	macAt := n - macLen
	if uri[macAt-3:macAt] != "&"+ParamMAC+"=" {
		return m, fmt.Errorf("%w: no %s= parameter at the end", ErrMalformed, ParamMAC)
	}
	piccAt := macAt - 3 - piccLen
	if uri[piccAt-3:piccAt] != "&"+ParamPICC+"=" {
		return m, fmt.Errorf("%w: no %s= parameter before %s=", ErrMalformed, ParamPICC, ParamMAC)
	}
	if _, err := hex.Decode(m.MAC[:], []byte(uri[macAt:])); err != nil {
		return m, fmt.Errorf("%w: MAC: %v", ErrMalformed, err)
	}
	if _, err := hex.Decode(m.PICCData[:], []byte(uri[piccAt:piccAt+piccLen])); err != nil {
		return m, fmt.Errorf("%w: PICCData: %v", ErrMalformed, err)
	}
	head := uri[:piccAt-3]
	i := strings.LastIndex(head, ParamTicket+"=")
	if i < 1 || (head[i-1] != '?' && head[i-1] != '&') {
		return m, fmt.Errorf("%w: no %s= parameter before %s=", ErrMalformed, ParamTicket, ParamPICC)
	}
	start := i + len(ParamTicket) + 1
	m.Ticket = head[start:]
	if err := checkTicketID(m.Ticket); err != nil {
		return m, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if !strings.Contains(head[:i-1], "://") {
		return m, fmt.Errorf("%w: not a URL", ErrMalformed)
	}
	m.MACInput = []byte(uri[start:macAt])
	return m, nil
}
