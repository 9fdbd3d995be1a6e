package qrenroll_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"admit/agent/qrenroll"
	"admit/fleet/wire"
	"admit/hal"
)

// script yields its codes, then ends (io.EOF).
type script struct {
	mu    sync.Mutex
	codes []string
}

func (s *script) Read(ctx context.Context) (hal.Credential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.codes) == 0 {
		return hal.Credential{}, io.EOF
	}
	c := s.codes[0]
	s.codes = s.codes[1:]
	return hal.Credential{Source: "camera0", Payload: []byte(c)}, nil
}

// idle never yields.
type idle struct{}

func (idle) Read(ctx context.Context) (hal.Credential, error) {
	<-ctx.Done()
	return hal.Credential{}, ctx.Err()
}

type panel struct {
	mu     sync.Mutex
	colors []hal.Color
	lines  []string
}

func (p *panel) Set(c hal.Color) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.colors = append(p.colors, c)
	return nil
}

func (p *panel) Show(lines ...string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, strings.Join(lines, " / "))
	return nil
}

func code(token string) string {
	return wire.EnrollURI{Fleet: "https://fleet.example:8443", Token: token}.String()
}

// A ticket shown to an unenrolled gate is refused on the display; a code
// the fleet refuses is shown as failed and not tried again; the next
// code enrolls.
func TestWaitEnrollsFromTheFirstGoodCode(t *testing.T) {
	spent, good := code("spent"), code("good")
	r := &script{codes: []string{"AD1:SOME-TICKET", spent, spent, good, code("after")}}
	p := &panel{}
	var tried []string
	var status []string
	got, dev, err := qrenroll.Wait(context.Background(), qrenroll.Config{
		Readers: []hal.CredentialReader{r, idle{}}, Display: p, Indicator: p,
		Status: func(s string) { status = append(status, s) },
		Enroll: func(ctx context.Context, c string) (string, error) {
			tried = append(tried, c)
			if c == spent {
				return "", errors.New("fleet answered 403 Forbidden: token spent")
			}
			return "gate-1", nil
		},
	})
	if err != nil || got != good || dev != "gate-1" {
		t.Fatalf("Wait: %q %q %v", got, dev, err)
	}
	if !slices.Equal(tried, []string{spent, good}) {
		t.Errorf("tried %q", tried)
	}
	want := []string{
		"Not enrolled / Show enrollment QR",
		"Not enrolled / Not an enrollment QR",
		"Enrolling... / fleet.example:8443",
		"Enrollment failed / Show a new QR",
		"Enrolling... / fleet.example:8443",
		"Enrolled / gate-1",
	}
	if !slices.Equal(p.lines, want) {
		t.Errorf("display\n%q\nwant\n%q", p.lines, want)
	}
	if !slices.Equal(p.colors, []hal.Color{hal.Amber, hal.Red, hal.Amber, hal.Red, hal.Amber, hal.Green}) {
		t.Errorf("indicator %v", p.colors)
	}
	if len(status) != 6 || status[5] != "enrolled as gate-1" {
		t.Errorf("status %q", status)
	}
}

func TestWaitEnds(t *testing.T) {
	enroll := func(context.Context, string) (string, error) { return "", errors.New("no") }
	// Every reader ended without a code that enrolled.
	_, _, err := qrenroll.Wait(context.Background(), qrenroll.Config{Readers: []hal.CredentialReader{&script{codes: []string{code("x")}}}, Enroll: enroll})
	if !errors.Is(err, qrenroll.ErrNoReader) {
		t.Fatalf("readers ended: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := qrenroll.Wait(ctx, qrenroll.Config{Readers: []hal.CredentialReader{idle{}}, Enroll: enroll}); !errors.Is(err, context.Canceled) {
		t.Fatalf("ctx ended: %v", err)
	}
}
