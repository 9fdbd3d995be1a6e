package decode

import (
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"gocv.io/x/gocv"
)

func TestCandidates(t *testing.T) {
	bm, err := qrcode.NewQRCodeWriter().Encode("AD1:SMALL", gozxing.BarcodeFormat_QR_CODE, 0, 0,
		map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_MARGIN: 0})
	if err != nil {
		t.Fatal(err)
	}
	// paste draws img onto a blankish w×h scene at (x, y).
	paste := func(w, h, x, y int, img *image.Gray) *image.Gray {
		scene := blankish(w, h)
		b := img.Bounds()
		for j := 0; j < b.Dy(); j++ {
			copy(scene.Pix[(y+j)*w+x:(y+j)*w+x+b.Dx()], img.Pix[j*img.Stride:j*img.Stride+b.Dx()])
		}
		return scene
	}
	dim := func(img *image.Gray, lo, hi uint8) *image.Gray {
		out := image.NewGray(img.Bounds())
		for i, v := range img.Pix {
			out.Pix[i] = lo + uint8(int(v)*int(hi-lo)/255)
		}
		return out
	}
	cases := []struct {
		name string
		img  *image.Gray
		want image.Rectangle // must lie inside a region; empty: no region at all
	}{
		{"empty scene", blankish(640, 480), image.Rectangle{}},
		{"empty 720p scene", blankish(1280, 720), image.Rectangle{}},
		{"qr, 2 px modules", paste(640, 480, 400, 300, bitMatrixImage(bm, 2, 0)), image.Rect(400, 300, 400+2*bm.GetWidth(), 300+2*bm.GetHeight())},
		{"dim qr, 3 px modules", paste(640, 480, 100, 60, dim(bitMatrixImage(bm, 3, 0), 70, 110)), image.Rect(100, 60, 100+3*bm.GetWidth(), 60+3*bm.GetHeight())},
		{"qr filling the frame", bitMatrixImage(bm, 20, 40), image.Rect(40, 40, 40+20*bm.GetWidth(), 40+20*bm.GetHeight())},
		{"pdf417", pdf417Frame(t, "M1DOE/JANE EABC123", 2, 640, 480), image.Rectangle{}},
	}
	var c candidateScan
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.img.Bounds()
			regions := c.find(tc.img.Pix, b.Dx(), b.Dy(), tc.img.Stride)
			switch {
			case tc.name == "pdf417":
				if len(regions) == 0 {
					t.Fatal("no region")
				}
			case tc.want.Empty():
				if len(regions) != 0 {
					t.Fatalf("regions %v in an empty scene", regions)
				}
			default:
				for _, r := range regions {
					if tc.want.In(r) {
						return
					}
				}
				t.Fatalf("regions %v, none holds %v", regions, tc.want)
			}
		})
	}
}

func TestReadImageTransparent(t *testing.T) {
	// A code exported with a transparent background: the light modules are
	// transparent black, as many tools write them.
	bm, err := qrcode.NewQRCodeWriter().Encode("AD1:ALPHA", gozxing.BarcodeFormat_QR_CODE, 200, 200, nil)
	if err != nil {
		t.Fatal(err)
	}
	img := image.NewNRGBA(image.Rect(0, 0, 200, 200))
	for y := 0; y < 200; y++ {
		for x := 0; x < 200; x++ {
			if bm.Get(x, y) {
				img.SetNRGBA(x, y, color.NRGBA{A: 255})
			}
		}
	}
	name := filepath.Join(t.TempDir(), "alpha.png")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	m := gocv.NewMat()
	defer m.Close()
	if err := ReadImage(name, &m); err != nil {
		t.Fatal(err)
	}
	if m.Channels() != 3 || m.GetVecbAt(0, 0)[0] != 255 {
		t.Fatalf("channels %d, corner %v: want BGR on white", m.Channels(), m.GetVecbAt(0, 0))
	}
	d := NewDecoder(Options{Budget: -1})
	defer d.Close()
	if sym, err := d.Decode(t.Context(), m); err != nil || sym.Text != "AD1:ALPHA" {
		t.Fatalf("decode: %+v %v", sym, err)
	}
}
