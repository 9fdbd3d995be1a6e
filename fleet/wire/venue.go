package wire

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Venue data (part of protocol 5).
//
// Besides its ticket log, every event has a second change log, its venue
// scope: the data a gate needs about the venue rather than about tickets —
// the keys of the devices that serve the event (what peer gossip is
// verified against), the gate staff who may sign in at a gate (hashed
// PINs), the event's zones, gates and ticket types, its gate settings,
// its UID badges (staff and season cards) and its partners' JWT keys. It
// is the same machinery as the ticket log: dense seqs, a
// running checksum, batches, snapshots, compaction, acknowledgements; the
// Batch's and Snapshot's Event and the Hello's cursor key carry the
// scope's name, VenueScope(event).
//
// Why a scope of its own and not new kinds in the ticket log: an agent of
// protocol 4 refuses a change kind it does not know, and a gate that
// skipped changes could not keep the running checksum. An agent receives
// a venue scope only when its hello names the scope's cursor, which a
// protocol-4 hello may not (Validate refuses it): a protocol-4 agent's
// frames stay byte for byte as they were, and venue data always travels in
// signed frames (sign.go; the venue body of a batch and the venue section
// of a chunk are inside the frame the signature covers).
//
// Every change of a venue scope is of kind KindVenue and carries one
// VenueRow: a row (Kind, ID) set to Data or Deleted. A snapshot chunk of a
// venue scope carries rows (never deleted ones) in Key order instead of
// keys, tickets and used marks; its After and Last are row keys. Adding a
// kind of venue data is a new VenueKind constant, its data type
// and its validation here, a source in the fleet's store and a table in
// the gate's database: the log, its checksums, frames, snapshots and
// acknowledgements do not change. A gate that does not know a kind keeps
// the scope's cursor and checksum and ignores the row; the gate's release
// that learns the kind resynchronises the scope (a snapshot) to fill it.

// VenuePrefix starts the name of a venue scope. Event ids never contain
// '#' (the fleet refuses " /?#*" in them), so no scope name is an event id
// and no event id a scope name.
const VenuePrefix = "#venue:"

// VenueScope returns the name of event's venue scope.
func VenueScope(event string) string { return VenuePrefix + event }

// VenueEvent returns the event of a venue scope's name; ok is false when
// scope is not one (an event id: the ticket log).
func VenueEvent(scope string) (event string, ok bool) {
	event, ok = strings.CutPrefix(scope, VenuePrefix)
	return event, ok && event != ""
}

// IsVenueScope reports whether scope names a venue scope.
func IsVenueScope(scope string) bool { return strings.HasPrefix(scope, VenuePrefix) }

// KindVenue is the kind of every change of a venue scope: one VenueRow set
// or deleted.
const KindVenue = "venue"

// Kinds of venue data (VenueRow.Kind).
const (
	// VenueKindDevice is a device that serves the event, by device id:
	// VenueDevice.
	VenueKindDevice = "device"
	// VenueKindStaff is a gate staff member of the event, by operator
	// name: VenueStaff.
	VenueKindStaff = "staff"
	// VenueKindZone is a zone of the venue, by zone id: VenueZone.
	VenueKindZone = "zone"
	// VenueKindGate is a gate of the venue, by gate id: VenueGate.
	VenueKindGate = "gate"
	// VenueKindTicketType is a ticket type of the event, by type id:
	// VenueTicketType.
	VenueKindTicketType = "ticket_type"
	// VenueKindSettings holds the event's gate settings, one row of id
	// VenueSettingsID: VenueSettings.
	VenueKindSettings = "settings"
	// VenueKindBadge is a UID badge that opens the event's gates (a staff
	// card, a season card), by badge id: VenueBadge.
	VenueKindBadge = "badge"
	// VenueKindJWTKey is a partner's JWT verification key, by key name:
	// VenueJWTKey.
	VenueKindJWTKey = "jwt_key"
)

// VenueSettingsID is the id of an event's one settings row.
const VenueSettingsID = "event"

// Bounds of venue rows.
const (
	MaxVenueKindLen = 32
	MaxVenueData    = 4 << 10
)

// VenueRow is one row of an event's venue data.
type VenueRow struct {
	Kind string `json:"kind"` // a VenueKind: [a-z_], 1 to MaxVenueKindLen bytes
	ID   string `json:"id"`
	// Data is the row, the JSON object of its kind's type (VenueDevice,
	// VenueStaff); empty when Deleted. It is checksummed as the bytes the
	// fleet wrote.
	Data []byte `json:"data,omitempty"`
	// Deleted (changes only) removes the row.
	Deleted bool `json:"deleted,omitempty"`
}

// Key is the row's place in a venue snapshot: its kind, "/", its id.
// Snapshot chunks hold rows in Key order; After and Last are keys.
func (r *VenueRow) Key() string { return r.Kind + "/" + r.ID }

// VenueDevice is a device that serves the event (VenueKindDevice, by
// device id): what a gate checks a peer's gossip against.
type VenueDevice struct {
	Name string `json:"name,omitempty"`
	Gate string `json:"gate,omitempty"`
	// PublicKey is the device's Ed25519 key; empty when Revoked.
	PublicKey []byte `json:"public_key,omitempty"`
	// Revoked: the fleet revoked the device; a gate refuses what it
	// signs.
	Revoked bool `json:"revoked,omitempty"`
}

// VenueStaff is a gate staff member of the event (VenueKindStaff, by
// operator name), as a gate needs it to sign them in.
type VenueStaff struct {
	Name string `json:"name,omitempty"` // shown on the gate; the id when empty
	// PINHash is the argon2id PHC string of StaffSecret(badge, PIN).
	PINHash string `json:"pin_hash"`
	// Badge, when set, is BadgeLookup of the staff member's badge UID:
	// they sign in with the badge and the PIN.
	Badge string `json:"badge,omitempty"`
}

// Bounds of a staff row.
const (
	MaxPINHashLen = 256
	badgeHexLen   = 2 * sha256.Size
)

// BadgeLookup is how a badge UID (the bytes a reader reports) is found
// among the staff rows: hex of SHA-256 over a domain tag and the UID. It
// hides the UID from a reader of the replica only as far as the UID's own
// length does (a 4-byte UID is found by trying them all).
func BadgeLookup(uid []byte) string {
	h := sha256.New()
	h.Write([]byte("admit-badge-v1\x00"))
	h.Write(uid)
	return hex.EncodeToString(h.Sum(nil))
}

// StaffSecret is what a staff member's PIN hash covers: the PIN, and with
// a badge the badge's UID before it, so a PIN alone does not open a
// badge-and-PIN account.
func StaffSecret(badgeUID []byte, pin string) []byte {
	if len(badgeUID) == 0 {
		return []byte(pin)
	}
	b := append([]byte("badge:"), hex.EncodeToString(badgeUID)...)
	b = append(b, '\x00')
	return append(b, pin...)
}

// VenueZone is a zone of the venue (VenueKindZone, by zone id).
type VenueZone struct {
	Name string `json:"name,omitempty"` // shown in sentences; the id when empty
}

// VenueGate is a gate of the venue (VenueKindGate, by gate id): an
// entrance into zones.
type VenueGate struct {
	Name  string   `json:"name,omitempty"`
	Zones []string `json:"zones,omitempty"`
}

// VenueTicketType is a ticket type of the event (VenueKindTicketType, by
// type id).
type VenueTicketType struct {
	Name   string   `json:"name,omitempty"`   // shown in sentences; the id when empty
	Zones  []string `json:"zones,omitempty"`  // what its tickets open; empty: every zone
	Policy string   `json:"policy,omitempty"` // single (default), multi, reentry
}

// VenueSettings are the event's settings for its gates
// (VenueKindSettings, id VenueSettingsID). Nil fields take the default.
type VenueSettings struct {
	// AdmitOnSignature: a ticket validly signed by a key the gate knows,
	// not on its replica, issued after the replica's last sync point
	// (ticket claim 10 against Batch.AsOf) and not revoked is admitted on
	// its signature. Default true.
	AdmitOnSignature *bool `json:"admit_on_signature,omitempty"`
}

// AdmitsOnSignature reports the policy, its default applied.
func (s VenueSettings) AdmitsOnSignature() bool {
	return s.AdmitOnSignature == nil || *s.AdmitOnSignature
}

// Entry policies of badges and ticket types (ticket.ParsePolicy's
// vocabulary; "" is the default).
const (
	PolicySingle  = "single"
	PolicyMulti   = "multi"
	PolicyReentry = "reentry"
)

func okPolicy(p string) bool {
	return p == "" || p == PolicySingle || p == PolicyMulti || p == PolicyReentry
}

// VenueBadge is a UID badge that opens the event's gates (VenueKindBadge,
// by badge id): a staff card or a season card, presented to an NFC
// reader that reports its UID. UIDs clone: a badge is low assurance, kept
// to the people, zones and times it is given for.
type VenueBadge struct {
	// UID is BadgeLookup of the card's UID: the gate finds a presented
	// UID by it.
	UID  string `json:"uid"`
	Name string `json:"name,omitempty"` // the holder, shown to staff
	// Zones the badge opens; empty: every zone.
	Zones []string `json:"zones,omitempty"`
	// NotBefore and NotAfter bound when it opens (zero: unbounded).
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	// Policy is the entry rule of its passages: single, multi (the
	// default for a badge: staff come and go) or reentry.
	Policy string `json:"policy,omitempty"`
}

// JWT algorithms of partner keys (ticket.JWTKey).
const (
	AlgEdDSA = "EdDSA" // Ed25519: the 32-byte public key
	AlgES256 = "ES256" // ECDSA P-256: the uncompressed point, 65 bytes
)

// VenueJWTKey is a partner's JWT verification key (VenueKindJWTKey, by key
// name): a gate admits the partner's JWT tickets of the event signed with
// it (ticket.VerifyJWT).
type VenueJWTKey struct {
	// Kid is the JWS "kid" the partner's tokens name ("": tokens without
	// one).
	Kid       string    `json:"kid,omitempty"`
	Alg       string    `json:"alg"`    // AlgEdDSA or AlgES256
	Public    []byte    `json:"public"` // see Alg
	Issuer    string    `json:"issuer,omitempty"`
	RetiredAt time.Time `json:"retired_at,omitzero"`
}

// CheckJWTKey checks a partner key's algorithm and public key.
func CheckJWTKey(alg string, public []byte) error {
	switch alg {
	case AlgEdDSA:
		if len(public) != ed25519.PublicKeySize {
			return fmt.Errorf("an %s key is %d bytes, not %d", alg, ed25519.PublicKeySize, len(public))
		}
	case AlgES256:
		if _, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), public); err != nil {
			return fmt.Errorf("an %s key is the uncompressed P-256 point (65 bytes): %v", alg, err)
		}
	default:
		return fmt.Errorf("algorithm %q (want %s or %s)", alg, AlgEdDSA, AlgES256)
	}
	return nil
}

// NewVenueRow returns the row (kind, id) holding v as its data.
func NewVenueRow(kind, id string, v any) (VenueRow, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return VenueRow{}, invalid("venue row %s/%.32q: %v", kind, id, err)
	}
	r := VenueRow{Kind: kind, ID: id, Data: data}
	return r, r.validate()
}

// Device returns the data of a VenueKindDevice row.
func (r *VenueRow) Device() (VenueDevice, error) {
	var d VenueDevice
	if r.Kind != VenueKindDevice || r.Deleted {
		return d, invalid("venue row %s/%.32q is not a device", r.Kind, r.ID)
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		return d, invalid("venue device %.32q: %v", r.ID, err)
	}
	if d.Revoked != (len(d.PublicKey) == 0) || (len(d.PublicKey) != 0 && len(d.PublicKey) != 32) || !okText(d.Name) || !okText(d.Gate) {
		return d, invalid("venue device %.32q: a 32-byte key, or revoked without one", r.ID)
	}
	return d, nil
}

// Staff returns the data of a VenueKindStaff row.
func (r *VenueRow) Staff() (VenueStaff, error) {
	var s VenueStaff
	if r.Kind != VenueKindStaff || r.Deleted {
		return s, invalid("venue row %s/%.32q is not a staff member", r.Kind, r.ID)
	}
	if err := json.Unmarshal(r.Data, &s); err != nil {
		return s, invalid("venue staff %.32q: %v", r.ID, err)
	}
	if s.PINHash == "" || len(s.PINHash) > MaxPINHashLen || !okText(s.Name) || (s.Badge != "" && !isHex(s.Badge, badgeHexLen)) {
		return s, invalid("venue staff %.32q: bad PIN hash, name or badge", r.ID)
	}
	return s, nil
}

// decodeVenue decodes a row's data of kind into v, refusing unknown
// fields (the fleet writes none).
func (r *VenueRow) decodeVenue(kind, what string, v any) error {
	if r.Kind != kind || r.Deleted {
		return invalid("venue row %s/%.32q is not a %s", r.Kind, r.ID, what)
	}
	dec := json.NewDecoder(bytes.NewReader(r.Data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalid("venue %s %.32q: %v", what, r.ID, err)
	}
	return nil
}

func okZones(zs []string) bool {
	if len(zs) > MaxConfigList {
		return false
	}
	for _, z := range zs {
		if !okID(z) {
			return false
		}
	}
	return true
}

// Zone returns the data of a VenueKindZone row.
func (r *VenueRow) Zone() (VenueZone, error) {
	var z VenueZone
	if err := r.decodeVenue(VenueKindZone, "zone", &z); err != nil {
		return z, err
	}
	if !okText(z.Name) {
		return z, invalid("venue zone %.32q: name too long", r.ID)
	}
	return z, nil
}

// Gate returns the data of a VenueKindGate row.
func (r *VenueRow) Gate() (VenueGate, error) {
	var g VenueGate
	if err := r.decodeVenue(VenueKindGate, "gate", &g); err != nil {
		return g, err
	}
	if !okText(g.Name) || !okZones(g.Zones) {
		return g, invalid("venue gate %.32q: bad name or zones", r.ID)
	}
	return g, nil
}

// TicketType returns the data of a VenueKindTicketType row.
func (r *VenueRow) TicketType() (VenueTicketType, error) {
	var t VenueTicketType
	if err := r.decodeVenue(VenueKindTicketType, "ticket type", &t); err != nil {
		return t, err
	}
	if !okText(t.Name) || !okZones(t.Zones) || !okPolicy(t.Policy) {
		return t, invalid("venue ticket type %.32q: bad name, zones or policy", r.ID)
	}
	return t, nil
}

// Settings returns the data of a VenueKindSettings row.
func (r *VenueRow) Settings() (VenueSettings, error) {
	var s VenueSettings
	if err := r.decodeVenue(VenueKindSettings, "settings", &s); err != nil {
		return s, err
	}
	if r.ID != VenueSettingsID {
		return s, invalid("venue settings %.32q: the one row is %q", r.ID, VenueSettingsID)
	}
	return s, nil
}

// Badge returns the data of a VenueKindBadge row.
func (r *VenueRow) Badge() (VenueBadge, error) {
	var b VenueBadge
	if err := r.decodeVenue(VenueKindBadge, "badge", &b); err != nil {
		return b, err
	}
	if !isHex(b.UID, badgeHexLen) || !okText(b.Name) || !okZones(b.Zones) || !okPolicy(b.Policy) ||
		(!b.NotBefore.IsZero() && !b.NotAfter.IsZero() && b.NotAfter.Before(b.NotBefore)) {
		return b, invalid("venue badge %.32q: bad UID hash, name, zones, policy or window", r.ID)
	}
	return b, nil
}

// JWTKey returns the data of a VenueKindJWTKey row.
func (r *VenueRow) JWTKey() (VenueJWTKey, error) {
	var k VenueJWTKey
	if err := r.decodeVenue(VenueKindJWTKey, "jwt key", &k); err != nil {
		return k, err
	}
	if len(k.Kid) > MaxIDLen || !okText(k.Issuer) {
		return k, invalid("venue jwt key %.32q: kid or issuer too long", r.ID)
	}
	if err := CheckJWTKey(k.Alg, k.Public); err != nil {
		return k, invalid("venue jwt key %.32q: %v", r.ID, err)
	}
	return k, nil
}

func isHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil && strings.ToLower(s) == s
}

func okVenueKind(k string) bool {
	if k == "" || len(k) > MaxVenueKindLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; (c < 'a' || c > 'z') && c != '_' {
			return false
		}
	}
	return true
}

// validate checks a row's shape, and the data of the kinds this package
// knows. A kind it does not know passes with any JSON object as data (a
// newer fleet's kind: the gate ignores it).
func (r *VenueRow) validate() error {
	if !okVenueKind(r.Kind) || !okID(r.ID) {
		return invalid("venue row: bad kind %.40q or id %.32q", r.Kind, r.ID)
	}
	if r.Deleted {
		if len(r.Data) != 0 {
			return invalid("venue row %s/%.32q: deleted with data", r.Kind, r.ID)
		}
		return nil
	}
	if len(r.Data) > MaxVenueData || !isObject(r.Data) {
		return invalid("venue row %s/%.32q: data not one JSON object of at most %d bytes", r.Kind, r.ID, MaxVenueData)
	}
	var err error
	switch r.Kind {
	case VenueKindDevice:
		_, err = r.Device()
	case VenueKindStaff:
		_, err = r.Staff()
	case VenueKindZone:
		_, err = r.Zone()
	case VenueKindGate:
		_, err = r.Gate()
	case VenueKindTicketType:
		_, err = r.TicketType()
	case VenueKindSettings:
		_, err = r.Settings()
	case VenueKindBadge:
		_, err = r.Badge()
	case VenueKindJWTKey:
		_, err = r.JWTKey()
	}
	return err
}

func (r *VenueRow) appendCanonical(b []byte) []byte {
	b = appendString(b, r.Kind)
	b = appendString(b, r.ID)
	b = appendBytes(b, r.Data)
	return appendBool(b, r.Deleted)
}

func appendFrameVenue(out []byte, r *VenueRow) []byte {
	out = appendString(out, r.Kind)
	out = appendString(out, r.ID)
	out = appendBytes(out, r.Data)
	return appendBool(out, r.Deleted)
}

func (fr *frameReader) venue() VenueRow {
	return VenueRow{Kind: fr.str(), ID: fr.str(), Data: fr.bytes(), Deleted: fr.bool()}
}

// validateVenueSnapshot checks the rows of a venue scope's snapshot chunk:
// in Key order within (After, Last], none deleted; and that it carries
// nothing of a ticket log.
func (s *Snapshot) validateVenueSnapshot() error {
	if len(s.Keys) > 0 || len(s.Tickets) > 0 || len(s.Used) > 0 {
		return invalid("snapshot of %q: keys, tickets or used marks in a venue scope", s.Event)
	}
	prev := s.After
	for i := range s.Venue {
		r := &s.Venue[i]
		if r.Deleted {
			return invalid("snapshot of %q: deleted venue row", s.Event)
		}
		if err := r.validate(); err != nil {
			return err
		}
		k := r.Key()
		if k <= prev || k > s.Last {
			return invalid("snapshot of %q: venue row %.40q out of order", s.Event, k)
		}
		prev = k
	}
	return nil
}
