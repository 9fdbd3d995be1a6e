package main

import (
	"context"
	"fmt"
	"log/slog"

	"periph.io/x/host/v3"

	"admit/agent"
	"admit/decode"
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
	r, err := rig.Open(ctx, f, hwcheck.HostEnv(), log)
	if err != nil {
		return err
	}
	defer r.Close()
	cfg := agent.Config{
		Device: m.Device, Gate: m.Gate, Event: m.Event, DataDir: m.DataDir, FleetURL: m.Fleet,
		Readers: r.Readers, PulseLength: r.Pulse, Log: log,
	}
	if r.Relay != nil {
		cfg.Relay = r.Relay
	}
	if r.Indicator != nil {
		cfg.Indicator = r.Indicator
	}
	if m.Camera != "" {
		cam, err := decode.Open(m.Camera, decode.CaptureOpts{Width: 1280, Height: 720, FPS: 30})
		if err != nil {
			return err
		}
		defer cam.Close()
		cfg.Cameras = []decode.Source{cam}
	}
	a, err := agent.Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer a.Close()
	return a.Run(ctx)
}
