package wire

import (
	"crypto/ed25519"
	"encoding/binary"
	"time"
)

// Contests (protocol 5, issue 16; not released before it, so they fold
// into it): the gates of a venue claim a single-entry or re-entry ticket
// from each other before they open (peer protocol 3, agent/peer), so that
// two gates never both admit it while they can reach each other. What they
// notice of a contest on one ticket travels upstream:
//
//   - ContestClaim: two gates claimed the ticket at once, or one presented
//     it while the other's claim stood. First opened (or was about to);
//     Second was refused ("being used at <First's gate>"). Nobody got in
//     twice: this is friends sharing a screenshot at adjacent turnstiles.
//   - ContestEntry: two admissions of the ticket that the entry rule allows
//     only one of, made by gates that could not reach each other (a
//     partition, or a peer silent past the claim deadline). The gate that
//     admitted without every peer's word notices it when the other's
//     passage reaches it, once the links return.
//
// A gate sends them in Contests frames (after its journaled scans) and
// deletes them once a ContestAck, signed by the fleet like a ScanAck,
// covers their ID. The fleet keeps a contest once however often it is
// sent, and by however many gates (both ends of a partition may report the
// same double admission).
const (
	TypeContests   = "contests"    // agent → fleet: contests the gate noticed
	TypeContestAck = "contest_ack" // fleet → agent: contests recorded
)

// MaxContestsPerMessage bounds the contests of one Contests frame.
const MaxContestsPerMessage = 500

// Contest kinds.
const (
	ContestClaim = "claim" // two claims at once: Second refused, nobody in twice
	ContestEntry = "entry" // two admissions where the entry rule allows one
)

// Contest is one contest on a ticket a gate noticed.
type Contest struct {
	// ID numbers the device's contests, increasing: what ContestAck
	// acknowledges. It is the gate's, not part of the contest's identity.
	ID       int64  `json:"id"`
	Event    string `json:"event"`
	TicketID string `json:"ticket_id"`
	Kind     string `json:"kind"` // ContestClaim or ContestEntry
	// First is the claim that stood (ContestClaim) or the earlier
	// admission (ContestEntry); Second the claim refused, or the later
	// admission. At is the claiming or admitting gate's decision time.
	First  ContestSide `json:"first"`
	Second ContestSide `json:"second"`
	// By names the peer whose answer refused Second, when that is not
	// First's device (a third gate that had granted First's claim).
	By string `json:"by,omitempty"`
	// Noticed is when the reporting gate noticed the contest, by its clock.
	Noticed time.Time `json:"noticed"`
}

// ContestSide is one gate's part in a contest.
type ContestSide struct {
	Device string    `json:"device"`
	Gate   string    `json:"gate,omitempty"`
	At     time.Time `json:"at"`
}

// Contests carries contests upstream.
type Contests struct {
	Contests []Contest `json:"contests"`
}

// ContestAck says the fleet has durably recorded every contest of this
// device up to and including ID UpTo.
type ContestAck struct {
	UpTo int64 `json:"up_to"`
	// Signature: see ContestAck.Sign.
	Signature []byte `json:"signature,omitempty"`
}

const domainContestAck = "admit-contest-ack-v5\x00"

// ContestAckSigningBytes is what ContestAck.Sign signs.
func ContestAckSigningBytes(s Session, upTo int64) []byte {
	return binary.AppendVarint(s.append([]byte(domainContestAck)), upTo)
}

// Sign signs a for session s with the fleet's replica key: a replayed
// acknowledgement deletes no contest the fleet has not recorded.
func (a *ContestAck) Sign(key ed25519.PrivateKey, s Session) {
	a.Signature = ed25519.Sign(key, ContestAckSigningBytes(s, a.UpTo))
}

func (c *Contests) validate() error {
	if c == nil {
		return invalid("contests without body")
	}
	if len(c.Contests) > MaxContestsPerMessage {
		return invalid("%d contests in one message", len(c.Contests))
	}
	var prev int64
	for _, k := range c.Contests {
		if k.ID <= prev {
			return invalid("contest id %d not increasing", k.ID)
		}
		prev = k.ID
		if !okID(k.Event) || !okID(k.TicketID) || (k.Kind != ContestClaim && k.Kind != ContestEntry) {
			return invalid("contest %d: bad event, ticket or kind", k.ID)
		}
		if !k.First.validate() || !k.Second.validate() || (k.By != "" && !okID(k.By)) || k.Noticed.IsZero() {
			return invalid("contest %d: bad side", k.ID)
		}
	}
	return nil
}

func (s *ContestSide) validate() bool { return okID(s.Device) && okText(s.Gate) && !s.At.IsZero() }

func (a *ContestAck) validate() error {
	if a == nil || a.UpTo < 0 || !okSignature(a.Signature) {
		return invalid("bad contest ack")
	}
	return nil
}

// The contest structs and Message's two fields for them, declared handled
// here so that this file holds all of protocol 5's contest additions.
func init() {
	handledFields["Message"] = append(handledFields["Message"], "Contests", "ContestAck")
	handledFields["Contest"] = []string{"ID", "Event", "TicketID", "Kind", "First", "Second", "By", "Noticed"}
	handledFields["ContestSide"] = []string{"Device", "Gate", "At"}
	handledFields["Contests"] = []string{"Contests"}
	handledFields["ContestAck"] = []string{"UpTo", "Signature"}
}
