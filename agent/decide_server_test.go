package agent_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"admit/fleet"
	"admit/fleet/replicate"
	"admit/fleet/wire"
	"admit/ticket/entry"
)

// newDecideServer serves the fleet's online-decision handler the way a
// fleet node mounts it, over a memClaimer.
func newDecideServer(t testing.TB) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle(wire.DecidePath, replicate.DecideHandler(&memClaimer{}, quiet))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

// memClaimer is a replicate.Claimer that keeps passages and revocations in
// memory and rules like a fleet node, through fleet.Rule (entry policy,
// revocation, retries), without a store.
type memClaimer struct {
	mu       sync.Mutex // guards the fields below
	passages map[[2]string][]entry.Passage
	revoked  map[[2]string]bool
}

// Revoke makes later claims of a ticket fail as revoked.
func (m *memClaimer) Revoke(event, ticketID string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.revoked == nil {
		m.revoked = map[[2]string]bool{}
	}
	m.revoked[[2]string{event, ticketID}] = true
}

// Claim rules on r and, when it admits, records the passage once (a
// retried request adds nothing, as the store's insert does not).
func (m *memClaimer) Claim(_ context.Context, r wire.DecideRequest) (wire.DecideResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{r.Event, r.TicketID}
	resp := fleet.Rule(r, fleet.ClaimState{Revoked: m.revoked[k], Passages: m.passages[k]}, time.UTC)
	if !resp.Admit {
		return resp, nil
	}
	p := fleet.RequestedPassage(r)
	if !slices.ContainsFunc(m.passages[k], p.Same) {
		if m.passages == nil {
			m.passages = map[[2]string][]entry.Passage{}
		}
		m.passages[k] = append(m.passages[k], p)
	}
	return resp, nil
}

// TestMemClaimerRetry: a request repeated by the same device for the same
// moment (a retry after a lost answer) gets the same answer, as from the
// fleet's store.
func TestMemClaimerRetry(t *testing.T) {
	ctx := context.Background()
	m := &memClaimer{}
	r := wire.DecideRequest{Device: "g1", Gate: "Gate 1", Event: "gala", TicketID: "T", Direction: wire.DirIn, Policy: "single",
		At: time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)}
	for i := range 2 {
		resp, err := m.Claim(ctx, r)
		if err != nil || !resp.Admit {
			t.Fatalf("claim %d: %+v %v", i+1, resp, err)
		}
	}
	r.Device, r.Gate = "g2", "Gate 2"
	if resp, _ := m.Claim(ctx, r); resp.Admit || resp.Reason != "already_used" {
		t.Fatalf("another gate: %+v", resp)
	}
}

// TestMemClaimerTimeOrder: claims that arrive out of time order are ruled
// by their times, not by their arrival (as the fleet's store rules).
func TestMemClaimerTimeOrder(t *testing.T) {
	ctx := context.Background()
	m := &memClaimer{}
	t0 := time.Date(2026, 6, 1, 19, 0, 0, 0, time.UTC)
	claim := func(dev, dir string, min int) wire.DecideResponse {
		t.Helper()
		resp, err := m.Claim(ctx, wire.DecideRequest{Device: dev, Gate: "Gate " + dev, Event: "gala", TicketID: "R", Direction: dir, Policy: "reentry",
			At: t0.Add(time.Duration(min) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if !claim("a", wire.DirIn, 0).Admit || !claim("b", wire.DirOut, 30).Admit {
		t.Fatal("first entry or exit refused")
	}
	// An entry stamped before the exit arrives late: the latest passage
	// is still the exit at 19:30, so it is admitted, and so is the next.
	if resp := claim("c", wire.DirIn, 10); !resp.Admit {
		t.Fatalf("entry at 19:10, latest passage the exit at 19:30: %+v", resp)
	}
	if resp := claim("d", wire.DirIn, 40); !resp.Admit {
		t.Fatalf("re-entry at 19:40, latest passage the exit at 19:30: %+v", resp)
	}
	if resp := claim("e", wire.DirIn, 50); resp.Admit || resp.Reason != "no_exit" {
		t.Fatalf("entry at 19:50, inside since 19:40: %+v", resp)
	}
}

// TestMemClaimerRevoked: a revoked ticket is refused, whatever its policy
// and passages.
func TestMemClaimerRevoked(t *testing.T) {
	ctx := context.Background()
	m := &memClaimer{}
	m.Revoke("gala", "T")
	resp, err := m.Claim(ctx, wire.DecideRequest{Device: "g1", Gate: "Gate 1", Event: "gala", TicketID: "T", Direction: wire.DirIn, Policy: "multi",
		At: time.Date(2026, 6, 1, 19, 4, 0, 0, time.UTC)})
	if err != nil || resp.Admit || resp.Reason != "revoked" {
		t.Fatalf("revoked ticket: %+v %v", resp, err)
	}
}
