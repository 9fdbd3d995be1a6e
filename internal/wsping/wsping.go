// Package wsping keeps a WebSocket's read deadline tied to proof that the
// other side is alive: a ping every so often, and a read deadline that
// every frame received (data, ping or pong) moves forward. A peer that
// died without closing — a pulled cable, a frozen process, a NAT that
// forgot the flow — is detected within Wait, on both sides, whatever
// either has to say. The agent stream (both the fleet's and the gate's
// end) and the peer links between gates use it.
//
// It follows the wall clock, not an injected clock.Clock: the deadlines
// it moves are the operating system's (clock.Deadline), so the pings that
// keep them alive must be timed the same way.
package wsping

import (
	"context"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"admit/clock"
)

// Keeper keeps one connection's read deadline alive. Its pinger runs until
// Stop.
type Keeper struct {
	ws   *websocket.Conn
	wait time.Duration
	stop context.CancelFunc
	done chan struct{}
	once sync.Once
}

// Start arms ws's read deadline Wait from now, renews it on every ping and
// pong received (answering pings as gorilla/websocket does by default),
// and pings every every until Stop or ctx ends. The caller renews it after
// every data frame it reads (Alive). A ping that cannot be written (the
// peer stopped reading) ends the pinger; the read deadline then closes the
// connection's reads.
func Start(ctx context.Context, ws *websocket.Conn, every, wait time.Duration) *Keeper {
	ctx, cancel := context.WithCancel(ctx)
	k := &Keeper{ws: ws, wait: wait, stop: cancel, done: make(chan struct{})}
	k.Alive()
	ws.SetPongHandler(func(string) error { k.Alive(); return nil })
	ws.SetPingHandler(func(data string) error {
		k.Alive()
		err := ws.WriteControl(websocket.PongMessage, []byte(data), clock.Deadline(every))
		if err == websocket.ErrCloseSent {
			return nil
		}
		return err
	})
	go func() {
		defer close(k.done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-clock.Real{}.After(every):
			}
			if err := ws.WriteControl(websocket.PingMessage, nil, clock.Deadline(every)); err != nil {
				return
			}
		}
	}()
	return k
}

// Alive renews the read deadline: the peer just showed it is alive.
func (k *Keeper) Alive() { k.ws.SetReadDeadline(clock.Deadline(k.wait)) }

// Stop stops the pinger and waits for it.
func (k *Keeper) Stop() {
	k.once.Do(k.stop)
	<-k.done
}
