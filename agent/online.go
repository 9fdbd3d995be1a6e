package agent

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"admit/agent/decide"
	"admit/fleet/wire"
	"admit/internal/tlspin"
	"admit/ticket"
)

// Modes of a gate.
const (
	ModeLocal  = "local"  // decides with its replica only
	ModeOnline = "online" // asks the fleet before each entry
)

// Authority gives authoritative decisions (the fleet, in online mode).
type Authority interface {
	Decide(ctx context.Context, r wire.DecideRequest) (wire.DecideResponse, error)
	// Ping checks that the authority answers at all.
	Ping(ctx context.Context) error
}

// OnlineConfig turns on online mode: before admitting an entry that its
// own rules allow, the gate asks the fleet, which knows of scans this gate
// has not received yet. The switch between online and local is automatic,
// never a manual setting someone forgets:
//
//   - online → local after MaxFailures consecutive requests or probes that
//     failed or took longer than Timeout (each such request is decided
//     locally). While online the gate probes the fleet every ProbeEvery
//     that saw no answered request, so the mode it reports is true within
//     MaxFailures × ProbeEvery even when nobody presents anything;
//   - local → online after ProbeSuccesses consecutive probes, one every
//     ProbeEvery, answered within Timeout.
//
// Each switch is journaled in the gate log, logged, counted in the metrics
// and shown on the status endpoint. A fleet config may turn online mode on
// or off and change these thresholds (wire.OnlineSettings).
type OnlineConfig struct {
	// Authority answers; nil asks the fleet at Config.FleetURL over HTTP,
	// signed with Config.Key (NewHTTPAuthority).
	Authority      Authority
	Timeout        time.Duration // per request; default 300 ms
	MaxFailures    int           // default 3
	ProbeEvery     time.Duration // default 5 s
	ProbeSuccesses int           // default 2
}

// online is the gate's online mode: off (no config), or on and online or
// fallen back to local.
type online struct {
	changed chan struct{} // set: the prober looks again

	mu       sync.Mutex   // guards the fields below
	cfg      OnlineConfig // defaults filled in
	enabled  bool
	on       bool
	failures int
	since    time.Time
	lastOK   time.Time // the last answer within Timeout
}

func newOnline(cfg *OnlineConfig) *online {
	o := &online{changed: make(chan struct{}, 1)}
	o.set(cfg)
	return o
}

// set turns online mode off (nil) or on with cfg's thresholds; a gate
// that was not online mode starts online, as a new gate does.
func (o *online) set(cfg *OnlineConfig) {
	o.mu.Lock()
	if cfg == nil {
		o.enabled, o.on = false, false
	} else {
		if !o.enabled {
			o.on, o.failures = true, 0
		}
		o.enabled, o.cfg = true, withOnlineDefaults(*cfg)
	}
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

// config returns the thresholds and whether online mode is on.
func (o *online) config() (OnlineConfig, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.cfg, o.enabled
}

func withOnlineDefaults(cfg OnlineConfig) OnlineConfig {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 300 * time.Millisecond
	}
	if cfg.MaxFailures <= 0 {
		cfg.MaxFailures = 3
	}
	if cfg.ProbeEvery <= 0 {
		cfg.ProbeEvery = 5 * time.Second
	}
	if cfg.ProbeSuccesses <= 0 {
		cfg.ProbeSuccesses = 2
	}
	return cfg
}

// active reports whether the gate asks the fleet now.
func (o *online) active() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.enabled && o.on
}

// failed counts a failed request or probe; it reports whether that made
// the gate fall back to local.
func (o *online) failed() (fall bool, cfg OnlineConfig) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures++
	fall = o.enabled && o.on && o.failures >= o.cfg.MaxFailures
	if fall {
		o.on = false
	}
	return fall, o.cfg
}

// answered records an answer within Timeout at now.
func (o *online) answered(now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.failures, o.lastOK = 0, now
}

// askFleetLocked asks the authority about an entry the local rules
// admitted. On an answer, the fleet's ruling stands; on failure, the local
// decision stands and the failure counts toward the switch to local.
func (a *Agent) askFleetLocked(ctx context.Context, d *Decision, c ticket.Claims) {
	o := a.online
	cfg, _ := o.config()
	req := wire.DecideRequest{Device: a.cfg.Device, Gate: a.cfg.Gate, Event: c.Event, TicketID: c.ID,
		Direction: string(d.Direction), Policy: c.Policy.String(), At: d.At}
	rctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	begin := a.cfg.Clock.Now()
	resp, err := cfg.Authority.Decide(rctx, req)
	if took := a.cfg.Clock.Now().Sub(begin); err == nil && took > cfg.Timeout {
		err = fmt.Errorf("answered after %s", took.Round(time.Millisecond))
	}
	if err != nil {
		a.metrics.onlineFailures.Inc()
		fall, cfg := o.failed()
		a.cfg.Log.Warn("agent: fleet decision failed; deciding locally", "err", err)
		if fall {
			a.switchMode(ctx, ModeLocal, fmt.Sprintf("%d fleet requests failed or exceeded %s; last: %v", cfg.MaxFailures, cfg.Timeout, err))
		}
		return
	}
	o.answered(a.cfg.Clock.Now())
	d.ByFleet = true
	if !resp.Admit {
		d.Admitted, d.Reason, d.Sentence = false, resp.Reason, resp.Sentence
		if d.Reason == "" {
			d.Reason = decide.ReasonFleet
		}
		if d.Sentence == "" {
			d.Sentence = "Refused by the fleet"
		}
	}
}

// switchMode journals and reports a mode switch.
func (a *Agent) switchMode(ctx context.Context, mode, why string) {
	now := a.cfg.Clock.Now().UTC()
	a.online.mu.Lock()
	a.online.since = now
	a.online.mu.Unlock()
	if err := a.db.Log(ctx, now, "mode_"+mode, why); err != nil {
		a.cfg.Log.Error("agent: journal mode switch", "err", err)
	}
	a.metrics.modeSwitches.Inc(mode)
	a.cfg.Log.Warn("agent: mode switch", "mode", mode, "why", why)
}

// runOnlineProbe probes the authority every ProbeEvery: while the gate is
// online and no request was answered since the last probe, so a fleet
// gone quiet makes it fall back to local (the mode it reports is then
// true); while it is local, to switch back once it answers reliably.
// With online mode off it waits for a config that turns it on.
func (a *Agent) runOnlineProbe(ctx context.Context) error {
	o := a.online
	ok := 0
	for {
		cfg, enabled := o.config()
		if !enabled {
			select {
			case <-ctx.Done():
				return nil
			case <-o.changed:
				continue
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.changed:
			continue // new thresholds: wait their period
		case <-a.cfg.Clock.After(cfg.ProbeEvery):
		}
		cfg, enabled = o.config()
		if !enabled {
			continue
		}
		online := o.active()
		o.mu.Lock()
		recent := !o.lastOK.IsZero() && a.cfg.Clock.Now().Sub(o.lastOK) < cfg.ProbeEvery
		o.mu.Unlock()
		if online && recent {
			ok = 0
			continue // requests answer: no need to ask
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		begin := a.cfg.Clock.Now()
		err := cfg.Authority.Ping(pctx)
		cancel()
		if took := a.cfg.Clock.Now().Sub(begin); err == nil && took > cfg.Timeout {
			err = fmt.Errorf("answered after %s", took.Round(time.Millisecond))
		}
		if online {
			ok = 0
			if err == nil {
				o.answered(a.cfg.Clock.Now())
				continue
			}
			a.metrics.onlineFailures.Inc()
			if fall, cfg := o.failed(); fall {
				a.switchMode(ctx, ModeLocal, fmt.Sprintf("%d fleet requests or probes failed or exceeded %s; last: %v", cfg.MaxFailures, cfg.Timeout, err))
			}
			continue
		}
		if err != nil {
			ok = 0
			continue
		}
		if ok++; ok < cfg.ProbeSuccesses {
			continue
		}
		ok = 0
		o.mu.Lock()
		o.on, o.failures, o.lastOK = true, 0, a.cfg.Clock.Now()
		o.mu.Unlock()
		a.switchMode(ctx, ModeOnline, fmt.Sprintf("%d probes answered within %s", cfg.ProbeSuccesses, cfg.Timeout))
	}
}

// httpAuthority asks the fleet at Config.FleetURL, signed with the device
// key, its answers checked against the replica key.
func (a *Agent) httpAuthority() *HTTPAuthority {
	h := NewHTTPAuthority(a.cfg.FleetURL, a.cfg.Key, a.cfg.CAFingerprint)
	h.ReplicaKey = a.replicaKey
	h.OnUnsigned = func(error) { a.metrics.unsigned.Inc("decision") }
	return h
}

// HTTPAuthority asks a fleet node over HTTP (wire.DecidePath), signing
// each request with the device key like the agent stream's hello.
type HTTPAuthority struct {
	URL    string // the fleet's base URL, e.g. https://fleet:8443
	Client *http.Client
	// Key signs requests (wire.DecideSignatureHeader); nil sends them
	// unsigned, which only a fleet that allows unenrolled devices accepts.
	Key ed25519.PrivateKey
	// ReplicaKey, when set and returning a key, makes Decide refuse (as a
	// failed request: the gate decides locally) an answer not signed with
	// it (wire.DecideResponseSignatureHeader), as the stream's data is.
	ReplicaKey func() ed25519.PublicKey
	// OnUnsigned is called for each answer refused so.
	OnUnsigned func(error)
}

// NewHTTPAuthority returns an authority at base, which may also be the
// fleet's stream URL (ws://host/ws), signing with key, over TLS pinned to
// the fleet CA's fingerprint pin when pin is set (see tlspin.Config).
func NewHTTPAuthority(base string, key ed25519.PrivateKey, pin []byte) *HTTPAuthority {
	base = strings.TrimSuffix(base, "/ws")
	base = strings.Replace(base, "ws://", "http://", 1)
	base = strings.Replace(base, "wss://", "https://", 1)
	client := &http.Client{}
	if len(pin) > 0 {
		client.Transport = &http.Transport{TLSClientConfig: tlspin.Config(pin)}
	}
	return &HTTPAuthority{URL: strings.TrimSuffix(base, "/"), Client: client, Key: key}
}

// Decide implements Authority.
func (h *HTTPAuthority) Decide(ctx context.Context, r wire.DecideRequest) (wire.DecideResponse, error) {
	body, err := json.Marshal(r)
	if err != nil {
		return wire.DecideResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL+wire.DecidePath, bytes.NewReader(body))
	if err != nil {
		return wire.DecideResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(wire.DecideDeviceHeader, r.Device)
	if h.Key != nil {
		req.Header.Set(wire.DecideSignatureHeader, base64.StdEncoding.EncodeToString(ed25519.Sign(h.Key, wire.DecideSigningBytes(body))))
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return wire.DecideResponse{}, fmt.Errorf("agent: fleet decision: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return wire.DecideResponse{}, fmt.Errorf("agent: fleet decision: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return wire.DecideResponse{}, fmt.Errorf("agent: fleet decision: %w", err)
	}
	if h.ReplicaKey != nil {
		if rk := h.ReplicaKey(); rk != nil {
			sig, _ := base64.StdEncoding.DecodeString(resp.Header.Get(wire.DecideResponseSignatureHeader))
			if !ed25519.Verify(rk, wire.DecideResponseSigningBytes(body, data), sig) {
				err := fmt.Errorf("agent: fleet decision: %w: the answer", wire.ErrUnsigned)
				if h.OnUnsigned != nil {
					h.OnUnsigned(err)
				}
				return wire.DecideResponse{}, err
			}
		}
	}
	var out wire.DecideResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return wire.DecideResponse{}, fmt.Errorf("agent: fleet decision: %w", err)
	}
	return out, nil
}

// Ping implements Authority.
func (h *HTTPAuthority) Ping(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.URL+wire.DecidePath, nil)
	if err != nil {
		return err
	}
	resp, err := h.Client.Do(req)
	if err != nil {
		return fmt.Errorf("agent: fleet probe: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("agent: fleet probe: %s", resp.Status)
	}
	return nil
}
