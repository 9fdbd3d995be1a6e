// Package camera makes a camera one of the gate's credential readers: the
// frames of a decode.Source, read and decoded by a decode.Reader, yield a
// hal.Credential per symbol read, so the agent takes cameras as it takes
// NFC readers (agent.Config.Readers) and never links OpenCV itself.
//
// Package agent does not import camera; the mains and the simulated venue
// that wire a gate do.
package camera

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"admit/decode"
	"admit/fleet/wire"
	"admit/hal"
)

// Reader is a camera as a hal.CredentialReader. Like the decode.Reader
// under it, it is not safe for concurrent use: one goroutine reads. Its
// formats may change while it runs (SetFormats, ApplyConfig).
type Reader struct {
	name string
	src  decode.Source
	own  decode.Options // as made: what a config without formats goes back to
	r    *decode.Reader

	mu   sync.Mutex      // guards next
	next *decode.Options // formats to switch to at the next Read
}

// New returns the credential reader of the camera src, decoding as opts
// says (opts.Formats: the symbologies this gate's tickets use; empty means
// QR only — each format costs time on every frame without a code). name is
// the Source of its credentials ("camera0"), which journals show and a
// both-ways gate's agent.Config.ReaderSides refers to. src stays the
// caller's: Close does not close it.
func New(name string, src decode.Source, opts decode.Options) *Reader {
	return &Reader{name: name, src: src, own: opts, r: decode.NewReader(src, opts)}
}

// SetFormats makes the camera read formats from its next frame on (nil:
// the formats it was made with): its decoder restarts with them. It
// refuses a format the decoder does not know.
func (c *Reader) SetFormats(formats []decode.Format) error {
	for _, f := range formats {
		if !slices.Contains(decode.AllFormats, f) {
			return fmt.Errorf("camera %s: unknown format %q (the decoder reads %v)", c.name, f, decode.AllFormats)
		}
	}
	opts := c.own
	if formats != nil {
		opts.Formats = slices.Clone(formats)
	}
	c.mu.Lock()
	c.next = &opts
	c.mu.Unlock()
	return nil
}

// ApplyConfig is the camera's part of a fleet config (agent.Config's
// ConfigHook): its formats, or, when the config names none, the ones it
// was made with.
func (c *Reader) ApplyConfig(_ context.Context, cfg wire.GateConfig) error {
	if cfg.Formats == nil {
		return c.SetFormats(nil)
	}
	formats := make([]decode.Format, len(*cfg.Formats))
	for i, f := range *cfg.Formats {
		formats[i] = decode.Format(f)
	}
	return c.SetFormats(formats)
}

// restart switches the decoder to the formats SetFormats asked for.
func (c *Reader) restart() {
	c.mu.Lock()
	next := c.next
	c.next = nil
	c.mu.Unlock()
	if next == nil {
		return
	}
	c.r.Close()
	c.r = decode.NewReader(c.src, *next)
}

// Read returns a credential for the next symbol the camera reads: Kind is
// the symbology ("qr", "pdf417", ...), Payload its text, At left zero for
// the gate to stamp. Every frame with a symbol yields one; the agent
// debounces a code held in front of the lens. At the end of the camera's
// stream it returns an error wrapping io.EOF; once ctx ends, ctx.Err().
func (c *Reader) Read(ctx context.Context) (hal.Credential, error) {
	c.restart()
	sym, err := c.r.Read(ctx)
	if ctx.Err() != nil {
		return hal.Credential{}, ctx.Err()
	}
	if errors.Is(err, decode.ErrEndOfStream) {
		return hal.Credential{}, fmt.Errorf("camera %s: %w (%w)", c.name, io.EOF, err)
	}
	if err != nil {
		return hal.Credential{}, fmt.Errorf("camera %s: %w", c.name, err)
	}
	return hal.Credential{Source: c.name, Kind: string(sym.Format), Payload: []byte(sym.Text)}, nil
}

// Close releases the frame buffer and the decoder. Call it after the last
// Read has returned.
func (c *Reader) Close() error { return c.r.Close() }
