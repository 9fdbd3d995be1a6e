package pdf417

import (
	"math/rand"
	"testing"
)

func TestECCorrectErrorsAndErasures(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for trial := 0; trial < 200; trial++ {
		numEC := 2 << rng.Intn(6)
		data := make([]int, 1+rng.Intn(60))
		for i := range data {
			data[i] = rng.Intn(gfMod)
		}
		orig := append(append([]int(nil), data...), ecCodewords(data, numEC)...)
		cw := append([]int(nil), orig...)
		// budget: 2*errors + erasures <= numEC
		erasures := rng.Intn(numEC/2 + 1)
		errs := (numEC - 2 - erasures) / 2
		perm := rng.Perm(len(cw))
		var er []int
		for _, p := range perm[:min(erasures, len(cw))] {
			cw[p] = 0
			er = append(er, p)
		}
		for _, p := range perm[min(erasures, len(cw)):min(erasures+errs, len(cw))] {
			cw[p] = (cw[p] + 1 + rng.Intn(gfMod-1)) % gfMod
		}
		if _, err := ecCorrect(cw, numEC, er); err != nil {
			t.Fatalf("trial %d (ec=%d er=%d errs=%d): %v", trial, numEC, erasures, errs, err)
		}
		for i := range cw {
			if cw[i] != orig[i] {
				t.Fatalf("trial %d: codeword %d = %d, want %d", trial, i, cw[i], orig[i])
			}
		}
	}
}

func TestECCorrectRejectsTooMany(t *testing.T) {
	data := []int{5, 453, 178, 121, 239}
	cw := append(append([]int(nil), data...), ecCodewords(data, 4)...)
	cw[0], cw[1], cw[2] = 1, 2, 3
	if _, err := ecCorrect(cw, 4, nil); err == nil {
		// A miscorrection to another valid codeword is possible in theory;
		// with these values it must not happen.
		t.Fatal("3 errors with 4 EC codewords corrected, want error")
	}
}
