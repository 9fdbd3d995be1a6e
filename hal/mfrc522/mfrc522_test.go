package mfrc522

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"admit/clock"
	"admit/hal"
)

// script answers ReadUID from a list, then cancels the test's context.
type script struct {
	answers []any // []byte or error
	slices  []time.Duration
	cancel  context.CancelFunc
}

func (s *script) ReadUID(timeout time.Duration) ([]byte, error) {
	s.slices = append(s.slices, timeout)
	if len(s.answers) == 0 {
		s.cancel()
		return nil, errors.New("mfrc522: timeout")
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	if err, ok := a.(error); ok {
		return nil, err
	}
	return a.([]byte), nil
}

func TestReaderUIDs(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	uid := []byte{0xDE, 0xAD, 0xBE, 0xEF}
	s := &script{answers: []any{errors.New("timeout"), errors.New("timeout"), uid}, cancel: cancel}
	clk := clock.NewFake(time.Unix(5, 0))
	r := NewReader(s, &Opts{Slice: 50 * time.Millisecond, Clock: clk, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	c, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(c.Payload, uid) || c.Kind != "uid" || c.Assurance != hal.AssuranceLow || c.Source != "nfc1" || !c.At.Equal(time.Unix(5, 0)) {
		t.Fatalf("credential %+v", c)
	}
	if len(s.slices) != 3 || s.slices[0] != 50*time.Millisecond {
		t.Fatalf("slices %v", s.slices)
	}
	// Nothing more: the script cancels, Read returns ctx's error.
	if _, err := r.Read(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("after cancel: %v", err)
	}
	if _, _, err := Open(nil, nil, nil, nil); err == nil {
		t.Fatal("Open without a port")
	}
}
