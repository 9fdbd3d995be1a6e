package aztec

import (
	"math/rand"
	"slices"
	"testing"
)

func TestReedSolomonCorrects(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, f := range []*field{gf16, gf64, gf256, gf1024, gf4096} {
		for trial := 0; trial < 200; trial++ {
			n := 4 + rng.Intn(min(f.size-1, 60)-4)
			nCheck := 2 + rng.Intn(n-2)
			data := make([]int, n-nCheck)
			for i := range data {
				data[i] = rng.Intn(f.size)
			}
			cw := append(slices.Clone(data), f.encode(data, nCheck)...)
			want := slices.Clone(cw)
			nErr := rng.Intn(nCheck/2 + 1)
			for _, p := range rng.Perm(n)[:nErr] {
				cw[p] ^= 1 + rng.Intn(f.size-1)
			}
			got, err := f.correct(cw, nCheck)
			if err != nil || got != nErr || !slices.Equal(cw, want) {
				t.Fatalf("GF(%d) n=%d check=%d errors=%d: corrected %d, %v", f.size, n, nCheck, nErr, got, err)
			}
		}
	}
}

func TestReedSolomonRefusesTooManyErrors(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	refused := 0
	for trial := 0; trial < 500; trial++ {
		data := make([]int, 10)
		for i := range data {
			data[i] = rng.Intn(256)
		}
		cw := append(slices.Clone(data), gf256.encode(data, 8)...)
		for _, p := range rng.Perm(len(cw))[:7] { // beyond the 4 correctable
			cw[p] ^= 1 + rng.Intn(255)
		}
		if _, err := gf256.correct(cw, 8); err != nil {
			refused++
		}
	}
	// A decoder may land on another codeword now and then; most must fail.
	if refused < 450 {
		t.Fatalf("refused %d of 500 blocks with 7 errors", refused)
	}
}
