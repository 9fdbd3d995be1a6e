package aztec

import (
	"math"
	"slices"

	"github.com/makiuchi-d/gozxing"
)

// picture is the binarized picture a symbol is looked for in.
type picture struct {
	m    *gozxing.BitMatrix
	w, h int
}

// dark reports whether the pixel holding point p is dark; outside the
// image everything is light.
func (im *picture) dark(x, y float64) bool {
	if x < 0 || y < 0 {
		return false
	}
	xi, yi := int(x), int(y)
	if xi >= im.w || yi >= im.h {
		return false
	}
	return im.m.Get(xi, yi)
}

// center is a candidate bull's eye: its centre in pixels and the width of
// its 7-module core along the row it was found on.
type center struct {
	x, y, size float64
}

// findCenters scans the rows for the bull's eye's core as a row crosses
// it: light, dark, light, dark (the centre), light, dark, light, each one
// module, between two dark rings — seven runs whose neighbouring pairs
// have about the same width (pairs, so that blur thickening dark and
// thinning light runs does not matter). Each hit is checked across the
// column and both diagonals and re-centred.
func findCenters(im *picture, limit int) []center {
	var found []center
	row := gozxing.NewBitArray(im.w)
	runs := make([]int, 0, 64)
	for y := 0; y < im.h; y++ {
		row = im.m.GetRow(y, row)
		// Runs, starting with a light one (possibly empty).
		runs = runs[:0]
		x, dark := 0, false
		for x < im.w {
			var next int
			if dark {
				next = row.GetNextUnset(x)
			} else {
				next = row.GetNextSet(x)
			}
			runs = append(runs, next-x)
			x, dark = next, !dark
		}
		// runs[i] is dark for odd i. The core's seven runs start at a
		// light run i (even): runs i..i+6, the centre at i+3.
		start := 0
		for i := 2; i+7 < len(runs); i += 2 {
			start += runs[i-2] + runs[i-1]
			if !coreRuns(runs[i-1 : i+8]) {
				continue
			}
			cx := float64(start+runs[i]+runs[i+1]+runs[i+2]) + float64(runs[i+3])/2
			size := 0
			for _, r := range runs[i : i+7] {
				size += r
			}
			if near(found, cx, float64(y)+0.5) {
				continue
			}
			if c, ok := checkCenter(im, cx, float64(y)+0.5, float64(size)); ok && !near(found, c.x, c.y) {
				found = append(found, c)
				if len(found) == limit {
					return found
				}
			}
		}
	}
	return found
}

// coreRuns checks nine runs: a dark ring, the seven core runs, a dark ring.
func coreRuns(r []int) bool {
	lo, hi := math.MaxInt, 0
	for i := 1; i < 7; i++ {
		v := r[i] + r[i+1]
		lo, hi = min(lo, v), max(hi, v)
	}
	if hi*3 > lo*4+3 {
		return false
	}
	// The rings outside the core are at least about as wide as the centre.
	return r[0] >= r[4]-2 && r[8] >= r[4]-2
}

func near(cs []center, x, y float64) bool {
	for _, c := range cs {
		if math.Hypot(c.x-x, c.y-y) < c.size/2 {
			return true
		}
	}
	return false
}

// checkCenter crosses a candidate vertically and along both diagonals,
// requiring the same pattern (centre, then three edges each way at about
// equal spacing), and moves it to the middle of the centre module.
func checkCenter(im *picture, x, y, size float64) (center, bool) {
	spread := 0.0
	for _, d := range [][2]float64{{0, 1}, {1, 0}, {1, 1}, {1, -1}} {
		s, shift, ok := crossCore(im, x, y, d[0], d[1], size)
		if !ok {
			return center{}, false
		}
		x, y = x+shift*d[0], y+shift*d[1]
		spread += s * math.Hypot(d[0], d[1])
	}
	return center{x, y, spread / 4}, true
}

// crossCore walks from (x, y) both ways along (dx, dy) in whole steps and
// returns the distance between the third edges on each side, and how far
// along the direction the centre module's middle lies from (x, y).
func crossCore(im *picture, x, y, dx, dy, size float64) (spread, shift float64, ok bool) {
	if !im.dark(x, y) {
		return 0, 0, false
	}
	limit := int(2*size) + 4
	var edges [2][4]int
	for side, sign := range []float64{1, -1} {
		color, n := true, 0
		for i := 1; i <= limit && n < 4; i++ {
			if im.dark(x+sign*float64(i)*dx, y+sign*float64(i)*dy) != color {
				edges[side][n] = i
				n++
				color = !color
			}
		}
		if n < 4 {
			return 0, 0, false
		}
	}
	// Widths: the centre, then the pairs of rings on each side.
	centre := edges[0][0] + edges[1][0] - 1
	widths := []int{centre}
	for side := 0; side < 2; side++ {
		for k := 1; k < 4; k++ {
			widths = append(widths, edges[side][k]-edges[side][k-1])
		}
	}
	lo, hi := math.MaxInt, 0
	for side := 0; side < 2; side++ {
		prev := centre
		for k := 1; k < 4; k++ {
			w := edges[side][k] - edges[side][k-1]
			v := w + prev
			lo, hi = min(lo, v), max(hi, v)
			prev = w
		}
	}
	if hi*3 > lo*4+3 {
		return 0, 0, false
	}
	along := math.Hypot(dx, dy)
	total := float64(edges[0][3]+edges[1][3]-1) * along
	// The horizontal size and this one agree within a factor (tilt makes
	// them differ).
	if total > 3*size || total < size/3 {
		return 0, 0, false
	}
	return float64(edges[0][3] + edges[1][3] - 1), float64(edges[0][0]-edges[1][0]) / 2, true
}

// rays is the number of directions in which the rings' edges are found.
const rays = 64

// ringEdges walks out from c along rays directions and returns, for each,
// the distance in pixels to each of the first n colour changes (ringEdges[k]
// holds the k+1-th edge of every ray, NaN where not found). A change that
// does not last a fifth of a module is taken for noise.
func ringEdges(im *picture, c center, n int) [][]float64 {
	module := c.size / 7
	step := math.Min(0.5, module/4)
	minRun := max(1, int(module/5/step))
	maxDist := module * (float64(n) + 3) * 1.6
	edges := make([][]float64, n)
	for k := range edges {
		edges[k] = make([]float64, rays)
		for i := range edges[k] {
			edges[k][i] = math.NaN()
		}
	}
	for i := 0; i < rays; i++ {
		a := 2 * math.Pi * float64(i) / rays
		dx, dy := math.Cos(a), math.Sin(a)
		color := true
		k := 0
		for t := step; t < maxDist && k < n; t += step {
			if im.dark(c.x+t*dx, c.y+t*dy) == color {
				continue
			}
			// Does the new colour last?
			lasts := true
			for j := 1; j <= minRun; j++ {
				if im.dark(c.x+(t+float64(j)*step)*dx, c.y+(t+float64(j)*step)*dy) == color {
					lasts = false
					break
				}
			}
			if !lasts {
				continue
			}
			edges[k][i] = t - step/2
			k++
			color = !color
		}
	}
	return edges
}

// squareCorners fits the four sides of one ring edge (a square around the
// centre, seen in perspective) to the edge points d at the ray angles,
// and returns its corners in ray order (clockwise on the image).
func squareCorners(c center, d []float64) ([4]pt, [4][]pt, bool) {
	var corners [4]pt
	var sidePts [4][]pt
	// The corners are the farthest points: the global maximum, then the
	// maximum near each quarter turn from it.
	r := func(i int) float64 {
		v := d[(i%rays+rays)%rays]
		if math.IsNaN(v) {
			return -1
		}
		return v
	}
	// Corners are looked for on the median of three neighbouring rays, so
	// that one ray that missed an edge (and ran on to the next) does not
	// pass for a corner.
	med := func(i int) float64 {
		a, b, c := r(i-1), r(i), r(i+1)
		return max(min(a, b), min(max(a, b), c))
	}
	best := 0
	for i := 1; i < rays; i++ {
		if med(i) > med(best) {
			best = i
		}
	}
	if med(best) <= 0 {
		return corners, sidePts, false
	}
	idx := [4]int{best}
	for q := 1; q < 4; q++ {
		want := best + q*rays/4
		m := want
		for i := want - rays/8; i <= want+rays/8; i++ {
			if med(i) > med(m) {
				m = i
			}
		}
		idx[q] = m
	}
	for q := 1; q < 4; q++ {
		if idx[q] <= idx[q-1] {
			return corners, sidePts, false
		}
	}
	// Fit each side to the points strictly between its corners, leaving
	// out the one next to each corner (blur rounds corners).
	var sides [4]line
	for q := 0; q < 4; q++ {
		from, to := idx[q], idx[(q+1)%4]
		if q == 3 {
			to += rays
		}
		var ps []pt
		for i := from + 2; i <= to-2; i++ {
			v := r(i)
			if v <= 0 {
				continue
			}
			a := 2 * math.Pi * float64(i) / rays
			ps = append(ps, pt{c.x + v*math.Cos(a), c.y + v*math.Sin(a)})
		}
		l, ok := fitLineRobust(ps)
		if !ok {
			return corners, sidePts, false
		}
		sides[q] = l
		sidePts[q] = ps
	}
	for q := 0; q < 4; q++ {
		p, ok := intersect(sides[(q+3)%4], sides[q])
		if !ok {
			return corners, sidePts, false
		}
		corners[q] = p
	}
	// Sanity: the corners lie about where the rays put them.
	for q := 0; q < 4; q++ {
		a := 2 * math.Pi * float64(idx[q]) / rays
		want := pt{c.x + med(idx[q])*math.Cos(a), c.y + med(idx[q])*math.Sin(a)}
		if math.Hypot(corners[q].x-want.x, corners[q].y-want.y) > 0.5*med(idx[q]) {
			return corners, sidePts, false
		}
	}
	return corners, sidePts, true
}

// locate fits the homography of a candidate to the ring edges kth (1-based:
// the edge between Chebyshev radius k-1 and k lies at k-0.5 modules) from
// the core, for the ks given. Each edge is a square seen in perspective;
// its corners (squareCorners) say which side each edge point lies on, and
// every point then says that the inverse map takes it onto that side's
// line (u or v = ±(k-0.5)): a linear least-squares problem over all the
// points, much less sensitive to a pixel's error than the corners alone.
func locate(c center, edges [][]float64, ks []int) (homography, bool) {
	type constraint struct {
		p     pt
		isU   bool    // the point's u (else v) is known
		value float64 // … and equals this
	}
	var cons []constraint
	var src, dst []pt // corners, for a first estimate
	ref := 0.0        // direction of the first square's first corner
	for n, k := range ks {
		if k > len(edges) {
			return homography{}, false
		}
		q, sides, ok := squareCorners(c, edges[k-1])
		if !ok {
			return homography{}, false
		}
		// Each square's corners start at the one in the direction of the
		// first square's first corner, so that all correspond.
		angle := func(p pt) float64 { return math.Atan2(p.y-c.y, p.x-c.x) }
		if n == 0 {
			ref = angle(q[0])
		} else {
			first, best := 0, math.Inf(1)
			for i, p := range q {
				d := math.Abs(math.Remainder(angle(p)-ref, 2*math.Pi))
				if d < best {
					first, best = i, d
				}
			}
			q = [4]pt{q[first], q[(first+1)%4], q[(first+2)%4], q[(first+3)%4]}
			sides = [4][]pt{sides[first], sides[(first+1)%4], sides[(first+2)%4], sides[(first+3)%4]}
		}
		h := float64(k) - 0.5
		src = append(src, pt{-h, -h}, pt{h, -h}, pt{h, h}, pt{-h, h})
		dst = append(dst, q[:]...)
		// Side q runs from corner q to corner q+1: top (v = -h), right
		// (u = h), bottom (v = h), left (u = -h).
		for side, ps := range sides {
			for _, p := range ps {
				switch side {
				case 0:
					cons = append(cons, constraint{p, false, -h})
				case 1:
					cons = append(cons, constraint{p, true, h})
				case 2:
					cons = append(cons, constraint{p, false, h})
				default:
					cons = append(cons, constraint{p, true, -h})
				}
			}
		}
	}
	hc, ok := fitHomography(src, dst)
	if !ok {
		return hc, false
	}
	// The inverse map G (image to modules), normalized image coordinates.
	cx, cy, scale := 0.0, 0.0, 0.0
	for _, k := range cons {
		cx, cy = cx+k.p.x, cy+k.p.y
	}
	cx, cy = cx/float64(len(cons)), cy/float64(len(cons))
	for _, k := range cons {
		scale += math.Hypot(k.p.x-cx, k.p.y-cy)
	}
	if scale == 0 {
		return hc, true
	}
	scale = math.Sqrt2 * float64(len(cons)) / scale
	var ata [8][8]float64
	var atb [8]float64
	for _, k := range cons {
		x, y := (k.p.x-cx)*scale, (k.p.y-cy)*scale
		var row [8]float64
		if k.isU {
			row = [8]float64{x, y, 1, 0, 0, 0, -k.value * x, -k.value * y}
		} else {
			row = [8]float64{0, 0, 0, x, y, 1, -k.value * x, -k.value * y}
		}
		for i := 0; i < 8; i++ {
			atb[i] += row[i] * k.value
			for j := 0; j < 8; j++ {
				ata[i][j] += row[i] * row[j]
			}
		}
	}
	g, ok := solve8(ata, atb)
	if !ok {
		return hc, true
	}
	// G maps normalized image points to modules: G·N with N the
	// normalization; H = (G·N)⁻¹.
	gn := [9]float64{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], 1}
	n := [9]float64{scale, 0, -scale * cx, 0, scale, -scale * cy, 0, 0, 1}
	inv, ok := invert3(mul3(gn, n))
	if !ok {
		return hc, true
	}
	return homography(inv), true
}

func mul3(a, b [9]float64) [9]float64 {
	var r [9]float64
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 3; k++ {
				r[3*i+j] += a[3*i+k] * b[3*k+j]
			}
		}
	}
	return r
}

func invert3(m [9]float64) ([9]float64, bool) {
	det := m[0]*(m[4]*m[8]-m[5]*m[7]) - m[1]*(m[3]*m[8]-m[5]*m[6]) + m[2]*(m[3]*m[7]-m[4]*m[6])
	if math.Abs(det) < 1e-15 {
		return m, false
	}
	return [9]float64{
		(m[4]*m[8] - m[5]*m[7]) / det, (m[2]*m[7] - m[1]*m[8]) / det, (m[1]*m[5] - m[2]*m[4]) / det,
		(m[5]*m[6] - m[3]*m[8]) / det, (m[0]*m[8] - m[2]*m[6]) / det, (m[2]*m[3] - m[0]*m[5]) / det,
		(m[3]*m[7] - m[4]*m[6]) / det, (m[1]*m[6] - m[0]*m[7]) / det, (m[0]*m[4] - m[1]*m[3]) / det,
	}, true
}

// fitLineRobust fits a line to at least three points, then again without
// the points far from the first fit (rays that missed or overshot an
// edge).
func fitLineRobust(ps []pt) (line, bool) {
	if len(ps) < 3 {
		return line{}, false
	}
	l, ok := fitLine(ps)
	if !ok {
		return l, false
	}
	res := make([]float64, len(ps))
	for i, p := range ps {
		res[i] = math.Abs(l.a*p.x + l.b*p.y - l.c)
	}
	sorted := append([]float64(nil), res...)
	slices.Sort(sorted)
	limit := math.Max(1, 2.5*sorted[len(sorted)/2])
	var keep []pt
	for i, p := range ps {
		if res[i] <= limit {
			keep = append(keep, p)
		}
	}
	if len(keep) < 3 || len(keep) == len(ps) {
		return l, true
	}
	return fitLine(keep)
}
