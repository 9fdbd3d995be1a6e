// Package agent is the gate: it reads credentials (hal.CredentialReader:
// NFC readers and USB scanners from hal, cameras through agent/camera),
// verifies tickets offline, decides with local state only, journals every
// decision durably, then actuates the relay, indicator, buzzer and display,
// and keeps its replica and journal in step with the fleet through uplink
// and with the other gates through peer. It never sees a pixel: decoding
// (and OpenCV) stays in decode and agent/camera, which this package does
// not import.
//
// # Pipeline
//
// Every credential reader runs in its own goroutine and hands
// presentations to one decider goroutine over a channel; repeated reads of
// one code within Config.Debounce are one presentation. The decider
// verifies (package ticket), looks the ticket up
// in the replica, applies the gate's rules (package decide), optionally
// asks the fleet (online mode), claims a single-entry or re-entry ticket
// from its peers before it admits it (claim.go), journals, then actuates. A passage watcher
// goroutine confirms admissions on the turnstile's sensor or annuls them
// after Config.PassageTimeout. Run owns every goroutine and returns once
// all have stopped.
//
// # Durability
//
// The journal row of a decision and its passage mark are one SQLite
// transaction, committed before the relay moves. With the default
// sqlitedb.SyncFull, the WAL is fsynced on every commit: a decision the
// gate acted on survives a kill -9 and a power loss. sqlitedb.SyncNormal
// (Config.Sync) fsyncs at checkpoints only: it survives a process crash
// but may lose the last decisions on power loss; use it only on storage
// that cannot fsync quickly, and knowingly. Journaled scans stream
// upstream with their per-device seq until the fleet acknowledges them,
// then are compacted; the fleet dedups by (device, seq), so a scan sent
// twice around a crash is recorded once.
//
// Passages learnt from peer gates are the exception on purpose: they count
// for this gate's decisions the moment they arrive and are written in the
// background, without an fsync of their own, since one lost in a crash
// comes back through the peer's catch-up and the fleet (see
// gatedb.DB.AddPeerMark). The peer's own journal commit is the fsync that
// makes the passage durable; it happens before that gate moves its relay
// or tells anyone.
package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"admit/agent/decide"
	"admit/agent/gatedb"
	"admit/agent/peer"
	"admit/agent/uplink"
	"admit/clock"
	"admit/fleet/wire"
	"admit/hal"
	"admit/internal/sqlitedb"
	"admit/ticket"
	"admit/ticket/entry"
)

// Config configures a gate: its own settings. A fleet config overrides
// the settings it names (direction, zone, types, reader sides, online
// mode, passage timeout, debounce, peers, events, buzzer, idle text, the
// camera's formats through ConfigHook): see settings.go.
type Config struct {
	Device string // unique device id, e.g. "turnstile-a1"
	Gate   string // the gate name shown to staff, e.g. "Gate A"
	// Events are the events this gate admits to (a festival's day tickets
	// and weekend passes: several); Event, when Events is empty, is the
	// one. The first names the scans that belong to none (a refused
	// credential that says no event).
	Events  []string
	Event   string
	DataDir string // holds gate.db

	FleetURL string // wss://fleet/ws (ws:// only with Insecure); empty runs offline
	// Key is the device's Ed25519 key, enrolled with the fleet: it signs
	// the stream's hello, online-decision requests, and every passage this
	// gate gossips to its peers. Nil: unsigned, which only a fleet that
	// allows unenrolled devices accepts, and which peers refuse.
	Key ed25519.PrivateKey
	// CAFingerprint pins the fleet's CA (SHA-256 of its certificate, from
	// enrollment) for wss:// and https://; nil uses the system roots.
	CAFingerprint []byte
	// ReplicaKey is the fleet's replica key, from enrollment: the gate
	// applies no replica data, config, revocation or acknowledgement, and
	// takes no online answer, that it did not sign (uplink.Options).
	ReplicaKey ed25519.PublicKey
	// OnReplicaKey is called when the uplink took the fleet's replica key
	// from a verified TLS link, the gate having none (keep it).
	OnReplicaKey func(ed25519.PublicKey)
	// Insecure allows a plain ws:// (and http://) fleet URL, loudly: the
	// link does not authenticate the fleet, and can be read on the way.
	// Replica data must still be signed with ReplicaKey.
	Insecure bool
	// Firmware is reported to the fleet in the hello (internal/version).
	Firmware string
	// ConfigHook applies what a fleet config sets that the agent cannot
	// set itself: the camera's formats (agent/camera, wired by the main).
	// It gets every config the agent is about to apply, after the agent
	// checked it, and applies its part (nil fields: back to its own
	// settings) or says why it cannot, which fails the whole config. Nil:
	// a config that sets formats fails ("no camera").
	ConfigHook func(ctx context.Context, c wire.GateConfig) error

	// Rules of this gate (see package decide).
	Zone      string          // zone this gate leads into; "" = no zone check
	Types     []string        // ticket types admitted; empty = all
	Direction entry.Direction // In (default), Out or Both
	// ReaderSides gives, for a Both gate, the direction of each reader by
	// its source name ("camera0", "nfc0"); readers not listed are entries.
	ReaderSides map[string]entry.Direction
	Location    *time.Location // venue time zone for sentences; default time.Local

	// Readers yield the credentials presented at this gate: NFC readers,
	// USB scanners, cameras (agent/camera). A credential without a Source
	// is named after its reader's place here ("reader0", ...); a reader
	// whose stream ends (io.EOF) stops alone, the gate goes on.
	Readers   []hal.CredentialReader
	Relay     hal.Relay
	Indicator hal.Indicator
	Buzzer    hal.Buzzer  // optional; a fleet config may mute it
	Display   hal.Display // optional
	// Passage, if set, must report a passage within PassageTimeout of each
	// entry, else the entry is annulled so the holder can present again.
	Passage        hal.PassageSensor
	PassageTimeout time.Duration // default 10 s

	PulseLength time.Duration // relay pulse; default 1 s
	Debounce    time.Duration // same code within this window is one presentation; default 3 s
	Sync        sqlitedb.Sync // journal durability; default sqlitedb.SyncFull

	// StatusAddr, if set, serves the staff and status endpoints: health,
	// metrics, status, staff sign-in and staff actions (StaffRoutes).
	// Keep it on loopback ("127.0.0.1:8181", the gate's own kiosk or a
	// handheld through an SSH tunnel): another address is served as
	// configured, with a warning in the log, since staff then sign in over
	// plain HTTP on that network.
	StatusAddr string
	// StatusListener, if set, is used instead of StatusAddr (socket
	// activation; tests).
	StatusListener net.Listener
	// StatusHosts are further Host names the staff listener answers to
	// (the name a handheld uses for the gate); loopback names and the
	// listener's own address are always allowed, any other Host is
	// refused (DNS rebinding).
	StatusHosts []string
	// PeerAddr, if set, serves the peer endpoint (/peer) other gates of
	// the venue push their passages to: on the venue LAN ("0.0.0.0:8182").
	// It serves nothing else; peers authenticate with their device keys.
	PeerAddr string
	// PeerListener, if set, is used instead of PeerAddr.
	PeerListener net.Listener
	// Peers are the other gates' peer endpoints (ws://host:port/peer).
	Peers []string
	// PeerRate, PeerBurst, PeerMaxHeld, PeerClaimRate and PeerClaimBurst
	// tune the bounds of peer links (peer.Options: Rate, Burst, MaxHeld,
	// ClaimRate, ClaimBurst); zero: peer's defaults.
	PeerRate, PeerBurst           float64
	PeerMaxHeld                   int
	PeerClaimRate, PeerClaimBurst float64
	// Online, if set, asks the fleet before admitting (see OnlineConfig).
	Online *OnlineConfig
	// NoClaims turns claims off (claim.go): the gate admits single-entry
	// and re-entry tickets without its peers' word, as before peer
	// protocol 3 (benchmarks compare). It still answers its peers' claims.
	NoClaims bool
	// ClaimDeadline bounds the wait for the peers' answers to a claim: a
	// peer not heard from by then is treated as unreachable (counted,
	// shown in the status). Default 100 ms; a LAN answers in about a
	// millisecond.
	ClaimDeadline time.Duration
	// ClaimTTL is how long a peer's claim this gate granted, or its own
	// claim that won, stands unless a mark or a release ends it first (the
	// claiming gate crashed); default 10 s.
	ClaimTTL time.Duration

	Log *slog.Logger
	// Clock is the gate's one time source: decision and journal times,
	// the passage timeout, the indicator's return to off, checkpoints,
	// online-mode timing and probes, and the uplink's and peer links'
	// reconnect backoff; default clock.Real{}. Tests inject clock.Fake.
	Clock clock.Clock
	// OnDecision, when set, is called after each decision was journaled
	// and actuated.
	OnDecision func(Decision)
	// OnPeerMark, when set, is called once a passage sent by a peer gate
	// counts for this gate's decisions (before it is persisted). It runs
	// on the peer's receiving goroutine: it must not block.
	OnPeerMark func(gatedb.Mark)

	// TestHookPersistPeerMarks, test-only, replaces the background
	// persistence of the marks peers sent (gatedb.DB.PersistPeerMarks),
	// including the last one when Run stops: tests hold marks in memory
	// with it, or lose them as a crash would.
	TestHookPersistPeerMarks func(ctx context.Context, db *gatedb.DB) error
	// TestHookJournalCommit, test-only, is called on the decision path
	// inside each journal transaction, right before its commit: tests make
	// a commit stall with it (gatedb.Hot.TestHookCommit), as a slow SD
	// card does.
	TestHookJournalCommit func(ctx context.Context)
}

// Decision is the outcome of one presentation (or of a staff action).
type Decision struct {
	Seq      int64 // journal seq
	Event    string
	Admitted bool
	// Syncing: the gate was not ready for the presentation and decided
	// nothing (Reason ReasonSyncing; nothing journaled, Seq 0).
	Syncing   bool   `json:",omitempty"`
	Reason    string // machine-readable; empty when admitted
	Sentence  string // what the gate shows
	TicketID  string // empty when the ticket could not be trusted
	Source    string
	Direction entry.Direction
	Forced    bool   // staff override
	Staff     string `json:",omitempty"` // the staff member behind a staff action
	ByFleet   bool   // the fleet's online decision
	At        time.Time
	Took      time.Duration // presentation to journal commit
	// Claimed is how long the decision waited for its peers' answers to
	// its claim (claim.go); 0 when it claimed nothing.
	Claimed time.Duration `json:",omitempty"`
}

// Reasons the agent adds to those of package ticket (package decide has
// the full list).
const (
	ReasonUnknownTicket = decide.ReasonUnknownTicket
	ReasonAlreadyUsed   = decide.ReasonAlreadyUsed
)

// ErrClosed: the gate is stopping.
var ErrClosed = errors.New("agent: closed")

// Agent is a running gate.
type Agent struct {
	cfg     Config
	db      *gatedb.DB
	hot     *gatedb.Hot // the decision path's connection; guarded by mu
	keyring *ticket.Keyring
	uplink  *uplink.Client
	gossip  *peer.Gossip
	online  *online
	claims  *claimBook // claim.go
	doubles chan gatedb.Mark
	metrics *metrics
	staff   *staffAuth
	ln      net.Listener // staff and status listener, nil without StatusAddr
	peerLn  net.Listener // peer listener, nil without PeerAddr

	presentations chan hal.Credential
	alive         chan chan struct{} // liveness probes the decision loop answers (Alive)
	pending       chan pendingPassage
	beeps         chan []time.Duration // the buzzer's next pattern (latest wins)
	journaled     atomic.Int64         // decisions since the last checkpoint
	readyCheck    chan struct{}        // the events served changed: look at readiness again

	base    *settings                // the gate's own (Config)
	live    atomic.Pointer[settings] // the base overlaid by the fleet config applied; swapped under mu
	revoked atomic.Bool              // the fleet revoked the device (and the replica was wiped)

	applyMu sync.Mutex   // one config applied at a time (held around ApplyConfig)
	cfgMu   sync.Mutex   // guards cfgErr
	cfgErr  *ConfigError // the last config the fleet pushed did not apply; nil once one did
	running atomic.Bool  // Run has started (the uplink's session is its to restart)

	rkMu sync.Mutex        // guards rk
	rk   ed25519.PublicKey // the fleet's replica key (Config.ReplicaKey, or taken over TLS)

	mu            sync.Mutex // serialises decisions; guards the fields below
	idle          clock.Timer
	last          []Decision // newest last, at most lastDecisions
	stamp         time.Time  // time of the newest decision
	partnerGen    uint64     // the venue data the keyring's partner keys came from
	partnerLoaded bool
}

// stampLocked returns the time of a new decision: now at millisecond
// precision (what the journal and marks store), strictly after the
// previous decision's, so the order of a ticket's passages is never a tie.
func (a *Agent) stampLocked() time.Time {
	now := a.cfg.Clock.Now().UTC().Truncate(time.Millisecond)
	if !now.After(a.stamp) {
		now = a.stamp.Add(time.Millisecond)
	}
	a.stamp = now
	return now
}

const lastDecisions = 50

// checkpointEvery is the cadence of WAL checkpoints (runCheckpoint).
const checkpointEvery = 2 * time.Second

// Open opens the gate's database, loads its keyring, annuls admissions a
// crash left unconfirmed, and binds the staff and status listener and the
// peer listener.
func Open(ctx context.Context, cfg Config) (*Agent, error) {
	if len(cfg.Events) == 0 && cfg.Event != "" {
		cfg.Events = []string{cfg.Event}
	}
	if cfg.Device == "" || len(cfg.Events) == 0 {
		return nil, errors.New("agent: device and event are required")
	}
	cfg.Event = cfg.Events[0]
	if cfg.Gate == "" {
		cfg.Gate = cfg.Device
	}
	if cfg.Direction == "" {
		cfg.Direction = entry.In
	}
	if cfg.PulseLength <= 0 {
		cfg.PulseLength = time.Second
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 3 * time.Second
	}
	if cfg.PassageTimeout <= 0 {
		cfg.PassageTimeout = 10 * time.Second
	}
	if cfg.Location == nil {
		cfg.Location = time.Local
	}
	if cfg.ClaimDeadline <= 0 {
		cfg.ClaimDeadline = defaultClaimDeadline
	}
	if cfg.ClaimTTL <= 0 {
		cfg.ClaimTTL = defaultClaimTTL
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	cfg.Log = cfg.Log.With("device", cfg.Device)
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	db, err := gatedb.Open(ctx, filepath.Join(cfg.DataDir, "gate.db"), cfg.Sync)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	for _, ev := range cfg.Events {
		if err := db.Serve(ctx, ev); err != nil {
			db.Close()
			return nil, fmt.Errorf("agent: %w", err)
		}
	}
	a := &Agent{
		cfg: cfg, db: db, keyring: ticket.NewKeyring(), rk: cfg.ReplicaKey,
		presentations: make(chan hal.Credential, 16),
		alive:         make(chan chan struct{}),
		pending:       make(chan pendingPassage, 64),
		beeps:         make(chan []time.Duration, 1),
		readyCheck:    make(chan struct{}, 1),
		claims:        newClaimBook(),
		doubles:       make(chan gatedb.Mark, 256),
	}
	a.base = baseSettings(&a.cfg)
	held, err := db.HeldClaims(ctx, cfg.Clock.Now())
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.claims.load(held)
	keys, err := db.Keys(ctx)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.addKeys(keys)
	if cfg.FleetURL != "" {
		if err := uplink.CheckURL(cfg.FleetURL, cfg.Insecure); err != nil {
			db.Close()
			return nil, fmt.Errorf("agent: %w", err)
		}
		a.uplink = uplink.New(uplink.Options{
			URL: cfg.FleetURL, Device: cfg.Device, Firmware: cfg.Firmware, DB: db, Log: cfg.Log,
			Key: cfg.Key, CAFingerprint: cfg.CAFingerprint, Clock: cfg.Clock,
			ReplicaKey: cfg.ReplicaKey, OnReplicaKey: a.tookReplicaKey, Insecure: cfg.Insecure,
			OnUnsigned: func(error) { a.metrics.unsigned.Inc("stream") },
			OnKeys:     a.addKeys, OnRevoked: a.revokedByFleet, OnConfig: a.ApplyConfig,
		})
	}
	a.gossip = peer.New(peer.Options{Device: cfg.Device, Events: cfg.Events, Key: cfg.Key, Peers: cfg.Peers, Store: db, Log: cfg.Log,
		Clock: cfg.Clock, OnMark: a.peerMarked, OnRefused: a.peerMarkRefused, OnLinkRefused: a.peerLinkRefused,
		Arbiter: claimArbiter{a}, OnClaimRefused: a.claimRefused,
		Rate: cfg.PeerRate, Burst: cfg.PeerBurst, MaxHeld: cfg.PeerMaxHeld, ClaimRate: cfg.PeerClaimRate, ClaimBurst: cfg.PeerClaimBurst})
	if cfg.Online != nil {
		oc := *cfg.Online
		if oc.Authority == nil {
			if cfg.FleetURL == "" {
				db.Close()
				return nil, errors.New("agent: online mode needs a fleet (FleetURL) or an Authority")
			}
			oc.Authority = a.httpAuthority()
		}
		a.base.online = &oc
	}
	a.live.Store(a.base)
	a.online = newOnline(a.base.online)
	a.metrics = newMetrics(a)
	a.staff = newStaffAuth(a)
	if a.hot, err = db.Hot(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	a.hot.TestHookCommit = cfg.TestHookJournalCommit
	if err := a.recover(ctx); err != nil {
		a.hot.Close()
		db.Close()
		return nil, err
	}
	// The fleet's config, applied last time, before anything decides.
	if err := a.loadConfig(ctx); err != nil {
		a.hot.Close()
		db.Close()
		return nil, fmt.Errorf("agent: %w", err)
	}
	if err := a.listen(); err != nil {
		a.hot.Close()
		db.Close()
		return nil, err
	}
	return a, nil
}

// listen binds the staff and status listener and the peer listener.
func (a *Agent) listen() error {
	cfg := &a.cfg
	var err error
	a.ln = cfg.StatusListener
	if a.ln == nil && cfg.StatusAddr != "" {
		if a.ln, err = net.Listen("tcp", cfg.StatusAddr); err != nil {
			return fmt.Errorf("agent: status listener: %w", err)
		}
	}
	a.peerLn = cfg.PeerListener
	if a.peerLn == nil && cfg.PeerAddr != "" {
		if a.peerLn, err = net.Listen("tcp", cfg.PeerAddr); err != nil {
			if a.ln != nil {
				a.ln.Close()
			}
			return fmt.Errorf("agent: peer listener: %w", err)
		}
	}
	if a.ln != nil {
		if !isLoopback(a.ln.Addr()) {
			cfg.Log.Warn("agent: the staff and status endpoints listen beyond this machine: staff PINs and sessions cross that network in plain HTTP; keep it on loopback unless the network is the gate's own",
				"addr", a.ln.Addr().String())
		}
		a.staff.hosts = newHostSet(a.ln.Addr(), cfg.StatusHosts)
	}
	return nil
}

// isLoopback reports whether a listener's address is a loopback one.
func isLoopback(addr net.Addr) bool {
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

// recover annuls the admissions a crash or power loss left waiting for
// their passage: nobody can tell whether the holder went through, and an
// annulled entry lets them present again rather than be refused.
func (a *Agent) recover(ctx context.Context) error {
	left, err := a.db.PendingPassages(ctx)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	for _, p := range left {
		if _, err := a.annul(ctx, p.Event, p.TicketID, p.At, decide.ReasonNoPassage,
			"Entry annulled: the gate restarted before the turnstile turned", false, ""); err != nil && !errors.Is(err, gatedb.ErrNoMark) {
			return fmt.Errorf("agent: annul unconfirmed entry %d: %w", p.Seq, err)
		}
	}
	if len(left) > 0 {
		a.cfg.Log.Warn("agent: annulled entries left unconfirmed by a restart", "n", len(left))
	}
	return nil
}

// revokedByFleet forgets, after the uplink wiped the database on the
// fleet's word, what the gate still held in memory: the event and partner
// keys (so nothing verifies any more) and the last decisions shown on the
// status page. The gate keeps running, reports itself unhealthy and
// decides nothing until it is enrolled again (the wipe undid its
// readiness).
func (a *Agent) revokedByFleet() {
	a.revoked.Store(true)
	for _, k := range a.keyring.Keys() {
		a.keyring.Remove(k.Event, k.ID)
	}
	for _, k := range a.keyring.JWTKeys() {
		a.keyring.RemoveJWT(k.Event, k.ID)
	}
	a.mu.Lock()
	a.last = nil
	a.mu.Unlock()
	a.staff.forget()
	a.claims.forget()
	a.cfg.Log.Error("agent: revoked by the fleet: replica wiped, nothing decided until the device is enrolled again")
}

// replicaKey is the fleet's replica key the gate holds: from its config,
// or taken from a verified TLS link since.
func (a *Agent) replicaKey() ed25519.PublicKey {
	a.rkMu.Lock()
	defer a.rkMu.Unlock()
	return a.rk
}

func (a *Agent) tookReplicaKey(k ed25519.PublicKey) {
	a.rkMu.Lock()
	a.rk = k
	a.rkMu.Unlock()
	if a.cfg.OnReplicaKey != nil {
		a.cfg.OnReplicaKey(k)
	}
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

// Mode is "local" or "online": online only while online mode is on and
// the fleet answered within the fallback thresholds (OnlineConfig).
func (a *Agent) Mode() string {
	if a.online.active() {
		return ModeOnline
	}
	return ModeLocal
}

// Events returns the events the gate serves now (a fleet config may
// change them).
func (a *Agent) Events() []string { return a.live.Load().events }

// StatusAddr returns the address of the staff and status listener (""
// without one).
func (a *Agent) StatusAddr() string {
	if a.ln == nil {
		return ""
	}
	return a.ln.Addr().String()
}

// PeerAddr returns the address of the peer listener ("" without one).
func (a *Agent) PeerAddr() string {
	if a.peerLn == nil {
		return ""
	}
	return a.peerLn.Addr().String()
}

// PeersConnected returns how many peers this gate pushes its marks to.
func (a *Agent) PeersConnected() int { return a.gossip.Connected() }

// Close closes the database (and the status listener if Run never ran).
// Call it after Run has returned.
func (a *Agent) Close() error {
	if a.ln != nil {
		a.ln.Close()
	}
	if a.peerLn != nil {
		a.peerLn.Close()
	}
	return errors.Join(a.hot.Close(), a.db.Close())
}

// Run runs the readers, the decider, the passage watcher, the uplink, the
// peer links, the online prober and the status server until ctx ends, and
// returns once every goroutine it started has stopped. A reader whose
// stream ends (io.EOF: a video file) stops alone; the gate goes on with
// the others.
func (a *Agent) Run(ctx context.Context) error {
	a.running.Store(true)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
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
	start("decider", a.runDecider)
	start("passage", a.runPassage)
	start("checkpoint", a.runCheckpoint)
	start("peer-marks", a.runPeerMarks)
	start("readiness", a.runReadiness)
	start("claims", a.runClaims)
	if a.cfg.Buzzer != nil {
		start("buzzer", a.runBuzzer)
	}
	if a.uplink != nil {
		start("uplink", a.uplink.Run)
	}
	start("peers", a.gossip.Run) // a config may give it peers
	start("online", a.runOnlineProbe)
	serve := func(name string, ln net.Listener, h http.Handler, hijacked func()) {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second, IdleTimeout: time.Minute,
			MaxHeaderBytes: 16 << 10, ErrorLog: slog.NewLogLogger(a.cfg.Log.Handler(), slog.LevelWarn)}
		start(name, func(ctx context.Context) error {
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
			if hijacked != nil {
				hijacked() // Shutdown leaves hijacked connections open
			}
			_ = srv.Close()
			if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	if a.ln != nil {
		serve("status", a.ln, a.StaffHandler(), nil)
	}
	if a.peerLn != nil {
		serve("peer-listener", a.peerLn, a.PeerHandler(), a.gossip.CloseInbound)
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

// runPeerMarks persists the marks peers sent, in the background: whatever
// arrived while the previous transaction ran goes in the next one (group
// commit, no timer). The decision path never waits for it: a peer's mark
// counts from its arrival (see gatedb.DB.AddPeerMark for why it needs no
// fsync first). What is held when the gate stops is persisted then.
func (a *Agent) runPeerMarks(ctx context.Context) error {
	persist := func(ctx context.Context) error {
		if a.cfg.TestHookPersistPeerMarks != nil {
			return a.cfg.TestHookPersistPeerMarks(ctx, a.db)
		}
		n, err := a.db.PersistPeerMarks(ctx)
		a.journaled.Add(int64(n)) // the checkpointer's business too
		return err
	}
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := persist(sctx); err != nil {
				// Not lost: the peers send them again when they reconnect.
				a.cfg.Log.Warn("agent: peer marks not persisted at stop", "err", err)
			}
			return nil
		case <-a.db.PeerMarksArrived():
		case <-retry:
		}
		retry = nil
		if err := persist(ctx); err != nil && ctx.Err() == nil {
			// They still count for decisions; try again in a while.
			a.cfg.Log.Warn("agent: persist peer marks", "err", err)
			retry = a.cfg.Clock.After(time.Second)
		}
	}
}

// runCheckpoint checkpoints the WAL off the decision path: every 2 s when
// decisions were journaled since the last one.
func (a *Agent) runCheckpoint(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.cfg.Clock.After(checkpointEvery):
		}
		if a.journaled.Swap(0) == 0 {
			continue
		}
		if err := a.db.Checkpoint(ctx); err != nil && ctx.Err() == nil {
			a.cfg.Log.Warn("agent: checkpoint", "err", err)
		}
	}
}
