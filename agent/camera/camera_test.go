package camera_test

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"io"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/makiuchi-d/gozxing/qrcode"

	"admit/agent/camera"
	"admit/decode"
	"admit/fleet/wire"
	"admit/hal"
)

// scene renders text as a QR code held up to a 640×480 camera.
func scene(t *testing.T, text string) image.Image {
	t.Helper()
	bm, err := qrcode.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, 240, 240, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 640, 480))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.Gray{Y: 180}}, image.Point{}, draw.Src)
	for y := range bm.GetHeight() {
		for x := range bm.GetWidth() {
			c := color.Gray{Y: 250}
			if bm.Get(x, y) {
				c = color.Gray{Y: 20}
			}
			img.SetGray(200+x, 120+y, c)
		}
	}
	return img
}

// TestReader: a code shown to the camera is a credential named after the
// camera; the reader stops with its context, and a camera that goes away
// ends the stream with io.EOF, as hal.CredentialReader says.
func TestReader(t *testing.T) {
	cam := decode.NewVirtualCamera()
	defer cam.Close()
	var r hal.CredentialReader = camera.New("camera0", cam, decode.Options{})
	defer r.(*camera.Reader).Close()
	ctx := context.Background()

	if err := cam.Show(scene(t, "AD1:CAMERA")); err != nil {
		t.Fatal(err)
	}
	cred, err := r.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cred.Source != "camera0" || cred.Kind != "qr" || string(cred.Payload) != "AD1:CAMERA" || !cred.At.IsZero() {
		t.Fatalf("credential %+v", cred)
	}

	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() {
		_, err := r.Read(cctx)
		errc <- err
	}()
	cancel()
	if err := <-errc; err != context.Canceled {
		t.Fatalf("read after cancel: %v, want context.Canceled", err)
	}

	cam.Close()
	if _, err := r.Read(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("read from a closed camera: %v, want io.EOF", err)
	}
}

// barcode renders text as a Code 128 barcode held up to the camera.
func barcode(t *testing.T, text string) image.Image {
	t.Helper()
	bm, err := oned.NewCode128Writer().Encode(text, gozxing.BarcodeFormat_CODE_128, 400, 120, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, 640, 480))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.Gray{Y: 230}}, image.Point{}, draw.Src)
	for y := range bm.GetHeight() {
		for x := range bm.GetWidth() {
			c := color.Gray{Y: 240}
			if bm.Get(x, y) {
				c = color.Gray{Y: 10}
			}
			img.SetGray(120+x, 180+y, c)
		}
	}
	return img
}

// TestFormatsFromConfig: a fleet config's formats (the gate's ConfigHook)
// switch the camera's decoder at its next frame; a config without formats
// brings back the ones it was made with; a format the decoder does not
// know is refused, the camera unchanged.
func TestFormatsFromConfig(t *testing.T) {
	cam := decode.NewVirtualCamera()
	defer cam.Close()
	r := camera.New("camera0", cam, decode.Options{Formats: []decode.Format{decode.QR}})
	defer r.Close()
	ctx := context.Background()
	if err := r.ApplyConfig(ctx, wire.GateConfig{Formats: &[]string{"qr", "teletext"}}); err == nil {
		t.Fatal("an unknown format was taken")
	}
	if err := r.ApplyConfig(ctx, wire.GateConfig{Formats: &[]string{"code128"}}); err != nil {
		t.Fatal(err)
	}
	if err := cam.Show(barcode(t, "AD1-LEGACY-0042")); err != nil {
		t.Fatal(err)
	}
	cred, err := r.Read(ctx)
	if err != nil || cred.Kind != "code128" || string(cred.Payload) != "AD1-LEGACY-0042" {
		t.Fatalf("after switching to Code 128: %+v %v", cred, err)
	}
	if err := r.ApplyConfig(ctx, wire.GateConfig{}); err != nil {
		t.Fatal(err)
	}
	if err := cam.Show(scene(t, "AD1:BACK")); err != nil {
		t.Fatal(err)
	}
	cred, err = r.Read(ctx)
	if err != nil || cred.Kind != "qr" || string(cred.Payload) != "AD1:BACK" {
		t.Fatalf("back to its own formats: %+v %v", cred, err)
	}
}
