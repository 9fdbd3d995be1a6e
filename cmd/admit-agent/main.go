// Command admit-agent runs a gate: camera → decode (or the NFC readers and
// scanners of a board file) → verify → decide → journal → relay and LEDs,
// replicating with the fleet. A decision is journaled durably before the
// gate actuates.
//
// The flags are the gate's own settings; a config the fleet pushes
// (PUT /api/configs/...) overrides those it names — direction, zone,
// types, online mode, passage timeout, debounce, peers, events, formats —
// until a config leaves them out again.
package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"periph.io/x/conn/v3/gpio"
	"periph.io/x/conn/v3/gpio/gpioreg"
	"periph.io/x/conn/v3/gpio/gpiotest"
	"periph.io/x/host/v3"

	"admit/agent"
	"admit/agent/camera"
	"admit/clock"
	"admit/decode"
	halgpio "admit/hal/gpio"
	"admit/hal/hwcheck"
	"admit/internal/version"
	"admit/ticket/entry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) > 1 && os.Args[1] == "hwcheck" {
		os.Exit(hwcheckMain(ctx, os.Args[2:]))
	}
	m := &Main{}
	if err := m.ParseFlags(os.Args[1:], os.Stderr); err != nil {
		os.Exit(2)
	}
	if m.ShowVersion {
		version.Print(os.Stdout, "admit-agent")
		return
	}
	if err := m.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "admit-agent:", err)
		os.Exit(1)
	}
}

// Main is the program, separate from main() so tests can run it.
type Main struct {
	ShowVersion         bool // -version: print the build's version and exit
	Device, Gate, Event string
	DataDir             string
	Fleet               string
	Camera              string
	RelayPin            string
	RelayActiveLow      bool
	GreenPin, RedPin    string
	SimPins             bool
	Board               string
	StatusAddr          string
	StaffHosts          string
	PeerAddr            string
	Peers               string
	Direction           string
	Zone                string
	Types               string
	Online              bool
	Insecure            bool
	Debounce            time.Duration
	PassageTimeout      time.Duration
	Formats             []decode.Format
	// Enroll is the text of an enrollment QR: enroll once, keep the key
	// and CA pin in DataDir, then run.
	Enroll string
	// Log, when set, receives the gate's log (tests); default stderr.
	Log *slog.Logger

	fleetSet bool      // -fleet given on the command line
	id       *identity // from enrollment, when enrolled
}

func formatNames() string {
	names := make([]string, len(decode.AllFormats))
	for i, f := range decode.AllFormats {
		names[i] = string(f)
	}
	return strings.Join(names, ",")
}

func parseFormats(v string) ([]decode.Format, error) {
	var out []decode.Format
	for _, name := range strings.Split(v, ",") {
		f := decode.Format(strings.TrimSpace(strings.ToLower(name)))
		if !slices.Contains(decode.AllFormats, f) {
			return nil, fmt.Errorf("unknown format %q (want %s)", name, formatNames())
		}
		out = append(out, f)
	}
	return out, nil
}

// ParseFlags reads the command line.
func (m *Main) ParseFlags(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("admit-agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.BoolVar(&m.ShowVersion, "version", false, "print the version and exit")
	fs.StringVar(&m.Device, "device", "", "device id (required unless the gate enrolls with -enroll or enrolled before)")
	fs.StringVar(&m.Gate, "gate", "", "gate name shown to staff (default: device id)")
	fs.StringVar(&m.Event, "event", "", "events this gate admits to, comma-separated (a festival's day tickets and weekend passes); required. A fleet config may change them, as every setting below it names")
	fs.StringVar(&m.DataDir, "data", "var/agent", "data directory (holds gate.db)")
	fs.StringVar(&m.Fleet, "fleet", "", "fleet stream URL, wss://host:port/ws; empty runs offline (default for an enrolled gate: the fleet it enrolled with)")
	fs.StringVar(&m.Enroll, "enroll", "", "enrollment code (the text of the enrollment QR, admit-enroll:?...): enroll once, keep the device key, the fleet CA pin and the fleet's replica key in the data directory (0600), then run; later starts use them")
	fs.BoolVar(&m.Insecure, "insecure", false, "INSECURE: allow a plain ws:// or http:// fleet (stream, enrollment, online decisions): the enrollment token and everything the fleet sends cross the network in the clear; replica data must still be signed by the fleet's replica key")
	fs.StringVar(&m.Camera, "camera", "0", "camera: device index, /dev/videoN, video file or image folder; empty for none")
	fs.Func("formats", "symbologies the camera reads, comma-separated: "+formatNames()+" (default qr)", func(v string) error {
		formats, err := parseFormats(v)
		m.Formats = formats
		return err
	})
	fs.StringVar(&m.RelayPin, "relay", "GPIO17", "relay GPIO")
	fs.BoolVar(&m.RelayActiveLow, "relay-active-low", true, "relay board closes on a low level")
	fs.StringVar(&m.GreenPin, "led-green", "GPIO22", "green LED GPIO")
	fs.StringVar(&m.RedPin, "led-red", "GPIO27", "red LED GPIO")
	fs.BoolVar(&m.SimPins, "sim-pins", false, "use simulated pins (no GPIO hardware)")
	fs.StringVar(&m.StatusAddr, "status-addr", "127.0.0.1:8181", "staff and status endpoints (health, metrics, status, staff sign-in and actions); keep it on loopback: another address serves staff PINs and sessions in plain HTTP on that network, and is logged as a warning; empty for none")
	fs.StringVar(&m.StaffHosts, "staff-hosts", "", "comma-separated further Host names the staff endpoints answer to (loopback and the listen address always)")
	fs.StringVar(&m.PeerAddr, "peer-addr", ":8182", "peer endpoint (/peer) the venue's other gates push their signed passages to, on the gate LAN; empty for none")
	fs.StringVar(&m.Peers, "peers", "", "comma-separated peer gate endpoints (ws://host:8182/peer, their -peer-addr)")
	fs.StringVar(&m.Direction, "direction", "entry", "gate direction: entry, exit or both")
	fs.StringVar(&m.Zone, "zone", "", "zone this gate leads into (tickets must allow it)")
	fs.StringVar(&m.Types, "types", "", "comma-separated ticket types admitted here; empty for all")
	fs.BoolVar(&m.Online, "online", false, "ask the fleet before each entry, falling back to local decisions automatically")
	fs.DurationVar(&m.Debounce, "debounce", 3*time.Second, "the same code within this window is one presentation")
	fs.DurationVar(&m.PassageTimeout, "passage-timeout", 10*time.Second, "annul an entry with no passage within this time")
	fs.StringVar(&m.Board, "board", "", "board file mapping NFC readers, scanners, relay, LEDs, buzzer and sensors to buses and pins (see build/boards/); overrides -relay and -led-*")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if m.ShowVersion {
		return nil
	}
	fs.Visit(func(f *flag.Flag) { m.fleetSet = m.fleetSet || f.Name == "fleet" })
	var err error
	switch _, statErr := os.Stat(filepath.Join(m.DataDir, identityFile)); {
	case len(splitList(m.Event)) == 0:
		err = errors.New("-event is required")
	case m.Device == "" && m.Enroll == "" && statErr != nil:
		err = errNoIdentity
	}
	if err != nil {
		fmt.Fprintln(stderr, "admit-agent:", err)
		return err
	}
	return nil
}

// resolveIdentity enrolls (-enroll) or loads the identity of an enrolled
// gate, and takes the device id, gate name and fleet from it unless the
// flags say otherwise. A gate that never enrolled runs unsigned, which
// only a fleet that allows unenrolled devices accepts.
func (m *Main) resolveIdentity(ctx context.Context, log *slog.Logger) error {
	var err error
	if m.Enroll != "" {
		if m.id, err = enroll(ctx, m.DataDir, m.Enroll, m.Insecure); err != nil {
			return err
		}
		log.Info("enrolled", "device", m.id.Device, "fleet", m.id.Fleet, "identity", filepath.Join(m.DataDir, identityFile))
	} else if m.id, err = loadIdentity(m.DataDir); errors.Is(err, os.ErrNotExist) {
		if m.Device == "" {
			return errNoIdentity
		}
		return nil
	} else if err != nil {
		return err
	}
	if m.Device == "" {
		m.Device = m.id.Device
	}
	if m.Device != m.id.Device {
		return fmt.Errorf("-device %q, but %s says this gate enrolled as %q", m.Device, identityFile, m.id.Device)
	}
	if m.Gate == "" {
		m.Gate = m.id.Gate
	}
	if !m.fleetSet {
		m.Fleet = m.id.Fleet
	}
	return nil
}

func (m *Main) pin(name string) (gpio.PinIO, error) {
	if m.SimPins {
		return &gpiotest.Pin{N: name}, nil
	}
	p := gpioreg.ByName(name)
	if p == nil {
		return nil, fmt.Errorf("%s does not exist on this board", name)
	}
	return p, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// Run runs the gate until ctx ends.
func (m *Main) Run(ctx context.Context) error {
	log := m.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if m.Insecure {
		log.Warn("INSECURE (-insecure): plain ws:// and http:// fleet links are allowed; the fleet is then not authenticated by the link and what crosses it can be read. Replica data must still be signed by the fleet's replica key.")
	}
	if err := m.resolveIdentity(ctx, log); err != nil {
		return err
	}
	if !m.SimPins {
		if _, err := host.Init(); err != nil {
			return fmt.Errorf("periph host: %w", err)
		}
	}
	if m.Board != "" {
		return m.runBoard(ctx, log)
	}
	relayPin, err := m.pin(m.RelayPin)
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	clk := clock.Real{} // one clock for the gate and its relay
	relay, err := halgpio.NewRelay(relayPin, halgpio.RelayOpts{ActiveLow: m.RelayActiveLow, Clock: clk})
	if err != nil {
		return err
	}
	defer relay.Halt()
	green, err := m.pin(m.GreenPin)
	if err != nil {
		return fmt.Errorf("green LED: %w", err)
	}
	red, err := m.pin(m.RedPin)
	if err != nil {
		return fmt.Errorf("red LED: %w", err)
	}
	ind, err := halgpio.NewIndicator(green, red)
	if err != nil {
		return err
	}
	return m.runAgent(ctx, agent.Config{Relay: relay, Indicator: ind, Log: log, Clock: clk})
}

// runAgent completes cfg from the flags (identity, fleet, camera) and runs
// the gate until ctx ends.
func (m *Main) runAgent(ctx context.Context, cfg agent.Config) error {
	cfg.Device, cfg.Gate, cfg.Events, cfg.DataDir, cfg.FleetURL = m.Device, m.Gate, splitList(m.Event), m.DataDir, m.Fleet
	cfg.Firmware = version.String()
	cfg.Insecure = m.Insecure
	if m.id != nil {
		cfg.Key, cfg.CAFingerprint, cfg.ReplicaKey = m.id.Key, m.id.pin(), m.id.ReplicaKey
		// A gate enrolled before protocol 5 holds no replica key: the
		// uplink takes it over the pinned TLS link once; keep it.
		id := m.id
		cfg.OnReplicaKey = func(k ed25519.PublicKey) {
			id.ReplicaKey = k
			if err := id.save(m.DataDir); err != nil {
				cfg.Log.Error("admit-agent: could not keep the fleet's replica key in "+identityFile, "err", err)
			}
		}
	}
	dir, err := entry.ParseDirection(m.Direction)
	if err != nil {
		return err
	}
	cfg.Direction, cfg.Zone, cfg.Types, cfg.Peers = dir, m.Zone, splitList(m.Types), splitList(m.Peers)
	cfg.StatusAddr, cfg.StatusHosts, cfg.PeerAddr = m.StatusAddr, splitList(m.StaffHosts), m.PeerAddr
	cfg.Debounce, cfg.PassageTimeout = m.Debounce, m.PassageTimeout
	if m.Online && m.Fleet != "" {
		cfg.Online = &agent.OnlineConfig{} // the fleet at cfg.FleetURL, signed with cfg.Key
	}
	if m.Camera != "" {
		src, err := decode.Open(m.Camera, decode.CaptureOpts{Width: 1280, Height: 720, FPS: 30})
		if err != nil {
			return err
		}
		defer src.Close()
		// The camera's credentials are "camera0" (journals, ReaderSides).
		// It comes after the board's readers, which keep their places
		// ("reader0", ...), and closes after the agent's Run returned.
		cam := camera.New("camera0", src, decode.Options{Formats: m.Formats})
		defer cam.Close()
		cfg.Readers = append(cfg.Readers, cam)
		cfg.ConfigHook = cam.ApplyConfig // a fleet config's formats
	}
	a, err := agent.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}

// hwcheckMain is "admit-agent hwcheck -board FILE": probe every device of
// the board file and print what answered. Exit 1 when one did not.
func hwcheckMain(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("admit-agent hwcheck", flag.ContinueOnError)
	boardFile := fs.String("board", "/etc/admit/board.json", "board file (see build/boards/)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if err := hwcheck.Run(ctx, *boardFile, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "admit-agent hwcheck:", err)
		return 1
	}
	return 0
}
