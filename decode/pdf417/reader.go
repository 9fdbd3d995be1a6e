package pdf417

import (
	"errors"

	"github.com/makiuchi-d/gozxing"
)

// Reader adapts DecodeMatrix to gozxing.Reader, so the decode strategy can
// run it like gozxing's own readers.
type Reader struct{}

// NewReader returns a PDF417 reader.
func NewReader() *Reader { return &Reader{} }

var _ gozxing.Reader = (*Reader)(nil)

// DecodeWithoutHints reads one symbol from img.
func (r *Reader) DecodeWithoutHints(img *gozxing.BinaryBitmap) (*gozxing.Result, error) {
	return r.Decode(img, nil)
}

// Decode reads one symbol from img. Hints are not used.
func (r *Reader) Decode(img *gozxing.BinaryBitmap, _ map[gozxing.DecodeHintType]interface{}) (*gozxing.Result, error) {
	m, err := img.GetBlackMatrix()
	if err != nil {
		return nil, gozxing.WrapNotFoundException(err)
	}
	res, err := DecodeMatrix(m)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, gozxing.WrapNotFoundException(err)
		}
		return nil, gozxing.WrapChecksumException(err)
	}
	pts := make([]gozxing.ResultPoint, 0, 4)
	for _, p := range res.Corners {
		pts = append(pts, gozxing.NewResultPoint(float64(p.X), float64(p.Y)))
	}
	out := gozxing.NewResult(res.Text, res.Bytes, pts, gozxing.BarcodeFormat_PDF_417)
	out.PutMetadata(gozxing.ResultMetadataType_ERROR_CORRECTION_LEVEL, res.ECLevel)
	if res.Macro != nil {
		out.PutMetadata(gozxing.ResultMetadataType_PDF417_EXTRA_METADATA, res.Macro)
	}
	return out, nil
}

// Reset does nothing; the reader keeps no state.
func (r *Reader) Reset() {}
