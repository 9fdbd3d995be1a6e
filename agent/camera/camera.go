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

	"admit/decode"
	"admit/hal"
)

// Reader is a camera as a hal.CredentialReader. Like the decode.Reader
// under it, it is not safe for concurrent use: one goroutine reads.
type Reader struct {
	name string
	r    *decode.Reader
}

// New returns the credential reader of the camera src, decoding as opts
// says (opts.Formats: the symbologies this gate's tickets use; empty means
// QR only — each format costs time on every frame without a code). name is
// the Source of its credentials ("camera0"), which journals show and a
// both-ways gate's agent.Config.ReaderSides refers to. src stays the
// caller's: Close does not close it.
func New(name string, src decode.Source, opts decode.Options) *Reader {
	return &Reader{name: name, r: decode.NewReader(src, opts)}
}

// Read returns a credential for the next symbol the camera reads: Kind is
// the symbology ("qr", "pdf417", ...), Payload its text, At left zero for
// the gate to stamp. Every frame with a symbol yields one; the agent
// debounces a code held in front of the lens. At the end of the camera's
// stream it returns an error wrapping io.EOF; once ctx ends, ctx.Err().
func (c *Reader) Read(ctx context.Context) (hal.Credential, error) {
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
