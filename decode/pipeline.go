package decode

import (
	"context"
	"image"
	"slices"
	"sync"
	"time"

	"gocv.io/x/gocv"

	"admit/clock"
)

// Pipeline decodes the frames of one camera on a board with cores to
// spare. Every frame gets the first pass inline (Decode costs one first
// pass, whatever the deep passes do). A frame the first pass does not read
// but that shows a candidate (finder patterns, a barcode-like region:
// candidate.go) becomes the deep workers' frame, replacing the one before:
// the workers run the optional passes (scaling, perspective warp, locator
// crop, inversion, binarizer variants, …) on the most recent such frame,
// one pass per worker at a time, in the order of optionalPasses, each pass
// once per frame. There is no queue of frames: a worker that finishes a
// pass takes the next pass on the newest candidate frame, and a frame no
// worker needs any more goes back to a small pool. A symbol a worker reads
// is returned by the next Decode or Poll.
//
// The rotation of passes carries on from frame to frame while the scene
// shows candidates (a code held up for several frames gets every pass
// within a few frames), starts again from the first pass when a candidate
// follows a frame without one (a new presentation gets the passes that
// recover most first), and after a read starts the next frame with the
// pass that read (the code is likely still there).
//
// With Options.Workers negative there are no workers, and Decode runs the
// optional passes inline under Budget and Share, as a Decoder does.
//
// A Pipeline's methods are for one goroutine (the camera's frame loop);
// its workers are its own, started by NewPipeline and stopped by Close.
type Pipeline struct {
	inline  *Decoder
	now     func() time.Time
	workers int
	n       int // optional passes

	mu      sync.Mutex // guards the fields below
	wake    sync.Cond  // on mu: workers wait for work, Close wakes them
	closed  bool
	latest  *frameBuf   // the frame the workers work on; nil when none
	free    []*frameBuf // recycled frame buffers
	turn    int         // the optional pass whose turn is next
	gap     bool        // the last frame showed no candidate
	gen     int         // bumped by Forget: older frames' reads are dropped
	running int         // passes being run
	found   []Symbol    // read by workers, not yet returned
	changed chan struct{}
	notify  func() // called once when a worker reads a symbol, then cleared
	stats   PipelineStats

	wg sync.WaitGroup
}

// PipelineStats counts what a Pipeline did.
type PipelineStats struct {
	Frames     int           // frames decoded
	Candidates int           // frames handed to the workers
	DeepPasses int           // optional passes the workers ran
	DeepTime   time.Duration // their summed run time (Options.Now)
	DeepReads  int           // symbols the workers read
}

// frameBuf is one gray frame the workers work on.
type frameBuf struct {
	gray    gocv.Mat
	regions []image.Rectangle
	gen     int
	refs    int  // passes running on it, plus one while it is the latest
	started int  // passes started on it
	read    bool // a worker read a symbol from it
}

// maxFound bounds the symbols kept for Decode and Poll to return; older
// ones are dropped (the code they show is still in front of the camera,
// or it is gone).
const maxFound = 4

// NewPipeline returns a pipeline for the formats in opts and starts its
// workers. Close stops them.
func NewPipeline(opts Options) *Pipeline { return newPipeline(opts, optionalPasses) }

// newPipeline is NewPipeline with the workers running passes (tests give
// their own).
func newPipeline(opts Options, passes []pass) *Pipeline {
	workers := opts.Workers
	if workers == 0 {
		workers = DefaultWorkers()
	}
	workers = max(workers, 0)
	p := &Pipeline{
		inline:  NewDecoder(opts),
		now:     opts.Now,
		workers: workers,
		n:       len(passes),
		changed: make(chan struct{}),
		gap:     true,
	}
	if p.now == nil {
		p.now = clock.Real{}.Now
	}
	p.wake.L = &p.mu
	for range workers {
		dec := NewDecoder(opts)
		dec.passes = slices.Clone(passes)
		p.wg.Add(1)
		go p.work(dec)
	}
	return p
}

// Decode runs the first pass on frame (BGR or gray) and returns what it
// reads; failing that, a symbol a worker has read since the last call;
// failing that, ErrNoSymbol. A frame with a candidate that the first pass
// does not read goes to the workers.
func (p *Pipeline) Decode(ctx context.Context, frame gocv.Mat) (Symbol, error) {
	if p.workers == 0 {
		sym, err := p.inline.Decode(ctx, frame)
		p.mu.Lock()
		p.stats.Frames++
		p.mu.Unlock()
		return sym, err
	}
	if err := ctx.Err(); err != nil {
		return Symbol{}, err
	}
	p.mu.Lock()
	p.stats.Frames++
	p.mu.Unlock()
	if frame.Empty() {
		return p.poll()
	}
	gray := p.inline.toGray(frame)
	src, err := luminance(gray)
	if err != nil {
		return Symbol{}, err
	}
	if sym, ok := p.inline.firstPass(gray, src); ok {
		return sym, nil
	}
	if len(p.inline.regions) == 0 {
		p.mu.Lock()
		p.gap = true
		p.mu.Unlock()
		return p.poll()
	}
	p.handOff(gray, p.inline.regions)
	return p.poll()
}

// Poll returns a symbol a worker has read and Decode has not returned.
func (p *Pipeline) Poll() (Symbol, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.popLocked()
}

func (p *Pipeline) poll() (Symbol, error) {
	if sym, ok := p.Poll(); ok {
		return sym, nil
	}
	return Symbol{}, ErrNoSymbol
}

func (p *Pipeline) popLocked() (Symbol, bool) {
	if len(p.found) == 0 {
		return Symbol{}, false
	}
	sym := p.found[0]
	p.found = p.found[1:]
	return sym, true
}

// handOff makes a copy of gray the workers' frame.
func (p *Pipeline) handOff(gray gocv.Mat, regions []image.Rectangle) {
	p.mu.Lock()
	var f *frameBuf
	if n := len(p.free); n > 0 {
		f = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		f = &frameBuf{gray: gocv.NewMat()}
	}
	p.mu.Unlock()
	gray.CopyTo(&f.gray) // outside the lock: workers carry on meanwhile
	f.regions = append(f.regions[:0], regions...)
	f.started, f.read = 0, false

	p.mu.Lock()
	defer p.mu.Unlock()
	f.gen, f.refs = p.gen, 1
	if old := p.latest; old != nil {
		p.releaseLocked(old)
	}
	p.latest = f
	if p.gap {
		p.turn = 0 // a new presentation: the passes that recover most first
	}
	p.gap = false
	p.stats.Candidates++
	p.wake.Broadcast()
}

// releaseLocked drops one reference to f; the last returns it to the pool.
func (p *Pipeline) releaseLocked(f *frameBuf) {
	f.refs--
	if f.refs == 0 {
		p.free = append(p.free, f)
	}
}

// work is one worker: it runs optional passes on the latest frame until
// the pipeline closes.
func (p *Pipeline) work(dec *Decoder) {
	defer p.wg.Done()
	defer dec.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	for !p.closed {
		f := p.latest
		if f == nil || f.read || f.started >= p.n {
			p.wake.Wait()
			continue
		}
		i := p.turn
		p.turn = (p.turn + 1) % p.n
		f.started++
		f.refs++
		p.running++
		p.mu.Unlock()

		t0 := p.now()
		sym, ok := dec.deepPass(i, f.gray, f.regions)
		el := p.now().Sub(t0)

		p.mu.Lock()
		p.running--
		p.stats.DeepPasses++
		p.stats.DeepTime += el
		if ok && !f.read && f.gen == p.gen {
			f.read = true
			p.turn = i // the next frame starts with the pass that read this one
			p.stats.DeepReads++
			if len(p.found) == maxFound {
				p.found = p.found[1:]
			}
			p.found = append(p.found, sym)
			if p.notify != nil {
				p.notify()
				p.notify = nil
			}
		}
		p.releaseLocked(f)
		close(p.changed)
		p.changed = make(chan struct{})
	}
}

// onFound arranges for f to be called once when a worker reads a symbol
// (at once if one is waiting); nil cancels it. A Reader uses it to stop
// waiting for the camera's next frame.
func (p *Pipeline) onFound(f func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f != nil && len(p.found) > 0 {
		f()
		f = nil
	}
	p.notify = f
}

// idleLocked reports whether the workers have nothing to do until the
// next candidate frame.
func (p *Pipeline) idleLocked() bool {
	f := p.latest
	return p.running == 0 && (f == nil || f.read || f.started >= p.n)
}

// Settle waits until the workers have run every pass on the latest frame
// (or read it), or ctx ends. It is for evaluation and tests, which show a
// frame and want to know what the workers make of it before the next.
func (p *Pipeline) Settle(ctx context.Context) error {
	for {
		p.mu.Lock()
		idle, ch := p.idleLocked(), p.changed
		p.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Forget drops the workers' frame and the symbols not yet returned, and
// waits (until ctx ends) for the passes still running to finish; what they
// read is dropped too. Call it when the scene is known to have changed (an
// evaluation moving to the next image).
func (p *Pipeline) Forget(ctx context.Context) error {
	p.mu.Lock()
	p.gen++
	if p.latest != nil {
		p.releaseLocked(p.latest)
		p.latest = nil
	}
	p.found = nil
	p.gap = true
	p.mu.Unlock()
	return p.Settle(ctx)
}

// Stats returns what the pipeline has done so far.
func (p *Pipeline) Stats() PipelineStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close stops the workers, waits for them, and releases the buffers.
func (p *Pipeline) Close() error {
	p.mu.Lock()
	p.closed = true
	p.wake.Broadcast()
	p.mu.Unlock()
	p.wg.Wait()
	if p.latest != nil {
		p.releaseLocked(p.latest)
		p.latest = nil
	}
	for _, f := range p.free {
		f.gray.Close()
	}
	p.free = nil
	return p.inline.Close()
}
