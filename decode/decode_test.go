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

func TestDebouncer(t *testing.T) {
	d := NewDebouncer(2 * time.Second)
	t0 := time.Date(2026, 11, 27, 19, 0, 0, 0, time.UTC)
	steps := []struct {
		text string
		at   time.Duration
		want bool
	}{
		{"A", 0, true},
		{"A", 500 * time.Millisecond, false}, // next frames
		{"B", 600 * time.Millisecond, true},
		{"A", 2 * time.Second, false}, // still held up: window extends
		{"A", 5 * time.Second, true},  // presented again
	}
	for _, s := range steps {
		if got := d.Fresh(s.text, t0.Add(s.at)); got != s.want {
			t.Errorf("%s at %v: fresh=%v want %v", s.text, s.at, got, s.want)
		}
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
