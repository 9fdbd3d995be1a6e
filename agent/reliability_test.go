package agent_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
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

// TestPeerCatchUp: a gate that was not running when its peer admitted
// learns the passage once it is up (the peer's catch-up from its database).
// Neither gate has a fleet: the passage can only come from the peer.
func TestPeerCatchUp(t *testing.T) {
	ev := newEvent(t, time.Now(), 1, "single")
	lnB := listen(t) // B's address exists; B itself is not running yet
	a := seededGate(t, ev, agent.Config{Device: "gate-0", Gate: "Gate A",
		Peers: []string{"ws://" + lnB.Addr().String() + "/peer"}})
	if d := a.present(t, ev.tickets[0].Code); !d.Admitted {
		t.Fatalf("gate A: %+v", d)
	}
	b := seededGate(t, ev, agent.Config{Device: "gate-1", Gate: "Gate B", PeerListener: lnB})
	testwait.For(t, "B to learn A's passage", func() bool {
		ms, _ := b.DB().Marks(context.Background(), ev.event, ev.tickets[0].ID)
		return len(ms) == 1
	})
	if d := b.present(t, ev.tickets[0].Code); d.Admitted || !strings.Contains(d.Sentence, "Gate A") {
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
// it was; the gate still decides from it. The fleet here holds the replica
// key the gate trusts and signs what it can sign, so that the gate's
// checks after the signature's are the ones refusing (a fleet with a bug,
// not a forger: that is fakefleet_e2e_test.go).
func TestCorruptReplicaUpdatesRefused(t *testing.T) {
	ev := newEvent(t, time.Now(), 5, "single")
	dir := t.TempDir()
	rpub, rkey, _ := ed25519.GenerateKey(nil)
	cfg := agent.Config{Device: "gate-1", Gate: "Gate 1", Event: ev.event, DataDir: dir, ReplicaKey: rpub}
	g := seededGate(t, ev, cfg)
	cur, _ := g.DB().Cursors(context.Background())
	g.stop()
	dbPath := filepath.Join(dir, "gate.db")
	before := replicaDigest(t, dbPath)

	c := cur[ev.event]
	ticket := func(seq int64, id string) wire.Change {
		return wire.Change{Seq: seq, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: id, Type: "VIP"}}
	}
	// signed seals b (its checksums right) and signs its binary frame.
	signed := func(b wire.Batch) frame {
		b.Running = wire.RunningChecksum(0, b.Changes)
		b.Seal()
		return frame{websocket.BinaryMessage, wire.SignBatchFrame(rkey, wire.MarshalBatch(&b))}
	}
	text := func(s string) frame { return frame{websocket.TextMessage, []byte(s)} }
	good := signed(wire.Batch{Event: ev.event, From: c, To: c + 1, Changes: []wire.Change{ticket(c+1, "EVIL0")}})
	frames := []frame{
		// truncated in the middle of a batch
		text(fmt.Sprintf(`{"type":"batch","batch":{"event":"gala","from":%d,"to":%d,"changes":[`, c, c+1)),
		// not JSON at all
		text("\x00\xff\xfe garbage"),
		// a signed batch cut short
		{websocket.BinaryMessage, good.data[:len(good.data)-3]},
		// a good change followed by a bad key: nothing of the batch lands
		signed(wire.Batch{Event: ev.event, From: c, To: c + 2, Changes: []wire.Change{ticket(c+1, "EVIL1"),
			{Seq: c + 2, Kind: wire.KindKey, Key: &wire.Key{ID: "k9", Public: []byte{0, 1, 2}}}}}),
		// a gap after the replica's cursor
		signed(wire.Batch{Event: ev.event, From: c + 50, To: c + 51, Changes: []wire.Change{ticket(c+51, "EVIL2")}}),
		// a kind that does not match its body
		signed(wire.Batch{Event: ev.event, From: c, To: c + 1, Changes: []wire.Change{{Seq: c + 1, Kind: wire.KindRevoke, Ticket: &wire.Ticket{ID: "EVIL3", Type: "VIP"}}}}),
		// changes out of order
		signed(wire.Batch{Event: ev.event, From: c, To: c + 2, Changes: []wire.Change{ticket(c+2, "EVIL4"), ticket(c+1, "EVIL5")}}),
		// a well-formed batch as JSON: protocol 5 takes signed frames only
		text(fmt.Sprintf(`{"type":"batch","batch":{"event":"gala","from":%d,"to":%d,"changes":[{"seq":%d,"kind":"ticket","ticket":{"id":"EVIL6","type":"VIP"}}]}}`, c, c+1, c+1)),
		// a message type nobody knows
		text(`{"type":"wipe","wipe":{}}`),
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
		ch := &wire.Message{Type: wire.TypeChallenge, Challenge: &wire.Challenge{Nonce: make([]byte, 32), ReplicaKey: rpub}}
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
		ws.WriteMessage(frames[i].kind, frames[i].data)
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
	cfg.Insecure = true // a plain test server; the signatures are what is checked
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
	cfg.FleetURL, cfg.Insecure = "", false
	g = startGate(t, cfg)
	if d := g.present(t, ev.tickets[0].Code); !d.Admitted {
		t.Fatalf("gate after corrupt updates: %+v", d)
	}
	if d := g.present(t, "AD1:EVIL1"); d.Admitted {
		t.Fatalf("injected ticket admitted: %+v", d)
	}
}

// frame is one WebSocket message a test fleet sends.
type frame struct {
	kind int // websocket.TextMessage or BinaryMessage
	data []byte
}
