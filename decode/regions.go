package decode

import (
	"cmp"
	"image"
	"image/color"
	"math"
	"slices"

	"github.com/makiuchi-d/gozxing"
	"gocv.io/x/gocv"
)

// Passes on the frame's candidate regions (d.regions, found by the first
// pass): small codes enlarged, and codes turned in the image plane turned
// back upright.

// maxRegions bounds the regions a pass looks at (the largest first).
const maxRegions = 4

// passRegions cuts each candidate region out of the frame and enlarges it
// when it is small, so that a code whose modules are two pixels or less
// gets four to eight (cubic interpolation keeps edges smooth for the
// binarizer), and so that the binarizer sees the code without the rest of
// the scene. Hybrid binarizer, then the global one.
func (d *Decoder) passRegions(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	for i, r := range d.regions {
		if i == maxRegions {
			break
		}
		side := max(r.Dx(), r.Dy())
		if side < 16 || side >= 400 || r == image.Rect(0, 0, gray.Cols(), gray.Rows()) && side >= 200 {
			continue
		}
		f := min(4, 640/float64(side))
		region := gray.Region(r)
		gocv.Resize(region, &d.work3, image.Point{}, f, f, gocv.InterpolationCubic)
		region.Close()
		pad(d.work3, &d.work, 0.05)
		if sym, ok := d.tryMat(d.work, "regions", allReaders); ok {
			return sym, true
		}
		if sym, ok := d.tryMatWith(d.work, "regions", allReaders, globalBinarizer); ok {
			return sym, true
		}
	}
	return Symbol{}, false
}

// passDeskew turns each candidate region upright: the dominant direction
// of its edges (a histogram of gradient directions modulo 90°, weighted by
// strength) gives the angle by which the code is turned in the image
// plane, and the region is rotated back (enlarged when small). Readers
// that scan rows — PDF417, the linear codes — and detectors that expect
// near-upright symbols need it beyond 10–15°. Both binarizers, then
// light and dark swapped (a dark-mode boarding pass).
func (d *Decoder) passDeskew(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	for i, r := range d.regions {
		if i == maxRegions {
			break
		}
		if min(r.Dx(), r.Dy()) < 24 {
			continue
		}
		region := gray.Region(r)
		angle, ok := d.dominantAngle(region)
		if !ok || math.Abs(angle) < 6 {
			region.Close()
			continue
		}
		f := 1.0
		if s := max(r.Dx(), r.Dy()); s < 480 {
			f = min(2, 640/float64(s))
		}
		d.rotate(region, &d.work, angle, f)
		region.Close()
		for _, b := range []binarization{hybridBinarizer, globalBinarizer, invertedHybrid} {
			if sym, ok := d.tryMatWith(d.work, "deskew", allReaders, b); ok {
				return sym, true
			}
		}
	}
	return Symbol{}, false
}

// dominantAngle returns the angle in degrees, in [-45, 45), by which the
// edges of m are turned from the axes, and whether there is a clear one.
func (d *Decoder) dominantAngle(m gocv.Mat) (float64, bool) {
	gocv.Sobel(m, &d.work, gocv.MatTypeCV32F, 1, 0, 3, 1, 0, gocv.BorderReplicate)
	gocv.Sobel(m, &d.work2, gocv.MatTypeCV32F, 0, 1, 3, 1, 0, gocv.BorderReplicate)
	gocv.CartToPolar(d.work, d.work2, &d.work3, &d.work4, true)
	mag, err1 := d.work3.DataPtrFloat32()
	ang, err2 := d.work4.DataPtrFloat32()
	if err1 != nil || err2 != nil {
		return 0, false
	}
	var hist [90]float64
	total := 0.0
	for i, a := range ang {
		w := float64(mag[i])
		if w < 40 { // noise, flat areas
			continue
		}
		hist[int(a)%90] += w
		total += w
	}
	if total == 0 {
		return 0, false
	}
	// Smooth over ±2°, circularly, and take the peak.
	best, bestV := 0, 0.0
	for b := range hist {
		v := 0.0
		for k := -2; k <= 2; k++ {
			v += hist[(b+k+90)%90]
		}
		if v > bestV {
			best, bestV = b, v
		}
	}
	// A clear direction holds a good share of the edge strength (a code's
	// edges run two ways, 90° apart, which fold onto one bin).
	if bestV < 0.15*total {
		return 0, false
	}
	a := float64(best)
	if a >= 45 {
		a -= 90
	}
	return a, true
}

// rotate turns src by angle degrees (counter-clockwise, OpenCV's sense:
// what undoes a code turned by angle) and scales it by f into dst, on a
// canvas large enough to hold it, the corners filled by replicating the
// border.
func (d *Decoder) rotate(src gocv.Mat, dst *gocv.Mat, angle, f float64) {
	w, h := float64(src.Cols()), float64(src.Rows())
	rad := angle * math.Pi / 180
	cw := f * (w*math.Abs(math.Cos(rad)) + h*math.Abs(math.Sin(rad)))
	ch := f * (w*math.Abs(math.Sin(rad)) + h*math.Abs(math.Cos(rad)))
	m := gocv.GetRotationMatrix2D(image.Pt(int(w/2), int(h/2)), angle, f)
	defer m.Close()
	m.SetDoubleAt(0, 2, m.GetDoubleAt(0, 2)+cw/2-float64(int(w/2)))
	m.SetDoubleAt(1, 2, m.GetDoubleAt(1, 2)+ch/2-float64(int(h/2)))
	gocv.WarpAffineWithParams(src, dst, m, image.Pt(int(cw), int(ch)), gocv.InterpolationLinear, gocv.BorderReplicate, color.RGBA{})
}

// passQuad undoes perspective: in each candidate region it finds the
// quadrilateral the code covers — the modules closed into one blob
// (Otsu threshold, morphological closing), its outline simplified to four
// corners — and maps it onto an upright rectangle with a quiet-zone
// margin, enlarged when small. It serves every symbology, for codes
// turned 30–45° away from the camera; both polarities (dark modules on
// light, and dark-mode screens).
func (d *Decoder) passQuad(gray gocv.Mat, _ gozxing.LuminanceSource) (Symbol, bool) {
	for i, r := range d.regions {
		if i == 2 {
			break
		}
		if min(r.Dx(), r.Dy()) < 24 {
			continue
		}
		region := gray.Region(r)
		for _, darkModules := range []bool{true, false} {
			quad, ok := d.findQuad(region, darkModules)
			if !ok {
				continue
			}
			d.warpQuad(region, quad)
			bins := []binarization{hybridBinarizer, globalBinarizer}
			if !darkModules {
				bins = []binarization{invertedHybrid, hybridBinarizer}
			}
			for _, b := range bins {
				if sym, ok := d.tryMatWith(d.work, "quad", allReaders, b); ok {
					region.Close()
					return sym, true
				}
			}
		}
		region.Close()
	}
	return Symbol{}, false
}

// findQuad returns the corners (clockwise from the top-left) of the
// largest compact blob of dark (or light) pixels in m that is neither
// tiny nor the whole of m.
func (d *Decoder) findQuad(m gocv.Mat, darkModules bool) ([4]gocv.Point2f, bool) {
	var quad [4]gocv.Point2f
	t := gocv.ThresholdBinary
	if darkModules {
		t = gocv.ThresholdBinaryInv
	}
	gocv.Threshold(m, &d.work, 0, 255, t|gocv.ThresholdOtsu)
	k := max(3, min(m.Cols(), m.Rows())/16) | 1
	kernel := gocv.GetStructuringElement(gocv.MorphRect, image.Pt(k, k))
	defer kernel.Close()
	gocv.MorphologyEx(d.work, &d.work2, gocv.MorphClose, kernel)
	contours := gocv.FindContours(d.work2, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	area := float64(m.Cols() * m.Rows())
	best, bestArea := -1, 0.0
	for i := 0; i < contours.Size(); i++ {
		a := gocv.ContourArea(contours.At(i))
		if a > bestArea && a > 0.04*area && a < 0.9*area {
			best, bestArea = i, a
		}
	}
	if best < 0 {
		return quad, false
	}
	c := contours.At(best)
	var pts []image.Point
	peri := gocv.ArcLength(c, true)
	for _, eps := range []float64{0.02, 0.04, 0.06} {
		approx := gocv.ApproxPolyDP(c, eps*peri, true)
		if approx.Size() == 4 {
			pts = approx.ToPoints()
		}
		approx.Close()
		if pts != nil {
			break
		}
	}
	if pts == nil {
		pts = gocv.MinAreaRect(c).Points
	}
	if len(pts) != 4 {
		return quad, false
	}
	// A compact blob: its area is most of its outline's quadrilateral.
	if bestArea < 0.6*quadArea(pts) {
		return quad, false
	}
	// Order clockwise (image y down) starting at the top-left.
	cx, cy := 0.0, 0.0
	for _, p := range pts {
		cx, cy = cx+float64(p.X)/4, cy+float64(p.Y)/4
	}
	slices.SortFunc(pts, func(a, b image.Point) int {
		aa := math.Atan2(float64(a.Y)-cy, float64(a.X)-cx)
		ab := math.Atan2(float64(b.Y)-cy, float64(b.X)-cx)
		return cmp.Compare(aa, ab)
	})
	// atan2 order runs from the left (−π) through the top: rotate so that
	// the point nearest the top-left corner comes first.
	first := 0
	for i, p := range pts {
		if p.X+p.Y < pts[first].X+pts[first].Y {
			first = i
		}
	}
	for i := range quad {
		p := pts[(first+i)%4]
		quad[i] = gocv.Point2f{X: float32(p.X), Y: float32(p.Y)}
	}
	return quad, true
}

func quadArea(p []image.Point) float64 {
	a := 0
	for i := range p {
		j := (i + 1) % len(p)
		a += p[i].X*p[j].Y - p[j].X*p[i].Y
	}
	return math.Abs(float64(a)) / 2
}

// warpQuad maps quad (clockwise from the top-left) of src onto an upright
// rectangle in d.work, its sides the quad's longer opposite sides, enlarged
// to at least 300 px on its shorter side (at most 3×), with a margin of a
// tenth on every edge.
func (d *Decoder) warpQuad(src gocv.Mat, quad [4]gocv.Point2f) {
	dist := func(a, b gocv.Point2f) float64 { return math.Hypot(float64(a.X-b.X), float64(a.Y-b.Y)) }
	w := math.Max(dist(quad[0], quad[1]), dist(quad[3], quad[2]))
	h := math.Max(dist(quad[0], quad[3]), dist(quad[1], quad[2]))
	f := math.Min(3, math.Max(1, 300/math.Min(w, h)))
	w, h = w*f, h*f
	m := 0.1 * math.Max(w, h)
	dst := []gocv.Point2f{
		{X: float32(m), Y: float32(m)}, {X: float32(m + w), Y: float32(m)},
		{X: float32(m + w), Y: float32(m + h)}, {X: float32(m), Y: float32(m + h)},
	}
	sv, dv := gocv.NewPoint2fVectorFromPoints(quad[:]), gocv.NewPoint2fVectorFromPoints(dst)
	defer sv.Close()
	defer dv.Close()
	hm := gocv.GetPerspectiveTransform2f(sv, dv)
	defer hm.Close()
	gocv.WarpPerspectiveWithParams(src, &d.work, hm, image.Pt(int(w+2*m), int(h+2*m)), gocv.InterpolationCubic, gocv.BorderReplicate, color.RGBA{})
}
