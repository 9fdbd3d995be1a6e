package decode

import (
	"context"
	"errors"

	"gocv.io/x/gocv"
)

// Reader is the frame loop of one camera: it reads frames from a Source
// and decodes them until one holds a symbol. It owns its frame buffer and
// its Decoder, reused from frame to frame, so a camera costs no allocation
// per frame. A Reader is not safe for concurrent use; give each camera its
// own.
type Reader struct {
	src   Source
	dec   *Decoder
	frame gocv.Mat
}

// NewReader returns a reader of the symbols src shows, decoded as opts
// says. src stays the caller's: Close does not close it.
func NewReader(src Source, opts Options) *Reader {
	return &Reader{src: src, dec: NewDecoder(opts), frame: gocv.NewMat()}
}

// Read returns the next symbol the camera sees. It skips frames without
// one, and returns ctx.Err() once ctx ends, an error wrapping
// ErrEndOfStream once the source has no more frames (a video file or an
// image folder read to the end, a closed virtual camera), or the error of a
// frame that could not be read or decoded. Every frame with a symbol is
// returned: a code held in front of the camera is read again and again
// (the caller decides what one presentation is).
func (r *Reader) Read(ctx context.Context) (Symbol, error) {
	for {
		if err := r.src.Read(ctx, &r.frame); err != nil {
			return Symbol{}, err
		}
		sym, err := r.dec.Decode(ctx, r.frame)
		if errors.Is(err, ErrNoSymbol) {
			continue
		}
		if err != nil {
			return Symbol{}, err
		}
		return sym, nil
	}
}

// Close releases the frame buffer and the decoder. Call it after the last
// Read has returned; the source is not closed.
func (r *Reader) Close() error {
	err := r.dec.Close()
	r.frame.Close()
	return err
}
