package pdf417

import (
	"math"
	"sort"

	"github.com/makiuchi-d/gozxing"
)

// view is an oriented, read-only window on a BitMatrix: the symbol is
// searched in the view as if the image had been turned by rot degrees.
type view struct {
	m      *gozxing.BitMatrix
	rot    int
	w, h   int // view size
	mw, mh int // matrix size
	// up holds the view's pixels upright (m itself for 0° and 180°, m
	// turned by 90° for 90° and 270°); flip reads it turned by 180°. Rows
	// of up are then read a 32-bit word at a time.
	up   *gozxing.BitMatrix
	flip bool
	row  *gozxing.BitArray
	runs []int // scratch for flipped rows
}

func newView(m *gozxing.BitMatrix, rot int) *view {
	var quarter *gozxing.BitMatrix
	if rot == 90 || rot == 270 {
		quarter = turnQuarter(m)
	}
	return newViewOn(m, rot, quarter)
}

// newViewOn is newView with m already turned by 90° (turnQuarter) for the
// 90° and 270° views.
func newViewOn(m *gozxing.BitMatrix, rot int, quarter *gozxing.BitMatrix) *view {
	v := &view{m: m, rot: rot, mw: m.GetWidth(), mh: m.GetHeight(), up: m, flip: rot == 180 || rot == 270}
	if rot == 90 || rot == 270 {
		v.w, v.h = v.mh, v.mw
		v.up = quarter
	} else {
		v.w, v.h = v.mw, v.mh
	}
	v.row = gozxing.NewBitArray(v.w)
	return v
}

// turnQuarter returns m as the 90° view sees it: pixel (x, y) of the
// result is m(y, mh-1-x).
func turnQuarter(m *gozxing.BitMatrix) *gozxing.BitMatrix {
	mw, mh := m.GetWidth(), m.GetHeight()
	q, err := gozxing.NewBitMatrix(mh, mw)
	if err != nil {
		return nil
	}
	row := gozxing.NewBitArray(mw)
	for my := 0; my < mh; my++ {
		row = m.GetRow(my, row)
		for mx := row.GetNextSet(0); mx < mw; mx = row.GetNextSet(mx + 1) {
			q.Set(mh-1-my, mx)
		}
	}
	return q
}

// orig maps view coordinates to matrix coordinates.
func (v *view) orig(x, y int) (int, int) {
	switch v.rot {
	case 90:
		return y, v.mh - 1 - x
	case 180:
		return v.mw - 1 - x, v.mh - 1 - y
	case 270:
		return v.mw - 1 - y, x
	}
	return x, y
}

// edges fills buf with the run boundaries of view row y: run i spans
// [e[i], e[i+1]); even runs are white, odd runs black (the first white run
// may be empty).
func (v *view) edges(y int, buf []int) []int {
	buf = append(buf[:0], 0)
	w := v.w
	if !v.flip {
		v.row = v.up.GetRow(y, v.row)
		for x := v.row.GetNextSet(0); x < w; {
			end := v.row.GetNextUnset(x)
			buf = append(buf, x)
			if end >= w {
				break
			}
			buf = append(buf, end)
			x = v.row.GetNextSet(end)
		}
		return append(buf, w)
	}
	// Turned by 180°: walk the upright row from its right end. A black run
	// [a, b) of the upright row is [w-b, w-a) in the view.
	v.row = v.up.GetRow(v.h-1-y, v.row)
	runs := v.runs[:0] // upright run bounds, left to right
	for x := v.row.GetNextSet(0); x < w; {
		end := v.row.GetNextUnset(x)
		runs = append(runs, x, end)
		if end >= w {
			break
		}
		x = v.row.GetNextSet(end)
	}
	v.runs = runs
	for i := len(runs) - 2; i >= 0; i -= 2 {
		a, b := runs[i], runs[i+1]
		buf = append(buf, w-b)
		if w-a < w {
			buf = append(buf, w-a)
		}
	}
	return append(buf, w)
}

var (
	startPattern = []int{8, 1, 1, 1, 1, 1, 1, 3}
	stopPattern  = []int{7, 1, 1, 3, 1, 1, 1, 2, 1}
)

// matchAt reports whether the runs starting at index i match pattern and
// returns the module width.
func matchAt(e []int, i int, pattern []int) (float64, bool) {
	if i+len(pattern) >= len(e) {
		return 0, false
	}
	total := e[i+len(pattern)] - e[i]
	sum := 0
	for _, p := range pattern {
		sum += p
	}
	unit := float64(total) / float64(sum)
	if unit < 0.75 {
		return 0, false
	}
	var dev float64
	for j, p := range pattern {
		w := float64(e[i+j+1] - e[i+j])
		d := math.Abs(w - float64(p)*unit)
		if d > 0.8*unit+0.5 {
			return 0, false
		}
		dev += d
	}
	if dev > 0.4*unit*float64(len(pattern))+0.5 {
		return 0, false
	}
	return unit, true
}

type hit struct {
	y      int
	x0, x1 int // pattern start and end
	mod    float64
}

type chain []hit

// findChains scans every step-th row for start and stop patterns and groups
// the hits into vertical chains.
func findChains(v *view, step int) (starts, stops []chain) {
	var buf []int
	var sh, ph []hit
	for y := step / 2; y < v.h; y += step {
		buf = v.edges(y, buf)
		for i := 1; i+8 < len(buf); i += 2 {
			if u, ok := matchAt(buf, i, startPattern); ok {
				// A start pattern needs a light area before its wide bar.
				if buf[i]-buf[i-1] >= int(u) || buf[i-1] == 0 && buf[i] == 0 {
					sh = append(sh, hit{y, buf[i], buf[i+8], u})
				}
			}
			if u, ok := matchAt(buf, i, stopPattern); ok {
				ph = append(ph, hit{y, buf[i], buf[i+9], u})
			}
		}
	}
	return chainHits(sh, step, false), chainHits(ph, step, true)
}

func chainHits(hits []hit, step int, useStart bool) []chain {
	var chains []chain
	for _, h := range hits {
		best, bestD := -1, math.MaxFloat64
		for ci, c := range chains {
			last := c[len(c)-1]
			dy := h.y - last.y
			if dy <= 0 || dy > 6*step {
				continue
			}
			dx := math.Abs(float64(h.x1 - last.x1))
			if useStart {
				dx = math.Abs(float64(h.x0 - last.x0))
			}
			if dx > 3*h.mod+0.7*float64(dy) {
				continue
			}
			if dx < bestD {
				best, bestD = ci, dx
			}
		}
		if best >= 0 {
			chains[best] = append(chains[best], h)
		} else {
			chains = append(chains, chain{h})
		}
	}
	sort.SliceStable(chains, func(i, j int) bool { return len(chains[i]) > len(chains[j]) })
	return chains
}

// line is x = a*y + b.
type line struct{ a, b float64 }

func (l line) at(y int) float64 { return l.a*float64(y) + l.b }

func fitLine(c chain, end bool) line {
	var sy, sx, syy, sxy, n float64
	for _, h := range c {
		x := float64(h.x0)
		if end {
			x = float64(h.x1)
		}
		y := float64(h.y)
		sy += y
		sx += x
		syy += y * y
		sxy += x * y
		n++
	}
	den := n*syy - sy*sy
	if n < 2 || math.Abs(den) < 1e-9 {
		return line{0, sx / n}
	}
	a := (n*sxy - sx*sy) / den
	return line{a, (sx - a*sy) / n}
}

func medianMod(cs ...chain) float64 {
	var ms []float64
	for _, c := range cs {
		for _, h := range c {
			ms = append(ms, h.mod)
		}
	}
	if len(ms) == 0 {
		return 0
	}
	sort.Float64s(ms)
	return ms[len(ms)/2]
}

// nearestBarStart returns the index of the black run whose start is closest
// to x, within tol, or -1.
func nearestBarStart(e []int, x, tol float64) int {
	// binary search for the first edge >= x
	k := sort.SearchInts(e, int(math.Ceil(x)))
	best, bestD := -1, tol
	for i := max(1, k-3); i < len(e)-1 && i <= k+3; i++ {
		if i%2 == 0 {
			continue
		}
		d := math.Abs(float64(e[i]) - x)
		if d <= bestD {
			best, bestD = i, d
		}
	}
	return best
}

var patternLookup = func() map[uint32]int32 {
	m := make(map[uint32]int32, 3*929)
	for k := 0; k < 3; k++ {
		for v, p := range codewordPatterns[k] {
			m[p] = int32(k<<10 | v)
		}
	}
	return m
}()

// readCodeword decodes the 8 runs starting at black run i. It returns the
// value, the cluster index (0..2) and ok.
func readCodeword(e []int, i int) (int, int, bool) {
	if i < 1 || i+8 >= len(e) {
		return 0, 0, false
	}
	x0 := e[i]
	total := float64(e[i+8] - x0)
	if total < 17*0.75 {
		return 0, 0, false
	}
	// Sample the module centres.
	var p uint32
	r := i
	for m := 0; m < 17; m++ {
		pos := float64(x0) + (float64(m)+0.5)*total/17
		for r < i+7 && float64(e[r+1]) <= pos {
			r++
		}
		p <<= 1
		if (r-i)%2 == 0 {
			p |= 1
		}
	}
	if c, ok := patternLookup[p]; ok {
		return int(c & 1023), int(c >> 10), true
	}
	// Fall back to rounding the run widths to whole modules.
	var w [8]int
	var frac [8]float64
	sum := 0
	for j := 0; j < 8; j++ {
		f := float64(e[i+j+1]-e[i+j]) * 17 / total
		w[j] = int(math.Round(f))
		if w[j] < 1 {
			w[j] = 1
		}
		if w[j] > 6 {
			w[j] = 6
		}
		frac[j] = f - float64(w[j])
		sum += w[j]
	}
	for sum != 17 {
		bj := -1
		for j := 0; j < 8; j++ {
			if sum < 17 && w[j] < 6 && (bj < 0 || frac[j] > frac[bj]) {
				bj = j
			}
			if sum > 17 && w[j] > 1 && (bj < 0 || frac[j] < frac[bj]) {
				bj = j
			}
		}
		if bj < 0 {
			return 0, 0, false
		}
		if sum < 17 {
			w[bj]++
			frac[bj]--
			sum++
		} else {
			w[bj]--
			frac[bj]++
			sum--
		}
	}
	p = 0
	for j := 0; j < 8; j++ {
		for k := 0; k < w[j]; k++ {
			p <<= 1
			if j%2 == 0 {
				p |= 1
			}
		}
	}
	if c, ok := patternLookup[p]; ok {
		return int(c & 1023), int(c >> 10), true
	}
	return 0, 0, false
}
