package aztec

import "math"

// pt is a point in image (pixel) or module coordinates.
type pt struct{ x, y float64 }

// homography maps module coordinates (centre of the bull's eye at 0,0, x
// right, y down, one unit per module) onto the image.
type homography [9]float64

func (h *homography) apply(u, v float64) pt {
	w := h[6]*u + h[7]*v + h[8]
	return pt{(h[0]*u + h[1]*v + h[2]) / w, (h[3]*u + h[4]*v + h[5]) / w}
}

// fitHomography returns the projective map that takes each src point to
// its dst point, in the least-squares sense when there are more than four.
func fitHomography(src, dst []pt) (homography, bool) {
	var h homography
	if len(src) < 4 || len(src) != len(dst) {
		return h, false
	}
	// Normalize the image points (centroid at 0, mean distance √2) for a
	// well-conditioned system; the module points are small already.
	cx, cy := 0.0, 0.0
	for _, p := range dst {
		cx, cy = cx+p.x, cy+p.y
	}
	cx, cy = cx/float64(len(dst)), cy/float64(len(dst))
	d := 0.0
	for _, p := range dst {
		d += math.Hypot(p.x-cx, p.y-cy)
	}
	if d == 0 {
		return h, false
	}
	s := math.Sqrt2 * float64(len(dst)) / d
	// Normal equations of the 2n×8 system A·x = b.
	var ata [8][8]float64
	var atb [8]float64
	add := func(row [8]float64, b float64) {
		for i := 0; i < 8; i++ {
			atb[i] += row[i] * b
			for j := 0; j < 8; j++ {
				ata[i][j] += row[i] * row[j]
			}
		}
	}
	for i, p := range src {
		x, y := (dst[i].x-cx)*s, (dst[i].y-cy)*s
		add([8]float64{p.x, p.y, 1, 0, 0, 0, -p.x * x, -p.y * x}, x)
		add([8]float64{0, 0, 0, p.x, p.y, 1, -p.x * y, -p.y * y}, y)
	}
	sol, ok := solve8(ata, atb)
	if !ok {
		return h, false
	}
	// Undo the normalization: image = T⁻¹ · H_n.
	hn := [9]float64{sol[0], sol[1], sol[2], sol[3], sol[4], sol[5], sol[6], sol[7], 1}
	for j := 0; j < 3; j++ {
		h[0+j] = hn[0+j]/s + cx*hn[6+j]
		h[3+j] = hn[3+j]/s + cy*hn[6+j]
		h[6+j] = hn[6+j]
	}
	return h, !math.IsNaN(h[0]) && !math.IsInf(h[0], 0)
}

// solve8 solves a·x = b by Gaussian elimination with partial pivoting.
func solve8(a [8][8]float64, b [8]float64) ([8]float64, bool) {
	var x [8]float64
	for c := 0; c < 8; c++ {
		p := c
		for r := c + 1; r < 8; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[p][c]) {
				p = r
			}
		}
		if math.Abs(a[p][c]) < 1e-12 {
			return x, false
		}
		a[c], a[p] = a[p], a[c]
		b[c], b[p] = b[p], b[c]
		for r := c + 1; r < 8; r++ {
			f := a[r][c] / a[c][c]
			for k := c; k < 8; k++ {
				a[r][k] -= f * a[c][k]
			}
			b[r] -= f * b[c]
		}
	}
	for r := 7; r >= 0; r-- {
		v := b[r]
		for k := r + 1; k < 8; k++ {
			v -= a[r][k] * x[k]
		}
		x[r] = v / a[r][r]
	}
	return x, true
}

// line is a*x + b*y = c with a² + b² = 1.
type line struct{ a, b, c float64 }

// fitLine fits a line to points by total least squares.
func fitLine(ps []pt) (line, bool) {
	if len(ps) < 2 {
		return line{}, false
	}
	mx, my := 0.0, 0.0
	for _, p := range ps {
		mx, my = mx+p.x, my+p.y
	}
	mx, my = mx/float64(len(ps)), my/float64(len(ps))
	sxx, sxy, syy := 0.0, 0.0, 0.0
	for _, p := range ps {
		dx, dy := p.x-mx, p.y-my
		sxx, sxy, syy = sxx+dx*dx, sxy+dx*dy, syy+dy*dy
	}
	// The normal is the eigenvector of the smaller eigenvalue.
	theta := 0.5 * math.Atan2(2*sxy, sxx-syy) // direction of the line
	a, b := -math.Sin(theta), math.Cos(theta)
	return line{a, b, a*mx + b*my}, true
}

func intersect(l, m line) (pt, bool) {
	det := l.a*m.b - l.b*m.a
	if math.Abs(det) < 1e-9 {
		return pt{}, false
	}
	return pt{(l.c*m.b - l.b*m.c) / det, (l.a*m.c - l.c*m.a) / det}, true
}
