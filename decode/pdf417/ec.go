package pdf417

import "errors"

// errUncorrectable is returned when the error-correction codewords cannot
// repair the symbol.
var errUncorrectable = errors.New("pdf417: too many errors to correct")

const gfMod = 929

// gfExp/gfLog are exp/log tables of GF(929) with generator 3.
var gfExp, gfLog [gfMod]int

func init() {
	x := 1
	for i := 0; i < gfMod-1; i++ {
		gfExp[i] = x
		gfLog[x] = i
		x = x * 3 % gfMod
	}
	gfExp[gfMod-1] = gfExp[0]
}

func gfMul(a, b int) int { return a * b % gfMod }
func gfSub(a, b int) int { return (a - b + gfMod) % gfMod }
func gfAdd(a, b int) int { return (a + b) % gfMod }
func gfInv(a int) int    { return gfExp[(gfMod-1-gfLog[a])%(gfMod-1)] }

// gfPow3 returns 3^e for any e >= 0.
func gfPow3(e int) int { return gfExp[e%(gfMod-1)] }

// polyEval evaluates p (low order first) at x.
func polyEval(p []int, x int) int {
	r := 0
	for i := len(p) - 1; i >= 0; i-- {
		r = (r*x + p[i]) % gfMod // one reduction per step: r, x, p[i] < 929
	}
	return r
}

// syndromes fills synd[j] with c(3^(j+1)), cw[0] the highest power, and
// reports whether any is nonzero.
//
// S_j = Σ cw[i]·3^((j+1)(n-1-i)): the exponent steps by j+1 per codeword
// (mod 928), the products are summed without reduction (each < 929², so
// a uint64 holds any symbol's sum) and reduced once.
func syndromes(cw, synd []int) bool {
	nonzero := false
	n := len(cw)
	for j := range synd {
		step := (j + 1) % (gfMod - 1)
		e := 0 // exponent of the last codeword, (j+1)·0
		var sum uint64
		for i := n - 1; i >= 0; i-- {
			sum += uint64(cw[i]) * uint64(gfExp[e])
			e += step
			if e >= gfMod-1 {
				e -= gfMod - 1
			}
		}
		s := int(sum % gfMod)
		synd[j] = s
		if s != 0 {
			nonzero = true
		}
	}
	return nonzero
}

// ecCorrect corrects cw in place. cw holds all codewords of the symbol in
// reading order, the last numEC being error-correction codewords; erasures
// lists indexes known to be unreadable. It returns the number of corrected
// codewords.
func ecCorrect(cw []int, numEC int, erasures []int) (int, error) {
	n := len(cw)
	if numEC <= 0 || numEC >= n {
		return 0, errUncorrectable
	}
	if len(erasures) > numEC-1 {
		return 0, errUncorrectable
	}
	// Syndromes S_j = c(3^j), j = 1..numEC, with cw[0] the highest power.
	synd := make([]int, numEC)
	if !syndromes(cw, synd) {
		return 0, nil
	}
	loc := func(i int) int { return gfPow3(n - 1 - i) } // locator X_i
	// Erasure locator Γ(x) = Π(1 - X_e x), low order first.
	lambda := make([]int, 1, numEC+1)
	lambda[0] = 1
	for _, e := range erasures {
		lambda = polyMulLinearInPlace(lambda, loc(e))
	}
	rho := len(erasures)
	b := append([]int(nil), lambda...)
	L := rho
	m := 1
	bd := 1
	for r := rho; r < numEC; r++ {
		d := synd[r]
		for i := 1; i <= L && i < len(lambda) && r-i >= 0; i++ {
			d = gfAdd(d, gfMul(lambda[i], synd[r-i]))
		}
		if d == 0 {
			m++
			continue
		}
		coef := gfMul(d, gfInv(bd))
		t := append([]int(nil), lambda...)
		need := len(b) + m
		for len(lambda) < need {
			lambda = append(lambda, 0)
		}
		for i, bv := range b {
			lambda[i+m] = gfSub(lambda[i+m], gfMul(coef, bv))
		}
		if 2*L <= r+rho {
			L = r + 1 + rho - L
			b = t
			bd = d
			m = 1
		} else {
			m++
		}
	}
	for len(lambda) > 1 && lambda[len(lambda)-1] == 0 {
		lambda = lambda[:len(lambda)-1]
	}
	deg := len(lambda) - 1
	// Keep one check codeword in reserve: with few EC codewords a full-budget
	// correction too often lands on another valid codeword.
	reserve := 1
	if numEC > 4 {
		reserve = 2
	}
	if deg != L || 2*(L-rho)+rho > numEC-reserve {
		return 0, errUncorrectable
	}
	// Chien search.
	var pos []int
	for i := 0; i < n; i++ {
		// 1/X_i = 3^-(n-1-i)
		if polyEval(lambda, gfExp[(gfMod-1-(n-1-i)%(gfMod-1))%(gfMod-1)]) == 0 {
			pos = append(pos, i)
		}
	}
	if len(pos) != deg {
		return 0, errUncorrectable
	}
	// Ω(x) = S(x)Λ(x) mod x^numEC.
	omega := make([]int, numEC)
	for i := 0; i < numEC; i++ {
		for j := 0; j <= i && j < len(lambda); j++ {
			omega[i] = gfAdd(omega[i], gfMul(lambda[j], synd[i-j]))
		}
	}
	dl := make([]int, 0, deg)
	for i := 1; i < len(lambda); i++ {
		dl = append(dl, gfMul(i%gfMod, lambda[i]))
	}
	for _, p := range pos {
		xinv := gfInv(loc(p))
		den := polyEval(dl, xinv)
		if den == 0 {
			return 0, errUncorrectable
		}
		e := gfMul(polyEval(omega, xinv), gfInv(den))
		// r = c + e and Forney gives -e here for first root 3^1.
		cw[p] = gfAdd(cw[p], e)
	}
	// Verify.
	if syndromes(cw, synd) {
		return 0, errUncorrectable
	}
	return len(pos), nil
}

// polyMulLinearInPlace returns p(x)·(1 - a·x), reusing p's array.
func polyMulLinearInPlace(p []int, a int) []int {
	p = append(p, 0)
	for i := len(p) - 1; i >= 1; i-- {
		p[i] = (p[i] + gfMod*gfMod - p[i-1]*a) % gfMod
	}
	return p
}

// polyMulLinear returns p(x)·(1 - a·x).
func polyMulLinear(p []int, a int) []int {
	out := make([]int, len(p)+1)
	for i, c := range p {
		out[i] = gfAdd(out[i], c)
		out[i+1] = gfSub(out[i+1], gfMul(c, a))
	}
	return out
}

// ecCodewords computes the numEC error-correction codewords of data, as an
// encoder does (used by tests and by the table generator's check).
func ecCodewords(data []int, numEC int) []int {
	g := []int{1} // high order first
	for i := 1; i <= numEC; i++ {
		a := gfPow3(i)
		ng := make([]int, len(g)+1)
		for j, c := range g {
			ng[j] = gfAdd(ng[j], c)
			ng[j+1] = gfSub(ng[j+1], gfMul(c, a))
		}
		g = ng
	}
	r := make([]int, len(data)+numEC)
	copy(r, data)
	for i := range data {
		c := r[i]
		if c == 0 {
			continue
		}
		for j := 1; j < len(g); j++ {
			r[i+j] = gfSub(r[i+j], gfMul(c, g[j]))
		}
	}
	out := make([]int, numEC)
	for i := range out {
		out[i] = (gfMod - r[len(data)+i]) % gfMod
	}
	return out
}
