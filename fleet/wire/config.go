package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// GateConfig is the body of a Config: what the fleet sets on a gate
// (protocol 5; a protocol-4 agent treats the body as its own business).
// The fleet validates it when an operator stores it (a bad body is a
// 400 naming the field) and again when it pushes it; the gate validates
// it once more, checks what only it knows (its readers, its camera), then
// applies it and reports applied, or failed with the reason
// (ConfigAck).
//
// Every field is optional. Nil means "the gate's own setting": what its
// command line says. A field that is set overrides it. A gate applies
// each config whole: a field a later config leaves out goes back to the
// gate's own setting. Unknown fields are refused, on both sides: a typo
// is an error, not a silently ignored setting.
type GateConfig struct {
	// Version is the schema of this body: GateConfigVersion; absent (0)
	// means 1. A gate refuses a schema it does not know.
	Version int `json:"version,omitempty"`
	// Events are the events the gate serves (several: a festival's day
	// tickets and weekend passes); each must be one its fleet record
	// names (fleet.Device.Events).
	Events []string `json:"events,omitempty"`
	// Direction of the gate: "in" ("entry"), "out" ("exit") or "both".
	Direction *string `json:"direction,omitempty"`
	// Zone the gate leads into; "" checks no zone.
	Zone *string `json:"zone,omitempty"`
	// Types are the ticket types admitted; empty admits every type.
	Types *[]string `json:"types,omitempty"`
	// ReaderSides gives, at a "both" gate, the side of each reader by its
	// name ("camera0", "nfc0"): "in" or "out". Readers not listed are
	// entries. The gate refuses a name none of its readers has.
	ReaderSides map[string]string `json:"reader_sides,omitempty"`
	// Online turns online mode on or off and sets its thresholds; true
	// and false are short for {"enabled": true|false}.
	Online *OnlineSettings `json:"online,omitempty"`
	// PassageTimeout annuls an entry whose passage the turnstile did not
	// report within it (1 s to 10 min).
	PassageTimeout *Duration `json:"passage_timeout,omitempty"`
	// Debounce: the same code within it is one presentation (0 to 1 min).
	Debounce *Duration `json:"debounce,omitempty"`
	// Formats are the symbologies the gate's camera reads ("qr",
	// "pdf417", …); the gate refuses one its decoder does not know, and
	// any when it has no camera.
	Formats *[]string `json:"formats,omitempty"`
	// Peers are the other gates' peer endpoints (ws://host:port/peer).
	Peers *[]string `json:"peers,omitempty"`
	// IdleText is what the gate's display shows between attendees.
	IdleText *string `json:"idle_text,omitempty"`
	// Buzzer turns the gate's buzzer on or off.
	Buzzer *bool `json:"buzzer,omitempty"`
}

// GateConfigVersion is the schema of GateConfig this package knows.
const GateConfigVersion = 1

// OnlineSettings configure online mode (the agent's OnlineConfig). A
// zero duration or count takes the gate's default.
type OnlineSettings struct {
	Enabled bool `json:"enabled"`
	// Timeout bounds one request to the fleet (up to 10 s).
	Timeout Duration `json:"timeout,omitempty"`
	// MaxFailures consecutive failed or late requests or probes switch
	// the gate to local decisions (up to 100).
	MaxFailures int `json:"max_failures,omitempty"`
	// ProbeEvery is how often the fleet is probed (up to 10 min).
	ProbeEvery Duration `json:"probe_every,omitempty"`
	// ProbeSuccesses consecutive answers switch it back (up to 100).
	ProbeSuccesses int `json:"probe_successes,omitempty"`
}

// UnmarshalJSON takes an object, or true and false for {"enabled": …}.
func (o *OnlineSettings) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) {
	case "true":
		*o = OnlineSettings{Enabled: true}
		return nil
	case "false":
		*o = OnlineSettings{}
		return nil
	}
	type plain OnlineSettings
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	*o = OnlineSettings(p)
	return nil
}

// Duration is a time.Duration written as Go writes one ("300ms", "10s").
type Duration time.Duration

// MarshalJSON writes d as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a string such as "1.5s". Its error is a
// json.UnmarshalTypeError, which the decoder names the field in.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: string(b) + ` (a duration is a string such as "10s")`, Type: reflect.TypeFor[Duration]()}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("%q (not a duration such as \"10s\")", s), Type: reflect.TypeFor[Duration]()}
	}
	*d = Duration(v)
	return nil
}

// ErrBadConfig wraps every refusal of a config body; the message names
// the field.
var ErrBadConfig = errors.New("wire: invalid gate config")

func badConfig(field, format string, args ...any) error {
	return fmt.Errorf("%w: field %q: %s", ErrBadConfig, field, fmt.Sprintf(format, args...))
}

// ParseGateConfig decodes and validates a config body: one JSON object of
// at most MaxConfigBytes, no unknown field, every field within bounds.
// Its error names the field (ErrBadConfig).
func ParseGateConfig(body []byte) (GateConfig, error) {
	var c GateConfig
	if len(body) > MaxConfigBytes {
		return c, fmt.Errorf("%w: %d bytes, at most %d", ErrBadConfig, len(body), MaxConfigBytes)
	}
	if !isObject(body) {
		return c, fmt.Errorf("%w: the body is not one JSON object", ErrBadConfig)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &te):
			return c, badConfig(te.Field, "%s where a %s belongs", te.Value, te.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return c, badConfig(name, "unknown (a gate config has none such)")
		}
		return c, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if dec.More() {
		return c, fmt.Errorf("%w: more than one JSON value", ErrBadConfig)
	}
	return c, c.Validate()
}

// Bounds of a gate config.
const (
	MaxConfigList = 64 // events, types, formats, peers, reader sides
)

// Validate checks every field's bounds and vocabulary; its error names
// the field.
func (c *GateConfig) Validate() error {
	if c.Version < 0 || c.Version > GateConfigVersion {
		return badConfig("version", "%d, this gate knows %d", c.Version, GateConfigVersion)
	}
	if c.Events != nil {
		if len(c.Events) == 0 || len(c.Events) > MaxCursors {
			return badConfig("events", "%d events (1 to %d)", len(c.Events), MaxCursors)
		}
		if err := names("events", c.Events, okEventID); err != nil {
			return err
		}
	}
	if c.Direction != nil && !okGateDirection(*c.Direction) {
		return badConfig("direction", "%q (want in, out or both; entry and exit are in and out)", *c.Direction)
	}
	if c.Zone != nil && (len(*c.Zone) > MaxIDLen || !okText(*c.Zone)) {
		return badConfig("zone", "longer than %d bytes", MaxIDLen)
	}
	if c.Types != nil {
		if err := names("types", *c.Types, okID); err != nil {
			return err
		}
	}
	if len(c.ReaderSides) > MaxConfigList {
		return badConfig("reader_sides", "%d readers, at most %d", len(c.ReaderSides), MaxConfigList)
	}
	for name, side := range c.ReaderSides {
		if !okID(name) {
			return badConfig("reader_sides", "reader name %.32q", name)
		}
		if side != DirIn && side != DirOut {
			return badConfig("reader_sides", "reader %q: side %q (want in or out)", name, side)
		}
	}
	if c.Direction != nil && len(c.ReaderSides) > 0 && *c.Direction != "both" {
		return badConfig("reader_sides", "set for a gate whose direction is %q: only a both-ways gate has sides", *c.Direction)
	}
	if o := c.Online; o != nil {
		switch {
		case o.Timeout < 0 || time.Duration(o.Timeout) > 10*time.Second:
			return badConfig("online.timeout", "%s (0 for the default, at most 10s)", time.Duration(o.Timeout))
		case o.MaxFailures < 0 || o.MaxFailures > 100:
			return badConfig("online.max_failures", "%d (0 for the default, at most 100)", o.MaxFailures)
		case o.ProbeEvery < 0 || time.Duration(o.ProbeEvery) > 10*time.Minute:
			return badConfig("online.probe_every", "%s (0 for the default, at most 10m)", time.Duration(o.ProbeEvery))
		case o.ProbeSuccesses < 0 || o.ProbeSuccesses > 100:
			return badConfig("online.probe_successes", "%d (0 for the default, at most 100)", o.ProbeSuccesses)
		}
	}
	if d := c.PassageTimeout; d != nil && (time.Duration(*d) < time.Second || time.Duration(*d) > 10*time.Minute) {
		return badConfig("passage_timeout", "%s (1s to 10m)", time.Duration(*d))
	}
	if d := c.Debounce; d != nil && (*d < 0 || time.Duration(*d) > time.Minute) {
		return badConfig("debounce", "%s (0 to 1m)", time.Duration(*d))
	}
	if c.Formats != nil {
		if len(*c.Formats) == 0 {
			return badConfig("formats", "empty: a camera reads at least one symbology")
		}
		if err := names("formats", *c.Formats, okFormat); err != nil {
			return err
		}
	}
	if c.Peers != nil {
		if len(*c.Peers) > MaxConfigList {
			return badConfig("peers", "%d peers, at most %d", len(*c.Peers), MaxConfigList)
		}
		for _, p := range *c.Peers {
			u, err := url.Parse(p)
			if err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" || len(p) > MaxTextLen {
				return badConfig("peers", "%.64q is not a ws:// or wss:// URL", p)
			}
		}
	}
	if c.IdleText != nil && (len(*c.IdleText) > 256 || !okText(*c.IdleText)) {
		return badConfig("idle_text", "longer than 256 bytes")
	}
	return nil
}

// names checks a list of names: at most MaxConfigList, each ok, none
// twice.
func names(field string, list []string, ok func(string) bool) error {
	if len(list) > MaxConfigList {
		return badConfig(field, "%d entries, at most %d", len(list), MaxConfigList)
	}
	seen := map[string]bool{}
	for _, n := range list {
		if !ok(n) {
			return badConfig(field, "%.64q is not a valid name", n)
		}
		if seen[n] {
			return badConfig(field, "%q twice", n)
		}
		seen[n] = true
	}
	return nil
}

// okEventID: an event id as the fleet makes them (no '#', so never a
// venue scope's name).
func okEventID(s string) bool { return okID(s) && !strings.ContainsAny(s, " /?#*") }

// okFormat: a symbology's name, [a-z0-9]; which ones exist is the gate's
// decoder's business.
func okFormat(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

func okGateDirection(d string) bool {
	switch d {
	case DirIn, DirOut, "entry", "exit", "both":
		return true
	}
	return false
}
