package sun

import (
	"crypto/subtle"
	"errors"
	"fmt"
)

// Expected outcomes of Verify; test with errors.Is. ErrMalformed (url.go)
// is the third.
var (
	// ErrForged: the PICCData or the MAC was not made with the event's
	// keys — a tag programmed by someone else, or an edited URL.
	ErrForged = errors.New("sun: forged SUN message")
	// ErrWrongTag: the message is authentic but comes from another tag
	// than the one the ticket is bound to.
	ErrWrongTag = errors.New("sun: ticket bound to another tag")
)

// Tap is what an authentic SUN message says.
type Tap struct {
	Ticket  string // ticket id from the URL, covered by the MAC
	UID     UID
	Counter uint32 // SDMReadCtr of this read
}

// Verify checks a SUN URL read from a tag against the event's keys. When
// bound is not nil, the tag must be that one (the ticket's UID binding).
// It does not judge the counter: that is Counter's rule, with the state of
// what was seen before.
func Verify(keys Keys, uri string, bound *UID) (Tap, error) {
	m, err := Parse(uri)
	if err != nil {
		return Tap{}, err
	}
	return VerifyMessage(keys, m, bound)
}

// VerifyMessage is Verify on a parsed message.
func VerifyMessage(keys Keys, m Message, bound *UID) (Tap, error) {
	p := decryptPICCData(keys.MetaReadKey(), m.PICCData)
	if p.tag != piccDataTag {
		// A wrong meta read key or edited PICCData decrypts to noise.
		return Tap{}, fmt.Errorf("%w: PICCData does not decrypt (tag %#02x)", ErrForged, p.tag)
	}
	want := sdmMAC(keys.FileReadKey(p.uid), p.uid, p.ctr, m.MACInput)
	if subtle.ConstantTimeCompare(want[:], m.MAC[:]) != 1 {
		return Tap{}, fmt.Errorf("%w: MAC of tag %s does not verify", ErrForged, p.uid)
	}
	if bound != nil && *bound != p.uid {
		return Tap{}, fmt.Errorf("%w: read %s, ticket %s is bound to %s", ErrWrongTag, p.uid, m.Ticket, *bound)
	}
	return Tap{Ticket: m.Ticket, UID: p.uid, Counter: p.ctr}, nil
}
