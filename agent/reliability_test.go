package agent_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"admit/agent"
	"admit/fleet/wire"
	"admit/internal/testwait"
)

// TestUplinkCutThenRestored: the uplink is down for a whole burst; every
// decision waits in the journal, then drains once the link is back, and the
// fleet records each exactly once.
func TestUplinkCutThenRestored(t *testing.T) {
	f := startFleet(t, t.TempDir(), 40, "single")
	px := newProxy(t, f.node.Addr())
	g := startGate(t, agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, FleetURL: px.wsURL()})
	g.waitReplica(t, f)
	testwait.For(t, "the uplink", g.Online)

	px.SetUp(false)
	testwait.For(t, "the uplink to drop", func() bool { return !g.Online() })
	const burst = 60 // 40 tickets, then 20 of them again
	for i := range burst {
		g.present(t, f.tickets[i%len(f.tickets)].Code)
	}
	if n := g.backlog(t); n != burst {
		t.Fatalf("backlog %d during the cut, want %d", n, burst)
	}
	if n := len(f.scans(t)); n != 0 {
		t.Fatalf("fleet has %d scans while cut off", n)
	}

	px.SetUp(true)
	testwait.For(t, "the backlog to drain", func() bool { return g.backlog(t) == 0 })
	scans := f.scans(t)
	if len(scans) != burst {
		t.Fatalf("fleet has %d scans, want %d", len(scans), burst)
	}
	seqs := map[int64]bool{}
	admitted := map[string]int{}
	for _, s := range scans {
		if s.Device != "gate-1" || seqs[s.Seq] {
			t.Fatalf("duplicate or foreign scan %+v", s)
		}
		seqs[s.Seq] = true
		if s.Outcome == wire.Admitted {
			admitted[s.TicketID]++
		}
	}
	for seq := int64(1); seq <= burst; seq++ {
		if !seqs[seq] {
			t.Fatalf("seq %d missing at the fleet", seq)
		}
	}
	if len(admitted) != len(f.tickets) {
		t.Fatalf("%d tickets admitted, want %d", len(admitted), len(f.tickets))
	}
	for id, n := range admitted {
		if n != 1 {
			t.Fatalf("ticket %s admitted %d times", id, n)
		}
	}
}

// listen reserves a loopback listener for a gate's status endpoint.
func listen(t testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// startPeers starts n gates whose uplink goes through px and that gossip
// with each other.
func startPeers(t testing.TB, f *testFleet, px *proxy, n int) []*testGate {
	return startPeersWith(t, f, px, n, nil)
}

// startPeersWith is startPeers with each gate's config (i from 0) passed
// through adjust first, when it is not nil.
func startPeersWith(t testing.TB, f *testFleet, px *proxy, n int, adjust func(i int, cfg *agent.Config)) []*testGate {
	var lns []net.Listener
	for range n {
		lns = append(lns, listen(t))
	}
	var gates []*testGate
	for i := range n {
		var peers []string
		for j, ln := range lns {
			if j != i {
				peers = append(peers, "ws://"+ln.Addr().String()+"/peer")
			}
		}
		name := fmt.Sprintf("Gate %c", 'A'+i)
		cfg := agent.Config{Device: fmt.Sprintf("gate-%d", i), Gate: name, Event: f.event,
			FleetURL: px.wsURL(), StatusListener: lns[i], Peers: peers}
		if adjust != nil {
			adjust(i, &cfg)
		}
		gates = append(gates, startGate(t, cfg))
	}
	for _, g := range gates {
		g.waitReplica(t, f)
		testwait.For(t, "peer links", func() bool { return g.PeersConnected() == n-1 })
	}
	return gates
}

// TestPeersWithUplinkDown: with the fleet unreachable, a ticket admitted at
// gate A is refused at gate B, because A gossiped its passage over the LAN.
func TestPeersWithUplinkDown(t *testing.T) {
	ctx := context.Background()
	f := startFleet(t, t.TempDir(), 5, "single")
	px := newProxy(t, f.node.Addr())
	gates := startPeers(t, f, px, 2)
	a, b := gates[0], gates[1]
	px.SetUp(false)
	testwait.For(t, "both uplinks to drop", func() bool { return !a.Online() && !b.Online() })

	for _, tk := range f.tickets {
		if d := a.present(t, tk.Code); !d.Admitted {
			t.Fatalf("gate A: %+v", d)
		}
		testwait.For(t, "gate B to learn the passage", func() bool {
			ms, _ := b.DB().Marks(ctx, f.event, tk.ID)
			return len(ms) == 1
		})
		d := b.present(t, tk.Code)
		if d.Admitted || d.Reason != agent.ReasonAlreadyUsed || !strings.Contains(d.Sentence, "Gate A") {
			t.Fatalf("gate B: %+v, want refused as used at Gate A", d)
		}
	}
	if a.relay.Pulses() != len(f.tickets) || b.relay.Pulses() != 0 {
		t.Fatalf("pulses A=%d B=%d", a.relay.Pulses(), b.relay.Pulses())
	}
	// Back online, the fleet records one admission per ticket.
	px.SetUp(true)
	for _, g := range gates {
		testwait.For(t, "the backlog to drain", func() bool { return g.backlog(t) == 0 })
	}
	admitted := map[string]int{}
	for _, s := range f.scans(t) {
		if s.Outcome == wire.Admitted {
			admitted[s.TicketID]++
		}
	}
	for _, tk := range f.tickets {
		if admitted[tk.ID] != 1 {
			t.Fatalf("fleet: ticket %s admitted %d times", tk.ID, admitted[tk.ID])
		}
	}
}

// TestPeerCatchUp: a gate that was not running when its peer admitted
// learns the passage once it is up (the peer's catch-up from its database).
func TestPeerCatchUp(t *testing.T) {
	f := startFleet(t, t.TempDir(), 1, "single")
	px := newProxy(t, f.node.Addr())
	lnB := listen(t) // B's address exists; B itself is not running yet
	a := startGate(t, agent.Config{Device: "gate-0", Gate: "Gate A", Event: f.event, FleetURL: px.wsURL(),
		Peers: []string{"ws://" + lnB.Addr().String() + "/peer"}})
	a.waitReplica(t, f)
	px.SetUp(false) // A cannot tell the fleet
	if d := a.present(t, f.tickets[0].Code); !d.Admitted {
		t.Fatalf("gate A: %+v", d)
	}
	b := startGate(t, agent.Config{Device: "gate-1", Gate: "Gate B", Event: f.event, FleetURL: f.wsURL(), StatusListener: lnB})
	b.waitReplica(t, f)
	testwait.For(t, "B to learn A's passage", func() bool {
		ms, _ := b.DB().Marks(context.Background(), f.event, f.tickets[0].ID)
		return len(ms) == 1
	})
	if d := b.present(t, f.tickets[0].Code); d.Admitted || !strings.Contains(d.Sentence, "Gate A") {
		t.Fatalf("gate B: %+v, want refused as used at Gate A", d)
	}
}

// replicaDigest hashes the replica tables of a gate database.
func replicaDigest(t testing.TB, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	h := sha256.New()
	for _, q := range []string{
		`SELECT event_id, seq FROM cursors ORDER BY 1`,
		`SELECT event_id, id, hex(public), retired_at FROM keys ORDER BY 1, 2`,
		`SELECT event_id, id, type, holder, revoked FROM tickets ORDER BY 1, 2`,
		`SELECT event_id, ticket_id, device, at, gate FROM used ORDER BY 1, 2, 3, 4`,
	} {
		rows, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		n := 0
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintln(h, vals...)
			n++
		}
		rows.Close()
		fmt.Fprintln(h, q, n)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// TestCorruptReplicaUpdatesRefused: truncated, garbled, gapped or
// ill-formed replica updates are refused and leave the replica exactly as
// it was; the gate still decides from it.
func TestCorruptReplicaUpdatesRefused(t *testing.T) {
	f := startFleet(t, t.TempDir(), 5, "single")
	dir := t.TempDir()
	cfg := agent.Config{Device: "gate-1", Gate: "Gate 1", Event: f.event, FleetURL: f.wsURL(), DataDir: dir}
	g := startGate(t, cfg)
	g.waitReplica(t, f)
	cur, _ := g.DB().Cursors(context.Background())
	g.stop()
	dbPath := filepath.Join(dir, "gate.db")
	before := replicaDigest(t, dbPath)

	c := cur[f.event]
	ticketRow := fmt.Sprintf(`{"seq":%d,"kind":"ticket","ticket":{"id":"EVIL1","type":"VIP"}}`, c+1)
	frames := []string{
		// truncated in the middle of a batch
		fmt.Sprintf(`{"type":"batch","batch":{"event":"gala","from":%d,"to":%d,"changes":[%s`, c, c+1, ticketRow[:20]),
		// not JSON at all
		"\x00\xff\xfe garbage",
		// a good change followed by a bad key: nothing of the batch lands
		fmt.Sprintf(`{"type":"batch","batch":{"event":"gala","from":%d,"to":%d,"changes":[%s,{"seq":%d,"kind":"key","key":{"id":"k9","public":"AAEC"}}]}}`, c, c+2, ticketRow, c+2),
		// a gap after the replica's cursor
		fmt.Sprintf(`{"type":"batch","batch":{"event":"gala","from":%d,"to":%d,"changes":[{"seq":%d,"kind":"ticket","ticket":{"id":"EVIL2","type":"VIP"}}]}}`, c+50, c+51, c+51),
		// a kind that does not match its body
		fmt.Sprintf(`{"type":"batch","batch":{"event":"gala","from":%d,"to":%d,"changes":[{"seq":%d,"kind":"revoke","ticket":{"id":"EVIL3","type":"VIP"}}]}}`, c, c+1, c+1),
		// changes out of order
		fmt.Sprintf(`{"type":"batch","batch":{"event":"gala","from":%d,"to":%d,"changes":[{"seq":%d,"kind":"ticket","ticket":{"id":"EVIL4","type":"VIP"}},{"seq":%d,"kind":"ticket","ticket":{"id":"EVIL5","type":"VIP"}}]}}`, c, c+2, c+2, c+1),
		// a message type nobody knows
		`{"type":"wipe","wipe":{}}`,
	}
	served := make(chan int, len(frames))
	var mu sync.Mutex
	next := 0
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		ch := &wire.Message{Type: wire.TypeChallenge, Challenge: &wire.Challenge{Nonce: make([]byte, 32)}}
		if err := ws.WriteJSON(ch); err != nil {
			return
		}
		if _, _, err := ws.ReadMessage(); err != nil { // hello
			return
		}
		mu.Lock()
		i := next
		next++
		mu.Unlock()
		if i >= len(frames) {
			<-r.Context().Done()
			return
		}
		ws.WriteMessage(websocket.TextMessage, []byte(frames[i]))
		// The gate refuses by dropping the stream.
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				served <- i
				return
			}
		}
	}))
	defer srv.Close()
	cfg.FleetURL = "ws" + strings.TrimPrefix(srv.URL, "http") + "/ws"
	g = startGate(t, cfg)
	for range frames {
		select {
		case <-served:
		case <-time.After(30 * time.Second):
			t.Fatal("the gate did not drop a corrupt stream")
		}
	}
	g.stop()
	if after := replicaDigest(t, dbPath); after != before {
		t.Fatal("the replica changed under corrupt updates")
	}
	cfg.FleetURL = ""
	g = startGate(t, cfg)
	if d := g.present(t, f.tickets[0].Code); !d.Admitted {
		t.Fatalf("gate after corrupt updates: %+v", d)
	}
	if d := g.present(t, "AD1:EVIL1"); d.Admitted {
		t.Fatalf("injected ticket admitted: %+v", d)
	}
}
