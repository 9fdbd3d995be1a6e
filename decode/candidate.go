package decode

import (
	"image"
	"slices"
)

// A candidate is a part of a frame that looks like a barcode: dense light–
// dark alternations in both directions (matrix codes: QR, Aztec,
// DataMatrix) or many in one (PDF417 and linear codes). Finding none is
// cheap and means the deep passes have nothing to work on; finding one
// does not mean a code is there (text and patterned clutter look alike),
// only that the deep passes may try.
//
// The frame is cut into cells of candidateCell pixels. In each cell a few
// sampled rows and columns are walked and the sign changes of the
// two-pixel difference that exceed a contrast threshold are counted (a
// blurred edge counts once). A cell is busy when both directions alternate
// enough, or one direction a lot; neighbouring busy cells make a region.
const (
	candidateCell   = 16
	candidateLines  = 4  // sampled rows (and columns) per cell
	candidateMin2D  = 5  // alternations per direction for a matrix-code cell
	candidateMin1D  = 10 // alternations in one direction for a bar-code cell
	candidateCells  = 3  // busy cells in a region
	candidateMargin = 1  // cells added around a region
)

// candidateScan holds the buffers of candidate detection, reused from frame
// to frame.
type candidateScan struct {
	// lo and hi are the last frame's 0.5th and 99.5th grey percentiles
	// (of a sample), its darkest and lightest but for outliers.
	lo, hi  int
	busy    []bool
	label   []int32
	stack   []int32
	regions []image.Rectangle
}

// find returns the candidate regions of a w×h gray image stored row by row
// (stride bytes per row), largest first, in pixel coordinates. It looks at
// three scales: cells of candidateCell pixels for modules of up to a few
// pixels, and cells two and four times larger, sampled every second and
// fourth pixel, for larger modules (dropFragments says which are kept). The
// slice is reused by the next call.
func (c *candidateScan) find(pix []byte, w, h, stride int) []image.Rectangle {
	c.regions = c.regions[:0]
	if w < 8 || h < 8 {
		return c.regions
	}
	thr := c.contrast(pix, w, h, stride)
	start := 0
	for _, s := range []int{1, 2, 4} {
		c.scan(pix, w, h, stride, s, thr)
		// Within a scale, largest first.
		slices.SortFunc(c.regions[start:], func(a, b image.Rectangle) int {
			return b.Dx()*b.Dy() - a.Dx()*a.Dy()
		})
		start = len(c.regions)
	}
	c.dropFragments()
	if len(c.regions) == 0 && (w < 8*candidateCell || h < 8*candidateCell) {
		// Too small to tell: the whole image is the candidate.
		c.regions = append(c.regions, image.Rect(0, 0, w, h))
	}
	return c.regions
}

// scan appends the regions found with cells of candidateCell·s pixels,
// sampling every s-th pixel.
func (c *candidateScan) scan(pix []byte, w, h, stride, s, thr int) {
	cell := candidateCell * s
	cw, ch := w/cell, h/cell
	if cw < 2 || ch < 2 {
		return
	}
	n := cw * ch
	c.busy = slices.Grow(c.busy[:0], n)[:n]
	step := cell / candidateLines
	for cy := 0; cy < ch; cy++ {
		for cx := 0; cx < cw; cx++ {
			x0, y0 := cx*cell, cy*cell
			hc, vc := 0, 0
			for k := 0; k < candidateLines; k++ {
				// Row y, from x0 to the cell's end (two samples beyond
				// for the difference, clipped at the frame).
				y := y0 + k*step + step/2
				hc += alternations(pix[y*stride:], x0, min(x0+cell+2*s, w), s, thr)
				x := x0 + k*step + step/2
				vc += alternations(pix[x:], y0*stride, min(y0+cell+2*s, h)*stride, s*stride, thr)
			}
			c.busy[cy*cw+cx] = hc >= candidateMin2D && vc >= candidateMin2D ||
				hc >= candidateMin1D || vc >= candidateMin1D
		}
	}
	// Regions: 8-connected busy cells.
	c.label = slices.Grow(c.label[:0], n)[:n]
	clear(c.label)
	var next int32
	for i := 0; i < n; i++ {
		if !c.busy[i] || c.label[i] != 0 {
			continue
		}
		next++
		c.label[i] = next
		c.stack = append(c.stack[:0], int32(i))
		minX, minY, maxX, maxY, cells := cw, ch, -1, -1, 0
		for len(c.stack) > 0 {
			j := int(c.stack[len(c.stack)-1])
			c.stack = c.stack[:len(c.stack)-1]
			x, y := j%cw, j/cw
			cells++
			minX, maxX = min(minX, x), max(maxX, x)
			minY, maxY = min(minY, y), max(maxY, y)
			for dy := -1; dy <= 1; dy++ {
				for dx := -1; dx <= 1; dx++ {
					nx, ny := x+dx, y+dy
					if nx < 0 || ny < 0 || nx >= cw || ny >= ch {
						continue
					}
					k := ny*cw + nx
					if c.busy[k] && c.label[k] == 0 {
						c.label[k] = next
						c.stack = append(c.stack, int32(k))
					}
				}
			}
		}
		if cells < candidateCells {
			continue
		}
		r := image.Rect((minX-candidateMargin)*cell, (minY-candidateMargin)*cell,
			(maxX+1+candidateMargin)*cell, (maxY+1+candidateMargin)*cell)
		c.regions = append(c.regions, r.Intersect(image.Rect(0, 0, w, h)))
	}
}

// dropFragments drops the regions that are a small part of another (the
// pieces a finer scale sees of a code with large modules) and those that
// repeat another almost exactly. What is left keeps its order: finer
// scales first, whose regions hug a code more tightly.
func (c *candidateScan) dropFragments() {
	area := func(r image.Rectangle) int { return r.Dx() * r.Dy() }
	for i := 0; i < len(c.regions); i++ {
		a := c.regions[i]
		for j, b := range c.regions {
			if i == j {
				continue
			}
			in := area(a.Intersect(b))
			fragment := 10*in >= 8*area(a) && 4*area(a) < area(b)
			repeat := j < i && 10*in >= 9*area(a) && 10*in >= 9*area(b)
			if fragment || repeat {
				c.regions = slices.Delete(c.regions, i, i+1)
				i--
				break
			}
		}
	}
}

// alternations counts the sign changes of p[i+2·step]−p[i] beyond thr for i
// from start to end−2·step (indices into p, step apart).
func alternations(p []byte, start, end, step, thr int) int {
	n, last := 0, 0
	for i := start; i+2*step < end; i += step {
		d := int(p[i+2*step]) - int(p[i])
		switch {
		case d > thr && last <= 0:
			n++
			last = 1
		case d < -thr && last >= 0:
			n++
			last = -1
		}
	}
	return n
}

// contrast samples the frame's grey levels, sets c.lo and c.hi, and
// returns the step that counts as an edge: an eighth of the spread
// between the frame's darker and lighter pixels (5th and 95th percentiles
// of the sample), at least 10 grey levels so that sensor noise on an
// empty scene does not count.
func (c *candidateScan) contrast(pix []byte, w, h, stride int) int {
	var hist [256]int
	total := 0
	sy, sx := max(1, h/64), max(1, w/64)
	for y := sy / 2; y < h; y += sy {
		row := pix[y*stride : y*stride+w]
		for x := sx / 2; x < w; x += sx {
			hist[row[x]]++
			total++
		}
	}
	c.lo, c.hi = percentile(&hist, total, 0.005), percentile(&hist, total, 0.995)
	lo, hi := percentile(&hist, total, 0.05), percentile(&hist, total, 0.95)
	return max(10, (hi-lo)/8)
}

// percentile returns the grey level below which a fraction q of the
// histogram's total lies.
func percentile(hist *[256]int, total int, q float64) int {
	want := int(q * float64(total))
	n := 0
	for v, c := range hist {
		n += c
		if n > want {
			return v
		}
	}
	return 255
}
