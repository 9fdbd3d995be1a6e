package aztec

import (
	"errors"

	"github.com/makiuchi-d/gozxing"
)

// Reader adapts DecodeMatrix to gozxing.Reader, so the decode strategy can
// run it like gozxing's own readers.
type Reader struct{}

// NewReader returns an Aztec reader.
func NewReader() *Reader { return &Reader{} }

var _ gozxing.Reader = (*Reader)(nil)

// DecodeWithoutHints reads one symbol from img.
func (r *Reader) DecodeWithoutHints(img *gozxing.BinaryBitmap) (*gozxing.Result, error) {
	return r.Decode(img, nil)
}

// Decode reads one symbol from img. Hints are not used. The result's
// metadata carries the content bytes (BYTE_SEGMENTS), the structured-append
// position (STRUCTURED_APPEND_SEQUENCE, when there is one) and the
// *Result itself (OTHER).
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
	out := gozxing.NewResult(res.Text, res.Bytes, res.Corners[:], gozxing.BarcodeFormat_AZTEC)
	out.PutMetadata(gozxing.ResultMetadataType_BYTE_SEGMENTS, [][]byte{res.Bytes})
	if res.Index >= 0 {
		out.PutMetadata(gozxing.ResultMetadataType_STRUCTURED_APPEND_SEQUENCE, res.Index)
	}
	out.PutMetadata(gozxing.ResultMetadataType_OTHER, res)
	return out, nil
}

// Reset does nothing; the reader keeps no state.
func (r *Reader) Reset() {}
