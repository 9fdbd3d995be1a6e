package decode

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/draw"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"gocv.io/x/gocv"
)

// qrFrame renders text as a QR code of side px, centred on a light-gray
// frame of w×h pixels, like a phone held up to a gate camera.
func qrFrame(t testing.TB, text string, px, w, h int) image.Image {
	t.Helper()
	bm, err := qrcode.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, px, px, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), &image.Uniform{color.Gray{Y: 200}}, image.Point{}, draw.Src)
	ox, oy := (w-bm.GetWidth())/2, (h-bm.GetHeight())/2
	for y := 0; y < bm.GetHeight(); y++ {
		for x := 0; x < bm.GetWidth(); x++ {
			c := color.Gray{Y: 255}
			if bm.Get(x, y) {
				c = color.Gray{Y: 20}
			}
			img.SetGray(ox+x, oy+y, c)
		}
	}
	return img
}

func TestVirtualCameraDecode(t *testing.T) {
	ctx := context.Background()
	cam := NewVirtualCamera()
	defer cam.Close()
	const want = "AD1:HELLO-GATE"
	if err := cam.Show(qrFrame(t, want, 240, 640, 480)); err != nil {
		t.Fatal(err)
	}
	frame := gocv.NewMat()
	defer frame.Close()
	if err := cam.Read(ctx, &frame); err != nil {
		t.Fatal(err)
	}
	if frame.Cols() != 640 || frame.Rows() != 480 || frame.Channels() != 3 {
		t.Fatalf("frame %dx%d/%d", frame.Cols(), frame.Rows(), frame.Channels())
	}
	d := NewDecoder(Options{})
	defer d.Close()
	sym, err := d.Decode(ctx, frame)
	if err != nil {
		t.Fatal(err)
	}
	if sym.Text != want || sym.Format != QR {
		t.Fatalf("got %+v", sym)
	}

	// The same scene is delivered once; the next Read waits for a change.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := cam.Read(short, &frame); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second read of an unchanged scene: %v", err)
	}
	cam.Close()
	if err := cam.Read(ctx, &frame); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("read after close: %v", err)
	}
}

func TestDecodeEmptyFrame(t *testing.T) {
	blank := image.NewGray(image.Rect(0, 0, 640, 480))
	m, err := gocv.ImageGrayToMatGray(blank)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	d := NewDecoder(Options{})
	defer d.Close()
	if _, err := d.Decode(context.Background(), m); !errors.Is(err, ErrNoSymbol) {
		t.Fatalf("blank frame: %v", err)
	}
}

func TestOpenFolder(t *testing.T) {
	dir := t.TempDir()
	img := qrFrame(t, "folder-1", 200, 320, 240)
	m, err := gocv.ImageToMatRGB(img)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !gocv.IMWrite(dir+"/a.png", m) {
		t.Fatal("write png")
	}
	src, err := Open(dir, CaptureOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	ctx := context.Background()
	if err := src.Read(ctx, &frame); err != nil {
		t.Fatal(err)
	}
	d := NewDecoder(Options{})
	defer d.Close()
	if sym, err := d.Decode(ctx, frame); err != nil || sym.Text != "folder-1" {
		t.Fatalf("decode: %+v %v", sym, err)
	}
	if err := src.Read(ctx, &frame); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("after last image: %v", err)
	}
}

// TestReader: the frame loop skips frames without a symbol, returns each
// symbol it reads, and reports the end of the stream.
func TestReader(t *testing.T) {
	dir := t.TempDir()
	for name, img := range map[string]image.Image{
		"a.png": image.NewGray(image.Rect(0, 0, 320, 240)), // nothing in front of the camera
		"b.png": qrFrame(t, "frame-b", 200, 320, 240),
		"c.png": image.NewGray(image.Rect(0, 0, 320, 240)),
		"d.png": qrFrame(t, "frame-d", 200, 320, 240),
	} {
		m, err := gocv.ImageToMatRGB(img)
		if err != nil {
			t.Fatal(err)
		}
		ok := gocv.IMWrite(dir+"/"+name, m)
		m.Close()
		if !ok {
			t.Fatal("write png")
		}
	}
	src, err := Open(dir, CaptureOpts{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	r := NewReader(src, Options{})
	defer r.Close()
	ctx := context.Background()
	for _, want := range []string{"frame-b", "frame-d"} {
		if sym, err := r.Read(ctx); err != nil || sym.Text != want || sym.Format != QR {
			t.Fatalf("read: %+v %v, want %s", sym, err, want)
		}
	}
	if _, err := r.Read(ctx); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("after the last image: %v, want end of stream", err)
	}
}

// TestReaderStopsWithContext: a reader waiting for a frame returns when
// its context ends, and reports a closed camera as the end of the stream.
func TestReaderStopsWithContext(t *testing.T) {
	cam := NewVirtualCamera()
	defer cam.Close()
	r := NewReader(cam, Options{})
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := r.Read(ctx)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
	cam.Close()
	if _, err := r.Read(context.Background()); !errors.Is(err, ErrEndOfStream) {
		t.Fatalf("read from a closed camera: %v", err)
	}
}
