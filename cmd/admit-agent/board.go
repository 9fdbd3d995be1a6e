package main

import (
	"context"
	"fmt"
	"log/slog"

	"periph.io/x/host/v3"

	"admit/agent"
	"admit/hal/board"
	"admit/hal/hwcheck"
	"admit/hal/rig"
)

// runBoard runs the gate on the hardware of a board file.
func (m *Main) runBoard(ctx context.Context, log *slog.Logger) error {
	f, err := board.Load(m.Board)
	if err != nil {
		return err
	}
	if _, err := host.Init(); err != nil {
		return fmt.Errorf("periph host: %w", err)
	}
	env := hwcheck.HostEnv()
	r, err := rig.Open(ctx, f, env, log)
	if err != nil {
		return err
	}
	defer r.Close()
	// One clock for the gate and its devices.
	cfg := agent.Config{Readers: r.Readers, PulseLength: r.Pulse, Log: log, Clock: env.Clock}
	if r.Relay != nil { // keep absent devices nil interfaces
		cfg.Relay = r.Relay
	}
	if r.Indicator != nil {
		cfg.Indicator = r.Indicator
	}
	if r.Buzzer != nil {
		cfg.Buzzer = r.Buzzer
	}
	if r.Passage != nil {
		cfg.Passage = r.Passage
	}
	if r.Display != nil {
		cfg.Display = r.Display
	}
	return m.runAgent(ctx, cfg)
}
