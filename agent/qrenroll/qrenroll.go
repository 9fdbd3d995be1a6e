// Package qrenroll enrolls a gate that has no identity from an
// enrollment QR shown to its own readers: the text `admitctl
// enroll-token -qr` prints (admit-enroll:?fleet=…&token=…), held up to
// the gate's camera or read by its USB scanner. Wait reads every reader
// until a code parses as an enrollment, enrolls with it, and shows each
// step on the gate's display and indicator; a code that failed is not
// tried again, another one is.
package qrenroll

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"

	"admit/fleet/wire"
	"admit/hal"
)

// Config is what Wait uses of the gate.
type Config struct {
	// Readers are read for the enrollment code: cameras, scanners, NFC
	// readers (a code on a tag works too). Wait stops reading them before
	// it returns, so the gate can take them over.
	Readers []hal.CredentialReader
	// Display and Indicator show the progress; either may be nil.
	Display   hal.Display
	Indicator hal.Indicator
	// Enroll enrolls with code (the QR's text) and returns who the fleet
	// says the gate is. It keeps what it needs (key, pin) itself.
	Enroll func(ctx context.Context, code string) (device string, err error)
	// Status, when set, receives one line per step (the service
	// manager's status line).
	Status func(string)
	Log    *slog.Logger
}

// Prompt is what an unenrolled gate shows.
var Prompt = []string{"Not enrolled", "Show enrollment QR"}

// ErrNoReader: every reader ended before an enrollment code was read.
var ErrNoReader = errors.New("qrenroll: no reader left to read an enrollment code from")

// Wait reads cfg.Readers until an enrollment code enrolls the gate, and
// returns the code and the device id. It returns ctx's error when ctx
// ends first.
func Wait(ctx context.Context, cfg Config) (code, device string, err error) {
	if cfg.Enroll == nil {
		return "", "", errors.New("qrenroll: no Enroll")
	}
	if len(cfg.Readers) == 0 {
		return "", "", ErrNoReader
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	show := func(c hal.Color, status string, lines ...string) {
		if cfg.Indicator != nil {
			if err := cfg.Indicator.Set(c); err != nil {
				log.Warn("qrenroll: indicator", "err", err)
			}
		}
		if cfg.Display != nil {
			if err := cfg.Display.Show(lines...); err != nil {
				log.Warn("qrenroll: display", "err", err)
			}
		}
		if cfg.Status != nil {
			cfg.Status(status)
		}
	}

	readCtx, stop := context.WithCancel(ctx)
	creds := make(chan hal.Credential)
	ended := make(chan struct{}, len(cfg.Readers))
	var wg sync.WaitGroup
	for _, r := range cfg.Readers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readAll(readCtx, r, creds, ended, log)
		}()
	}
	defer func() { stop(); wg.Wait() }()

	show(hal.Amber, "not enrolled: waiting for an enrollment QR", Prompt...)
	log.Info("not enrolled: show the enrollment QR (admitctl enroll-token -qr) to the gate's camera or scanner")
	failed := map[string]bool{}
	left := len(cfg.Readers)
	for {
		var cred hal.Credential
		select {
		case <-ctx.Done():
			return "", "", ctx.Err()
		case <-ended:
			if left--; left == 0 {
				return "", "", ErrNoReader
			}
			continue
		case cred = <-creds:
		}
		text := strings.TrimSpace(string(cred.Payload))
		u, perr := wire.ParseEnrollURI(text)
		if perr != nil {
			show(hal.Red, "not enrolled: a code that is not an enrollment QR was shown", "Not enrolled", "Not an enrollment QR")
			log.Info("not enrolled: a code that is not an enrollment code was shown", "source", cred.Source)
			continue
		}
		if failed[text] {
			continue // the same code again: it failed already
		}
		host := fleetHost(u.Fleet)
		show(hal.Amber, "enrolling with "+host, "Enrolling...", host)
		log.Info("enrolling from a QR code", "source", cred.Source, "fleet", u.Fleet)
		dev, err := cfg.Enroll(ctx, text)
		if err != nil {
			if ctx.Err() != nil {
				return "", "", ctx.Err()
			}
			failed[text] = true
			show(hal.Red, "enrollment failed: "+err.Error(), "Enrollment failed", "Show a new QR")
			log.Error("enrollment from a QR code failed: show a new code", "fleet", u.Fleet, "err", err)
			continue
		}
		show(hal.Green, "enrolled as "+dev, "Enrolled", dev)
		return text, dev, nil
	}
}

// readAll sends what r reads to creds until ctx ends or r's stream ends.
func readAll(ctx context.Context, r hal.CredentialReader, creds chan<- hal.Credential, ended chan<- struct{}, log *slog.Logger) {
	for {
		cred, err := r.Read(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, io.EOF):
			ended <- struct{}{}
			return
		case errors.Is(err, hal.ErrNoCredential):
			continue
		case err != nil:
			log.Warn("qrenroll: reader", "err", err)
			ended <- struct{}{}
			return
		}
		select {
		case creds <- cred:
		case <-ctx.Done():
			return
		}
	}
}

// fleetHost is the host a code names, for the display.
func fleetHost(fleet string) string {
	u, err := url.Parse(fleet)
	if err != nil || u.Host == "" {
		return fleet
	}
	return u.Host
}
