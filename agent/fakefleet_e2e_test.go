package agent_test

// A fake fleet at the gate's fleet URL (DNS hijacked, a rogue access
// point, a man in the middle): a server with its own TLS certificate and
// its own keys, pushing its own event signing key and a ticket signed with
// it. These tests reproduce the finding "a fake fleet pushed its own
// signing key and a forged ticket was admitted", and check that it no
// longer gets through: over TLS the CA pin stops the handshake; over a
// plain link (a gate started insecure) the replica key's signatures stop
// every frame. A genuine revocation replayed to another gate, or to the
// same gate in a new session, is ignored too.

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent"
	"admit/fleet"
	"admit/fleet/node"
	"admit/fleet/replicate/replicatetest"
	"admit/fleet/wire"
	"admit/internal/testwait"
	"admit/internal/tlspin"
	"admit/ticket"
)

// fakeFleet is a server that is not the fleet. Its challenge names the
// real fleet's replica key (a public key: anyone may copy it); after the
// hello it sends what play returns, one frame after the other, and then
// waits for the gate to leave.
type fakeFleet struct {
	srv    *httptest.Server
	conns  atomic.Int32 // TCP connections accepted
	hellos atomic.Int32 // hellos received
}

// fakeFrame is one WebSocket message of a fake fleet.
type fakeFrame struct {
	kind int
	data []byte
}

func newFakeFleet(t *testing.T, tlsOwnCA bool, named ed25519.PublicKey, play func(hello *wire.Hello) []fakeFrame) *fakeFleet {
	t.Helper()
	f := &fakeFleet{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ch := &wire.Challenge{Nonce: make([]byte, 32), ReplicaKey: named}
		if ws.WriteJSON(&wire.Message{Type: wire.TypeChallenge, Challenge: ch}) != nil {
			return
		}
		_, data, err := ws.ReadMessage()
		if err != nil {
			return
		}
		m, err := wire.Decode(data)
		if err != nil || m.Type != wire.TypeHello {
			return
		}
		f.hellos.Add(1)
		for _, fr := range play(m.Hello) {
			if ws.WriteMessage(fr.kind, fr.data) != nil {
				return
			}
		}
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	})
	f.srv = httptest.NewUnstartedServer(h)
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	f.srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			f.conns.Add(1)
		}
	}
	if tlsOwnCA {
		f.srv.StartTLS() // httptest's own certificate: not the fleet's CA
	} else {
		f.srv.Start()
	}
	t.Cleanup(f.srv.Close)
	return f
}

func mustJSON(t *testing.T, m *wire.Message) []byte {
	t.Helper()
	data, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (f *fakeFleet) url() string {
	u := strings.Replace(f.srv.URL, "https://", "wss://", 1)
	return strings.Replace(u, "http://", "ws://", 1) + "/ws"
}

// forgery is what a fake fleet wants a gate to take: its own signing key
// for the event, a ticket signed with it on the allowlist, and the code of
// that ticket.
type forgery struct {
	key  ticket.SigningKey
	code string
}

func forge(t *testing.T, event string) forgery {
	t.Helper()
	k, err := ticket.GenerateSigningKey(event, "k9")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	code, err := ticket.Encode(ticket.Claims{ID: "FORGED01", Event: event, Type: "VIP", NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour)}, k)
	if err != nil {
		t.Fatal(err)
	}
	return forgery{key: k, code: code}
}

// batch is the forgery as a replica batch after seq from.
func (fg forgery) batch(event string, from int64) *wire.Batch {
	b := &wire.Batch{Event: event, From: from, To: from + 2, Changes: []wire.Change{
		{Seq: from + 1, Kind: wire.KindKey, Key: &wire.Key{ID: fg.key.ID, Public: fg.key.Public().Key}},
		{Seq: from + 2, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "FORGED01", Type: "VIP"}},
	}}
	b.Seal()
	return b
}

// syncedGate starts an enrolled gate of f, lets it take the whole
// replica from the real fleet, and stops it; it returns its config.
func syncedGate(t *testing.T, f *testFleet, device string) agent.Config {
	t.Helper()
	cfg := f.linked(agent.Config{Device: device, Gate: device, Event: f.event, DataDir: filepath.Join(t.TempDir(), device), Key: f.enrolled(t, device)})
	g := startGate(t, cfg)
	g.waitReplica(t, f)
	g.stop()
	return cfg
}

// unsignedCount reads the gate's admit_fleet_unsigned_total for source.
func unsignedCount(g *testGate, source string) string {
	rec := httptest.NewRecorder()
	g.StaffHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://127.0.0.1/metrics", nil))
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if strings.HasPrefix(line, `admit_fleet_unsigned_total{source="`+source+`"}`) {
			return strings.Fields(line)[1]
		}
	}
	return "0"
}

// checkNothingForged: the gate holds no forged key or ticket, refuses the
// forged code, and still admits a real ticket (its replica is intact).
func checkNothingForged(t *testing.T, g *testGate, fg forgery, real fleet.Ticket) {
	t.Helper()
	ctx := context.Background()
	keys, err := g.DB().Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if k.ID == fg.key.ID {
			t.Fatalf("the gate took the fake fleet's signing key %+v", k)
		}
	}
	if d := g.present(t, fg.code); d.Admitted {
		t.Fatalf("the forged ticket was admitted: %+v", d)
	}
	if d := g.present(t, real.Code); !d.Admitted {
		t.Fatalf("a real ticket after the fake fleet: %+v (replica harmed?)", d)
	}
}

// TestFakeFleetWithAnotherCA: a server with its own CA at the gate's
// fleet URL never gets past the TLS handshake: the gate pins the real
// fleet's CA. It hears no hello, and the gate takes nothing.
func TestFakeFleetWithAnotherCA(t *testing.T) {
	f := startFleetWith(t, node.Config{DataDir: t.TempDir(), RequireEnrollment: true}, 2, "single")
	cfg := syncedGate(t, f, "gate-1")
	fg := forge(t, f.event)
	fake := newFakeFleet(t, true, f.node.ReplicaKey, func(h *wire.Hello) []fakeFrame {
		_, own, _ := ed25519.GenerateKey(nil)
		return []fakeFrame{{websocket.BinaryMessage, wire.SignBatchFrame(own, wire.MarshalBatch(fg.batch(f.event, h.Cursors[f.event].Seq)))}}
	})
	cfg.FleetURL = fake.url()
	g := startGate(t, cfg)
	testwait.For(t, "the gate to try the fake fleet twice", func() bool { return fake.conns.Load() >= 2 })
	if n := fake.hellos.Load(); n != 0 {
		t.Fatalf("the fake fleet heard %d hellos through another CA", n)
	}
	checkNothingForged(t, g, fg, f.tickets[0])
}

// TestFakeFleetOnPlainLink: a gate started insecure, on ws://, reaches a
// fake fleet that names the real replica key and pushes its own signing
// key and a forged ticket — signed with its own key, unsigned, as JSON,
// and then a revocation and an acknowledgement of the gate's journal.
// The signatures stop every one: nothing applied, nothing wiped, nothing
// deleted, each counted; the forged ticket is refused.
func TestFakeFleetOnPlainLink(t *testing.T) {
	f := startFleetWith(t, node.Config{DataDir: t.TempDir(), RequireEnrollment: true}, 2, "single")
	cfg := syncedGate(t, f, "gate-1")
	fg := forge(t, f.event)
	_, own, _ := ed25519.GenerateKey(nil)
	var attempt atomic.Int32
	fake := newFakeFleet(t, false, f.node.ReplicaKey, func(h *wire.Hello) []fakeFrame {
		b := fg.batch(f.event, h.Cursors[f.event].Seq)
		s := wire.Session{Device: h.Device, Nonce: h.Nonce}
		var fr fakeFrame
		switch attempt.Add(1) {
		case 1:
			fr = fakeFrame{websocket.BinaryMessage, wire.SignBatchFrame(own, wire.MarshalBatch(b))}
		case 2:
			fr = fakeFrame{websocket.BinaryMessage, wire.MarshalBatch(b)}
		case 3:
			fr = fakeFrame{websocket.TextMessage, mustJSON(t, &wire.Message{Type: wire.TypeBatch, Batch: b})}
		case 4:
			r := &wire.Revoked{Reason: "device revoked"}
			r.Sign(own, s)
			fr = fakeFrame{websocket.TextMessage, mustJSON(t, &wire.Message{Type: wire.TypeRevoked, Revoked: r})}
		case 5:
			fr = fakeFrame{websocket.TextMessage, mustJSON(t, &wire.Message{Type: wire.TypeScanAck, ScanAck: &wire.ScanAck{UpTo: 1 << 40}})}
		default:
			return nil
		}
		return []fakeFrame{fr}
	})
	cfg.FleetURL, cfg.Insecure = fake.url(), true
	g := startGate(t, cfg)
	if d := g.present(t, f.tickets[1].Code); !d.Admitted { // a journal row the fake fleet will "acknowledge"
		t.Fatalf("entry: %+v", d)
	}
	testwait.For(t, "five forgeries refused", func() bool { return unsignedCount(g, "stream") == "5" })
	if n := g.backlog(t); n != 1 {
		t.Fatalf("journal backlog %d after a forged acknowledgement, want 1", n)
	}
	if st, err := g.DB().State(context.Background(), f.event, f.tickets[0].ID); err != nil || st.Revoked {
		t.Fatalf("the replica after a forged revocation: %+v %v", st, err)
	}
	checkNothingForged(t, g, fg, f.tickets[0])
}

// TestReplayedRevocationIgnored: the real fleet's signed "revoked" for
// gate A, captured on the wire, replayed by a fake fleet to gate B, and to
// gate A itself in a later session, wipes neither: it is bound to A's
// device and to the session it was sent in.
func TestReplayedRevocationIgnored(t *testing.T) {
	f := startFleetWith(t, node.Config{DataDir: t.TempDir(), RequireEnrollment: true}, 2, "single")
	cfgB := syncedGate(t, f, "gate-b")
	cfgA := syncedGate(t, f, "gate-a")

	// Capture: gate A's session is told it is revoked.
	spy := replicatetest.Dial(t, f.wsURL(), "gate-a", cfgA.Key, replicatetest.NewReplica(f.event), replicatetest.Options{
		Dialer: &websocket.Dialer{TLSClientConfig: tlspin.Config(f.node.CAFingerprint)}, ReplicaKey: f.node.ReplicaKey})
	st, _ := f.node.Store.LogState(context.Background(), f.event)
	spy.SyncTo(f.event, st.Last, st.Running)
	if err := f.node.Service.RevokeDevice(context.Background(), "gate-a"); err != nil {
		t.Fatal(err)
	}
	var captured []byte
	for captured == nil {
		data, m := spy.NextRaw()
		if m.Type == wire.TypeRevoked {
			captured = data
		}
	}

	fake := newFakeFleet(t, false, f.node.ReplicaKey, func(*wire.Hello) []fakeFrame {
		return []fakeFrame{{websocket.TextMessage, captured}}
	})
	for i, cfg := range []agent.Config{cfgB, cfgA} {
		cfg.FleetURL, cfg.Insecure = fake.url(), true
		g := startGate(t, cfg)
		testwait.For(t, cfg.Device+" to refuse the replay", func() bool { return unsignedCount(g, "stream") != "0" })
		tk := f.tickets[i]
		if st, err := g.DB().State(context.Background(), f.event, tk.ID); err != nil || st.Type == "" {
			t.Fatalf("%s's replica after the replayed revocation: %+v %v (wiped?)", cfg.Device, st, err)
		}
		if d := g.present(t, tk.Code); !d.Admitted {
			t.Fatalf("%s after the replayed revocation: %+v", cfg.Device, d)
		}
		g.stop()
	}
}
