// Package qrimage renders ticket codes as QR images, for printing, the
// attendee's wallet page and the demo venue's virtual cameras.
package qrimage

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
)

// Render draws text as a QR code (error correction M, 4-module quiet zone)
// on an image of about size×size pixels.
func Render(text string, size int) (*image.Gray, error) {
	hints := map[gozxing.EncodeHintType]interface{}{
		gozxing.EncodeHintType_ERROR_CORRECTION: decoder.ErrorCorrectionLevel_M,
		gozxing.EncodeHintType_MARGIN:           4,
	}
	bm, err := qrcode.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, size, size, hints)
	if err != nil {
		return nil, fmt.Errorf("qrimage: %w", err)
	}
	img := image.NewGray(image.Rect(0, 0, bm.GetWidth(), bm.GetHeight()))
	for y := 0; y < bm.GetHeight(); y++ {
		for x := 0; x < bm.GetWidth(); x++ {
			c := color.Gray{Y: 255}
			if bm.Get(x, y) {
				c = color.Gray{Y: 0}
			}
			img.SetGray(x, y, c)
		}
	}
	return img, nil
}

// PNG renders text as a QR code and encodes it as PNG.
func PNG(text string, size int) ([]byte, error) {
	img, err := Render(text, size)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("qrimage: %w", err)
	}
	return buf.Bytes(), nil
}
