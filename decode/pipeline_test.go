package decode

import (
	"context"
	"errors"
	"image"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"gocv.io/x/gocv"
)

// TestPipelineDeepPassReads: a dark-mode code is not read by the first
// pass; the frame shows a candidate, a worker reads it, and Poll returns
// it.
func TestPipelineDeepPassReads(t *testing.T) {
	ctx := context.Background()
	p := NewPipeline(Options{Formats: []Format{QR}, Workers: 2})
	defer p.Close()
	m := grayMat(t, invertGray(qrFrame(t, "AD1:DARK-GATE", 180, 640, 480)))
	defer m.Close()
	if sym, err := p.Decode(ctx, m); !errors.Is(err, ErrNoSymbol) {
		t.Fatalf("first pass read %+v, %v", sym, err)
	}
	if err := p.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	sym, ok := p.Poll()
	if !ok || sym.Text != "AD1:DARK-GATE" {
		t.Fatalf("after the workers: %+v %v", sym, ok)
	}
	if st := p.Stats(); st.Frames != 1 || st.Candidates != 1 || st.DeepReads != 1 || st.DeepPasses == 0 || st.DeepTime <= 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, ok := p.Poll(); ok {
		t.Fatal("the symbol was returned twice")
	}
}

// TestPipelineEmptyFramesCostNoDeepWork: frames without a candidate are
// not handed to the workers.
func TestPipelineEmptyFramesCostNoDeepWork(t *testing.T) {
	ctx := context.Background()
	p := NewPipeline(Options{Formats: []Format{QR, PDF417, Aztec, DataMatrix}, Workers: 3})
	defer p.Close()
	m := grayMat(t, blankish(640, 480))
	defer m.Close()
	for i := 0; i < 10; i++ {
		if _, err := p.Decode(ctx, m); !errors.Is(err, ErrNoSymbol) {
			t.Fatal(err)
		}
	}
	if err := p.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Frames != 10 || st.Candidates != 0 || st.DeepPasses != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// markedFrame is a gray frame with a candidate whose top-left pixel says
// which frame it is.
func markedFrame(t *testing.T, mark uint8) gocv.Mat {
	img := invertGray(qrFrame(t, "AD1:UNREAD", 120, 320, 240))
	img.Pix[0] = mark
	return grayMat(t, img)
}

// TestPipelineLatestFrameOnly: while a worker is busy, newer frames replace
// the one waiting; the worker's next pass runs on the newest, never on one
// in between, and frame buffers are recycled.
func TestPipelineLatestFrameOnly(t *testing.T) {
	ctx := context.Background()
	started := make(chan uint8)
	release := make(chan struct{})
	block := pass{name: "block", run: func(_ *Decoder, gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
		started <- gray.GetUCharAt(0, 0)
		<-release
		return Symbol{}, false
	}}
	// The first pass must not read the frames; the stub passes never do.
	p := newPipeline(Options{Formats: []Format{QR}, Workers: 1}, []pass{block, block, block})
	defer p.Close()
	frames := make([]gocv.Mat, 6)
	for i := range frames {
		frames[i] = markedFrame(t, uint8(10+i))
		defer frames[i].Close()
	}
	decode := func(i int) {
		t.Helper()
		if _, err := p.Decode(ctx, frames[i]); !errors.Is(err, ErrNoSymbol) {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	decode(0)
	if got := <-started; got != 10 {
		t.Fatalf("first pass ran on frame %d", got)
	}
	for i := 1; i < 5; i++ { // the worker is busy: these replace each other
		decode(i)
	}
	release <- struct{}{}
	if got := <-started; got != 14 {
		t.Fatalf("after the busy pass the worker took frame %d, want the newest (14)", got)
	}
	p.mu.Lock()
	bufs := len(p.free)
	p.mu.Unlock()
	// Frames 11–13 were replaced without a pass: back in the pool, not queued.
	if bufs < 1 || bufs > 3 {
		t.Fatalf("%d buffers in the pool", bufs)
	}
	decode(5)
	release <- struct{}{}
	if got := <-started; got != 15 {
		t.Fatalf("worker took frame %d, want 15", got)
	}
	// Each frame gets each pass once: frame 15 has two passes left, then
	// the worker waits for a new frame.
	for range 2 {
		release <- struct{}{}
		if got := <-started; got != 15 {
			t.Fatalf("worker took frame %d, want 15", got)
		}
	}
	release <- struct{}{}
	if err := p.Settle(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.DeepPasses != 5 || st.Candidates != 6 {
		t.Fatalf("stats %+v", st)
	}
}

// TestPipelineCloseStopsWorkers: Close returns once the workers have
// stopped, with a pass running on a frame.
func TestPipelineCloseStopsWorkers(t *testing.T) {
	ran := make(chan struct{}, 16)
	slow := pass{name: "slow", run: func(*Decoder, gocv.Mat, gozxing.LuminanceSource) (Symbol, bool) {
		ran <- struct{}{}
		return Symbol{}, false
	}}
	p := newPipeline(Options{Formats: []Format{QR}, Workers: 3}, []pass{slow, slow, slow, slow})
	m := markedFrame(t, 1)
	defer m.Close()
	if _, err := p.Decode(context.Background(), m); !errors.Is(err, ErrNoSymbol) {
		t.Fatal(err)
	}
	<-ran
	done := make(chan error)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running != 0 || !p.closed {
		t.Fatalf("after Close: running %d", p.running)
	}
}

// TestPipelineForget: what the workers read from a frame before Forget is
// not returned after it.
func TestPipelineForget(t *testing.T) {
	ctx := context.Background()
	p := NewPipeline(Options{Formats: []Format{QR}, Workers: 1})
	defer p.Close()
	m := grayMat(t, invertGray(qrFrame(t, "AD1:OLD-SCENE", 180, 640, 480)))
	defer m.Close()
	if _, err := p.Decode(ctx, m); !errors.Is(err, ErrNoSymbol) {
		t.Fatal(err)
	}
	if err := p.Forget(ctx); err != nil {
		t.Fatal(err)
	}
	if sym, ok := p.Poll(); ok {
		t.Fatalf("after Forget: %+v", sym)
	}
}

// TestReaderReturnsWorkerRead: the virtual camera delivers a dark-mode code
// once and then no frame; the workers' read is returned without a further
// frame.
func TestReaderReturnsWorkerRead(t *testing.T) {
	cam := NewVirtualCamera()
	defer cam.Close()
	r := NewReader(cam, Options{Formats: []Format{QR}, Workers: 2})
	defer r.Close()
	if err := cam.Show(invertGray(qrFrame(t, "AD1:DARK-READER", 180, 640, 480))); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sym, err := r.Read(ctx)
	if err != nil || sym.Text != "AD1:DARK-READER" {
		t.Fatalf("read %+v, %v", sym, err)
	}
	if st := r.Stats(); st.Frames != 1 || st.DeepReads != 1 {
		t.Fatalf("stats %+v", st)
	}
}

var benchFormats = []Format{QR, PDF417, Aztec, Code128, DataMatrix}

// benchPipeline decodes img as every frame of a stream and reports the
// deep workers' time per frame (deep-ms/frame: the passes' run time
// summed over workers, divided by the frames decoded).
func benchPipeline(b *testing.B, img image.Image, workers int) {
	m := grayMat(b, img)
	defer m.Close()
	p := NewPipeline(Options{Formats: benchFormats, Workers: workers})
	defer p.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := p.Decode(ctx, m); err != nil && !errors.Is(err, ErrNoSymbol) {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := p.Stats()
	b.ReportMetric(float64(st.DeepTime)/float64(time.Millisecond)/float64(st.Frames), "deep-ms/frame")
	b.ReportMetric(float64(st.Candidates)/float64(st.Frames), "handed/frame")
}

// The inline cost of a frame: a ticket the first pass reads, and an empty
// scene (no candidate: nothing for the workers).
func BenchmarkPipeline640x480Ticket(b *testing.B) {
	benchPipeline(b, qrFrame(b, "AD1:6BFR3$KQ0S9%ZX-EXAMPLE-TICKET-PAYLOAD", 180, 640, 480), 3)
}

func BenchmarkPipeline640x480Empty(b *testing.B) { benchPipeline(b, blankish(640, 480), 3) }

// A dark-mode ticket: the first pass does not read it, every frame goes
// to the workers (deep-ms/frame is what they spend when frames come as
// fast as the inline pass allows).
func BenchmarkPipeline640x480DarkTicket(b *testing.B) {
	benchPipeline(b, invertGray(qrFrame(b, "AD1:6BFR3$KQ0S9%ZX-EXAMPLE-TICKET-PAYLOAD", 180, 640, 480)), 3)
}

// loopSource shows the same frame for ever, as fast as it is read.
type loopSource struct{ m gocv.Mat }

func (s loopSource) Read(ctx context.Context, dst *gocv.Mat) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.m.CopyTo(dst)
	return nil
}

func (loopSource) Close() error { return nil }

// benchReader runs a camera's whole frame loop (frame copy, first pass,
// hand-off, workers) on a source that never waits, and reports the frames
// per second it sustains and the symbols per second it returns. Run with
// -cpu 4 for a Raspberry Pi 4's budget.
func benchReader(b *testing.B, img image.Image) {
	m, err := gocv.ImageToMatRGB(img)
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close()
	r := NewReader(loopSource{m}, Options{Formats: benchFormats})
	defer r.Close()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := r.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := r.Stats()
	secs := b.Elapsed().Seconds()
	b.ReportMetric(float64(st.Frames)/secs, "frames/s")
	b.ReportMetric(float64(b.N)/secs, "reads/s")
	b.ReportMetric(float64(st.DeepTime)/float64(time.Millisecond)/float64(st.Frames), "deep-ms/frame")
}

// A ticket in view, read by the first pass of every frame.
func BenchmarkReader640x480Ticket(b *testing.B) {
	benchReader(b, qrFrame(b, "AD1:6BFR3$KQ0S9%ZX-EXAMPLE-TICKET-PAYLOAD", 180, 640, 480))
}

// A dark-mode ticket in view: read by the workers while frames go on.
func BenchmarkReader640x480DarkTicket(b *testing.B) {
	benchReader(b, invertGray(qrFrame(b, "AD1:6BFR3$KQ0S9%ZX-EXAMPLE-TICKET-PAYLOAD", 180, 640, 480)))
}
