package pdf417

import (
	"errors"
	"fmt"
	"image"
	"math"
	"sort"

	"github.com/makiuchi-d/gozxing"
)

// ErrNotFound is returned when no PDF417 symbol could be read.
var ErrNotFound = errors.New("pdf417: no symbol found")

// Result is one decoded symbol.
type Result struct {
	Text       string // content, bytes interpreted per ECI (ISO-8859-1 by default)
	Bytes      []byte // content bytes as encoded
	ECLevel    int    // 0..8
	Rows, Cols int
	Corrected  int    // codewords repaired by error correction
	Macro      *Macro // nil unless the symbol is part of a macro PDF417 set
	ReaderInit bool
	// Corners in matrix coordinates: top-left, bottom-left, top-right,
	// bottom-right of the codeword area as read.
	Corners [4]image.Point
}

// DecodeMatrix reads one PDF417 symbol from a binarized image (true =
// black). Orientations are tried in the order 0°, 180°, 90°, 270°.
func DecodeMatrix(m *gozxing.BitMatrix) (*Result, error) {
	var firstErr error
	var quarter *gozxing.BitMatrix
	for _, rot := range []int{0, 180, 90, 270} {
		if rot == 90 {
			quarter = turnQuarter(m)
			if quarter == nil {
				break
			}
		}
		res, err := decodeView(newViewOn(m, rot, quarter))
		if err == nil {
			return res, nil
		}
		if firstErr == nil && !errors.Is(err, ErrNotFound) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, ErrNotFound
}

// DecodeImage binarizes img (gozxing's hybrid binarizer) and reads one
// PDF417 symbol from it.
func DecodeImage(img image.Image) (*Result, error) {
	src := gozxing.NewLuminanceSourceFromImage(img)
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
	if err != nil {
		return nil, fmt.Errorf("pdf417: binarize: %w", err)
	}
	m, err := bmp.GetBlackMatrix()
	if err != nil {
		return nil, fmt.Errorf("pdf417: binarize: %w", err)
	}
	return DecodeMatrix(m)
}

// riObs is one row indicator read on a pixel row.
type riObs struct {
	x, y float64
	row  int
}

type votes map[int]int

func (v votes) add(k int) { v[k]++ }

func (v votes) best() (int, int) {
	bk, bn := -1, 0
	for k, n := range v {
		if n > bn || n == bn && k < bk {
			bk, bn = k, n
		}
	}
	return bk, bn
}

func decodeView(v *view) (*Result, error) {
	step := max(1, min(v.h/120, 4))
	starts, stops := findChains(v, step)
	if len(starts) > 0 && len(starts[0]) < 2 {
		starts = nil
	}
	if len(stops) > 0 && len(stops[0]) < 2 {
		stops = nil
	}
	if len(starts) == 0 && len(stops) == 0 {
		return nil, ErrNotFound
	}
	var lastErr error = ErrNotFound
	// Try the strongest start chain with the best matching stop chain, and
	// a couple of alternatives.
	tried := 0
	for si := -1; si < min(len(starts), 2); si++ {
		if si < 0 && len(starts) > 0 {
			continue
		}
		var st chain
		if si >= 0 {
			st = starts[si]
		}
		var sp chain
		for _, c := range stops {
			if len(c) < 2 {
				break
			}
			if st == nil || overlaps(st, c) && c[0].x0 > st[0].x1 {
				sp = c
				break
			}
		}
		if st == nil && sp == nil {
			continue
		}
		tried++
		res, err := decodeSymbol(v, st, sp, starts, stops, step)
		if err == nil {
			return res, nil
		}
		lastErr = err
	}
	if tried == 0 && len(stops) > 0 && len(stops[0]) >= 2 {
		return decodeSymbol(v, nil, stops[0], starts, stops, step)
	}
	return nil, lastErr
}

func overlaps(a, b chain) bool {
	return a[0].y <= b[len(b)-1].y && b[0].y <= a[len(a)-1].y
}

// sym collects what is read of one symbol.
type sym struct {
	v                 *view
	mod               float64
	startL, stopL     line
	hasStart, hasStop bool
	y0, y1            int
}

// absorb adds to c the hits of all chains that lie on c's fitted line (a
// pattern interrupted by damage splits into several chains).
func absorb(c chain, all []chain, end bool) chain {
	if len(c) < 2 {
		return c
	}
	l := fitLine(c, end)
	tol := 3 * medianMod(c)
	var out chain
	for _, o := range all {
		for _, h := range o {
			x := float64(h.x0)
			if end {
				x = float64(h.x1)
			}
			if math.Abs(x-l.at(h.y)) <= tol {
				out = append(out, h)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].y < out[j].y })
	return out
}

func decodeSymbol(v *view, st, sp chain, starts, stops []chain, step int) (*Result, error) {
	s := &sym{v: v, mod: medianMod(st, sp)}
	st = absorb(st, starts, true)
	sp = absorb(sp, stops, false)
	s.y0, s.y1 = math.MaxInt, -1
	if st != nil {
		s.startL, s.hasStart = fitLine(st, true), true
		s.y0, s.y1 = min(s.y0, st[0].y), max(s.y1, st[len(st)-1].y)
	}
	if sp != nil {
		s.stopL, s.hasStop = fitLine(sp, false), true
		s.y0, s.y1 = min(s.y0, sp[0].y), max(s.y1, sp[len(sp)-1].y)
	}
	ext := step + int(0.08*float64(s.y1-s.y0)+3*s.mod)
	s.y0 = max(0, s.y0-ext)
	s.y1 = min(v.h-1, s.y1+ext)

	// Pass 1: row indicators.
	var obs []riObs
	rowsUp, rowsLow, ecl, cols := votes{}, votes{}, votes{}, votes{}
	var buf []int
	var widths []float64
	for y := s.y0; y <= s.y1; y++ {
		buf = v.edges(y, buf)
		xa, xb, ia, ib := s.ends(buf, y)
		if ia > 0 {
			if val, k, ok := readCodeword(buf, ia); ok && s.plausible(buf, ia) {
				obs = append(obs, riObs{float64(buf[ia]), float64(y), 3*(val/30) + k})
				x := val % 30
				switch k {
				case 0:
					rowsUp.add(x)
				case 1:
					ecl.add(x / 3)
					rowsLow.add(x % 3)
				case 2:
					cols.add(x + 1)
				}
			}
		}
		if ib > 0 && ib-8 >= 1 {
			if val, k, ok := readCodeword(buf, ib-8); ok && s.plausible(buf, ib-8) {
				obs = append(obs, riObs{float64(buf[ib]), float64(y), 3*(val/30) + k})
				x := val % 30
				switch k {
				case 0:
					cols.add(x + 1)
				case 1:
					rowsUp.add(x)
				case 2:
					ecl.add(x / 3)
					rowsLow.add(x % 3)
				}
			}
		}
		if ia > 0 && ib > 0 {
			widths = append(widths, xb-xa)
		}
	}
	if len(obs) < 2 {
		return nil, fmt.Errorf("%w: no row indicators", ErrNotFound)
	}
	nCols, _ := cols.best()
	if nCols < 1 {
		if len(widths) == 0 || s.mod == 0 {
			return nil, fmt.Errorf("%w: unknown column count", ErrNotFound)
		}
		sort.Float64s(widths)
		nCols = int(math.Round(widths[len(widths)/2]/(17*s.mod))) - 2
		if nCols < 1 || nCols > 30 {
			return nil, fmt.Errorf("%w: unknown column count", ErrNotFound)
		}
	}
	level, _ := ecl.best()
	if level < 0 {
		level = 0
	}
	plane, ok := fitPlane(obs)
	if !ok {
		return nil, fmt.Errorf("%w: row indicators inconsistent", ErrNotFound)
	}

	// Pass 2: every codeword slot of every pixel row.
	cells := map[int]votes{} // key row*32+col
	maxRow := -1
	for y := s.y0; y <= s.y1; y++ {
		buf = v.edges(y, buf)
		xa, xb, ia, ib := s.ends(buf, y)
		if ia <= 0 && ib <= 0 {
			continue
		}
		slot := 17 * s.mod
		switch {
		case ia > 0 && ib > 0:
			slot = (xb - xa) / float64(nCols+2)
		case ia > 0:
			xb = xa + slot*float64(nCols+2)
		default:
			xa = xb - slot*float64(nCols+2)
		}
		if slot < 17*0.75 {
			continue
		}
		// The next codeword starts where the previous one read ended; after
		// a miss, fall back to the evenly spaced estimate.
		prevEnd := -1.0
		if ia > 0 {
			if w := float64(buf[min(ia+8, len(buf)-1)] - buf[ia]); w > slot*0.8 && w < slot*1.2 {
				prevEnd = float64(buf[ia+8])
			}
		}
		for j := 1; j <= nCols; j++ {
			xs := xa + float64(j)*slot
			if prevEnd >= 0 {
				xs = prevEnd
			}
			prevEnd = -1
			i := nearestBarStart(buf, xs, slot*0.3)
			if i < 0 {
				continue
			}
			w := float64(buf[min(i+8, len(buf)-1)] - buf[i])
			if w < slot*0.75 || w > slot*1.25 {
				continue
			}
			val, k, ok := readCodeword(buf, i)
			if !ok {
				continue
			}
			prevEnd = float64(buf[i+8])
			est := plane.at(xs+slot/2, float64(y))
			row := snapRow(est, k)
			if row < 0 || math.Abs(float64(row)-est) > 1.5 {
				continue
			}
			key := row*32 + (j - 1)
			c := cells[key]
			if c == nil {
				c = votes{}
				cells[key] = c
			}
			c.add(val)
			maxRow = max(maxRow, row)
		}
	}
	if maxRow < 0 {
		return nil, fmt.Errorf("%w: no codewords", ErrNotFound)
	}

	// Row count candidates: from the row indicators, else what was seen.
	var rowCands []int
	up, nu := rowsUp.best()
	lo, nl := rowsLow.best()
	if nu > 0 && nl > 0 {
		rowCands = append(rowCands, up*3+lo+1)
	}
	if len(rowCands) == 0 || rowCands[0] != maxRow+1 {
		rowCands = append(rowCands, maxRow+1)
	}
	var lastErr error
	for _, nRows := range rowCands {
		if nRows < 3 || nRows > 90 {
			continue
		}
		for _, strict := range []bool{false, true} {
			res, err := s.correctAndParse(cells, nRows, nCols, level, strict)
			if err == nil {
				return res, nil
			}
			lastErr = err
		}
	}
	if lastErr == nil {
		lastErr = ErrNotFound
	}
	return nil, lastErr
}

// plausible checks the width of the codeword at black run i against the
// module width.
func (s *sym) plausible(e []int, i int) bool {
	if s.mod == 0 {
		return true
	}
	w := float64(e[i+8] - e[i])
	return w > 17*s.mod*0.7 && w < 17*s.mod*1.4
}

// ends locates, on one pixel row, the end of the start pattern (xa, run
// index ia of the left row indicator's first bar) and the beginning of the
// stop pattern (xb, run index ib of the stop's first bar).
func (s *sym) ends(e []int, y int) (xa, xb float64, ia, ib int) {
	tol := 2.5 * math.Max(s.mod, 1)
	ia, ib = -1, -1
	if s.hasStart {
		ia = nearestBarStart(e, s.startL.at(y), tol)
		if ia > 0 {
			xa = float64(e[ia])
		}
	}
	if s.hasStop {
		ib = nearestBarStart(e, s.stopL.at(y), tol)
		if ib > 0 {
			xb = float64(e[ib])
			// The stop pattern's first bar is 7 modules wide.
			if ib+1 < len(e) && float64(e[ib+1]-e[ib]) < 4*s.mod {
				ib = -1
			}
		}
	}
	return xa, xb, ia, ib
}

func snapRow(est float64, k int) int {
	base := int(math.Round(est))
	for _, r := range []int{base, base - 1, base + 1} {
		if r >= 0 && r%3 == k {
			return r
		}
	}
	return -1
}

// plane is row = a*x + b*y + c.
type plane struct{ a, b, c float64 }

func (p plane) at(x, y float64) float64 { return p.a*x + p.b*y + p.c }

// fitPlane fits logical row numbers to positions. Misread row indicators
// are common on photos, so the fit is a small RANSAC: planes through
// sampled triples, keep the one most observations agree with, refit on
// those.
func fitPlane(obs []riObs) (plane, bool) {
	if len(obs) < 2 {
		return plane{}, false
	}
	bestN := -1
	var best []riObs
	var in []riObs
	seed := uint32(2166136261)
	next := func(n int) int {
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		return int(seed % uint32(n))
	}
	iters := min(60, len(obs)*len(obs))
	for it := 0; it < iters; it++ {
		sample := []riObs{obs[next(len(obs))], obs[next(len(obs))], obs[next(len(obs))]}
		p, ok := solvePlane(sample)
		if !ok {
			continue
		}
		in = in[:0]
		for _, o := range obs {
			if math.Abs(p.at(o.x, o.y)-float64(o.row)) < 0.8 {
				in = append(in, o)
			}
		}
		if len(in) > bestN {
			bestN = len(in)
			best = append(best[:0], in...)
		}
	}
	if bestN < 2 {
		return solvePlane(obs)
	}
	return solvePlane(best)
}

func solvePlane(obs []riObs) (plane, bool) {
	// Is x informative? Only if observations come from both sides.
	minX, maxX := math.Inf(1), math.Inf(-1)
	for _, o := range obs {
		minX, maxX = math.Min(minX, o.x), math.Max(maxX, o.x)
	}
	if maxX-minX < 10 {
		// row = b*y + c
		var sy, sr, syy, syr, n float64
		for _, o := range obs {
			sy += o.y
			sr += float64(o.row)
			syy += o.y * o.y
			syr += o.y * float64(o.row)
			n++
		}
		den := n*syy - sy*sy
		if math.Abs(den) < 1e-9 {
			return plane{}, false
		}
		b := (n*syr - sy*sr) / den
		return plane{0, b, (sr - b*sy) / n}, true
	}
	var m [3][4]float64
	for _, o := range obs {
		v := [3]float64{o.x, o.y, 1}
		for i := 0; i < 3; i++ {
			for j := 0; j < 3; j++ {
				m[i][j] += v[i] * v[j]
			}
			m[i][3] += v[i] * float64(o.row)
		}
	}
	for c := 0; c < 3; c++ {
		piv := c
		for r := c + 1; r < 3; r++ {
			if math.Abs(m[r][c]) > math.Abs(m[piv][c]) {
				piv = r
			}
		}
		m[c], m[piv] = m[piv], m[c]
		if math.Abs(m[c][c]) < 1e-12 {
			return plane{}, false
		}
		for r := 0; r < 3; r++ {
			if r == c {
				continue
			}
			f := m[r][c] / m[c][c]
			for k := c; k < 4; k++ {
				m[r][k] -= f * m[c][k]
			}
		}
	}
	return plane{m[0][3] / m[0][0], m[1][3] / m[1][1], m[2][3] / m[2][2]}, true
}

func (s *sym) correctAndParse(cells map[int]votes, nRows, nCols, level int, strict bool) (*Result, error) {
	n := nRows * nCols
	numEC := 2 << level
	if numEC >= n {
		return nil, fmt.Errorf("%w: %d EC codewords in %dx%d", errFormat, numEC, nRows, nCols)
	}
	cw := make([]int, n)
	var erasures []int
	for r := 0; r < nRows; r++ {
		for c := 0; c < nCols; c++ {
			i := r*nCols + c
			vs := cells[r*32+c]
			val, cnt := vs.best()
			if val < 0 {
				erasures = append(erasures, i)
				continue
			}
			if strict {
				second := 0
				for k, m := range vs {
					if k != val && m > second {
						second = m
					}
				}
				if cnt < 2*second || cnt == 1 && nRows*nCols > 0 && second > 0 {
					erasures = append(erasures, i)
					continue
				}
			}
			cw[i] = val
		}
	}
	if len(erasures) > numEC {
		return nil, fmt.Errorf("%w: %d erasures for %d EC codewords", errUncorrectable, len(erasures), numEC)
	}
	fixed, err := ecCorrect(cw, numEC, erasures)
	if err != nil {
		return nil, err
	}
	if cw[0] < 1 || cw[0] > n-numEC {
		return nil, fmt.Errorf("%w: length descriptor %d", errFormat, cw[0])
	}
	d, err := decodeCodewords(cw[:n-numEC])
	if err != nil {
		return nil, err
	}
	res := &Result{
		Text: d.text, Bytes: d.raw, ECLevel: level, Rows: nRows, Cols: nCols,
		Corrected: fixed, Macro: d.macro, ReaderInit: d.readerInit,
	}
	s.corners(res)
	return res, nil
}

func (s *sym) corners(res *Result) {
	xa0, xa1 := s.startL.at(s.y0), s.startL.at(s.y1)
	xb0, xb1 := s.stopL.at(s.y0), s.stopL.at(s.y1)
	if !s.hasStart {
		w := 17 * s.mod * float64(res.Cols+2)
		xa0, xa1 = xb0-w, xb1-w
	}
	if !s.hasStop {
		w := 17 * s.mod * float64(res.Cols+2)
		xb0, xb1 = xa0+w, xa1+w
	}
	pt := func(x float64, y int) image.Point {
		ox, oy := s.v.orig(int(x), y)
		return image.Pt(ox, oy)
	}
	res.Corners = [4]image.Point{pt(xa0, s.y0), pt(xa1, s.y1), pt(xb0, s.y0), pt(xb1, s.y1)}
}
