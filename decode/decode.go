package decode

import (
	"context"
	"errors"
	"fmt"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"gocv.io/x/gocv"
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
)

// Symbol is one decoded barcode.
type Symbol struct {
	Format Format
	Text   string
	Raw    []byte // raw codewords when the reader provides them
}

// Options configures a Decoder.
type Options struct {
	Formats []Format // enabled formats; empty means QR only
}

// Decoder reads symbols from frames. A Decoder is not safe for concurrent
// use; give each camera its own.
type Decoder struct {
	opts Options
	gray gocv.Mat
	qr   gozxing.Reader
}

// NewDecoder returns a decoder for the formats in opts.
func NewDecoder(opts Options) *Decoder {
	return &Decoder{opts: opts, gray: gocv.NewMat(), qr: qrcode.NewQRCodeReader()}
}

// Close releases the decoder's buffers.
func (d *Decoder) Close() error { return d.gray.Close() }

// Decode returns the first symbol found in frame (BGR or gray), or
// ErrNoSymbol.
func (d *Decoder) Decode(ctx context.Context, frame gocv.Mat) (Symbol, error) {
	if err := ctx.Err(); err != nil {
		return Symbol{}, err
	}
	if frame.Empty() {
		return Symbol{}, ErrNoSymbol
	}
	gray := frame
	if frame.Channels() != 1 {
		gocv.CvtColor(frame, &d.gray, gocv.ColorBGRToGray)
		gray = d.gray
	}
	bmp, err := binaryBitmap(gray)
	if err != nil {
		return Symbol{}, err
	}
	res, err := d.qr.Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true})
	d.qr.Reset()
	if err != nil {
		return Symbol{}, ErrNoSymbol
	}
	return Symbol{Format: QR, Text: res.GetText(), Raw: res.GetRawBytes()}, nil
}

// binaryBitmap wraps the pixels of a continuous 8-bit gray Mat for gozxing
// without copying them; the Mat must outlive the bitmap.
func binaryBitmap(gray gocv.Mat) (*gozxing.BinaryBitmap, error) {
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
	return gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
}
