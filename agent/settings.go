package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"admit/agent/decide"
	"admit/fleet/wire"
	"admit/ticket/entry"
)

// Settings a fleet config changes.
//
// A gate runs on its own settings (Config: the command line) overlaid by
// the config the fleet pushed last (wire.GateConfig): a field the config
// sets wins, a field it leaves out is the gate's own. The fleet's config
// is applied whole or not at all (applyConfig): checked by the wire's
// rules and by what only this gate knows, handed to Config.ConfigHook
// for what the agent cannot change itself (the camera's formats), then
// swapped in under the decision lock — a presentation is decided on the
// old settings or on the new, never a mix. Parts that run on their own
// restart: the peer links (new peers), the fleet session (new events,
// so its hello names them). The config the gate applied is recorded by
// the uplink and applied again at the next start, before anything runs;
// one that no longer applies then is forgotten (the hello says none), so
// the fleet pushes it again and hears why it fails.

// settings are the gate's live settings: never changed in place; a new
// config makes a new one (swapped under a.mu, read through a.live).
type settings struct {
	events         []string // served; events[0] names scans that belong to none
	gate           decide.Gate
	readerSides    map[string]entry.Direction
	passageTimeout time.Duration
	debounce       time.Duration
	buzzer         bool
	idleText       string
	peers          []string
	online         *OnlineConfig // nil: online mode off
	formats        []string      // nil: the camera's own (command line)
	version        int64         // the fleet config applied; 0: none
}

// baseSettings are the gate's own settings: its Config.
func baseSettings(cfg *Config) *settings {
	return &settings{
		events:         cfg.Events,
		gate:           decide.Gate{Name: cfg.Gate, Zone: cfg.Zone, Types: cfg.Types, Direction: cfg.Direction, Location: cfg.Location},
		readerSides:    cfg.ReaderSides,
		passageTimeout: cfg.PassageTimeout,
		debounce:       cfg.Debounce,
		buzzer:         cfg.Buzzer != nil,
		peers:          cfg.Peers,
		online:         cfg.Online,
	}
}

// overlay returns the base settings overlaid by the fleet's config c
// (version v), or why this gate cannot run it.
func (a *Agent) overlay(c wire.GateConfig, v int64) (*settings, error) {
	s := *a.base
	s.version = v
	if c.Events != nil {
		s.events = slices.Clone(c.Events)
	}
	if c.Direction != nil {
		d, err := entry.ParseDirection(*c.Direction)
		if err != nil {
			return nil, fmt.Errorf("direction: %w", err)
		}
		s.gate.Direction = d
	}
	if c.Zone != nil {
		s.gate.Zone = *c.Zone
	}
	if c.Types != nil {
		s.gate.Types = slices.Clone(*c.Types)
	}
	if c.ReaderSides != nil {
		s.readerSides = make(map[string]entry.Direction, len(c.ReaderSides))
		for name, side := range c.ReaderSides {
			d, err := entry.ParseDirection(side)
			if err != nil {
				return nil, fmt.Errorf("reader_sides: %w", err)
			}
			s.readerSides[name] = d
		}
	}
	if c.PassageTimeout != nil {
		s.passageTimeout = time.Duration(*c.PassageTimeout)
	}
	if c.Debounce != nil {
		s.debounce = time.Duration(*c.Debounce)
	}
	if c.Buzzer != nil {
		if *c.Buzzer && a.cfg.Buzzer == nil {
			return nil, errors.New("buzzer: this gate has no buzzer")
		}
		s.buzzer = *c.Buzzer
	}
	if c.IdleText != nil {
		if *c.IdleText != "" && a.cfg.Display == nil {
			return nil, errors.New("idle_text: this gate has no display")
		}
		s.idleText = *c.IdleText
	}
	if c.Peers != nil {
		s.peers = slices.Clone(*c.Peers)
		if len(s.peers) > 0 && a.cfg.Key == nil {
			return nil, errors.New("peers: this gate has no device key to sign its passages with (enroll it)")
		}
	}
	if c.Formats != nil {
		if a.cfg.ConfigHook == nil {
			return nil, errors.New("formats: this gate has no camera whose formats it could set")
		}
		s.formats = slices.Clone(*c.Formats)
	}
	if o := c.Online; o != nil {
		if !o.Enabled {
			s.online = nil
		} else {
			oc := OnlineConfig{Timeout: time.Duration(o.Timeout), MaxFailures: o.MaxFailures, ProbeEvery: time.Duration(o.ProbeEvery),
				ProbeSuccesses: o.ProbeSuccesses}
			if a.base.online != nil {
				oc.Authority = a.base.online.Authority
			}
			if oc.Authority == nil {
				if a.cfg.FleetURL == "" {
					return nil, errors.New("online: online mode needs a fleet, and this gate runs without one")
				}
				oc.Authority = a.httpAuthority()
			}
			s.online = &oc
		}
	}
	// What only this gate knows: the zones its venue defines.
	if z := s.gate.Zone; z != "" {
		for _, ev := range s.events {
			if a.db.HasZones(ev) && a.db.ZoneName(ev, z) == "" {
				return nil, fmt.Errorf("zone: %q is not a zone of event %q (the fleet defines its zones)", z, ev)
			}
		}
	}
	if s.gate.Direction != entry.Both && len(c.ReaderSides) > 0 {
		return nil, fmt.Errorf("reader_sides: set for a gate whose direction is %s: only a both-ways gate has sides", s.gate.Direction)
	}
	return &s, nil
}

// ConfigError says why a config was not applied.
type ConfigError struct {
	Version int64
	Err     error
}

func (e *ConfigError) Error() string {
	return fmt.Sprintf("config %d not applied: %v", e.Version, e.Err)
}
func (e *ConfigError) Unwrap() error { return e.Err }

// ApplyConfig applies a config the fleet pushed (the uplink's OnConfig),
// whole, or returns why it applied none of it. Nothing is applied before
// everything was checked; the hook runs before the agent's own part and
// is asked to go back when that part cannot follow.
func (a *Agent) ApplyConfig(ctx context.Context, version int64, body json.RawMessage) error {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	err := a.applyConfig(ctx, version, body)
	a.cfgMu.Lock()
	if err != nil {
		a.cfgErr = &ConfigError{Version: version, Err: err}
	} else {
		a.cfgErr = nil
	}
	a.cfgMu.Unlock()
	if err != nil {
		a.metrics.configs.Inc("failed")
		a.cfg.Log.Error("agent: fleet config not applied", "version", version, "err", err)
		return err
	}
	a.metrics.configs.Inc("applied")
	a.cfg.Log.Info("agent: fleet config applied", "version", version)
	return nil
}

func (a *Agent) applyConfig(ctx context.Context, version int64, body json.RawMessage) error {
	c, err := wire.ParseGateConfig(body)
	if err != nil {
		return err
	}
	next, err := a.overlay(c, version)
	if err != nil {
		return err
	}
	prev := a.live.Load()
	if a.cfg.ConfigHook != nil {
		if err := a.cfg.ConfigHook(ctx, c); err != nil {
			return err
		}
	}
	// Events the fleet is to serve now: cursors first, so that the new
	// session asks for them.
	for _, ev := range next.events {
		if !slices.Contains(prev.events, ev) {
			if err := a.db.Serve(ctx, ev); err != nil {
				a.undoHook(ctx, prev)
				return err
			}
		}
	}
	a.swap(ctx, next)
	for _, ev := range prev.events {
		if !slices.Contains(next.events, ev) {
			if err := a.db.Unserve(ctx, ev); err != nil {
				a.cfg.Log.Error("agent: stop serving an event", "event", ev, "err", err)
			}
		}
	}
	if !slices.Equal(prev.events, next.events) {
		a.gossip.SetEvents(next.events)
		if a.uplink != nil && a.running.Load() {
			a.uplink.Reconnect() // its next hello names the events (before Run, the first one will)
		}
		select {
		case a.readyCheck <- struct{}{}:
		default:
		}
	}
	if !slices.Equal(prev.peers, next.peers) {
		a.gossip.SetPeers(next.peers)
	}
	return nil
}

// undoHook asks the hook to go back to the settings of prev (its own
// part of them), after the agent's part could not follow.
func (a *Agent) undoHook(ctx context.Context, prev *settings) {
	if a.cfg.ConfigHook == nil {
		return
	}
	var c wire.GateConfig
	if prev.formats != nil {
		f := slices.Clone(prev.formats)
		c.Formats = &f
	}
	if err := a.cfg.ConfigHook(ctx, c); err != nil {
		a.cfg.Log.Error("agent: the config hook could not go back", "err", err)
	}
}

// swap makes next the live settings, under the decision lock.
func (a *Agent) swap(ctx context.Context, next *settings) {
	a.mu.Lock()
	defer a.mu.Unlock()
	prev := a.live.Load()
	a.live.Store(next)
	a.online.set(next.online)
	if next.idleText != prev.idleText && a.allReady() {
		a.showIdleLocked()
	}
}

// loadConfig applies at start the config the gate applied last: a gate
// runs the fleet's settings from its first presentation. One that does
// not apply any more (the hook refuses it, say) is forgotten, loudly: the
// hello then says the gate runs none, and the fleet pushes it again.
func (a *Agent) loadConfig(ctx context.Context) error {
	v, body, err := a.db.Config(ctx)
	if err != nil || v == 0 {
		return err
	}
	if err := a.ApplyConfig(ctx, v, body); err != nil {
		a.cfg.Log.Error("agent: the fleet config applied before does not apply any more; running on the command line's settings", "version", v, "err", err)
		return a.db.ClearConfig(ctx)
	}
	return nil
}

// settingsView is the settings the status page shows.
type settingsView struct {
	ConfigVersion  int64             `json:"config_version"` // the fleet config applied; 0: none
	Events         []string          `json:"events"`
	Direction      entry.Direction   `json:"direction"`
	Zone           string            `json:"zone,omitempty"`
	Types          []string          `json:"types,omitempty"`
	ReaderSides    map[string]string `json:"reader_sides,omitempty"`
	PassageTimeout string            `json:"passage_timeout"`
	Debounce       string            `json:"debounce"`
	Online         bool              `json:"online"`
	Peers          []string          `json:"peers,omitempty"`
	Formats        []string          `json:"formats,omitempty"`
	Buzzer         bool              `json:"buzzer"`
	IdleText       string            `json:"idle_text,omitempty"`
}

func (s *settings) view() settingsView {
	v := settingsView{ConfigVersion: s.version, Events: s.events, Direction: s.gate.Direction, Zone: s.gate.Zone, Types: s.gate.Types,
		PassageTimeout: s.passageTimeout.String(), Debounce: s.debounce.String(), Online: s.online != nil, Peers: s.peers,
		Formats: s.formats, Buzzer: s.buzzer, IdleText: s.idleText}
	if len(s.readerSides) > 0 {
		v.ReaderSides = map[string]string{}
		for _, k := range slices.Sorted(maps.Keys(s.readerSides)) {
			v.ReaderSides[k] = string(s.readerSides[k])
		}
	}
	return v
}
