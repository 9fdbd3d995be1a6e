package decode

import (
	"context"
	"errors"
	"fmt"
	"image"
	"runtime"
	"slices"
	"time"

	"github.com/makiuchi-d/gozxing"
	"gocv.io/x/gocv"

	"admit/clock"
)

// ErrNoSymbol is returned when a frame holds no readable symbol.
var ErrNoSymbol = errors.New("decode: no symbol")

// Format names a symbology.
type Format string

const (
	QR         Format = "qr"
	PDF417     Format = "pdf417"
	Aztec      Format = "aztec"
	Code128    Format = "code128"
	DataMatrix Format = "datamatrix"
	Code39     Format = "code39"
	EAN13      Format = "ean13"
	UPCA       Format = "upca"
	ITF        Format = "itf"
)

// AllFormats lists every format the decoder can read, in the order the
// readers run.
var AllFormats = []Format{QR, DataMatrix, Aztec, PDF417, Code128, Code39, EAN13, UPCA, ITF}

// Symbol is one decoded barcode.
type Symbol struct {
	Format Format
	Text   string
	Raw    []byte // raw codewords when the reader provides them
	// Bytes is the decoded content as bytes when the reader knows them
	// (byte-mode segments); nil otherwise.
	Bytes []byte
	// Pass names the strategy pass that read the symbol ("gray",
	// "inverted", "clahe", ...), for diagnostics and evaluation.
	Pass string
	// Sequence is the structured-append position (QR: sequence metadata,
	// PDF417: macro segment index), -1 when the symbol stands alone.
	Sequence int
}

// DefaultBudget bounds the time one camera frame may take: the first pass
// always runs, optional passes only while they fit (they rotate over
// consecutive frames). It keeps an empty 640×480 frame cheap at 30 fps.
const DefaultBudget = 4 * time.Millisecond

// DefaultShare is the default Options.Share: over a stream of frames the
// optional passes cost on average no more than the first pass, so a frame
// costs on average at most twice a single gozxing pass.
const DefaultShare = 1.0

// Options configures a Decoder.
type Options struct {
	Formats []Format // enabled formats; empty means QR only
	// Budget bounds the time spent on one frame: after the first pass the
	// optional passes run only while the frame's elapsed time is below it.
	// Zero means DefaultBudget; negative means the first pass only.
	Budget time.Duration
	// Share bounds the optional passes over a stream of frames: each frame
	// earns Share × its first pass's time as credit, optional passes spend
	// it (a pass waits, in its turn, until the credit covers its average
	// cost) and unspent credit carries over, up to Budget. Zero means
	// DefaultShare; negative means no credit limit, only Budget (still
	// images, evaluation).
	Share float64
	// Now is the stopwatch of the budget; nil means clock.Real{}.Now. The
	// budget bounds compute time: a gate leaves it on the wall clock even
	// when it runs on a fake one.
	Now func() time.Time
	// Workers is the number of goroutines a Pipeline (and so a Reader)
	// runs the optional passes on, off the frame loop; zero means
	// DefaultWorkers(), negative means none: the optional passes then run
	// inline under Budget and Share, as a Decoder runs them. A Decoder
	// ignores it.
	Workers int
}

// DefaultWorkers is the deep-pass workers a Pipeline gets by default: one
// per core beyond the one the frame loop uses (runtime.GOMAXPROCS), at
// most three — a Raspberry Pi 4 has four cores.
func DefaultWorkers() int { return min(3, runtime.GOMAXPROCS(0)-1) }

// Decoder reads symbols from frames. A Decoder is not safe for concurrent
// use; give each camera its own.
type Decoder struct {
	opts      Options
	now       func() time.Time
	readers   []reader
	gray      gocv.Mat
	work      gocv.Mat
	work2     gocv.Mat
	work3     gocv.Mat
	work4     gocv.Mat
	kernel    gocv.Mat // 3×3 structuring element for erosion
	clahe     gocv.CLAHE
	qrdet     gocv.QRCodeDetector
	points    gocv.Mat
	hasQR     bool
	has2D     bool
	hasLinear bool
	cand      candidateScan
	regions   []image.Rectangle // the last frame's candidate regions (firstPass)
	passes    []pass            // optional passes with this decoder's cost averages
	next      int               // optional pass whose turn is next
	credit    time.Duration     // what the optional passes may still spend (Options.Share)
}

// NewDecoder returns a decoder for the formats in opts.
func NewDecoder(opts Options) *Decoder {
	formats := opts.Formats
	if len(formats) == 0 {
		formats = []Format{QR}
	}
	if opts.Budget == 0 {
		opts.Budget = DefaultBudget
	}
	if opts.Share == 0 {
		opts.Share = DefaultShare
	}
	d := &Decoder{
		opts:   opts,
		now:    opts.Now,
		gray:   gocv.NewMat(),
		work:   gocv.NewMat(),
		work2:  gocv.NewMat(),
		work3:  gocv.NewMat(),
		work4:  gocv.NewMat(),
		kernel: gocv.GetStructuringElement(gocv.MorphRect, image.Pt(3, 3)),
		clahe:  gocv.NewCLAHEWithParams(2.0, image.Pt(8, 8)),
		qrdet:  gocv.NewQRCodeDetector(),
		points: gocv.NewMat(),
	}
	if d.now == nil {
		d.now = clock.Real{}.Now
	}
	d.readers = newReaders(formats)
	d.passes = slices.Clone(optionalPasses)
	for _, r := range d.readers {
		if r.format == QR {
			d.hasQR = true
		}
		if r.linear {
			d.hasLinear = true
		} else {
			d.has2D = true
		}
	}
	return d
}

// Close releases the decoder's buffers.
func (d *Decoder) Close() error {
	for _, m := range []*gocv.Mat{&d.gray, &d.work, &d.work2, &d.work3, &d.work4, &d.kernel, &d.points} {
		m.Close()
	}
	d.clahe.Close()
	d.qrdet.Close()
	return nil
}

// Decode returns the first symbol found in frame (BGR or gray), or
// ErrNoSymbol. Passes run cheapest first and stop at the first valid
// symbol; see strategy.go.
func (d *Decoder) Decode(ctx context.Context, frame gocv.Mat) (Symbol, error) {
	if err := ctx.Err(); err != nil {
		return Symbol{}, err
	}
	if frame.Empty() {
		return Symbol{}, ErrNoSymbol
	}
	return d.run(ctx, d.toGray(frame))
}

// toGray returns frame as a continuous 8-bit gray Mat: frame itself, or
// the decoder's gray buffer holding its conversion.
func (d *Decoder) toGray(frame gocv.Mat) gocv.Mat {
	gray := frame
	if frame.Channels() != 1 {
		gocv.CvtColor(frame, &d.gray, gocv.ColorBGRToGray)
		gray = d.gray
	}
	if !gray.IsContinuous() {
		gray.CopyTo(&d.gray)
		gray = d.gray
	}
	return gray
}

// binaryBitmap wraps the pixels of a continuous 8-bit gray Mat for gozxing
// without copying them; the Mat must outlive the bitmap.
func binaryBitmap(gray gocv.Mat) (*gozxing.BinaryBitmap, error) {
	src, err := luminance(gray)
	if err != nil {
		return nil, err
	}
	return gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
}

// luminance wraps a continuous 8-bit gray Mat as a gozxing source without
// copying.
func luminance(gray gocv.Mat) (gozxing.LuminanceSource, error) {
	if gray.Type() != gocv.MatTypeCV8U {
		return nil, fmt.Errorf("decode: want 8-bit gray frame, got type %v", gray.Type())
	}
	pix, err := gray.DataPtrUint8()
	if err != nil {
		return nil, fmt.Errorf("decode: frame pixels: %w", err)
	}
	w, h := gray.Cols(), gray.Rows()
	src, err := gozxing.NewPlanarYUVLuminanceSource(pix, w, h, 0, 0, w, h, false)
	if err != nil {
		return nil, fmt.Errorf("decode: luminance source: %w", err)
	}
	return src, nil
}
