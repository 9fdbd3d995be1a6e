package decode

import (
	"context"
	"errors"

	"gocv.io/x/gocv"
)

// Reader is the frame loop of one camera: it reads frames from a Source
// and decodes them with a Pipeline until one holds a symbol. It owns its
// frame buffer and its Pipeline (the first pass inline on every frame, the
// deep passes on Options.Workers goroutines), reused from frame to frame.
// A Reader is not safe for concurrent use; give each camera its own.
type Reader struct {
	src   Source
	pipe  *Pipeline
	frame gocv.Mat
}

// NewReader returns a reader of the symbols src shows, decoded as opts
// says; it starts the pipeline's workers, which Close stops. src stays
// the caller's: Close does not close it.
func NewReader(src Source, opts Options) *Reader {
	return &Reader{src: src, pipe: NewPipeline(opts), frame: gocv.NewMat()}
}

// Read returns the next symbol the camera sees. It skips frames without
// one, and returns ctx.Err() once ctx ends, an error wrapping
// ErrEndOfStream once the source has no more frames (a video file or an
// image folder read to the end, a closed virtual camera), or the error of a
// frame that could not be read or decoded. Every frame with a symbol is
// returned: a code held in front of the camera is read again and again
// (the caller decides what one presentation is). A symbol the deep workers
// read from an earlier frame is returned as soon as they read it, without
// waiting for the camera's next frame.
func (r *Reader) Read(ctx context.Context) (Symbol, error) {
	for {
		if sym, ok := r.pipe.Poll(); ok {
			return sym, nil
		}
		err := r.readFrame(ctx)
		if err != nil && ctx.Err() == nil && errors.Is(err, context.Canceled) {
			continue // a worker read a symbol while we waited
		}
		if err != nil {
			return Symbol{}, err
		}
		sym, err := r.pipe.Decode(ctx, r.frame)
		if errors.Is(err, ErrNoSymbol) {
			continue
		}
		if err != nil {
			return Symbol{}, err
		}
		return sym, nil
	}
}

// readFrame reads the next frame, giving up when a worker reads a symbol
// meanwhile (the error is then context.Canceled with ctx still live).
func (r *Reader) readFrame(ctx context.Context) error {
	wait, cancel := context.WithCancel(ctx)
	defer cancel()
	r.pipe.onFound(cancel)
	defer r.pipe.onFound(nil)
	return r.src.Read(wait, &r.frame)
}

// Stats returns what the reader's pipeline has done so far.
func (r *Reader) Stats() PipelineStats { return r.pipe.Stats() }

// Close stops the pipeline's workers and releases the frame buffer and
// the decoders. Call it after the last Read has returned; the source is
// not closed.
func (r *Reader) Close() error {
	err := r.pipe.Close()
	r.frame.Close()
	return err
}
