package decode

import (
	"context"
	"image"
	"image/color"
	"math"
	"slices"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/datamatrix"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/makiuchi-d/gozxing/qrcode"
	"gocv.io/x/gocv"

	"admit/decode/aztec"
	dmcontent "admit/decode/datamatrix"
	"admit/decode/pdf417"
)

// reader is one enabled symbology reader.
type reader struct {
	format Format
	r      gozxing.Reader
	hints  map[gozxing.DecodeHintType]interface{}
	linear bool // 1D symbology: more prone to false positives
	minLen int  // shortest text accepted
}

func newReaders(formats []Format) []reader {
	var rs []reader
	tryHarder := map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true}
	for _, f := range AllFormats {
		if !slices.Contains(formats, f) {
			continue
		}
		switch f {
		case QR:
			rs = append(rs, reader{format: f, r: qrcode.NewQRCodeReader(), hints: tryHarder})
		case DataMatrix:
			rs = append(rs, reader{format: f, r: datamatrix.NewDataMatrixReader(), hints: tryHarder})
		case Aztec:
			rs = append(rs, reader{format: f, r: aztec.NewReader()})
		case PDF417:
			rs = append(rs, reader{format: f, r: pdf417.NewReader()})
		case Code128:
			rs = append(rs, reader{format: f, r: oned.NewCode128Reader(), linear: true, minLen: 3})
		case Code39:
			rs = append(rs, reader{format: f, r: oned.NewCode39Reader(), linear: true, minLen: 4})
		case EAN13:
			rs = append(rs, reader{format: f, r: oned.NewEAN13Reader(), linear: true, minLen: 13})
		case UPCA:
			rs = append(rs, reader{format: f, r: oned.NewUPCAReader(), linear: true, minLen: 12})
		case ITF:
			rs = append(rs, reader{format: f, r: oned.NewITFReader(), linear: true, minLen: 6})
		}
	}
	return rs
}

// readerSet selects which readers a pass runs.
type readerSet int

const (
	allReaders    readerSet = iota
	matrixReaders           // 2D only
	linearReaders           // 1D only
	qrOnly
)

// try runs the selected readers on bmp and returns the first valid symbol.
func (d *Decoder) try(bmp *gozxing.BinaryBitmap, pass string, set readerSet) (Symbol, bool) {
	for i := range d.readers {
		r := &d.readers[i]
		if set == matrixReaders && r.linear || set == linearReaders && !r.linear || set == qrOnly && r.format != QR {
			continue
		}
		res := safeDecode(r, bmp)
		if res == nil {
			continue
		}
		sym, ok := d.accept(r, res, pass)
		if ok {
			return sym, true
		}
	}
	return Symbol{}, false
}

// safeDecode runs one reader; a panic inside a third-party reader on an
// odd frame is treated as "nothing found" rather than taking the gate down.
func safeDecode(r *reader, bmp *gozxing.BinaryBitmap) (res *gozxing.Result) {
	defer func() {
		if recover() != nil {
			res = nil
		}
		r.r.Reset()
	}()
	res, err := r.r.Decode(bmp, r.hints)
	if err != nil {
		return nil
	}
	return res
}

// accept validates a reader's result and turns it into a Symbol.
func (d *Decoder) accept(r *reader, res *gozxing.Result, pass string) (Symbol, bool) {
	text := res.GetText()
	if len(text) < r.minLen {
		return Symbol{}, false
	}
	sym := Symbol{Format: r.format, Text: text, Raw: res.GetRawBytes(), Pass: pass, Sequence: -1}
	md := res.GetResultMetadata()
	if segs, ok := md[gozxing.ResultMetadataType_BYTE_SEGMENTS].([][]byte); ok {
		for _, s := range segs {
			sym.Bytes = append(sym.Bytes, s...)
		}
	}
	if seq, ok := md[gozxing.ResultMetadataType_STRUCTURED_APPEND_SEQUENCE].(int); ok {
		sym.Sequence = seq
	}
	if m, ok := md[gozxing.ResultMetadataType_PDF417_EXTRA_METADATA].(*pdf417.Macro); ok {
		sym.Sequence = m.SegmentIndex
	}
	switch r.format {
	case PDF417:
		sym.Bytes = res.GetRawBytes()
		sym.Raw = nil
	case Code128:
		sym.Text = latin1(text)
	case Aztec:
		if a, ok := md[gozxing.ResultMetadataType_OTHER].(*aztec.Result); ok {
			sym.Bytes = a.Bytes
			sym.Raw = nil
		}
	case DataMatrix:
		// gozxing finds and corrects the codewords; our expansion applies
		// ECIs and drops the FNC1 that marks GS1 data.
		// Should ours refuse what gozxing expanded, gozxing's text stands.
		if c, err := dmcontent.Decode(res.GetRawBytes()); err == nil {
			sym.Text, sym.Bytes, sym.Sequence = c.Text, c.Bytes, c.Index
		}
	}
	return sym, true
}

// latin1 reads s as ISO-8859-1 bytes, Code 128's character set: gozxing
// returns the bytes of FNC4-extended characters unconverted.
func latin1(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	r := make([]rune, len(s))
	for i := 0; i < len(s); i++ {
		r[i] = rune(s[i])
	}
	return string(r)
}

// pass is one optional preprocessing pass.
type pass struct {
	name string
	run  func(d *Decoder, gray gocv.Mat, src gozxing.LuminanceSource) (Symbol, bool)
	cost time.Duration // running average of what the pass costs here
	// prior is the cost assumed before the first measurement, relative to
	// the frame's first pass.
	prior float64
	// idle counts the frames since the pass last ran; once it reaches
	// probeAfter the pass runs whatever its estimate says (a probe), so
	// an estimate inflated by one slow moment (a GC pause, a busy core, a
	// throttling board) cannot switch the pass off for good.
	idle       int
	probeAfter int // zero means probeFirst
}

// Re-probing bounds: a pass skipped as too costly runs again after
// probeFirst frames (about a second at 30 fps); each probe that finds it
// still too costly doubles the wait, up to probeMax frames (about half a
// minute), and one that finds it fitting resets it.
const (
	probeFirst = 32
	probeMax   = 1024
)

// measured updates the pass's cost average with one measurement el. A
// probe replaces the estimate (the point of re-measuring); otherwise one
// measurement moves the average by at most 3/4 of the estimate upward,
// so a single stall cannot push a cheap pass over the budget.
func (p *pass) measured(el time.Duration, probe bool, budget time.Duration) {
	switch {
	case p.cost == 0 || probe:
		p.cost = el
	default:
		p.cost = (3*p.cost + min(el, 4*p.cost)) / 4
	}
	if probe {
		if p.probeAfter == 0 {
			p.probeAfter = probeFirst
		}
		if p.cost > budget {
			p.probeAfter = min(2*p.probeAfter, probeMax)
		} else {
			p.probeAfter = probeFirst
		}
	}
	p.idle = 0
}

// due reports whether the pass has waited long enough to be probed.
func (p *pass) due() bool {
	wait := p.probeAfter
	if wait == 0 {
		wait = probeFirst
	}
	return p.idle >= wait
}

// optionalPasses, in the order a frame gets them: what recovers most at
// a gate first (dark-mode screens, small codes, tilt, uneven light), so
// that the first frames of a presentation try those.
var optionalPasses = []pass{
	{name: "inverted", run: (*Decoder).passInverted, prior: 1},
	{name: "scaled", run: (*Decoder).passScaled, prior: 4},
	{name: "global", run: (*Decoder).passGlobal, prior: 1},
	{name: "regions", run: (*Decoder).passRegions, prior: 2},
	{name: "deskew", run: (*Decoder).passDeskew, prior: 3},
	{name: "quad", run: (*Decoder).passQuad, prior: 3},
	{name: "qr-warp", run: (*Decoder).passQRWarp, prior: 20},
	{name: "three-quarter", run: (*Decoder).passThreeQuarter, prior: 0.6},
	{name: "half", run: (*Decoder).passHalf, prior: 0.3},
	{name: "sharpen", run: (*Decoder).passSharpen, prior: 1.3},
	{name: "blur", run: (*Decoder).passBlur, prior: 1.2},
	{name: "qr-crop", run: (*Decoder).passQRCrop, prior: 20},
	{name: "quiet", run: (*Decoder).passQuiet, prior: 1.3},
	{name: "median", run: (*Decoder).passMedian, prior: 1},
	{name: "otsu", run: (*Decoder).passOtsu, prior: 1},
	{name: "erode", run: (*Decoder).passErode, prior: 1},
	{name: "clahe", run: (*Decoder).passCLAHE, prior: 1.3},
	{name: "adaptive", run: (*Decoder).passAdaptive, prior: 1.3},
	{name: "rotated", run: (*Decoder).passRotated, prior: 1},
}

// deepPass runs optional pass i on a continuous gray frame whose
// candidate regions are regions (a Pipeline's worker).
func (d *Decoder) deepPass(i int, gray gocv.Mat, regions []image.Rectangle) (Symbol, bool) {
	src, err := luminance(gray)
	if err != nil {
		return Symbol{}, false
	}
	d.regions = regions
	return d.passes[i].run(d, gray, src)
}

// run is the multi-pass strategy on a continuous 8-bit gray frame.
//
// Pass 1, "gray", always runs: gozxing's hybrid binarizer on the frame and
// every enabled reader. The optional passes then run in turn, each frame
// starting where the previous one stopped (after a read, at the pass that
// read), so a camera that sees the same code for several frames tries
// every pass within a few frames while each frame stays cheap. Two limits
// stop a frame's optional passes:
//
//   - Options.Budget bounds one frame: a pass runs only if its running
//     average cost fits what is left (a pass runs once to learn its cost);
//     a pass that costs more than a whole budget is skipped (with the
//     default budget, OpenCV's QR locator on a noisy 640×480 frame is
//     mostly still-image only).
//   - Options.Share bounds the average over frames: each frame earns Share
//     × its first pass's time as credit and the passes spend it; the pass
//     whose turn it is waits for the credit to cover it, so expensive
//     passes run every few frames rather than every frame.
//
// Estimates heal: a pass that has not run for probeFirst frames runs when
// its turn comes whatever its estimate (a probe, which replaces the
// estimate with what it measures), and one slow measurement moves an
// average by at most 3/4 of it. A pass that really costs more than the
// budget is probed ever more rarely (the wait doubles up to probeMax
// frames); one whose estimate was inflated by a stall is back within
// probeFirst frames of its turn.
//
// A still image with a large budget and a negative Share gets every pass.
//
//   - inverted: light and dark swapped (dark-mode screens); 2D readers.
//   - global: gozxing's global-histogram binarizer (evenly lit prints).
//   - quiet: a white border around the frame (codes cut close to the
//     edge lack the quiet zone their finder needs); hybrid, then global
//     binarizer for the 2D readers.
//   - rotated: a quarter turn for the 1D readers, which scan rows only
//     (a ticket held sideways); also with a border and enlarged.
//   - half, three-quarter: the frame shrunk by area averaging (coarse
//     modules, JPEG noise and print texture average out).
//   - regions: each candidate region (candidate.go) cut out and, when
//     small, enlarged up to 4× (codes with modules of 2 px or less).
//   - deskew: each candidate region turned back upright by the dominant
//     direction of its edges (PDF417 and linear codes turned in the
//     image plane).
//   - quad: in each candidate region, the quadrilateral the code covers
//     (modules closed into a blob, outlined to four corners) mapped onto
//     an upright rectangle: perspective undone for every symbology.
//   - qr-crop: OpenCV's QR locator; the located area is cut out, enlarged
//     when small, and read by the QR reader alone.
//   - qr-warp: OpenCV's QR locator's four corners mapped onto an upright
//     square (perspective and tilt undone); QR reader, both binarizers.
//   - scaled: small frames enlarged 2× (tiny ones by a whole factor to
//     200 px, nearest neighbour), very large ones halved.
//   - median, blur: 3×3 median / Gaussian smoothing (noise, moiré from
//     screens); 2D readers; blur also inverted.
//   - otsu: one global Otsu threshold.
//   - erode: dark modules grown by a pixel (bleached prints); 2D readers.
//   - sharpen: an unsharp mask (slightly out-of-focus codes).
//   - clahe: contrast-limited histogram equalisation (dim or glared codes).
//   - adaptive: OpenCV's adaptive mean threshold; 2D readers.
//
// Passes only accept what a reader validated (checksums, Reed–Solomon);
// the corpus's 46 images without a code stay at 0 decodes with every pass
// (decode/eval).
func (d *Decoder) run(ctx context.Context, gray gocv.Mat) (Symbol, error) {
	start := d.now()
	src, err := luminance(gray)
	if err != nil {
		return Symbol{}, err
	}
	if s, ok := d.firstPass(gray, src); ok {
		return s, nil
	}
	if d.opts.Budget < 0 {
		return Symbol{}, ErrNoSymbol
	}
	first := d.now().Sub(start)
	limited := d.opts.Share >= 0
	if limited {
		d.credit = min(d.credit+time.Duration(d.opts.Share*float64(first)), d.opts.Budget)
	}
	n := len(d.passes)
	for i := range d.passes {
		d.passes[i].idle++
	}
	for k := 0; k < n; k++ {
		if ctx.Err() != nil {
			return Symbol{}, ErrNoSymbol
		}
		i := (d.next + k) % n
		p := &d.passes[i]
		t0 := d.now()
		elapsed := t0.Sub(start)
		est := p.cost
		if est == 0 {
			// Not measured yet: a prior relative to the first pass, so
			// that OpenCV's QR locator (tens of ms on a large noisy
			// frame) is not tried on every camera frame to learn that.
			est = time.Duration(p.prior * float64(first))
		}
		probe := p.due()
		switch {
		case elapsed > d.opts.Budget:
			d.next = i // the frame's budget is spent: the next frame starts here
			return Symbol{}, ErrNoSymbol
		case probe:
			// Not run for a while: run it now to re-measure it.
		case est > d.opts.Budget:
			continue // does not fit a frame; probed now and then
		case limited && est > d.credit:
			d.next = i // this pass waits for credit
			return Symbol{}, ErrNoSymbol
		case elapsed+est > d.opts.Budget:
			continue // does not fit what is left of this frame
		}
		s, ok := p.run(d, gray, src)
		el := d.now().Sub(t0)
		if limited {
			// A pass that overran its estimate leaves a debt, bounded so
			// that one slow frame does not mute the passes for long.
			d.credit = max(d.credit-el, -d.opts.Budget)
		}
		p.measured(el, probe, d.opts.Budget)
		if ok {
			d.next = i
			return s, nil
		}
	}
	return Symbol{}, ErrNoSymbol
}

// firstPass is what every frame gets: gozxing's hybrid binarizer on the
// frame and every enabled reader ("gray"). When that reads nothing it
// looks for candidate regions (d.regions, candidate.go); if there are
// some and the frame does not span the grey scale, the same again on the
// frame stretched to full contrast ("stretched").
//
// The stretch is there because the hybrid binarizer decides near its
// thresholds by a grey level: it treats an 8×8 block whose pixels differ
// by less than 24 levels as flat, and a pixel equal to its block's
// threshold as dark. On a dim or washed-out frame many blocks and pixels
// sit at those edges, and a one-level difference in the grey conversion
// (OpenCV rounds BT.601 luma, gozxing's own image source truncates
// (R+2G+B)/4 and lays alpha on white) turns a read into a miss or back
// (docs/performance.md, "The gray conversion"). Stretching moves a
// low-contrast frame away from those edges.
func (d *Decoder) firstPass(gray gocv.Mat, src gozxing.LuminanceSource) (Symbol, bool) {
	if bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src)); err == nil {
		if s, ok := d.try(bmp, "gray", allReaders); ok {
			return s, true
		}
	}
	pix, err := gray.DataPtrUint8()
	if err != nil {
		return Symbol{}, false
	}
	d.regions = d.cand.find(pix, gray.Cols(), gray.Rows(), gray.Cols())
	if len(d.regions) == 0 {
		return Symbol{}, false
	}
	lo, hi := d.cand.lo, d.cand.hi
	if hi-lo >= stretchBelow || hi <= lo {
		return Symbol{}, false
	}
	a := 255 / float32(hi-lo)
	gray.ConvertToWithParams(&d.work, gocv.MatTypeCV8U, a, -a*float32(lo))
	return d.tryMat(d.work, "stretched", allReaders)
}

// stretchBelow is the spread (between the 0.5th and 99.5th percentiles)
// under which the first pass also reads the frame stretched.
const stretchBelow = 224

func (d *Decoder) passInverted(_ gocv.Mat, src gozxing.LuminanceSource) (Symbol, bool) {
	if !d.has2D {
		return Symbol{}, false
	}
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(gozxing.NewInvertedLuminanceSource(src)))
	if err != nil {
		return Symbol{}, false
	}
	return d.try(bmp, "inverted", matrixReaders)
}

func (d *Decoder) passGlobal(_ gocv.Mat, src gozxing.LuminanceSource) (Symbol, bool) {
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewGlobalHistgramBinarizer(src))
	if err != nil {
		return Symbol{}, false
	}
	return d.try(bmp, "global", allReaders)
}

// passQuiet surrounds the frame with a white border: a code cut close to
// the image edge gets the quiet zone its finder needs.
func (d *Decoder) passQuiet(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	pad(gray, &d.work, 0.1)
	if sym, ok := d.tryMat(d.work, "quiet", allReaders); ok {
		return sym, true
	}
	return d.tryMatWith(d.work, "quiet", matrixReaders, globalBinarizer)
}

// passRotated turns the frame a quarter turn for the 1D readers, which
// scan rows only: a ticket held sideways.
func (d *Decoder) passRotated(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	if !d.hasLinear {
		return Symbol{}, false
	}
	gocv.Rotate(gray, &d.work3, gocv.Rotate90Clockwise)
	if sym, ok := d.tryMat(d.work3, "rotated", linearReaders); ok {
		return sym, true
	}
	// The quiet-zone and enlarging passes, for the 1D readers only.
	pad(d.work3, &d.work, 0.1)
	if sym, ok := d.tryMat(d.work, "rotated", linearReaders); ok {
		return sym, true
	}
	if max(d.work3.Cols(), d.work3.Rows()) >= 800 {
		return Symbol{}, false
	}
	gocv.Resize(d.work3, &d.work, image.Point{}, 2, 2, gocv.InterpolationLinear)
	return d.tryMat(d.work, "rotated", linearReaders)
}

func (d *Decoder) passHalf(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	return d.resized(gray, 0.5, "half")
}

func (d *Decoder) passThreeQuarter(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	return d.resized(gray, 0.75, "three-quarter")
}

// resized shrinks the frame by f (area averaging): coarse modules, JPEG
// noise and print texture blur into clean modules.
func (d *Decoder) resized(gray gocv.Mat, f float64, name string) (Symbol, bool) {
	if min(gray.Cols(), gray.Rows())*int(f*100) < 100*100 {
		return Symbol{}, false
	}
	gocv.Resize(gray, &d.work, image.Point{}, f, f, gocv.InterpolationArea)
	return d.tryMat(d.work, name, allReaders)
}

func (d *Decoder) passScaled(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	w, h := gray.Cols(), gray.Rows()
	m := max(w, h)
	if m >= 800 && m <= 1800 {
		return Symbol{}, false
	}
	f, interp := 2.0, gocv.InterpolationLinear
	switch {
	case m > 1800:
		f = 0.5
	case m < 100:
		// Tiny images (often one pixel per module): whole-number
		// enlargement to at least 200 px keeps module edges sharp.
		f, interp = math.Ceil(200/float64(m)), gocv.InterpolationNearestNeighbor
	}
	gocv.Resize(gray, &d.work, image.Point{}, f, f, interp)
	return d.tryMat(d.work, "scaled", allReaders)
}

func (d *Decoder) passMedian(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	gocv.MedianBlur(gray, &d.work, 3)
	return d.tryMat(d.work, "median", matrixReaders)
}

func (d *Decoder) passBlur(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	gocv.GaussianBlur(gray, &d.work, image.Pt(3, 3), 0, 0, gocv.BorderDefault)
	if sym, ok := d.tryMat(d.work, "blur", matrixReaders); ok {
		return sym, true
	}
	return d.tryMatWith(d.work, "blur", matrixReaders, invertedHybrid)
}

func (d *Decoder) passOtsu(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	gocv.Threshold(gray, &d.work, 0, 255, gocv.ThresholdBinary|gocv.ThresholdOtsu)
	return d.tryMat(d.work, "otsu", allReaders)
}

// passErode grows dark modules by one pixel (bleached prints, glare).
func (d *Decoder) passErode(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	gocv.Erode(gray, &d.work, d.kernel)
	return d.tryMat(d.work, "erode", matrixReaders)
}

// passSharpen is an unsharp mask (slightly out-of-focus codes).
func (d *Decoder) passSharpen(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	gocv.GaussianBlur(gray, &d.work2, image.Pt(0, 0), 2, 0, gocv.BorderDefault)
	gocv.AddWeighted(gray, 1.8, d.work2, -0.8, 0, &d.work)
	return d.tryMat(d.work, "sharpen", allReaders)
}

func (d *Decoder) passCLAHE(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	d.clahe.Apply(gray, &d.work)
	return d.tryMat(d.work, "clahe", allReaders)
}

func (d *Decoder) passAdaptive(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	block := max(15, (min(gray.Cols(), gray.Rows())/20)|1)
	gocv.AdaptiveThreshold(gray, &d.work, 255, gocv.AdaptiveThresholdMean, gocv.ThresholdBinary, block, 5)
	return d.tryMat(d.work, "adaptive", matrixReaders)
}

// pad copies src into dst with a white border of frac times its longer
// side on every edge.
func pad(src gocv.Mat, dst *gocv.Mat, frac float64) {
	b := max(4, int(float64(max(src.Cols(), src.Rows()))*frac))
	gocv.CopyMakeBorder(src, dst, b, b, b, b, gocv.BorderConstant, color.RGBA{R: 255, G: 255, B: 255, A: 255})
}

// binarization chooses how tryMatWith turns gray pixels into black and white.
type binarization int

const (
	hybridBinarizer binarization = iota // gozxing's local-block thresholds
	globalBinarizer                     // one histogram threshold per row
	invertedHybrid                      // hybrid on swapped light and dark
)

// tryMat runs readers on a gray Mat with the hybrid binarizer.
func (d *Decoder) tryMat(m gocv.Mat, pass string, set readerSet) (Symbol, bool) {
	return d.tryMatWith(m, pass, set, hybridBinarizer)
}

// tryMatWith runs readers on a gray Mat with the given binarization.
func (d *Decoder) tryMatWith(m gocv.Mat, pass string, set readerSet, b binarization) (Symbol, bool) {
	if !m.IsContinuous() {
		m.CopyTo(&d.work2)
		m = d.work2
	}
	src, err := luminance(m)
	if err != nil {
		return Symbol{}, false
	}
	var bin gozxing.Binarizer
	switch b {
	case globalBinarizer:
		bin = gozxing.NewGlobalHistgramBinarizer(src)
	case invertedHybrid:
		bin = gozxing.NewHybridBinarizer(gozxing.NewInvertedLuminanceSource(src))
	default:
		bin = gozxing.NewHybridBinarizer(src)
	}
	bmp, err := gozxing.NewBinaryBitmap(bin)
	if err != nil {
		return Symbol{}, false
	}
	return d.try(bmp, pass, set)
}

func (d *Decoder) passQRCrop(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	return d.qrCrop(gray)
}

// passQRWarp asks OpenCV's QR locator for the code's four corners (on
// the frame with a quiet-zone border, which helps codes cut close to the
// edge), maps that quadrilateral onto an upright square with a margin
// (undoing perspective and tilt), and runs the QR reader on it with both
// binarizers.
func (d *Decoder) passQRWarp(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	if !d.hasQR {
		return Symbol{}, false
	}
	pad(gray, &d.work, 0.1)
	if !d.qrdet.Detect(d.work, &d.points) || d.points.Empty() {
		return Symbol{}, false
	}
	pts, err := d.points.DataPtrFloat32()
	if err != nil || len(pts) < 8 {
		return Symbol{}, false
	}
	quad := make([]gocv.Point2f, 4)
	side := 0.0
	for i := range quad {
		quad[i] = gocv.Point2f{X: pts[2*i], Y: pts[2*i+1]}
	}
	for i := range quad {
		j := (i + 1) % 4
		side = math.Max(side, math.Hypot(float64(quad[i].X-quad[j].X), float64(quad[i].Y-quad[j].Y)))
	}
	if side < 12 {
		return Symbol{}, false
	}
	side = math.Min(math.Max(side, 200), 600)
	m, s := float32(side*0.15), float32(side)
	square := []gocv.Point2f{{X: m, Y: m}, {X: m + s, Y: m}, {X: m + s, Y: m + s}, {X: m, Y: m + s}}
	src, dst := gocv.NewPoint2fVectorFromPoints(quad), gocv.NewPoint2fVectorFromPoints(square)
	defer src.Close()
	defer dst.Close()
	h := gocv.GetPerspectiveTransform2f(src, dst)
	defer h.Close()
	n := int(s + 2*m)
	gocv.WarpPerspectiveWithParams(d.work, &d.work3, h, image.Pt(n, n), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
	if sym, ok := d.tryMat(d.work3, "qr-warp", qrOnly); ok {
		return sym, true
	}
	return d.tryMatWith(d.work3, "qr-warp", qrOnly, globalBinarizer)
}

// qrCrop asks OpenCV's QR locator where a code is, cuts that area out with
// a margin, enlarges it to at least 400 px and runs the QR reader on it.
func (d *Decoder) qrCrop(gray gocv.Mat) (Symbol, bool) {
	if !d.hasQR {
		return Symbol{}, false
	}
	if !d.qrdet.Detect(gray, &d.points) || d.points.Empty() {
		return Symbol{}, false
	}
	pts, err := d.points.DataPtrFloat32()
	if err != nil || len(pts) < 8 {
		return Symbol{}, false
	}
	minX, minY := math.Inf(1), math.Inf(1)
	maxX, maxY := math.Inf(-1), math.Inf(-1)
	for i := 0; i+1 < 8; i += 2 {
		x, y := float64(pts[i]), float64(pts[i+1])
		minX, maxX = math.Min(minX, x), math.Max(maxX, x)
		minY, maxY = math.Min(minY, y), math.Max(maxY, y)
	}
	side := math.Max(maxX-minX, maxY-minY)
	if side < 8 {
		return Symbol{}, false
	}
	m := side * 0.25
	r := image.Rect(int(minX-m), int(minY-m), int(maxX+m), int(maxY+m)).Intersect(image.Rect(0, 0, gray.Cols(), gray.Rows()))
	if r.Dx() < 8 || r.Dy() < 8 {
		return Symbol{}, false
	}
	region := gray.Region(r)
	defer region.Close()
	f := 1.0
	if s := math.Max(float64(r.Dx()), float64(r.Dy())); s < 400 {
		f = 400 / s
	}
	gocv.Resize(region, &d.work, image.Point{}, f, f, gocv.InterpolationCubic)
	return d.tryMat(d.work, "qr-crop", qrOnly)
}
