package venue

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"periph.io/x/conn/v3/gpio"

	"admit/agent"
	"admit/fleet"
	"admit/fleet/wire"
	"admit/hal"
	"admit/internal/testwait"
)

type gateDecision struct {
	gate int
	d    agent.Decision
}

// TestEndToEnd: a ticket issued by the fleet opens gate A, is refused at
// gate B as already used, a forged ticket is refused at both, and the fleet
// has recorded all four scans.
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	decisions := make(chan gateDecision, 16)
	// The venue's log is shown only when the test fails, to tell why.
	var logs syncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("venue log:\n%s", logs.String())
		}
	})
	v, err := Start(ctx, Config{
		Addr: "127.0.0.1:0", DataDir: t.TempDir(), Gates: 2, Tickets: 3,
		Log:        slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		OnDecision: func(gate int, d agent.Decision) { decisions <- gateDecision{gate, d} },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(ctx)
	tk := v.Tickets[0]

	for _, g := range v.Gates {
		testwait.For(t, g.Name+" to replicate the allowlist", func() bool {
			_, err := g.Agent.DB().Ticket(ctx, tk.Event, tk.ID)
			return err == nil
		})
	}
	// The gates are enrolled devices with their own keys: the fleet takes
	// no unsigned agent.
	for _, id := range []string{"turnstile-a", "turnstile-b"} {
		d, err := v.Fleet.Store.Device(ctx, id)
		if err != nil || len(d.PublicKey) != 32 || !v.Fleet.Hub.ConnectedDevice(id) {
			t.Fatalf("gate device %s: %+v %v, connected %v", id, d, err, v.Fleet.Hub.ConnectedDevice(id))
		}
	}
	next := func(gate int) agent.Decision {
		t.Helper()
		select {
		case gd := <-decisions:
			if gd.gate != gate {
				t.Fatalf("decision from gate %d, want %d: %+v", gd.gate, gate, gd.d)
			}
			return gd.d
		case <-time.After(20 * time.Second):
			t.Fatalf("no decision at gate %d", gate)
		}
		panic("unreachable")
	}

	// 1. Gate A admits the ticket: relay pulsed (active low), LED green.
	if err := v.Show(0, tk.Code); err != nil {
		t.Fatal(err)
	}
	d := next(0)
	if !d.Admitted || d.TicketID != tk.ID {
		t.Fatalf("gate A: %+v, want admitted", d)
	}
	a := v.Gates[0]
	if a.Relay.Pulses() != 1 || a.Indicator.Color() != hal.Green {
		t.Fatalf("gate A actuation: pulses=%d color=%v", a.Relay.Pulses(), a.Indicator.Color())
	}
	if a.RelayPin.Read() != gpio.Low {
		t.Fatalf("gate A relay pin %v during the pulse, want Low (active low)", a.RelayPin.Read())
	}

	// 2. The fleet fans the used mark out; gate B refuses the same ticket.
	b := v.Gates[1]
	testwait.For(t, "gate B to learn the used mark", func() bool {
		uses, _ := b.Agent.DB().Uses(ctx, tk.Event, tk.ID)
		return len(uses) == 1
	})
	if err := v.Show(1, tk.Code); err != nil {
		t.Fatal(err)
	}
	d = next(1)
	if d.Admitted || d.Reason != agent.ReasonAlreadyUsed || !strings.Contains(d.Sentence, "Gate A") {
		t.Fatalf("gate B: %+v, want refused as already used at Gate A", d)
	}
	if b.Relay.Pulses() != 0 || b.Indicator.Color() != hal.Red {
		t.Fatalf("gate B actuation: pulses=%d color=%v", b.Relay.Pulses(), b.Indicator.Color())
	}

	// 3. A forged ticket is refused at both gates.
	forged, err := v.Forge()
	if err != nil {
		t.Fatal(err)
	}
	for gate := range 2 {
		if err := v.Show(gate, forged); err != nil {
			t.Fatal(err)
		}
		d := next(gate)
		if d.Admitted || d.Reason != "bad_signature" {
			t.Fatalf("gate %d, forged ticket: %+v", gate, d)
		}
	}
	if a.Relay.Pulses() != 1 || b.Relay.Pulses() != 0 {
		t.Fatalf("relays pulsed for refused tickets: A=%d B=%d", a.Relay.Pulses(), b.Relay.Pulses())
	}

	// 4. The fleet has recorded all four scans with their outcomes.
	var scans []fleet.ScanRecord
	testwait.For(t, "the fleet to record 4 scans", func() bool {
		scans, err = v.Fleet.Service.Store.RecentScans(ctx, 10)
		return err == nil && len(scans) >= 4
	})
	if len(scans) != 4 {
		t.Fatalf("fleet recorded %d scans, want 4", len(scans))
	}
	checkScans(t, scans)
	// Every acknowledged scan left the gates' journals.
	for _, g := range v.Gates {
		testwait.For(t, g.Name+" journal to drain", func() bool {
			n, err := g.Agent.DB().Backlog(ctx)
			return err == nil && n == 0
		})
	}

	// 5. NFC through the PN532 driver and emulator: an NTAG sticker and a
	// phone with the wallet app each carry a fresh ticket; the used NTAG
	// ticket is then refused when tapped again as a phone at gate B.
	v.Tap(0, v.Tickets[1].Code, false)
	if d := next(0); !d.Admitted || d.TicketID != v.Tickets[1].ID || d.Source != "nfc0" {
		t.Fatalf("NTAG tap at gate A: %+v", d)
	}
	v.Tap(1, v.Tickets[2].Code, true)
	if d := next(1); !d.Admitted || d.TicketID != v.Tickets[2].ID {
		t.Fatalf("phone tap at gate B: %+v", d)
	}
	testwait.For(t, "gate B to learn the NTAG admission", func() bool {
		uses, _ := b.Agent.DB().Uses(ctx, tk.Event, v.Tickets[1].ID)
		return len(uses) == 1
	})
	v.Tap(1, v.Tickets[1].Code, true)
	if d := next(1); d.Admitted || d.Reason != agent.ReasonAlreadyUsed {
		t.Fatalf("used ticket tapped at gate B: %+v", d)
	}
}

func checkScans(t *testing.T, scans []fleet.ScanRecord) {
	t.Helper()
	got := map[string]int{}
	for _, s := range scans {
		got[s.Gate+"/"+s.Outcome+"/"+s.Reason]++
	}
	want := map[string]int{
		"Gate A/" + wire.Admitted + "/":             1,
		"Gate B/" + wire.Refused + "/already_used":  1,
		"Gate A/" + wire.Refused + "/bad_signature": 1,
		"Gate B/" + wire.Refused + "/bad_signature": 1,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("fleet scans %v, want %v", got, want)
			break
		}
	}
}

// syncBuffer is a bytes.Buffer several goroutines may write to.
type syncBuffer struct {
	mu sync.Mutex // guards b
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
