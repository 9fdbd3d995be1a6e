package aztec

import "errors"

// errUncorrectable is returned when a codeword block has more errors than
// its check words can correct.
var errUncorrectable = errors.New("aztec: too many errors")

// field is GF(2^m) with a primitive polynomial, as Aztec uses it: GF(16)
// for the mode message and GF(64), GF(256), GF(1024) or GF(4096) for the
// data, depending on the number of layers (ISO/IEC 24778 7.2.2).
type field struct {
	size      int // 2^m
	exp, log_ []int
}

func newField(m int, poly int) *field {
	f := &field{size: 1 << m}
	f.exp = make([]int, 2*f.size)
	f.log_ = make([]int, f.size)
	x := 1
	for i := 0; i < f.size-1; i++ {
		f.exp[i] = x
		f.log_[x] = i
		x <<= 1
		if x&f.size != 0 {
			x ^= poly
		}
	}
	// exp repeats so that exp[log a + log b] needs no reduction.
	for i := f.size - 1; i < len(f.exp); i++ {
		f.exp[i] = f.exp[i-(f.size-1)]
	}
	return f
}

// The fields of ISO/IEC 24778 Table 3 (the polynomials are x^4+x+1,
// x^6+x+1, x^8+x^5+x^3+x^2+1, x^10+x^3+1 and x^12+x^6+x^5+x^3+1).
var (
	gf16   = newField(4, 0x13)
	gf64   = newField(6, 0x43)
	gf256  = newField(8, 0x12d)
	gf1024 = newField(10, 0x409)
	gf4096 = newField(12, 0x1069)
)

func (f *field) mul(a, b int) int {
	if a == 0 || b == 0 {
		return 0
	}
	return f.exp[f.log_[a]+f.log_[b]]
}

func (f *field) div(a, b int) int {
	if a == 0 {
		return 0
	}
	return f.exp[f.log_[a]+f.size-1-f.log_[b]]
}

// pow returns α^e.
func (f *field) pow(e int) int {
	e %= f.size - 1
	if e < 0 {
		e += f.size - 1
	}
	return f.exp[e]
}

// correct repairs the codeword block cw in place (cw[0] is the coefficient
// of the highest power; the last nCheck words are check words, whose
// generator has the roots α^1 … α^nCheck) and returns the number of words
// corrected.
func (f *field) correct(cw []int, nCheck int) (int, error) {
	if nCheck <= 0 {
		return 0, nil
	}
	n := len(cw)
	for _, c := range cw {
		if c < 0 || c >= f.size {
			return 0, errUncorrectable
		}
	}
	// Syndromes S_j = r(α^(j+1)).
	synd := make([]int, nCheck)
	clean := true
	for j := range synd {
		x := f.pow(j + 1)
		s := 0
		for _, c := range cw {
			s = f.mul(s, x) ^ c
		}
		synd[j] = s
		if s != 0 {
			clean = false
		}
	}
	if clean {
		return 0, nil
	}
	// Berlekamp–Massey: the error locator Λ (lam[i] is the coefficient of
	// x^i).
	lam := make([]int, nCheck+1)
	prev := make([]int, nCheck+1)
	lam[0], prev[0] = 1, 1
	l, shift, b := 0, 1, 1
	tmp := make([]int, nCheck+1)
	for k := 0; k < nCheck; k++ {
		d := synd[k]
		for i := 1; i <= l; i++ {
			d ^= f.mul(lam[i], synd[k-i])
		}
		if d == 0 {
			shift++
			continue
		}
		coef := f.div(d, b)
		copy(tmp, lam)
		for i := 0; i+shift <= nCheck; i++ {
			lam[i+shift] ^= f.mul(coef, prev[i])
		}
		if 2*l <= k {
			l = k + 1 - l
			copy(prev, tmp)
			b = d
			shift = 1
		} else {
			shift++
		}
	}
	if 2*l > nCheck {
		return 0, errUncorrectable
	}
	// Ω = S·Λ mod x^nCheck (S(x) = Σ S_j x^j).
	omega := make([]int, nCheck)
	for i := range omega {
		v := 0
		for j := 0; j <= i && j <= l; j++ {
			v ^= f.mul(lam[j], synd[i-j])
		}
		omega[i] = v
	}
	// Chien search over the positions, Forney for the values: the word at
	// index i has degree n-1-i, locator X = α^(n-1-i).
	found := 0
	for i := 0; i < n; i++ {
		xInv := f.pow(-(n - 1 - i))
		// Λ(X^-1)
		v := 0
		for j := l; j >= 0; j-- {
			v = f.mul(v, xInv) ^ lam[j]
		}
		if v != 0 {
			continue
		}
		// Λ'(X^-1): the odd terms (characteristic 2).
		dv := 0
		for j := 1; j <= l; j += 2 {
			dv ^= f.mul(lam[j], f.pow(f.log_[xInv]*(j-1)))
		}
		if dv == 0 {
			return 0, errUncorrectable
		}
		ov := 0
		for j := len(omega) - 1; j >= 0; j-- {
			ov = f.mul(ov, xInv) ^ omega[j]
		}
		// With the first root α^1 the factor X^(1-b) is 1.
		cw[i] ^= f.div(ov, dv)
		found++
	}
	if found != l {
		return 0, errUncorrectable
	}
	return found, nil
}

// encode computes the nCheck check words of data (tests, and the
// generator of test symbols).
func (f *field) encode(data []int, nCheck int) []int {
	// g(x) = Π (x - α^i), i = 1..nCheck; g[0] is the highest coefficient.
	g := []int{1}
	for i := 1; i <= nCheck; i++ {
		next := make([]int, len(g)+1)
		r := f.pow(i)
		for j, c := range g {
			next[j] ^= c
			next[j+1] ^= f.mul(c, r)
		}
		g = next
	}
	rem := make([]int, nCheck)
	for _, d := range data {
		fb := d ^ rem[0]
		copy(rem, rem[1:])
		rem[nCheck-1] = 0
		for j := 0; j < nCheck; j++ {
			rem[j] ^= f.mul(g[j+1], fb)
		}
	}
	return rem
}
