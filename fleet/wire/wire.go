// Package wire holds the messages that agents and the fleet exchange over
// their WebSocket stream. Both sides import it; it is the one contract
// between them.
//
// Every frame is one JSON Message, except batches and snapshot chunks,
// which travel as binary frames (binary.go); Decode reads both. A message
// has a Type and exactly the one body field that type names; Validate
// enforces that, and every size bound, before anything acts on a message.
//
// A session: the fleet sends a Challenge (with its replica key); the agent
// answers with a Hello signed by its device key (Hello.SigningBytes) and
// carrying its own nonce and, per event, its Cursor. The fleet then sends
// either Snapshot chunks (the cursor is older than the log's compaction
// point, ahead of the log, or its running checksum disagrees) or Batches
// of changes since the cursor, then live Batches as the log grows. The
// agent Acks what it applied and streams its journaled Scans, which the
// fleet acknowledges with ScanAck. Config pushes the desired
// configuration; ConfigAck reports what was applied. Revoked tells a
// device it was revoked: it wipes its replica.
//
// Since protocol 5 the fleet signs what changes a gate (sign.go): batches
// and snapshot chunks travel as signed binary frames, and Config, Revoked
// and ScanAck carry a signature bound to the device and the nonce of its
// hello. An agent checks them with Trust.Decode before it applies
// anything, so a man in the middle — even on a plain link — can delay or
// drop the fleet's data but not forge or replay it.
package wire

import (
	"encoding/json"
	"time"
)

// ProtocolVersion is the version an agent announces in its Hello. Bump it,
// with a dated line below, whenever a message changes meaning.
//
//   - 1 (2026-11-27): hello, batch, scans, scan ack; JSON frames.
//   - 2 (2026-11-28): challenge and signed hello (device keys); per-event
//     cursors with running checksum and snapshot progress; snapshot chunks;
//     batch checksums; config and config ack; revoked; ext (an extension
//     slot no message ever used, since removed: a frame that names an
//     unknown type is refused as before).
//   - 3 (2026-11-27, the day the agent and fleet halves met): Scan and Used
//     carry the passage direction (an exit is no longer an admitted scan
//     with reason "exit", which other gates counted as an entry). Annulled
//     passages travel too: Scan.Annuls names the passage an annulment
//     takes back, the fleet logs it as a change of kind "annul", and
//     snapshots flag annulled marks (Used.Annulled). Ticket and SnapTicket
//     carry the per-ticket rotating-code secret.
//   - 4 (2026-11-27): batches and snapshot chunks travel as binary frames
//     (binary.go, MarshalBatch, MarshalSnapshot; WebSocket binary
//     messages): a gate decodes one in a fraction of the JSON cost. Decode
//     reads both; every other message is JSON as before.
//   - 5 (2026-11-29): the fleet signs replica data with its replica key
//     (Ed25519, one per fleet; sign.go). Challenge.ReplicaKey names it;
//     Hello.Nonce is the agent's own 32 random bytes and the hello's
//     signature covers it (Hello.SigningBytes). Batches travel as signed
//     binary frames (SignBatchFrame: the signature covers the whole
//     frame — event, range, checksums, changes — and is the same for
//     every gate, since a batch is idempotent by seq); snapshot chunks as
//     signed frames bound to the device and the hello's nonce
//     (SignSnapshotFrame), so an old snapshot cannot roll a gate back;
//     Config, Revoked and ScanAck carry a Signature bound the same way.
//     A protocol-5 agent refuses data that is not signed (Trust.Decode);
//     a node serves protocol-4 agents as before (unsigned), choosing per
//     connection from the hello. EnrollResponse and the enrollment QR
//     (EnrollURI) carry the replica key; online-decision answers are
//     signed too (DecideResponseSignatureHeader).
//     Venue scopes: a second change log per event for venue data, device
//     keys and gate staff (venue.go: VenuePrefix, KindVenue, VenueRow,
//     Change.Venue — batch body bit 5 — and Snapshot.Venue, a trailing
//     section of a venue scope's chunk), which an agent receives only when
//     its hello names the scope's cursor; a protocol-4 hello may not, so a
//     protocol-4 agent's frames are byte for byte as before. Venue batches
//     and chunks are signed like every other (the venue body and section
//     are inside the signed frame). Scan.Staff names the gate staff member
//     behind a staff action.
//     Issue 12, in the same protocol (not released before it): venue
//     kinds zone, gate, ticket_type, settings, badge and jwt_key
//     (venue.go); Batch.AsOf and Snapshot.AsOf, the log position's sync
//     point (a trailing section of the signed frames only: see binary.go);
//     a fleet sends a new replica (cursor 0) a snapshot, whose completion
//     is what makes a gate ready; Config.Body is a GateConfig
//     (config.go), validated on both sides; ConfigAck.Failed names the
//     version a gate could not apply (Version is then the one it still
//     runs); an admission on signature is journaled with Scan.Reason
//     ReasonOnSignature (or ReasonPartnerSignature, ReasonBadge).
//     Issue 16, in the same protocol: contests (contest.go). An agent
//     reports the contests on a ticket its gate noticed (two claims at
//     once; two admissions while gates could not reach each other), the
//     fleet acknowledges them with a signed ContestAck. A protocol-4
//     agent sends none.
const ProtocolVersion = 5

// MinProtocolVersion is the oldest protocol a fleet node still serves.
// An agent speaks ProtocolVersion only: it never accepts a fleet that
// does not sign (upgrade fleet nodes before gates).
const MinProtocolVersion = 4

// MaxMessageBytes bounds one frame in either direction.
const MaxMessageBytes = 4 << 20

// MaxHelloBytes bounds what a fleet reads from a connection before its
// hello has verified (and what an agent reads before the challenge): an
// anonymous peer gets no more. The largest valid hello — MaxCursors
// cursors of 64-byte event and ticket ids, as the fleet names them — is
// about 15 KiB of JSON; a gate serving one event sends a few hundred
// bytes.
const MaxHelloBytes = 16 << 10

// Bounds on the contents of a message.
const (
	MaxIDLen           = 128    // device, event, ticket, key ids
	MaxTextLen         = 1024   // names, reasons, sentences
	MaxScansPerMessage = 1000   // upstream scans per frame
	MaxChangesPerBatch = 10_000 // changes per batch
	MaxSnapshotRows    = 20_000 // tickets (plus as many used marks) per snapshot chunk
	MaxConfigBytes     = 64 << 10
	MaxCursors         = 64 // events one device serves
)

// Message types.
const (
	TypeChallenge = "challenge"  // fleet → agent, first frame
	TypeHello     = "hello"      // agent → fleet, answers the challenge
	TypeBatch     = "batch"      // fleet → agent: replica changes
	TypeSnapshot  = "snapshot"   // fleet → agent: one chunk of a full replica
	TypeAck       = "ack"        // agent → fleet: applied up to a cursor
	TypeScans     = "scans"      // agent → fleet: journaled scans
	TypeScanAck   = "scan_ack"   // fleet → agent: scans recorded
	TypeConfig    = "config"     // fleet → agent: desired config
	TypeConfigAck = "config_ack" // agent → fleet: config applied
	TypeRevoked   = "revoked"    // fleet → agent: the device was revoked
	TypeError     = "error"      // either way, before closing
)

// Message is one frame. Exactly the field named by Type is set.
type Message struct {
	Type      string     `json:"type"`
	Challenge *Challenge `json:"challenge,omitempty"`
	Hello     *Hello     `json:"hello,omitempty"`
	Batch     *Batch     `json:"batch,omitempty"`
	Snapshot  *Snapshot  `json:"snapshot,omitempty"`
	Ack       *Ack       `json:"ack,omitempty"`
	Scans     *Scans     `json:"scans,omitempty"`
	ScanAck   *ScanAck   `json:"scan_ack,omitempty"`
	Config    *Config    `json:"config,omitempty"`
	ConfigAck *ConfigAck `json:"config_ack,omitempty"`
	Revoked   *Revoked   `json:"revoked,omitempty"`
	Error     *Error     `json:"error,omitempty"`
	// Contests and ContestAck: see contest.go (protocol 5).
	Contests   *Contests   `json:"contests,omitempty"`
	ContestAck *ContestAck `json:"contest_ack,omitempty"`
}

// Challenge opens a session: the agent signs Nonce in its Hello.
type Challenge struct {
	Nonce []byte `json:"nonce"` // 32 random bytes
	Fleet string `json:"fleet,omitempty"`
	// ReplicaKey is the fleet's replica signing key (Ed25519 public key,
	// protocol 5): what signs the data of this session. An agent compares
	// it with the key it got at enrollment; it is no proof by itself (an
	// agent that has no key yet takes it only over a verified TLS link).
	// Empty from a fleet that does not sign (protocol 4 only).
	ReplicaKey []byte `json:"replica_key,omitempty"`
}

// Hello identifies the agent and says where its replica stands.
type Hello struct {
	Protocol      int    `json:"protocol"`
	Device        string `json:"device"`
	Firmware      string `json:"firmware,omitempty"`
	ConfigVersion int64  `json:"config_version"` // last config applied; 0: none
	// Cursors maps each event the device serves to its replica position.
	Cursors map[string]Cursor `json:"cursors"`
	// Nonce (protocol 5; 32 random bytes, new for every session) binds
	// what the fleet signs for this session to it: a signed Revoked,
	// Config, ScanAck or snapshot chunk of another session, or of another
	// device, does not verify. Empty in a protocol-4 hello.
	Nonce []byte `json:"nonce,omitempty"`
	// Signature is the device key's Ed25519 signature over
	// h.SigningBytes(challenge nonce). Nil only for legacy unenrolled
	// agents, which a fleet accepts only when configured to.
	Signature []byte `json:"signature,omitempty"`
}

// SigningBytes is what a device signs in its hello to prove it holds its
// key, given the fleet's challenge nonce: protocol 5 covers the agent's
// own nonce too; protocol 4 signs the challenge and the device id.
func (h *Hello) SigningBytes(challenge []byte) []byte {
	if h.Protocol < 5 {
		b := append([]byte("admit-hello-v2\x00"), challenge...)
		b = append(b, 0)
		return append(b, h.Device...)
	}
	b := append([]byte("admit-hello-v5\x00"), challenge...)
	b = append(b, h.Nonce...)
	return append(b, h.Device...)
}

// Cursor is an agent's replica position for one event.
type Cursor struct {
	Seq     int64  `json:"seq"`     // last change applied; 0: nothing yet
	Running uint64 `json:"running"` // running checksum after Seq
	// Snapshot, when set, is a snapshot being received: resume it.
	Snapshot *SnapshotProgress `json:"snapshot,omitempty"`
}

// SnapshotProgress is where a snapshot transfer stands on the agent.
type SnapshotProgress struct {
	Seq   int64  `json:"seq"`   // the log position the snapshot is taken from
	After string `json:"after"` // last ticket id received
}

// Change kinds.
const (
	KindKey    = "key"    // an event signing key (public part)
	KindTicket = "ticket" // a ticket on the allowlist
	KindRevoke = "revoke" // a ticket revoked
	KindUsed   = "used"   // a ticket used at a gate
	KindAnnul  = "annul"  // a used mark taken back: the ticket may be used again
)

// Change is one entry of an event's change log.
type Change struct {
	Seq    int64   `json:"seq"`
	Kind   string  `json:"kind"`
	Key    *Key    `json:"key,omitempty"`
	Ticket *Ticket `json:"ticket,omitempty"`
	Revoke *Revoke `json:"revoke,omitempty"`
	Used   *Used   `json:"used,omitempty"`
	Annul  *Annul  `json:"annul,omitempty"`
	// Venue is the row a change of kind KindVenue sets or deletes (venue
	// scopes only, protocol 5).
	Venue *VenueRow `json:"venue,omitempty"`
}

// Key is an event's public signing key.
type Key struct {
	ID        string    `json:"id"`
	Public    []byte    `json:"public"` // Ed25519, 32 bytes
	RetiredAt time.Time `json:"retired_at,omitzero"`
}

// MaxCodeSecret bounds a rotating-code secret.
const MaxCodeSecret = 64

// Ticket is an allowlist row.
type Ticket struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Holder string `json:"holder,omitempty"`
	// CodeSecret is the ticket's rotating-code (TOTP) secret, for tickets
	// issued as rotating; it is never in the static code, so a gate learns
	// it only from its replica. Empty: no rotating code.
	CodeSecret []byte `json:"code_secret,omitempty"`
}

// Revoke marks a ticket revoked.
type Revoke struct {
	TicketID string `json:"ticket_id"`
	Reason   string `json:"reason,omitempty"`
}

// Directions of a passage (Scan.Direction, Used.Direction, Annul.Direction,
// DecideRequest.Direction): the wire encoding of ticket/entry's In and Out.
// wire imports nothing of ours, so its consumers convert at their edge
// (an exit is DirOut; anything else, "" included, an entry).
const (
	DirIn  = "in"  // an entry; "" means the same
	DirOut = "out" // an exit
)

// Used records a passage through a gate somewhere in the venue: an entry
// (the ticket was used) or an exit (a re-entry ticket may come back in).
type Used struct {
	TicketID string    `json:"ticket_id"`
	Device   string    `json:"device"`
	Gate     string    `json:"gate"`
	At       time.Time `json:"at"`
	// Direction is DirIn ("" means the same) or DirOut.
	Direction string `json:"direction,omitempty"`
	// Annulled is set in snapshot chunks only: the passage was taken back
	// (see Annul). A change of kind used never sets it.
	Annulled bool `json:"annulled,omitempty"`
}

// Exit reports whether u is an exit.
func (u *Used) Exit() bool { return u.Direction == DirOut }

// Annul takes back the passage of a ticket at a device at a time (the
// turnstile did not turn, or staff annulled it): it no longer counts, so
// the holder may present again. Annulling a passage no gate has heard of
// yet is valid; the annulment then waits for it.
type Annul struct {
	TicketID  string    `json:"ticket_id"`
	Device    string    `json:"device"`
	Gate      string    `json:"gate"`
	At        time.Time `json:"at"` // of the passage taken back
	Direction string    `json:"direction,omitempty"`
	Reason    string    `json:"reason,omitempty"`
}

// Batch carries consecutive changes of one event, after From and up to To.
type Batch struct {
	Event   string   `json:"event"`
	From    int64    `json:"from"`
	To      int64    `json:"to"`
	Changes []Change `json:"changes"`
	// Checksum is BatchChecksum of the batch; Running is the replica's
	// running checksum once the batch is applied (RunningChecksum over
	// every change up to To).
	Checksum uint64 `json:"checksum"`
	Running  uint64 `json:"running"`
	// AsOf (protocol 5, ticket logs) is the sync point of position To:
	// every ticket whose issue time (ticket claim 10) is at or before it
	// is in the log at or before To. A gate that applied To admits on its
	// signature only a ticket issued after it. Zero: no ticket of the log
	// says when it was issued, so any that does is newer. Not in the
	// checksum (it describes the log, not the replica); inside the
	// signature.
	AsOf time.Time `json:"as_of,omitzero"`
}

// SnapTicket is an allowlist row in a snapshot.
type SnapTicket struct {
	ID      string `json:"id"`
	Type    string `json:"type"`
	Holder  string `json:"holder,omitempty"`
	Revoked bool   `json:"revoked,omitempty"`
	// CodeSecret: see Ticket.
	CodeSecret []byte `json:"code_secret,omitempty"`
}

// Snapshot is one chunk of an event's full replica as of log position Seq
// (changes after Seq follow as batches). Chunks go in ticket id order: a
// chunk holds the tickets with After < id <= Last and their used marks; the
// first chunk (After == "") also holds the keys. Applying the first chunk
// starts a new replica generation; applying the Done chunk replaces the old
// one. Running is the running checksum at Seq.
type Snapshot struct {
	Event   string       `json:"event"`
	Seq     int64        `json:"seq"`
	Running uint64       `json:"running"`
	After   string       `json:"after"`
	Last    string       `json:"last"`
	Keys    []Key        `json:"keys,omitempty"`
	Tickets []SnapTicket `json:"tickets"`
	Used    []Used       `json:"used,omitempty"`
	// Venue holds, in a venue scope's chunk (protocol 5), the rows with
	// After < Key() <= Last; such a chunk has no keys, tickets or used
	// marks.
	Venue []VenueRow `json:"venue,omitempty"`
	// AsOf (protocol 5, ticket logs) is the sync point of Seq: see
	// Batch.AsOf. The Done chunk's is what the gate keeps.
	AsOf     time.Time `json:"as_of,omitzero"`
	Done     bool      `json:"done"`
	Checksum uint64    `json:"checksum"` // SnapshotChecksum of the chunk
}

// Ack confirms that the agent applied an event's changes up to Cursor.
type Ack struct {
	Event  string `json:"event"`
	Cursor int64  `json:"cursor"`
}

// Scan outcomes.
const (
	Admitted = "admitted"
	Refused  = "refused"
)

// Scan is one journaled decision.
type Scan struct {
	Seq      int64     `json:"seq"` // per device, strictly increasing
	Event    string    `json:"event"`
	TicketID string    `json:"ticket_id,omitempty"`
	Gate     string    `json:"gate"`
	At       time.Time `json:"at"`
	Outcome  string    `json:"outcome"`
	// Reason is machine-readable: why a scan was refused, and empty for
	// an admission on the replica's word; an admission on the credential
	// alone says so (ReasonOnSignature, ReasonPartnerSignature,
	// ReasonBadge).
	Reason   string `json:"reason,omitempty"`
	Sentence string `json:"sentence,omitempty"` // what the gate showed
	// Direction is the way the holder went (or tried to): DirIn ("" means
	// the same) or DirOut. An admitted exit is Outcome Admitted with
	// Direction DirOut.
	Direction string `json:"direction,omitempty"`
	// Annuls, when set, makes this scan an annulment (Outcome Refused) of
	// this device's passage of TicketID at that time; the fleet logs it as
	// a change of kind annul.
	Annuls time.Time `json:"annuls,omitzero"`
	// Staff (protocol 5) names the gate staff member (an operator of the
	// fleet, signed in at the gate) on whose authority a staff action —
	// a forced admission, an annulment — was taken; empty for the gate's
	// own decisions.
	Staff string `json:"staff,omitempty"`
}

// Reasons of admissions on the credential alone (Scan.Reason).
const (
	// ReasonOnSignature: a ticket not on the gate's replica, validly
	// signed and issued after the replica's last sync point, admitted on
	// its signature.
	ReasonOnSignature = "on_signature"
	// ReasonPartnerSignature: a partner's JWT ticket, admitted on the
	// partner key's signature.
	ReasonPartnerSignature = "partner_signature"
	// ReasonBadge: a UID badge of the event's allowlist.
	ReasonBadge = "badge"
)

// Scans carries journaled scans upstream.
type Scans struct {
	Scans []Scan `json:"scans"`
}

// ScanAck says the fleet has durably recorded every scan of this device up
// to and including UpTo: the gate may then delete them from its journal.
type ScanAck struct {
	UpTo int64 `json:"up_to"`
	// Signature (protocol 5): see ScanAck.Sign.
	Signature []byte `json:"signature,omitempty"`
}

// Config is the configuration the fleet wants the device to run.
type Config struct {
	Version int64 `json:"version"`
	// Body is a GateConfig (ParseGateConfig) as the operator stored it.
	Body json.RawMessage `json:"body"`
	// Signature (protocol 5): see Config.Sign.
	Signature []byte `json:"signature,omitempty"`
}

// ConfigAck reports the config version the device applied, or the one it
// could not apply. A gate sends it only for a config it applied whole, or
// with Failed and Error for one it applied none of.
type ConfigAck struct {
	// Version is the config the device runs now: the one just applied,
	// or, with Failed, the one it still runs (0: none).
	Version int64 `json:"version"`
	// Failed (protocol 5) is the version the device could not apply;
	// Error says why. A protocol-4 agent sends Error alone.
	Failed int64  `json:"failed,omitempty"`
	Error  string `json:"error,omitempty"`
}

// Revoked tells a device that the fleet revoked it: it must wipe its
// replica and stop connecting.
type Revoked struct {
	Reason string `json:"reason,omitempty"`
	// Signature (protocol 5): see Revoked.Sign.
	Signature []byte `json:"signature,omitempty"`
}

// Error explains why a peer is about to close the connection.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}
