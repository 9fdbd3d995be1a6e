// Package agent is the gate: it reads credentials (camera frames through
// decode, NFC through hal), verifies tickets offline, decides with local
// state only, actuates the relay and indicator, journals every decision
// durably before the relay moves, and keeps its replica and journal in step
// with the fleet through uplink.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"admit/agent/gatedb"
	"admit/agent/uplink"
	"admit/decode"
	"admit/fleet/wire"
	"admit/hal"
	"admit/internal/sqlitedb"
	"admit/ticket"
)

// Config configures a gate.
type Config struct {
	Device  string // unique device id, e.g. "turnstile-a1"
	Gate    string // the gate name shown to staff, e.g. "Gate A"
	Event   string // the event this gate admits to
	DataDir string // holds gate.db

	FleetURL string // ws://fleet/ws; empty runs offline

	Cameras   []decode.Source // frames to decode
	Readers   []hal.CredentialReader
	Relay     hal.Relay
	Indicator hal.Indicator

	PulseLength time.Duration // relay pulse; default 1 s
	Debounce    time.Duration // same code within this window is one presentation; default 3 s
	Sync        sqlitedb.Sync // journal durability; default sqlitedb.SyncFull

	Log *slog.Logger
	Now func() time.Time
	// OnDecision, when set, is called after each decision was journaled
	// and actuated.
	OnDecision func(Decision)
}

// Decision is the outcome of one presentation.
type Decision struct {
	Seq      int64 // journal seq
	Admitted bool
	Reason   string // machine-readable; empty when admitted
	Sentence string // what the gate shows
	TicketID string // empty when the ticket could not be trusted
	Source   string
	At       time.Time
}

// Reasons the agent adds to those of package ticket.
const (
	ReasonUnknownTicket = "unknown_ticket"
	ReasonAlreadyUsed   = "already_used"
)

// Agent is a running gate.
type Agent struct {
	cfg     Config
	db      *gatedb.DB
	keyring *ticket.Keyring
	uplink  *uplink.Client

	mu   sync.Mutex // serialises decisions: one ticket, one verdict at a time
	idle *time.Timer
}

// Open opens the gate's database and loads its keyring.
func Open(ctx context.Context, cfg Config) (*Agent, error) {
	if cfg.Device == "" || cfg.Event == "" {
		return nil, errors.New("agent: device and event are required")
	}
	if cfg.Gate == "" {
		cfg.Gate = cfg.Device
	}
	if cfg.PulseLength <= 0 {
		cfg.PulseLength = time.Second
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 3 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Log = cfg.Log.With("device", cfg.Device)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	db, err := gatedb.Open(ctx, filepath.Join(cfg.DataDir, "gate.db"), cfg.Sync)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := db.Serve(ctx, cfg.Event); err != nil {
		db.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a := &Agent{cfg: cfg, db: db, keyring: ticket.NewKeyring()}
	keys, err := db.Keys(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.addKeys(keys)
	if cfg.FleetURL != "" {
		a.uplink = uplink.New(uplink.Options{
			URL: cfg.FleetURL, Device: cfg.Device, DB: db, Log: cfg.Log,
			OnKeys: a.addKeys,
		})
	}
	return a, nil
}

func (a *Agent) addKeys(keys []gatedb.Key) {
	for _, k := range keys {
		a.keyring.Add(ticket.PublicKey{Event: k.Event, ID: k.ID, Key: k.Public, RetiredAt: k.RetiredAt})
	}
}

// DB exposes the gate database (status pages and tests read it).
func (a *Agent) DB() *gatedb.DB { return a.db }

// Online reports whether the fleet uplink is up.
func (a *Agent) Online() bool { return a.uplink != nil && a.uplink.Connected() }

// Close closes the database. Call it after Run has returned.
func (a *Agent) Close() error { return a.db.Close() }

// Run runs the uplink and the readers until ctx ends. A reader whose stream
// ends (a video file) stops alone; the gate goes on with the others.
func (a *Agent) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	start := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				a.cfg.Log.Error("agent: stopped", "part", name, "err", err)
			}
		}()
	}
	if a.uplink != nil {
		start("uplink", a.uplink.Run)
	}
	for i, cam := range a.cfg.Cameras {
		name := fmt.Sprintf("camera%d", i)
		start(name, func(ctx context.Context) error { return a.runCamera(ctx, name, cam) })
	}
	for i, r := range a.cfg.Readers {
		name := fmt.Sprintf("reader%d", i)
		start(name, func(ctx context.Context) error { return a.runReader(ctx, name, r) })
	}
	<-ctx.Done()
	wg.Wait()
	a.mu.Lock()
	if a.idle != nil {
		a.idle.Stop()
	}
	a.mu.Unlock()
	return nil
}

func (a *Agent) runCamera(ctx context.Context, name string, src decode.Source) error {
	frame := gocv.NewMat()
	defer frame.Close()
	dec := decode.NewDecoder(decode.Options{})
	defer dec.Close()
	deb := decode.NewDebouncer(a.cfg.Debounce)
	for {
		if err := src.Read(ctx, &frame); err != nil {
			if errors.Is(err, decode.ErrEndOfStream) {
				a.cfg.Log.Info("agent: camera stream ended", "camera", name)
				return nil
			}
			return err
		}
		sym, err := dec.Decode(ctx, frame)
		if errors.Is(err, decode.ErrNoSymbol) {
			continue
		}
		if err != nil {
			return err
		}
		now := a.cfg.Now()
		if !deb.Fresh(sym.Text, now) {
			continue
		}
		cred := hal.Credential{Source: name, Kind: string(sym.Format), Payload: []byte(sym.Text), At: now}
		if _, err := a.Present(ctx, cred); err != nil {
			return err
		}
	}
}

func (a *Agent) runReader(ctx context.Context, name string, r hal.CredentialReader) error {
	for {
		cred, err := r.Read(ctx)
		if errors.Is(err, hal.ErrNoCredential) {
			continue
		}
		if err != nil {
			return err
		}
		if cred.Source == "" {
			cred.Source = name
		}
		if _, err := a.Present(ctx, cred); err != nil {
			return err
		}
	}
}

// Present decides on one presentation, journals the decision durably, then
// actuates. An error means the decision could not be journaled: the gate
// stays closed.
func (a *Agent) Present(ctx context.Context, cred hal.Credential) (Decision, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Now().UTC()
	d := a.decideLocked(ctx, string(cred.Payload), now)
	d.Source, d.At = cred.Source, now
	scan := wire.Scan{Event: a.cfg.Event, TicketID: d.TicketID, Gate: a.cfg.Gate, At: now,
		Outcome: wire.Refused, Reason: d.Reason, Sentence: d.Sentence}
	if d.Admitted {
		scan.Outcome = wire.Admitted
	}
	seq, err := a.db.Record(ctx, a.cfg.Device, scan)
	if err != nil {
		a.setIndicator(hal.Red)
		return d, fmt.Errorf("agent: journal: %w", err)
	}
	d.Seq = seq
	if d.Admitted && a.cfg.Relay != nil {
		if err := a.cfg.Relay.Pulse(ctx, a.cfg.PulseLength); err != nil {
			a.cfg.Log.Error("agent: relay", "err", err)
		}
	}
	if d.Admitted {
		a.setIndicator(hal.Green)
	} else {
		a.setIndicator(hal.Red)
	}
	if a.uplink != nil {
		a.uplink.Kick()
	}
	a.cfg.Log.Info("decision", "admitted", d.Admitted, "ticket", d.TicketID, "reason", d.Reason, "source", d.Source)
	if a.cfg.OnDecision != nil {
		a.cfg.OnDecision(d)
	}
	return d, nil
}

// setIndicator shows c, and returns the indicator to off after a while.
func (a *Agent) setIndicator(c hal.Color) {
	if a.cfg.Indicator == nil {
		return
	}
	if err := a.cfg.Indicator.Set(c); err != nil {
		a.cfg.Log.Error("agent: indicator", "err", err)
	}
	if a.idle != nil {
		a.idle.Stop()
	}
	a.idle = time.AfterFunc(2*time.Second, func() { _ = a.cfg.Indicator.Set(hal.Off) })
}

// decideLocked applies the gate's rules with local state only.
func (a *Agent) decideLocked(ctx context.Context, text string, now time.Time) Decision {
	refuse := func(reason, sentence, id string) Decision {
		return Decision{Reason: reason, Sentence: sentence, TicketID: id}
	}
	claims, err := ticket.Verify(text, a.keyring, now)
	if err != nil {
		return refuse(string(ticket.ReasonOf(err)), ticket.SentenceOf(err), "")
	}
	if claims.Event != a.cfg.Event {
		return refuse(string(ticket.ReasonWrongEvent), "Ticket is for another event", "")
	}
	row, err := a.db.Ticket(ctx, claims.Event, claims.ID)
	if errors.Is(err, gatedb.ErrUnknownTicket) {
		return refuse(ReasonUnknownTicket, "Ticket not on the allowlist", claims.ID)
	}
	if err != nil {
		return refuse("internal", "Gate error: ask staff", claims.ID)
	}
	if row.Revoked {
		return refuse(string(ticket.ReasonRevoked), ticket.ReasonRevoked.Sentence(), claims.ID)
	}
	uses, err := a.db.Uses(ctx, claims.Event, claims.ID)
	if err != nil {
		return refuse("internal", "Gate error: ask staff", claims.ID)
	}
	if len(uses) > 0 && claims.Policy == ticket.SingleEntry {
		u := uses[0]
		return refuse(ReasonAlreadyUsed, fmt.Sprintf("Already used at %s at %s", u.Gate, u.At.Local().Format("15:04")), claims.ID)
	}
	return Decision{Admitted: true, Sentence: "Welcome", TicketID: claims.ID}
}
