package replicate

import (
	"context"
	"crypto/ed25519"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"admit/fleet"
	"admit/fleet/wire"
)

// tail caches the recent changes of one event, read from the store once and
// sent to every connection that is caught up.
type tail struct {
	mu        sync.Mutex  // guards the fields below
	base      int64       // seq before changes[0]
	running   []uint64    // running checksum after each change
	issued    []time.Time // latest ticket issue time up to each change (ChangePage.Issued)
	changes   []wire.Change
	dirtyFlag atomic.Bool // the log may have grown since the last read
	inited    bool
	baseRun   uint64
	maxItems  int
	// frames holds batches already encoded, by range and protocol:
	// connections at the same cursor share one encoding (and, on protocol
	// 5, one signature). Cleared when the tail moves.
	frames map[frameKey]*websocket.PreparedMessage
	// live holds, by From and protocol, the encoded batches that end at
	// the tail's end: a caught-up connection woken by new changes finds
	// its frame here with one lookup, without building, sealing, encoding
	// or signing anything. Cleared with frames.
	live map[liveKey]liveFrame
}

// frameKey names an encoded batch: its range, signed (protocol 5) or not.
type frameKey struct {
	from, to int64
	signed   bool
}

// liveKey names a live frame: where it starts, signed or not.
type liveKey struct {
	from   int64
	signed bool
}

// liveFrame is an encoded batch ending at the tail's end.
type liveFrame struct {
	to int64
	pm *websocket.PreparedMessage
}

// liveFrom returns the encoded batch from seq to the tail's end, if one was
// encoded since the tail last grew. A frame returned while the log grows
// again is still a valid batch; the next step sends the rest.
func (t *tail) liveFrom(from int64, signed bool) (*websocket.PreparedMessage, int64) {
	if t.dirtyFlag.Load() {
		return nil, 0 // the slow path reads the new changes first
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	f, ok := t.live[liveKey{from, signed}]
	if !ok {
		return nil, 0
	}
	return f.pm, f.to
}

func (h *Hub) tailOf(event string) *tail {
	h.mu.Lock()
	defer h.mu.Unlock()
	t := h.tails[event]
	if t == nil {
		t = &tail{maxItems: 4 * h.opts.BatchSize}
		t.dirtyFlag.Store(true)
		h.tails[event] = t
	}
	return t
}

// markDirty notes that the log may have grown. It never waits for a
// reader holding t.mu (Wake holds the hub's lock): the flag is atomic.
func (t *tail) markDirty() { t.dirtyFlag.Store(true) }

// changesAfter returns up to limit changes after seq: from the tail when it
// covers seq, else from the store.
func (h *Hub) changesAfter(ctx context.Context, t *tail, event string, after int64, limit int) (fleet.ChangePage, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.inited {
		st, err := h.opts.Store.LogState(ctx, event)
		if err != nil {
			return fleet.ChangePage{}, err
		}
		t.base, t.baseRun, t.inited = st.Last, st.Running, true
	}
	if after < t.base {
		return h.opts.Store.Changes(ctx, event, after, limit)
	}
	if t.dirtyFlag.Swap(false) { // cleared before reading: growth during the read marks it again
		for {
			end, endRun := t.base+int64(len(t.changes)), t.baseRun
			if n := len(t.running); n > 0 {
				endRun = t.running[n-1]
			}
			page, err := h.opts.Store.Changes(ctx, event, end, h.opts.BatchSize)
			if err != nil {
				t.dirtyFlag.Store(true)
				return fleet.ChangePage{}, err
			}
			run := endRun
			var scratch []byte
			for i := range page.Changes {
				run, scratch = page.Changes[i].Running(run, scratch)
				t.running = append(t.running, run)
				var issued time.Time
				if i < len(page.Issued) {
					issued = page.Issued[i]
				}
				t.issued = append(t.issued, issued)
			}
			t.changes = append(t.changes, page.Changes...)
			if len(page.Changes) < h.opts.BatchSize {
				break
			}
		}
		t.frames, t.live = nil, nil
		if drop := len(t.changes) - t.maxItems; drop > 0 {
			t.baseRun = t.running[drop-1]
			t.base += int64(drop)
			t.changes = append([]wire.Change(nil), t.changes[drop:]...)
			t.running = append([]uint64(nil), t.running[drop:]...)
			t.issued = append([]time.Time(nil), t.issued[drop:]...)
		}
		if after < t.base {
			return h.opts.Store.Changes(ctx, event, after, limit)
		}
	}
	i := int(after - t.base)
	if i >= len(t.changes) {
		return fleet.ChangePage{}, nil
	}
	j := min(len(t.changes), i+limit)
	return fleet.ChangePage{Changes: t.changes[i:j], Running: t.running[j-1], Issued: t.issued[i:j]}, nil
}

// batchFrame returns the encoded batch of event from..to, signed with key
// (protocol 5) unless key is nil, encoding (and signing) it once for every
// connection that needs the same batch.
func (h *Hub) batchFrame(t *tail, b *wire.Batch, key ed25519.PrivateKey) (*websocket.PreparedMessage, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fk := frameKey{b.From, b.To, key != nil}
	if pm := t.frames[fk]; pm != nil {
		return pm, nil
	}
	// A binary frame (protocol 4): gates decode it for a fraction of JSON's
	// cost; protocol 5 signs it, once for every gate.
	frame := wire.MarshalBatch(b)
	if key != nil {
		frame = wire.SignBatchFrame(key, frame)
	}
	pm, err := websocket.NewPreparedMessage(websocket.BinaryMessage, frame)
	if err != nil {
		return nil, err
	}
	if t.frames == nil {
		t.frames = map[frameKey]*websocket.PreparedMessage{}
	}
	if len(t.frames) < 64 {
		t.frames[fk] = pm
	}
	if b.To == t.base+int64(len(t.changes)) && !t.dirtyFlag.Load() {
		if t.live == nil {
			t.live = map[liveKey]liveFrame{}
		}
		t.live[liveKey{b.From, key != nil}] = liveFrame{to: b.To, pm: pm}
	}
	return pm, nil
}
