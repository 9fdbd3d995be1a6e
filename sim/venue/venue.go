// Package venue runs a simulated venue: a real fleet node and real gate
// agents (real SQLite files, real WebSocket streams on loopback) whose
// hardware is simulated — virtual cameras, an emulated PN532 and periph
// gpiotest pins — plus attendees who hold up tickets, some of them
// invalid. cmd/admit-demo (`make run`) shows it; the end-to-end test
// drives it. It wires a fleet and gates together, which only a command or
// a simulation may do, so it lives here under sim/, apart from both.
package venue

import (
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"log/slog"
	"math/big"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"periph.io/x/conn/v3/gpio/gpiotest"

	"admit/agent"
	"admit/agent/camera"
	"admit/clock"
	"admit/decode"
	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/node"
	"admit/fleet/operator"
	"admit/fleet/qrimage"
	"admit/hal"
	halgpio "admit/hal/gpio"
	"admit/hal/nfc"
	"admit/hal/pn532"
	"admit/hal/pn532/pn532sim"
	"admit/internal/version"
	"admit/ticket"
)

// Config configures a venue.
type Config struct {
	Addr    string // fleet listen address; "127.0.0.1:0" for any port
	DataDir string
	Event   string // default "demo"
	Gates   int    // default 3
	Tickets int    // tickets issued at start; default 200
	Log     *slog.Logger
	// Clock is the venue's one time source: the fleet's, every gate's
	// (with its relay and NFC reader) and the attendees'; default
	// clock.Real{}.
	Clock clock.Clock
	// OnDecision, when set, sees every gate's decisions.
	OnDecision func(gate int, d agent.Decision)
}

// Gate is one simulated turnstile.
type Gate struct {
	Name  string
	Agent *agent.Agent
	// Camera is what the gate's camera sees; the gate reads it through
	// camera (its credential reader, "camera0").
	Camera    *decode.VirtualCamera
	camera    *camera.Reader
	Relay     *halgpio.Relay
	Indicator *halgpio.Indicator
	RelayPin  *gpiotest.Pin
	// NFC is the gate's PN532, emulated on a fake I²C bus: the agent's
	// driver talks to it frame by frame as it would to the chip.
	NFC *pn532sim.Chip
	// StatusURL is the gate's local status page (status, metrics, staff
	// sign-in and actions), on loopback.
	StatusURL string
	// PeerURL is where the other gates push their signed passages.
	PeerURL string
}

// Venue is a running fleet with its gates.
type Venue struct {
	cfg     Config
	Fleet   *node.Node
	Gates   []*Gate
	Tickets []fleet.Ticket
	// Login is the demo's operator (an admin), to sign in to the console.
	Login Login
	// Staff is the demo's gate staff member, to sign in at the gates.
	Staff StaffLogin

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Start starts the fleet, creates the event and its tickets (unless they
// exist from an earlier run), and starts the gates.
func Start(ctx context.Context, cfg Config) (*Venue, error) {
	if cfg.Event == "" {
		cfg.Event = "demo"
	}
	if cfg.Gates <= 0 {
		cfg.Gates = 3
	}
	if cfg.Tickets <= 0 {
		cfg.Tickets = 200
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	// Gates are enrolled (pre-enrolled with keys made here, as a
	// provisioning station would): the fleet takes no unsigned agent. The
	// fleet serves TLS with its own CA, as a real one does; the gates pin
	// it and hold the fleet's replica key, as enrollment would leave them.
	n, err := node.Open(ctx, node.Config{DataDir: filepath.Join(cfg.DataDir, "fleet"), Addr: cfg.Addr, Log: cfg.Log.With("part", "fleet"),
		Clock: cfg.Clock, RequireEnrollment: true})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	v := &Venue{cfg: cfg, Fleet: n, cancel: cancel}
	if err := v.setup(ctx); err != nil {
		v.Close(ctx)
		return nil, err
	}
	// Every gate's endpoints are bound first, so each gate can be told its
	// peers' addresses: they gossip signed passages over the LAN (here
	// loopback), on a listener apart from the staff and status one.
	lns := make([]net.Listener, 2*cfg.Gates) // status, peer; status, peer; …
	closeFrom := func(i int) {
		for _, ln := range lns[i:] {
			if ln != nil {
				ln.Close()
			}
		}
	}
	for i := range lns {
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			closeFrom(0)
			v.Close(ctx)
			return nil, fmt.Errorf("gate %d listener: %w", i/2, err)
		}
	}
	for i := range cfg.Gates {
		var peers []string
		for j := range cfg.Gates {
			if j != i {
				peers = append(peers, "ws://"+lns[2*j+1].Addr().String()+"/peer")
			}
		}
		if err := v.startGate(runCtx, i, lns[2*i], lns[2*i+1], peers); err != nil {
			closeFrom(2 * i)
			v.Close(ctx)
			return nil, err
		}
	}
	return v, nil
}

// StaffLogin is a gate staff member's sign-in at the gates: a name and a
// PIN (POST /staff/sign-in on a gate's status listener).
type StaffLogin struct {
	Name, PIN string
}

// DemoStaff is the demo's gate staff member.
const DemoStaff = "staff"

// demoStaff makes the demo's gate staff member (the gate staff role on the
// event) with a fresh PIN, which the gates receive hashed in the event's
// venue scope.
func (v *Venue) demoStaff(ctx context.Context) error {
	ops := v.Fleet.Operators
	grant := []access.Grant{{Role: access.GateStaff, Event: v.cfg.Event}}
	if _, err := ops.Store.Operator(ctx, DemoStaff); errors.Is(err, operator.ErrNotFound) {
		if _, _, err := ops.CreateOperator(ctx, DemoStaff, grant, "demo"); err != nil {
			return fmt.Errorf("demo staff: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("demo staff: %w", err)
	} else if _, err := ops.SetGrants(ctx, DemoStaff, grant); err != nil {
		return fmt.Errorf("demo staff: %w", err)
	}
	n, err := crand.Int(crand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return err
	}
	pin := fmt.Sprintf("%06d", n.Int64())
	if _, err := v.Fleet.Service.SetStaffCredential(ctx, v.cfg.Event, DemoStaff, fleet.StaffRequest{PIN: pin}, "demo"); err != nil {
		return fmt.Errorf("demo staff: %w", err)
	}
	v.Staff = StaffLogin{Name: DemoStaff, PIN: pin}
	return nil
}

// Login is an operator's sign-in: a name, a password and the TOTP seed
// (base32, as oathtool -b and authenticator apps take it).
type Login struct {
	Name, Password, TOTPSecret string
}

// DemoOperator is the demo's operator.
const DemoOperator = "demo"

// demoLogin makes the demo's operator an admin with a fresh password,
// keeping its TOTP seed across restarts (so an authenticator app that
// enrolled it still works).
func (v *Venue) demoLogin(ctx context.Context) error {
	ops := v.Fleet.Operators
	o, err := ops.Store.Operator(ctx, DemoOperator)
	if errors.Is(err, operator.ErrNotFound) {
		o, _, err = ops.CreateOperator(ctx, DemoOperator, []access.Grant{{Role: access.Admin, Event: access.AllEvents}}, "demo")
	}
	if err != nil {
		return fmt.Errorf("demo login: %w", err)
	}
	seed := o.TOTPSecret
	if len(seed) == 0 {
		if seed, err = operator.NewTOTPSecret(); err != nil {
			return err
		}
	}
	var pw [10]byte
	if _, err := crand.Read(pw[:]); err != nil {
		return err
	}
	password := "demo-" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(pw[:]))
	if _, err := ops.SetCredentials(ctx, DemoOperator, password, seed); err != nil {
		return fmt.Errorf("demo login: %w", err)
	}
	v.Login = Login{Name: DemoOperator, Password: password, TOTPSecret: operator.SecretText(seed)}
	return nil
}

func (v *Venue) setup(ctx context.Context) error {
	if err := v.demoLogin(ctx); err != nil {
		return err
	}
	svc := v.Fleet.Service
	_, err := svc.CreateEvent(ctx, fleet.Event{ID: v.cfg.Event, Name: "Demo night"})
	if err != nil && !errors.Is(err, fleet.ErrExists) {
		return err
	}
	if err := v.demoStaff(ctx); err != nil {
		return err
	}
	v.Tickets, err = svc.Store.Tickets(ctx, v.cfg.Event, v.cfg.Tickets)
	if err != nil {
		return err
	}
	if missing := v.cfg.Tickets - len(v.Tickets); missing > 0 {
		ts, err := svc.Issue(ctx, fleet.IssueRequest{Event: v.cfg.Event, Type: "GA", Count: missing})
		if err != nil {
			return err
		}
		v.Tickets = append(v.Tickets, ts...)
	}
	return nil
}

// GateName is the name of gate i: "Gate A", "Gate B", ...
func GateName(i int) string { return "Gate " + string(rune('A'+i%26)) }

func (v *Venue) startGate(ctx context.Context, i int, statusLn, peerLn net.Listener, peers []string) error {
	name := GateName(i)
	device := "turnstile-" + strings.ToLower(name[len(name)-1:])
	g := &Gate{Name: name, Camera: decode.NewVirtualCamera(), RelayPin: &gpiotest.Pin{N: "GPIO17"},
		StatusURL: "http://" + statusLn.Addr().String() + "/status", PeerURL: "ws://" + peerLn.Addr().String() + "/peer"}
	var err error
	if g.Relay, err = halgpio.NewRelay(g.RelayPin, halgpio.RelayOpts{ActiveLow: true, Clock: v.cfg.Clock}); err != nil {
		return err
	}
	if g.Indicator, err = halgpio.NewIndicator(&gpiotest.Pin{N: "GPIO22"}, &gpiotest.Pin{N: "GPIO27"}); err != nil {
		return err
	}
	g.NFC = pn532sim.New(pn532sim.WithClock(v.cfg.Clock))
	chipOpts := pn532.DefaultOpts
	chipOpts.Clock = v.cfg.Clock
	dev, err := pn532.NewI2C(g.NFC.I2C(), &chipOpts)
	if err != nil {
		return fmt.Errorf("%s nfc: %w", name, err)
	}
	if _, err := dev.Init(ctx); err != nil {
		return fmt.Errorf("%s nfc: %w", name, err)
	}
	reader := nfc.NewReader(dev, &nfc.Opts{Name: "nfc0", Clock: v.cfg.Clock, Logger: v.cfg.Log.With("part", "nfc")})
	// Each gate holds its own device key; the fleet knows its public half.
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		return fmt.Errorf("%s key: %w", name, err)
	}
	// A restarted demo makes new keys for its gates: the provisioning
	// station re-keys them explicitly, as an operator would.
	_, err = v.Fleet.Service.PreEnroll(ctx, fleet.Device{ID: device, Name: name, Gate: name, Events: []string{v.cfg.Event}, PublicKey: pub})
	if errors.Is(err, fleet.ErrExists) {
		_, err = v.Fleet.Service.RekeyDevice(ctx, device, pub)
	}
	if err != nil {
		return fmt.Errorf("%s enrollment: %w", name, err)
	}
	g.camera = camera.New("camera0", g.Camera, decode.Options{})
	cfg := agent.Config{
		Device: device, Gate: name, Event: v.cfg.Event,
		Firmware: version.String(),
		DataDir:  filepath.Join(v.cfg.DataDir, device),
		FleetURL: v.Fleet.AgentURL(), Key: key, CAFingerprint: v.Fleet.CAFingerprint, ReplicaKey: v.Fleet.ReplicaKey,
		Readers: []hal.CredentialReader{g.camera, reader},
		Relay:   g.Relay, Indicator: g.Indicator,
		StatusListener: statusLn, PeerListener: peerLn, Peers: peers,
		Log: v.cfg.Log.With("part", "gate"), Clock: v.cfg.Clock,
		ConfigHook: g.camera.ApplyConfig, // a fleet config's formats reach the camera
	}
	if v.cfg.OnDecision != nil {
		cfg.OnDecision = func(d agent.Decision) { v.cfg.OnDecision(i, d) }
	}
	g.Agent, err = agent.Open(ctx, cfg)
	if err != nil {
		g.camera.Close()
		return err
	}
	v.Gates = append(v.Gates, g)
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		g.Agent.Run(ctx)
	}()
	return nil
}

// Close stops the gates and the fleet.
func (v *Venue) Close(ctx context.Context) error {
	v.cancel()
	for _, g := range v.Gates {
		g.Camera.Close()
	}
	v.wg.Wait()
	var errs []error
	for _, g := range v.Gates {
		errs = append(errs, g.Agent.Close(), g.camera.Close(), g.Relay.Halt())
	}
	errs = append(errs, v.Fleet.Close(ctx))
	return errors.Join(errs...)
}

// Frame renders a ticket code as a camera would see a phone held up to
// it: the QR on a gray 640×480 scene.
func Frame(code string) (image.Image, error) {
	qr, err := qrimage.Render(code, 300)
	if err != nil {
		return nil, err
	}
	scene := image.NewGray(image.Rect(0, 0, 640, 480))
	draw.Draw(scene, scene.Bounds(), &image.Uniform{color.Gray{Y: 140}}, image.Point{}, draw.Src)
	off := image.Pt((640-qr.Bounds().Dx())/2, (480-qr.Bounds().Dy())/2)
	draw.Draw(scene, qr.Bounds().Add(off), qr, image.Point{}, draw.Src)
	return scene, nil
}

// Show holds code up to gate i's camera.
func (v *Venue) Show(i int, code string) error {
	img, err := Frame(code)
	if err != nil {
		return err
	}
	return v.Gates[i].Camera.Show(img)
}

// Tap holds an NFC credential carrying code to gate i's reader: an NTAG215
// sticker or card with the code in an NDEF Text record, or a phone running
// the admit wallet app. The card stays in the field until the next Tap or
// Show at that gate.
func (v *Venue) Tap(i int, code string, phone bool) {
	chip := v.Gates[i].NFC
	chip.Remove()
	if phone {
		chip.Place(&pn532sim.Phone{ID: randomUID(4, 0x08), Ticket: []byte(code)})
		return
	}
	chip.Place(pn532sim.NewNTAG(pn532sim.NTAG215, randomUID(7, 0x04), pn532sim.NDEFTLV(pn532sim.TextRecord("en", code))))
}

func randomUID(n int, first byte) []byte {
	uid := make([]byte, n)
	for i := range uid {
		uid[i] = byte(rand.IntN(256))
	}
	uid[0] = first
	return uid
}

// Forge returns a ticket for the venue's event that looks right but is
// signed by a key the fleet never issued.
func (v *Venue) Forge() (string, error) {
	k, err := ticket.GenerateSigningKey(v.cfg.Event, "k1")
	if err != nil {
		return "", err
	}
	id, _ := fleet.NewTicketID()
	now := v.cfg.Clock.Now().UTC().Truncate(time.Second)
	return ticket.Encode(ticket.Claims{ID: id, Event: v.cfg.Event, Type: "VIP", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}, k)
}

// Unknown returns a ticket correctly signed with the event's key that is
// not on the allowlist (issued and then deleted, or printed by someone who
// stole the key).
func (v *Venue) Unknown(ctx context.Context) (string, error) {
	k, err := v.Fleet.Service.Store.SigningKey(ctx, v.cfg.Event)
	if err != nil {
		return "", err
	}
	id, _ := fleet.NewTicketID()
	now := v.cfg.Clock.Now().UTC().Truncate(time.Second)
	return ticket.Encode(ticket.Claims{ID: id, Event: v.cfg.Event, Type: "GA", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}, k)
}

// Attendees sends attendees to every gate, one every pace per gate, until
// ctx ends: mostly valid tickets, some shown a second time at another gate,
// some forged, some unknown.
func (v *Venue) Attendees(ctx context.Context, pace time.Duration) error {
	type use struct {
		code string
		at   time.Time
	}
	var mu sync.Mutex
	next, used := 0, []use(nil)
	pick := func(r *rand.Rand, now time.Time) (kind, code string, err error) {
		mu.Lock()
		defer mu.Unlock()
		// A code comes back "already used" once its holder is through:
		// a screenshot passed back over the fence, seconds later. (A copy
		// shown at two gates in the same instant is a race no offline
		// gate can settle; online mode is the answer there.)
		var old []use
		for _, u := range used {
			if now.Sub(u.at) > 2*pace {
				old = append(old, u)
			}
		}
		switch x := r.IntN(100); {
		case x < 15 && len(old) > 0:
			return "already used", old[r.IntN(len(old))].code, nil
		case x < 25:
			code, err = v.Forge()
			return "forged", code, err
		case x < 32:
			code, err = v.Unknown(ctx)
			return "unknown", code, err
		default:
			if next >= len(v.Tickets) {
				next = 0 // out of fresh tickets: they come back as "already used"
			}
			t := v.Tickets[next]
			next++
			used = append(used, use{t.Code, now})
			if len(used) > 500 {
				used = used[len(used)-500:]
			}
			return "valid", t.Code, nil
		}
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(v.Gates))
	for i := range v.Gates {
		wg.Add(1)
		go func() {
			defer wg.Done()
			clk := v.cfg.Clock
			r := rand.New(rand.NewPCG(uint64(i), uint64(clk.Now().UnixNano())))
			// Gates' queues are not in step: stagger the first attendee.
			wait := pace + pace*time.Duration(i)/time.Duration(len(v.Gates))
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-clk.After(wait):
					wait = pace
					kind, code, err := pick(r, now)
					if err == nil {
						v.Gates[i].NFC.Remove() // the previous attendee walked on
						switch x := r.IntN(100); {
						case x < 10:
							v.Tap(i, code, false)
						case x < 20:
							v.Tap(i, code, true)
						default:
							err = v.Show(i, code)
						}
					}
					if err != nil {
						if ctx.Err() != nil {
							return // the venue is closing: not the attendee's fault
						}
						errc <- fmt.Errorf("attendee at %s (%s): %w", GateName(i), kind, err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}
