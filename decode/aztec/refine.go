package aztec

import "math"

// gridConstraint says that the inverse homography takes image point p to
// a module boundary: u (or v) = value.
type gridConstraint struct {
	p     pt
	isU   bool
	value float64
}

// solveInverse fits G (image to modules) to the constraints by linear
// least squares and returns H = G⁻¹.
func solveInverse(cons []gridConstraint) (homography, bool) {
	if len(cons) < 8 {
		return homography{}, false
	}
	cx, cy, scale := 0.0, 0.0, 0.0
	for _, k := range cons {
		cx, cy = cx+k.p.x, cy+k.p.y
	}
	cx, cy = cx/float64(len(cons)), cy/float64(len(cons))
	for _, k := range cons {
		scale += math.Hypot(k.p.x-cx, k.p.y-cy)
	}
	if scale == 0 {
		return homography{}, false
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
		return homography{}, false
	}
	// G maps normalized image points to modules: G·N with N the
	// normalization; H = (G·N)⁻¹.
	gn := [9]float64{g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], 1}
	n := [9]float64{scale, 0, -scale * cx, 0, scale, -scale * cy, 0, 0, 1}
	inv, ok := invert3(mul3(gn, n))
	if !ok {
		return homography{}, false
	}
	return homography(inv), true
}

// refine fits h to the whole symbol rather than its core: between every
// two neighbouring modules of different colours it looks for the edge
// along the segment joining their centres, and each edge found says that
// the inverse map takes it onto a module boundary. Refitting to these
// (growing the area from the core outwards, so that each round starts
// close enough) corrects what extrapolating from the bull's eye gets wrong
// far out: a slightly wrong scale, rotation or perspective.
func refine(im *picture, h homography, half int) homography {
	for _, r := range []int{8, 16, half, half} {
		r = min(r, half)
		cons := gridEdges(im, h, r)
		if len(cons) < 20 {
			return h
		}
		next, ok := solveInverse(cons)
		if !ok {
			return h
		}
		// Once more without the edges the new fit puts far from a
		// boundary (noise, a wrong pairing).
		g, ok := invert3(next)
		if ok {
			keep := cons[:0]
			for _, k := range cons {
				w := g[6]*k.p.x + g[7]*k.p.y + g[8]
				u := (g[0]*k.p.x + g[1]*k.p.y + g[2]) / w
				v := (g[3]*k.p.x + g[4]*k.p.y + g[5]) / w
				e := v - k.value
				if k.isU {
					e = u - k.value
				}
				if math.Abs(e) < 0.2 {
					keep = append(keep, k)
				}
			}
			if len(keep) >= 20 {
				if again, ok := solveInverse(keep); ok {
					next = again
				}
			}
		}
		h = next
	}
	return h
}

// gridEdges finds the edges between neighbouring modules of different
// colours within radius r of the centre.
func gridEdges(im *picture, h homography, r int) []gridConstraint {
	var cons []gridConstraint
	module := func(u, v int) bool {
		p := h.apply(float64(u), float64(v))
		return im.dark(p.x, p.y)
	}
	colour := make([]bool, (2*r+1)*(2*r+1))
	for v := -r; v <= r; v++ {
		for u := -r; u <= r; u++ {
			colour[(v+r)*(2*r+1)+u+r] = module(u, v)
		}
	}
	at := func(u, v int) bool { return colour[(v+r)*(2*r+1)+u+r] }
	for v := -r; v <= r; v++ {
		for u := -r; u <= r; u++ {
			for _, d := range [2][2]int{{1, 0}, {0, 1}} {
				u2, v2 := u+d[0], v+d[1]
				if u2 > r || v2 > r || at(u, v) == at(u2, v2) {
					continue
				}
				if p, ok := edgeBetween(im, h.apply(float64(u), float64(v)), h.apply(float64(u2), float64(v2)), at(u, v)); ok {
					if d[0] == 1 {
						cons = append(cons, gridConstraint{p, true, float64(u) + 0.5})
					} else {
						cons = append(cons, gridConstraint{p, false, float64(v) + 0.5})
					}
				}
			}
		}
	}
	return cons
}

// edgeBetween finds the one change of colour on the segment from a (of
// colour from) to b, if it lies in the middle part of the segment and the
// colour stays changed to the end.
func edgeBetween(im *picture, a, b pt, from bool) (pt, bool) {
	d := math.Hypot(b.x-a.x, b.y-a.y)
	n := max(4, int(d/0.25))
	prev, at := 0.0, -1.0
	for i := 1; i <= n; i++ {
		t := float64(i) / float64(n)
		dark := im.dark(a.x+t*(b.x-a.x), a.y+t*(b.y-a.y))
		if dark != from {
			if at < 0 {
				at = (prev + t) / 2
			}
		} else if at >= 0 {
			return pt{}, false // changed back: noise or a thin feature
		}
		prev = t
	}
	if at < 0.2 || at > 0.8 {
		return pt{}, false
	}
	return pt{a.x + at*(b.x-a.x), a.y + at*(b.y-a.y)}, true
}
