package decode

import (
	"context"
	"errors"
	"image"
	"image/color"
	"slices"
	"testing"
	"time"

	bbdatamatrix "github.com/boombuler/barcode/datamatrix"
	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/oned"
	"github.com/makiuchi-d/gozxing/qrcode"
	"gocv.io/x/gocv"
)

// bitMatrixImage draws bm with px pixels per module and margin light
// pixels around it.
func bitMatrixImage(bm *gozxing.BitMatrix, px, margin int) *image.Gray {
	w, h := bm.GetWidth()*px+2*margin, bm.GetHeight()*px+2*margin
	img := image.NewGray(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = 235
	}
	for y := 0; y < bm.GetHeight()*px; y++ {
		for x := 0; x < bm.GetWidth()*px; x++ {
			if bm.Get(x/px, y/px) {
				img.SetGray(margin+x, margin+y, color.Gray{Y: 25})
			}
		}
	}
	return img
}

// firstPassOnly reports whether the first pass alone reads m; the cases
// below are only meaningful when it does not.
func firstPassOnly(t *testing.T, m gocv.Mat, formats []Format) bool {
	t.Helper()
	d := NewDecoder(Options{Formats: formats, Budget: -1})
	defer d.Close()
	_, err := d.Decode(context.Background(), m)
	return err == nil
}

func TestStrategyOptionalPassesRead(t *testing.T) {
	ctx := context.Background()
	c128, err := oned.NewCode128Writer().Encode("GATE-7-ROW-12", gozxing.BarcodeFormat_CODE_128, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	sideways := func(img *image.Gray) gocv.Mat {
		m := grayMat(t, img)
		defer m.Close()
		out := gocv.NewMat()
		gocv.Rotate(m, &out, gocv.Rotate90Clockwise)
		return out
	}
	tall := func(bm *gozxing.BitMatrix, px, height int) *image.Gray {
		img := image.NewGray(image.Rect(0, 0, bm.GetWidth()*px+80, height))
		for i := range img.Pix {
			img.Pix[i] = 235
		}
		for y := 20; y < height-20; y++ {
			for x := 0; x < bm.GetWidth()*px; x++ {
				if bm.Get(x/px, 0) {
					img.SetGray(40+x, y, color.Gray{Y: 25})
				}
			}
		}
		return img
	}
	cases := []struct {
		name    string
		frame   gocv.Mat
		formats []Format
		text    string
	}{
		// A Code 128 ticket held sideways: the 1D reader scans rows only.
		{"code 128 sideways", sideways(tall(c128, 3, 120)), []Format{QR, Code128}, "GATE-7-ROW-12"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			defer tc.frame.Close()
			if firstPassOnly(t, tc.frame, tc.formats) {
				t.Fatal("the first pass already reads this frame; the case tests nothing")
			}
			d := NewDecoder(Options{Formats: tc.formats, Budget: time.Hour, Share: -1})
			defer d.Close()
			sym, err := d.Decode(ctx, tc.frame)
			if err != nil {
				t.Fatal(err)
			}
			if sym.Text != tc.text {
				t.Fatalf("read %q via %s, want %q", sym.Text, sym.Pass, tc.text)
			}
		})
	}
}

func TestPassQuietAddsBorder(t *testing.T) {
	// A QR cropped to the symbol: the finder patterns touch the image edge.
	bm, err := qrcode.NewQRCodeWriter().Encode("AD1:EDGE-CUT", gozxing.BarcodeFormat_QR_CODE, 0, 0,
		map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_MARGIN: 0})
	if err != nil {
		t.Fatal(err)
	}
	m := grayMat(t, bitMatrixImage(bm, 6, 0))
	defer m.Close()
	d := NewDecoder(Options{Formats: []Format{QR}})
	defer d.Close()
	sym, ok := d.passQuiet(m, nil)
	if !ok || sym.Text != "AD1:EDGE-CUT" || sym.Pass != "quiet" {
		t.Fatalf("quiet: %+v, %v", sym, ok)
	}
	if d.work.Cols() <= m.Cols() || d.work.GetUCharAt(0, 0) != 255 {
		t.Fatalf("bordered frame %dx%d, corner %d", d.work.Cols(), d.work.Rows(), d.work.GetUCharAt(0, 0))
	}
}

func TestPassQRWarpUndoesPerspective(t *testing.T) {
	const want = "AD1:TILTED-PHONE"
	bm, err := qrcode.NewQRCodeWriter().Encode(want, gozxing.BarcodeFormat_QR_CODE, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	flat := grayMat(t, bitMatrixImage(bm, 8, 40))
	defer flat.Close()
	w, h := float32(flat.Cols()), float32(flat.Rows())
	// The top edge leans away from the camera: a strong keystone.
	src := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
	dst := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: 150, Y: 60}, {X: 420, Y: 90}, {X: 560, Y: 430}, {X: 60, Y: 400}})
	defer src.Close()
	defer dst.Close()
	hm := gocv.GetPerspectiveTransform2f(src, dst)
	defer hm.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	gocv.WarpPerspectiveWithParams(flat, &frame, hm, image.Pt(640, 480), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{R: 200, G: 200, B: 200, A: 255})

	d := NewDecoder(Options{Formats: []Format{QR}})
	defer d.Close()
	lum, err := luminance(frame)
	if err != nil {
		t.Fatal(err)
	}
	sym, ok := d.passQRWarp(frame, lum)
	if !ok || sym.Text != want || sym.Pass != "qr-warp" {
		t.Fatalf("qr-warp: %+v, %v", sym, ok)
	}
}

func TestShareBoundsOptionalPasses(t *testing.T) {
	// Every clock reading advances 1 ms, so a pass "costs" the readings
	// around it. With Share 0.25 the optional passes may spend a quarter of
	// the first passes' time: most frames run none.
	readings := func(share float64, frames int) (perFrame []int) {
		clk := &fakeClock{t: time.Unix(0, 0), step: time.Millisecond}
		d := NewDecoder(Options{Formats: []Format{QR}, Budget: time.Hour, Share: share, Now: clk.now})
		defer d.Close()
		m := grayMat(t, blankish(160, 120))
		defer m.Close()
		for i := 0; i < frames; i++ {
			before := clk.t
			if _, err := d.Decode(context.Background(), m); !errors.Is(err, ErrNoSymbol) {
				t.Fatal(err)
			}
			perFrame = append(perFrame, int(clk.t.Sub(before)/time.Millisecond))
		}
		return perFrame
	}
	unlimited := readings(-1, 4)
	for _, n := range unlimited {
		if n < 2*len(optionalPasses) {
			t.Fatalf("Share -1: %v clock readings per frame, want every pass each frame", unlimited)
		}
	}
	limited := readings(0.25, 40)
	withPass, total := 0, 0
	for _, n := range limited {
		total += n
		if n > 3 {
			withPass++
		}
	}
	if withPass == 0 || withPass > 40/3 {
		t.Fatalf("Share 0.25: %d of 40 frames ran optional passes (%v)", withPass, limited)
	}
}

func TestLatin1(t *testing.T) {
	if got := latin1("ab\xf3\xe9"); got != "abóé" {
		t.Fatalf("latin1 = %q", got)
	}
	if got := latin1("plain"); got != "plain" {
		t.Fatalf("latin1 = %q", got)
	}
}

func TestRotationSkipsPassesThatNeverFit(t *testing.T) {
	// 1 ms per clock reading: the first pass "costs" 1 ms, the QR locator
	// passes are estimated at 20 ms, beyond the 12 ms budget. They must be
	// skipped, not waited for, so the rotation reaches the last pass.
	clk := &fakeClock{t: time.Unix(0, 0), step: time.Millisecond}
	d := NewDecoder(Options{Formats: []Format{QR}, Budget: 12 * time.Millisecond, Now: clk.now})
	defer d.Close()
	m := grayMat(t, blankish(160, 120))
	defer m.Close()
	frames := func(n int) {
		for i := 0; i < n; i++ {
			if _, err := d.Decode(context.Background(), m); !errors.Is(err, ErrNoSymbol) {
				t.Fatal(err)
			}
		}
	}
	frames(probeFirst - 1)
	for _, p := range d.passes {
		ran := p.cost > 0
		if big := p.name == "qr-crop" || p.name == "qr-warp"; ran == big {
			t.Errorf("pass %s: ran %v", p.name, ran)
		}
	}
	// Skipped is not switched off: once they have waited probeFirst
	// frames they run to re-measure, and here they fit.
	frames(200)
	for _, p := range d.passes {
		if p.cost == 0 {
			t.Errorf("pass %s never ran in %d frames", p.name, probeFirst-1+200)
		}
	}
}

// TestEstimatesHeal: one slow measurement of a pass (a GC pause, a busy
// core) must not switch it off. The inverted pass, which reads dark-mode
// codes, is measured once at a whole second; it runs again within a
// bounded number of frames, its estimate comes back, and a dark-mode code
// shown afterwards is read.
func TestEstimatesHeal(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0), step: 100 * time.Microsecond}
	d := NewDecoder(Options{Formats: []Format{QR}, Now: clk.now})
	defer d.Close()
	inv := slices.IndexFunc(d.passes, func(p pass) bool { return p.name == "inverted" })
	runs, stall := 0, true
	orig := d.passes[inv].run
	d.passes[inv].run = func(d *Decoder, gray gocv.Mat, src gozxing.LuminanceSource) (Symbol, bool) {
		runs++
		s, ok := orig(d, gray, src)
		if stall {
			clk.t = clk.t.Add(time.Second) // the slow measurement
			stall = false
		}
		return s, ok
	}
	empty := grayMat(t, blankish(160, 120))
	defer empty.Close()
	ctx := context.Background()
	frame := 0
	decodeUntil := func(m gocv.Mat, stop func() bool, limit int) {
		t.Helper()
		for n := 0; !stop(); n++ {
			if n == limit {
				t.Fatalf("frame %d: condition not met within %d frames (inverted ran %d times, estimate %v)", frame, limit, runs, d.passes[inv].cost)
			}
			frame++
			if _, err := d.Decode(ctx, m); err != nil && !errors.Is(err, ErrNoSymbol) {
				t.Fatal(err)
			}
		}
	}
	decodeUntil(empty, func() bool { return runs == 1 }, 1)
	if d.passes[inv].cost < time.Second {
		t.Fatalf("estimate after the stall: %v", d.passes[inv].cost)
	}
	// Bounded: probeFirst frames of waiting, plus one rotation of the
	// other passes to reach its turn.
	bound := probeFirst + 2*len(d.passes)
	decodeUntil(empty, func() bool { return runs == 2 }, bound)
	if est := d.passes[inv].cost; est > DefaultBudget {
		t.Fatalf("estimate after the probe: %v, want within the budget", est)
	}
	// Back in the normal rotation: it runs again within one rotation.
	decodeUntil(empty, func() bool { return runs == 3 }, 2*len(d.passes))

	dark := grayMat(t, invertGray(qrFrame(t, "AD1:DARK-AFTER-STALL", 100, 160, 120)))
	defer dark.Close()
	for n := 0; ; n++ {
		if n == 2*len(d.passes) {
			t.Fatalf("dark-mode code not read within %d frames", n)
		}
		sym, err := d.Decode(ctx, dark)
		if err == nil {
			if sym.Text != "AD1:DARK-AFTER-STALL" {
				t.Fatalf("read %+v", sym)
			}
			break
		}
	}
}

// TestSlowPassProbedRarely: a pass that really costs more than the budget
// is re-measured, but ever more rarely.
func TestSlowPassProbedRarely(t *testing.T) {
	clk := &fakeClock{t: time.Unix(0, 0), step: 100 * time.Microsecond}
	d := NewDecoder(Options{Formats: []Format{QR}, Now: clk.now})
	defer d.Close()
	inv := slices.IndexFunc(d.passes, func(p pass) bool { return p.name == "inverted" })
	runs := 0
	d.passes[inv].run = func(*Decoder, gocv.Mat, gozxing.LuminanceSource) (Symbol, bool) {
		runs++
		clk.t = clk.t.Add(time.Second)
		return Symbol{}, false
	}
	m := grayMat(t, blankish(160, 120))
	defer m.Close()
	for i := 0; i < 1100; i++ {
		if _, err := d.Decode(context.Background(), m); !errors.Is(err, ErrNoSymbol) {
			t.Fatal(err)
		}
	}
	// Probes 32, 64, 128, 256 and 512 frames apart (plus the frames each
	// rotation takes to reach it): 5 or 6 runs in 1100 frames.
	if runs < 4 || runs > 7 {
		t.Fatalf("a pass costing 1 s ran %d times in 1100 frames", runs)
	}
}

// invertGray swaps light and dark (a dark-mode phone screen).
func invertGray(img image.Image) *image.Gray {
	b := img.Bounds()
	g := image.NewGray(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, _, _, _ := img.At(x, y).RGBA()
			g.SetGray(x, y, color.Gray{255 - uint8(r>>8)})
		}
	}
	return g
}

// turned returns img turned by deg degrees on a canvas of its size, the
// corners filled with grey.
func turned(t *testing.T, img image.Image, deg float64) gocv.Mat {
	t.Helper()
	m := grayMat(t, img)
	defer m.Close()
	rot := gocv.GetRotationMatrix2D(image.Pt(m.Cols()/2, m.Rows()/2), deg, 1)
	defer rot.Close()
	out := gocv.NewMat()
	gocv.WarpAffineWithParams(m, &out, rot, image.Pt(m.Cols(), m.Rows()), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{R: 200, G: 200, B: 200, A: 255})
	return out
}

func TestPassDeskewTurnsPDF417Upright(t *testing.T) {
	const want = "M1DOE/JANE EABC123 LHRJFKBA 0117"
	for _, deg := range []float64{-35, -20, 25, 40} {
		m := turned(t, pdf417Frame(t, want, 2, 640, 480), deg)
		if firstPassOnly(t, m, []Format{PDF417}) {
			m.Close()
			t.Fatalf("%v°: the first pass reads it; the case tests nothing", deg)
		}
		d := NewDecoder(Options{Formats: []Format{PDF417}, Budget: -1})
		if _, err := d.Decode(context.Background(), m); !errors.Is(err, ErrNoSymbol) || len(d.regions) == 0 {
			t.Fatalf("%v°: first pass %v, regions %v", deg, err, d.regions)
		}
		sym, ok := d.passDeskew(m, nil)
		if !ok || sym.Text != want || sym.Pass != "deskew" {
			t.Errorf("%v°: deskew read %+v, %v", deg, sym, ok)
		}
		d.Close()
		m.Close()
	}
}

func TestPassRegionsEnlargesTinyCodes(t *testing.T) {
	const want = "AD1:6BFR3$KQ0S9%ZX-EXAMPLE-TICKET-PAYLOAD-TINY"
	bm, err := qrcode.NewQRCodeWriter().Encode(want, gozxing.BarcodeFormat_QR_CODE, 0, 0,
		map[gozxing.EncodeHintType]interface{}{gozxing.EncodeHintType_MARGIN: 4})
	if err != nil {
		t.Fatal(err)
	}
	// 1.5 px per module: drawn at 3 px, then halved by area averaging.
	big := grayMat(t, bitMatrixImage(bm, 3, 0))
	defer big.Close()
	small := gocv.NewMat()
	defer small.Close()
	gocv.Resize(big, &small, image.Point{}, 0.5, 0.5, gocv.InterpolationArea)
	scene := grayMat(t, blankish(640, 480))
	defer scene.Close()
	roi := scene.Region(image.Rect(300, 200, 300+small.Cols(), 200+small.Rows()))
	small.CopyTo(&roi)
	roi.Close()
	if firstPassOnly(t, scene, []Format{QR}) {
		t.Fatal("the first pass reads it; the case tests nothing")
	}
	d := NewDecoder(Options{Formats: []Format{QR}, Budget: -1})
	defer d.Close()
	if _, err := d.Decode(context.Background(), scene); !errors.Is(err, ErrNoSymbol) {
		t.Fatal(err)
	}
	sym, ok := d.passRegions(scene, nil)
	if !ok || sym.Text != want || sym.Pass != "regions" {
		t.Fatalf("regions read %+v, %v (regions %v)", sym, ok, d.regions)
	}
}

// TestPassQuadUndoesPerspective: a DataMatrix code turned away from the
// camera (the far edge about half as long as the near one) that gozxing's
// detector does not find is read once its quadrilateral is mapped back
// onto a square.
func TestPassQuadUndoesPerspective(t *testing.T) {
	const want = "UIC918 RAIL TICKET 0042 COACH 7 SEAT 61"
	az, err := bbdatamatrix.Encode(want)
	if err != nil {
		t.Fatal(err)
	}
	b := az.Bounds()
	flatImg := image.NewGray(image.Rect(0, 0, b.Dx()*8+64, b.Dy()*8+64))
	for i := range flatImg.Pix {
		flatImg.Pix[i] = 235
	}
	for y := 0; y < b.Dy()*8; y++ {
		for x := 0; x < b.Dx()*8; x++ {
			if r, _, _, _ := az.At(x/8, y/8).RGBA(); r < 0x8000 {
				flatImg.SetGray(32+x, 32+y, color.Gray{Y: 25})
			}
		}
	}
	flat := grayMat(t, flatImg)
	defer flat.Close()
	w, h := float32(flat.Cols()), float32(flat.Rows())
	src := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: 0, Y: 0}, {X: w, Y: 0}, {X: w, Y: h}, {X: 0, Y: h}})
	dst := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: 230, Y: 80}, {X: 380, Y: 120}, {X: 470, Y: 400}, {X: 120, Y: 440}})
	defer src.Close()
	defer dst.Close()
	hm := gocv.GetPerspectiveTransform2f(src, dst)
	defer hm.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	gocv.WarpPerspectiveWithParams(flat, &frame, hm, image.Pt(640, 480), gocv.InterpolationLinear, gocv.BorderConstant, color.RGBA{R: 120, G: 120, B: 120, A: 255})
	if firstPassOnly(t, frame, []Format{DataMatrix}) {
		t.Fatal("the first pass reads it; the case tests nothing")
	}
	d := NewDecoder(Options{Formats: []Format{DataMatrix}, Budget: -1})
	defer d.Close()
	if _, err := d.Decode(context.Background(), frame); !errors.Is(err, ErrNoSymbol) {
		t.Fatal(err)
	}
	sym, ok := d.passQuad(frame, nil)
	if !ok || sym.Text != want || sym.Pass != "quad" {
		t.Fatalf("quad read %+v, %v (regions %v)", sym, ok, d.regions)
	}
}
