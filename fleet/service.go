package fleet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"admit/fleet/wire"
)

// MaxImport bounds one CSV import.
const MaxImport = 1_000_000

// ImportCSV reads tickets from CSV and issues them in one transaction (all
// or none). The header names the columns: "id" (optional: generated when
// absent or empty), "type" (default GA), "holder", "policy".
func (s *Service) ImportCSV(ctx context.Context, event string, r io.Reader) ([]Ticket, error) {
	is, err := s.issuer(ctx, event)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("import: header: %w: %w", ErrInvalid, err)
	}
	col := map[string]int{}
	for i, h := range header {
		col[strings.ToLower(strings.TrimSpace(h))] = i
	}
	if _, ok := col["id"]; !ok {
		if _, ok := col["type"]; !ok {
			if _, ok := col["holder"]; !ok {
				return nil, fmt.Errorf("import: header %q has none of id, type, holder: %w", header, ErrInvalid)
			}
		}
	}
	field := func(rec []string, name string) string {
		if i, ok := col[name]; ok && i < len(rec) {
			return strings.TrimSpace(rec[i])
		}
		return ""
	}
	var out []Ticket
	seen := map[string]bool{}
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("import: %w: %w", ErrInvalid, err)
		}
		if len(out) >= MaxImport {
			return nil, fmt.Errorf("import: more than %d rows: %w", MaxImport, ErrInvalid)
		}
		id := field(rec, "id")
		if id == "" {
			if id, err = NewTicketID(); err != nil {
				return nil, err
			}
		}
		if seen[id] {
			return nil, fmt.Errorf("import: line %d: ticket %q twice: %w", line, id, ErrInvalid)
		}
		seen[id] = true
		t, err := is.sign(id, field(rec, "type"), field(rec, "holder"), field(rec, "policy"), false)
		if err != nil {
			return nil, fmt.Errorf("import: line %d: %w", line, err)
		}
		out = append(out, t)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("import: no rows: %w", ErrInvalid)
	}
	if err := s.Store.AddTickets(ctx, out); err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	s.notify(event)
	return out, nil
}

// Revoke revokes a ticket; gates refuse it once the change reaches them.
func (s *Service) Revoke(ctx context.Context, event, id, reason string) (Ticket, error) {
	if err := checkText("revocation reason", reason); err != nil {
		return Ticket{}, fmt.Errorf("revoke: %w", err)
	}
	t, err := s.Store.RevokeTicket(ctx, event, id, reason, s.now())
	if err != nil {
		return t, err
	}
	s.notify(event)
	return t, nil
}

// Reissue revokes a ticket and issues a new one (new id and code) to the
// same holder with the same type, in one transaction.
func (s *Service) Reissue(ctx context.Context, event, id string) (Ticket, error) {
	old, err := s.Store.Ticket(ctx, event, id)
	if err != nil {
		return Ticket{}, fmt.Errorf("reissue: %w", err)
	}
	if !old.RevokedAt.IsZero() {
		return Ticket{}, fmt.Errorf("reissue %s/%s: %w", event, id, ErrRevoked)
	}
	is, err := s.issuer(ctx, event)
	if err != nil {
		return Ticket{}, fmt.Errorf("reissue: %w", err)
	}
	nid, err := NewTicketID()
	if err != nil {
		return Ticket{}, err
	}
	repl, err := is.sign(nid, old.Type, old.Holder, "", len(old.CodeSecret) > 0)
	if err != nil {
		return Ticket{}, fmt.Errorf("reissue: %w", err)
	}
	if err := s.Store.ReplaceTicket(ctx, event, id, repl, s.now()); err != nil {
		return Ticket{}, err
	}
	s.notify(event)
	return repl, nil
}

func okName(id string) bool {
	return id != "" && len(id) <= MaxIDLen && !strings.ContainsAny(id, " /?#,:*")
}

// PutTicketType defines or redefines a ticket type.
func (s *Service) PutTicketType(ctx context.Context, t TicketType) error {
	if !okName(t.ID) {
		return fmt.Errorf("ticket type %q (1 to %d bytes, none of \" /?#,:*\"): %w", t.ID, MaxIDLen, ErrInvalid)
	}
	if err := checkText("ticket type name", t.Name); err != nil {
		return err
	}
	if t.Name == "" {
		t.Name = t.ID
	}
	switch t.Policy {
	case "", "single", "multi", "reentry":
	default:
		return fmt.Errorf("ticket type policy %q (single, multi or reentry): %w", t.Policy, ErrInvalid)
	}
	if err := checkZones(t.Zones); err != nil {
		return err
	}
	if _, err := s.Store.Event(ctx, t.Event); err != nil {
		return err
	}
	if err := s.Store.PutTicketType(ctx, t); err != nil {
		return err
	}
	s.wake(WakeVenues)
	return nil
}

// checkZones refuses a zone list a venue row could not hold.
func checkZones(zones []string) error {
	if len(zones) > MaxBadgeZones {
		return fmt.Errorf("%d zones (at most %d): %w", len(zones), MaxBadgeZones, ErrInvalid)
	}
	for _, z := range zones {
		if !okName(z) {
			return fmt.Errorf("zone %q: %w", z, ErrInvalid)
		}
	}
	return nil
}

// PutZone defines or renames a zone.
func (s *Service) PutZone(ctx context.Context, z Zone) error {
	if !okName(z.ID) {
		return fmt.Errorf("zone %q (1 to %d bytes, none of \" /?#,:*\"): %w", z.ID, MaxIDLen, ErrInvalid)
	}
	if err := checkText("zone name", z.Name); err != nil {
		return err
	}
	if z.Name == "" {
		z.Name = z.ID
	}
	if _, err := s.Store.Event(ctx, z.Event); err != nil {
		return err
	}
	if err := s.Store.PutZone(ctx, z); err != nil {
		return err
	}
	s.wake(WakeVenues)
	return nil
}

// PutGate defines or redefines a gate.
func (s *Service) PutGate(ctx context.Context, g Gate) error {
	if !okName(g.ID) {
		return fmt.Errorf("gate %q (1 to %d bytes, none of \" /?#,:*\"): %w", g.ID, MaxIDLen, ErrInvalid)
	}
	if err := checkText("gate name", g.Name); err != nil {
		return err
	}
	if g.Name == "" {
		g.Name = g.ID
	}
	if err := checkZones(g.Zones); err != nil {
		return err
	}
	if _, err := s.Store.Event(ctx, g.Event); err != nil {
		return err
	}
	if err := s.Store.PutGate(ctx, g); err != nil {
		return err
	}
	s.wake(WakeVenues)
	return nil
}

// EnrollTTL is how long an enrollment token stays valid by default, and
// MaxEnrollTTL at most.
const (
	EnrollTTL    = 24 * time.Hour
	MaxEnrollTTL = 30 * 24 * time.Hour
)

// checkDevice checks a device's texts and events.
func checkDevice(d Device) error {
	if d.Group != "" && !okName(d.Group) {
		return fmt.Errorf("config group %q: %w", d.Group, ErrInvalid)
	}
	if err := checkText("device name", d.Name); err != nil {
		return err
	}
	if err := checkText("gate name", d.Gate); err != nil {
		return err
	}
	return checkEvents(d.Events)
}

var tokenEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// HashToken is how tokens are stored.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(strings.ToUpper(strings.TrimSpace(token))))
	return h[:]
}

// CreateEnrollment creates a one-time token for device e.Device and returns
// the token (the only time it is seen: only its hash is stored).
func (s *Service) CreateEnrollment(ctx context.Context, e Enrollment, ttl time.Duration) (string, Enrollment, error) {
	if !okName(e.Device) {
		return "", e, fmt.Errorf("enrollment: device id %q: %w", e.Device, ErrInvalid)
	}
	if err := checkDevice(Device{Name: e.Name, Gate: e.Gate, Group: e.Group, Events: e.Events}); err != nil {
		return "", e, fmt.Errorf("enrollment: %w", err)
	}
	if ttl <= 0 {
		ttl = EnrollTTL
	}
	if ttl > MaxEnrollTTL {
		return "", e, fmt.Errorf("enrollment: life %s (at most %s): %w", ttl, MaxEnrollTTL, ErrInvalid)
	}
	switch _, err := s.Store.Device(ctx, e.Device); {
	case err == nil && !e.Replace:
		return "", e, fmt.Errorf("enrollment: device %q is enrolled: a token for it would replace its key, which needs replace (an admin's re-key): %w", e.Device, ErrExists)
	case err != nil && !errors.Is(err, ErrNotFound):
		return "", e, err
	}
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", e, fmt.Errorf("enrollment: %w", err)
	}
	token := tokenEncoding.EncodeToString(b[:])
	e.TokenHash = HashToken(token)
	e.CreatedAt = s.now()
	e.ExpiresAt = e.CreatedAt.Add(ttl)
	if err := s.Store.CreateEnrollment(ctx, e); err != nil {
		return "", e, err
	}
	return token, e, nil
}

// Enroll registers the key of the device a token was made for.
func (s *Service) Enroll(ctx context.Context, token string, pub []byte) (Device, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Device{}, fmt.Errorf("enroll: public key of %d bytes: %w", len(pub), ErrInvalid)
	}
	d, err := s.Store.Enroll(ctx, HashToken(token), pub, s.now())
	if err != nil {
		return d, err
	}
	s.deviceChanged(d.ID)
	return d, nil
}

// PreEnroll registers a device whose public key the operator already has
// (provisioning, tests, the demo venue), or updates an enrolled device's
// name, group, gate and events. It never changes an enrolled device's key
// or revocation: a different key is ErrExists (RekeyDevice is the explicit
// action for that).
func (s *Service) PreEnroll(ctx context.Context, d Device) (Device, error) {
	if !okName(d.ID) {
		return d, fmt.Errorf("pre-enroll: device id %q: %w", d.ID, ErrInvalid)
	}
	if err := checkDevice(d); err != nil {
		return d, fmt.Errorf("pre-enroll %q: %w", d.ID, err)
	}
	old, err := s.Store.Device(ctx, d.ID)
	switch {
	case err == nil:
		if len(d.PublicKey) > 0 && !bytes.Equal(d.PublicKey, old.PublicKey) {
			return d, fmt.Errorf("pre-enroll %q: the device is enrolled with another key; re-keying is its own action: %w", d.ID, ErrExists)
		}
		d.PublicKey = old.PublicKey
	case errors.Is(err, ErrNotFound):
		if len(d.PublicKey) != ed25519.PublicKeySize {
			return d, fmt.Errorf("pre-enroll %q: public key of %d bytes: %w", d.ID, len(d.PublicKey), ErrInvalid)
		}
	default:
		return d, err
	}
	d.CreatedAt = s.now()
	if err := s.Store.PutDevice(ctx, d); err != nil {
		return d, err
	}
	s.deviceChanged(d.ID)
	return s.Store.Device(ctx, d.ID)
}

// RekeyDevice gives an enrolled device a new key and clears its
// revocation: a gate whose key was lost or replaced comes back. Nothing
// else changes a device's key once it is enrolled.
func (s *Service) RekeyDevice(ctx context.Context, id string, pub []byte) (Device, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Device{}, fmt.Errorf("rekey %q: public key of %d bytes: %w", id, len(pub), ErrInvalid)
	}
	if err := s.Store.RekeyDevice(ctx, id, pub); err != nil {
		return Device{}, err
	}
	s.deviceChanged(id)
	return s.Store.Device(ctx, id)
}

// UnrevokeDevice clears a device's revocation, keeping its key.
func (s *Service) UnrevokeDevice(ctx context.Context, id string) (Device, error) {
	d, err := s.Store.Device(ctx, id)
	if err != nil {
		return d, err
	}
	if err := s.Store.RekeyDevice(ctx, id, d.PublicKey); err != nil {
		return Device{}, err
	}
	s.deviceChanged(id)
	return s.Store.Device(ctx, id)
}

// RevokeDevice revokes a device: its connection is closed and it wipes its
// replica.
func (s *Service) RevokeDevice(ctx context.Context, id string) error {
	if err := s.Store.RevokeDevice(ctx, id, s.now()); err != nil {
		return err
	}
	s.deviceChanged(id)
	return nil
}

// PutConfig sets the desired config of "device:<id>" or "group:<name>":
// a wire.GateConfig (ErrInvalid, naming the field, for a body that is
// not one; for a device, also for events it does not serve).
func (s *Service) PutConfig(ctx context.Context, scope string, body json.RawMessage) (DesiredConfig, error) {
	kind, name, ok := strings.Cut(scope, ":")
	if !ok || (kind != "device" && kind != "group") || !okName(name) {
		return DesiredConfig{}, fmt.Errorf("config scope %q (want device:<id> or group:<name>): %w", scope, ErrInvalid)
	}
	gc, err := wire.ParseGateConfig(body)
	if err != nil {
		return DesiredConfig{}, fmt.Errorf("config of %q: %w: %w", scope, ErrInvalid, err)
	}
	if kind == "device" {
		d, err := s.Store.Device(ctx, name)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return DesiredConfig{}, err
		}
		if err == nil {
			if err := CheckConfigFor(gc, d); err != nil {
				return DesiredConfig{}, fmt.Errorf("config of %q: %w", scope, err)
			}
		}
	}
	c, err := s.Store.PutConfig(ctx, scope, body, s.now())
	if err != nil {
		return c, err
	}
	s.wake("c:" + scope)
	return c, nil
}

// DesiredFor resolves the config a device should run: its own, else its
// group's; version 0 when neither exists.
func DesiredFor(ctx context.Context, st Store, d Device) (DesiredConfig, error) {
	c, err := st.Config(ctx, "device:"+d.ID)
	if err == nil || !errors.Is(err, ErrNotFound) {
		return c, err
	}
	if d.Group != "" {
		c, err = st.Config(ctx, "group:"+d.Group)
		if err == nil || !errors.Is(err, ErrNotFound) {
			return c, err
		}
	}
	return DesiredConfig{}, nil
}

// CheckConfigFor refuses a config device d cannot be given: events its
// fleet record does not name (its stream would be refused them). An
// unenrolled device (no record) is not checked.
func CheckConfigFor(c wire.GateConfig, d Device) error {
	if d.ID == "" {
		return nil
	}
	for _, ev := range c.Events {
		if !d.Serves(ev) {
			return fmt.Errorf("field \"events\": %q is not an event device %q serves (its record names %q): %w", ev, d.ID, d.Events, ErrInvalid)
		}
	}
	return nil
}

// Config states of a device (DeviceStatus.ConfigState).
const (
	ConfigNone    = "none"    // no desired config, none applied
	ConfigApplied = "applied" // runs the desired version
	ConfigPending = "pending" // not yet reported on the desired version
	ConfigFailed  = "failed"  // could not apply the desired version (ConfigError says why)
)

// DeviceStatus is a device with its config drift, as the console shows it.
type DeviceStatus struct {
	Device
	DesiredVersion int64 `json:"desired_version"`
	// Drift: the config the device runs is not the desired one.
	Drift bool `json:"drift"`
	// ConfigState says where the desired config stands (Config*).
	ConfigState string `json:"config_state"`
}

// configState is where d stands on the desired config version.
func configState(d Device, desired int64) string {
	switch {
	case desired == 0 && d.ConfigVersion == 0:
		return ConfigNone
	case desired == d.ConfigVersion:
		return ConfigApplied
	case d.ConfigFailed != 0 && d.ConfigFailed >= desired:
		return ConfigFailed
	}
	return ConfigPending
}

// Devices lists devices with their drift.
func (s *Service) Devices(ctx context.Context) ([]DeviceStatus, error) {
	ds, err := s.Store.Devices(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceStatus, 0, len(ds))
	for _, d := range ds {
		c, err := DesiredFor(ctx, s.Store, d)
		if err != nil {
			return nil, err
		}
		out = append(out, DeviceStatus{Device: d, DesiredVersion: c.Version, Drift: c.Version != d.ConfigVersion, ConfigState: configState(d, c.Version)})
	}
	return out, nil
}
