package agent_test

import (
	"context"
	"testing"
	"time"

	"admit/agent"
	"admit/hal"
)

// stuckRelay blocks its first Pulse until released: a wedged actuator.
type stuckRelay struct {
	entered, release chan struct{}
}

func (r *stuckRelay) Pulse(ctx context.Context, d time.Duration) error {
	r.entered <- struct{}{}
	<-r.release
	return nil
}

// chanReader yields the credentials sent on its channel.
type chanReader chan hal.Credential

func (c chanReader) Read(ctx context.Context) (hal.Credential, error) {
	select {
	case cred := <-c:
		return cred, nil
	case <-ctx.Done():
		return hal.Credential{}, ctx.Err()
	}
}

// Alive answers while the decision loop turns, and not while a decision
// is stuck in it: what the systemd watchdog is fed from.
func TestAliveFollowsTheDecisionLoop(t *testing.T) {
	e := newEvent(t, time.Now(), 1, "single")
	relay := &stuckRelay{entered: make(chan struct{}), release: make(chan struct{})}
	reader := make(chanReader, 1)
	g := seededGate(t, e, agent.Config{Relay: relay, Readers: []hal.CredentialReader{reader}})

	probe := func(d time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		return g.Alive(ctx)
	}
	if err := probe(10 * time.Second); err != nil {
		t.Fatalf("idle gate: %v", err)
	}
	reader <- hal.Credential{Source: "nfc0", Payload: []byte(e.tickets[0].Code)}
	<-relay.entered // the admission is stuck in the relay
	if err := probe(100 * time.Millisecond); err == nil {
		t.Fatal("alive while a decision is stuck")
	}
	close(relay.release)
	if err := probe(10 * time.Second); err != nil {
		t.Fatalf("after the decision ended: %v", err)
	}
}
