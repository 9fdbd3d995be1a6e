package decode

import (
	"context"
	"image"
	"math"
	"slices"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/aztec"
	"github.com/makiuchi-d/gozxing/datamatrix"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/makiuchi-d/gozxing/qrcode"
	"gocv.io/x/gocv"

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
			rs = append(rs, reader{format: f, r: aztec.NewAztecReader(), hints: tryHarder})
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
	qrOnly
)

// try runs the selected readers on bmp and returns the first valid symbol.
func (d *Decoder) try(bmp *gozxing.BinaryBitmap, pass string, set readerSet) (Symbol, bool) {
	for i := range d.readers {
		r := &d.readers[i]
		if set == matrixReaders && r.linear || set == qrOnly && r.format != QR {
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
	if r.format == PDF417 {
		sym.Bytes = res.GetRawBytes()
		sym.Raw = nil
	}
	return sym, true
}

// pass is one optional preprocessing pass.
type pass struct {
	name string
	run  func(d *Decoder, gray gocv.Mat, src gozxing.LuminanceSource) (Symbol, bool)
	cost time.Duration // running average of what the pass costs here
}

// optionalPasses, in the order a still image gets them.
var optionalPasses = []pass{
	{name: "inverted", run: (*Decoder).passInverted},
	{name: "global", run: (*Decoder).passGlobal},
	{name: "qr-crop", run: (*Decoder).passQRCrop},
	{name: "scaled", run: (*Decoder).passScaled},
	{name: "clahe", run: (*Decoder).passCLAHE},
	{name: "adaptive", run: (*Decoder).passAdaptive},
}

// run is the multi-pass strategy on a continuous 8-bit gray frame.
//
// Pass 1, "gray", always runs: gozxing's hybrid binarizer on the frame and
// every enabled reader. The optional passes then run while the frame stays
// within Options.Budget, skipping a pass whose running-average cost would
// overrun it (a pass runs once to learn its cost). They rotate: each frame
// starts where the previous frame's budget ran out, so a camera that sees
// the same code for several frames tries every affordable pass within a
// few frames while each frame stays cheap; a still image with a large
// budget gets them all. With the default budget, passes that cost more than
// a frame allows (OpenCV's QR locator and CLAHE on a noisy 640×480 frame)
// are effectively still-image only.
//
//   - inverted: light and dark swapped (dark-mode screens); 2D readers.
//   - global: gozxing's global-histogram binarizer (evenly lit prints).
//   - qr-crop: OpenCV's QR locator; the located area is cut out, enlarged
//     when small, and read by the QR reader alone.
//   - scaled: small frames enlarged 2×, very large ones halved.
//   - clahe: contrast-limited histogram equalisation (dim or glared codes).
//   - adaptive: OpenCV's adaptive mean threshold; 2D readers.
func (d *Decoder) run(ctx context.Context, gray gocv.Mat) (Symbol, error) {
	start := d.now()
	src, err := luminance(gray)
	if err != nil {
		return Symbol{}, err
	}
	if bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src)); err == nil {
		if s, ok := d.try(bmp, "gray", allReaders); ok {
			return s, nil
		}
	}
	if d.opts.Budget < 0 {
		return Symbol{}, ErrNoSymbol
	}
	n := len(d.passes)
	for k := 0; k < n; k++ {
		if ctx.Err() != nil {
			return Symbol{}, ErrNoSymbol
		}
		i := (d.next + k) % n
		p := &d.passes[i]
		t0 := d.now()
		if t0.Sub(start)+p.cost > d.opts.Budget {
			// Skip a pass that would overrun; stop at the first elapsed
			// budget and let the next frame start here.
			if t0.Sub(start) > d.opts.Budget {
				d.next = i
				return Symbol{}, ErrNoSymbol
			}
			continue
		}
		s, ok := p.run(d, gray, src)
		el := d.now().Sub(t0)
		if p.cost == 0 {
			p.cost = el
		} else {
			p.cost = (3*p.cost + el) / 4
		}
		if ok {
			return s, nil
		}
	}
	return Symbol{}, ErrNoSymbol
}

func (d *Decoder) passInverted(_ gocv.Mat, src gozxing.LuminanceSource) (Symbol, bool) {
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

func (d *Decoder) passQRCrop(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	return d.qrCrop(gray)
}

func (d *Decoder) passScaled(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	w, h := gray.Cols(), gray.Rows()
	m := max(w, h)
	if m >= 800 && m <= 1800 {
		return Symbol{}, false
	}
	f := 2.0
	if m > 1800 {
		f = 0.5
	}
	gocv.Resize(gray, &d.work, image.Point{}, f, f, gocv.InterpolationLinear)
	return d.tryMat(d.work, "scaled", allReaders)
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

// tryMat runs readers on a gray Mat with the hybrid binarizer.
func (d *Decoder) tryMat(m gocv.Mat, pass string, set readerSet) (Symbol, bool) {
	if !m.IsContinuous() {
		m.CopyTo(&d.work2)
		m = d.work2
	}
	bmp, err := binaryBitmap(m)
	if err != nil {
		return Symbol{}, false
	}
	return d.try(bmp, pass, set)
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
