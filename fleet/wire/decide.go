package wire

import "time"

// Online mode: a gate may ask the fleet for an authoritative decision
// before it opens, over plain HTTP next to the stream (a POST of a
// DecideRequest JSON to DecidePath, answered with a DecideResponse; a GET
// of DecidePath is a health probe answered 204). The gate has already
// verified the ticket offline and decided locally; the fleet only rules on
// what only it knows: whether the ticket was used at a gate whose scans
// have not reached this one. A gate that gets no answer in time decides
// locally (see agent.OnlineConfig).
const DecidePath = "/agent/decide"

// A DecideRequest is authenticated like the agent stream, by the device's
// enrolled key: the POST carries the device id in DecideDeviceHeader and,
// in DecideSignatureHeader, the base64 (standard encoding) Ed25519
// signature of DecideSigningBytes(body) over the exact body bytes. A
// replayed request can only repeat an answer: the fleet treats the same
// device, ticket and time as one claim.
//
// The fleet signs its answer with its replica key (protocol 5): the
// base64 signature of DecideResponseSigningBytes(request body, response
// body) in DecideResponseSignatureHeader. An agent that holds the replica
// key refuses an answer without a valid one (and decides locally).
const (
	DecideDeviceHeader            = "Admit-Device"
	DecideSignatureHeader         = "Admit-Signature"
	DecideResponseSignatureHeader = "Admit-Fleet-Signature"
)

// DecideSigningBytes is what a device signs to authenticate a decision
// request body.
func DecideSigningBytes(body []byte) []byte {
	return append([]byte("admit-decide-v1\x00"), body...)
}

// DecideRequest asks whether a ticket may pass now, and reserves the
// passage if so.
type DecideRequest struct {
	Device    string    `json:"device"`
	Gate      string    `json:"gate"`
	Event     string    `json:"event"`
	TicketID  string    `json:"ticket_id"`
	Direction string    `json:"direction"` // DirIn or DirOut
	Policy    string    `json:"policy"`    // "single", "multi" or "reentry" (ticket.Policy.String)
	At        time.Time `json:"at"`
}

// DecideResponse is the fleet's ruling.
type DecideResponse struct {
	Admit    bool   `json:"admit"`
	Reason   string `json:"reason,omitempty"`   // machine-readable, empty when admitted
	Sentence string `json:"sentence,omitempty"` // what the gate shows
}

// Validate checks that r is well formed.
func (r *DecideRequest) Validate() error {
	if !okID(r.Device) || !okID(r.Event) || !okID(r.TicketID) || !okText(r.Gate) {
		return invalid("decide: device, event and ticket are required, within bounds")
	}
	if r.Direction != DirIn && r.Direction != DirOut {
		return invalid("decide: direction %q", r.Direction)
	}
	switch r.Policy {
	case "single", "multi", "reentry":
	default:
		return invalid("decide: policy %q", r.Policy)
	}
	if r.At.IsZero() {
		return invalid("decide: no time")
	}
	return nil
}
