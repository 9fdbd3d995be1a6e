package aztec

import "fmt"

// A symbol's geometry (ISO/IEC 24778 7): compact symbols have 1–4 data
// layers around an 11×11 core, full-range ones 1–32 around a 15×15 core
// and reference grid lines every 16 modules from the centre.

// dimension is the side of a symbol in modules.
func dimension(compact bool, layers int) int {
	if compact {
		return 11 + 4*layers
	}
	return 15 + 4*layers + 2*((2*layers+6)/15)
}

// wordSize is the bits per codeword for a number of layers.
func wordSize(layers int) (int, *field) {
	switch {
	case layers <= 2:
		return 6, gf64
	case layers <= 8:
		return 8, gf256
	case layers <= 22:
		return 10, gf1024
	}
	return 12, gf4096
}

// layerBits is the number of bits the data layers hold.
func layerBits(compact bool, layers int) int {
	base := 112
	if compact {
		base = 88
	}
	return (base + 16*layers) * layers
}

// matrix is a sampled symbol, dim×dim modules, in the symbol's own
// orientation; get(x, y) reports a dark module.
type matrix struct {
	dim  int
	dark []bool
}

func (m *matrix) get(x, y int) bool { return m.dark[y*m.dim+x] }

// layerBitsOf reads the data layers' bits, outermost layer first: each
// layer is a two-module-wide band read down its left side, along its
// bottom, up its right side and back along its top, two bits at a time
// across the band.
func layerBitsOf(m *matrix, compact bool, layers int) []bool {
	base := 14 + 4*layers // side without reference grid lines
	if compact {
		base = 11 + 4*layers
	}
	// pos maps a position without grid lines onto the matrix.
	pos := make([]int, base)
	if compact {
		for i := range pos {
			pos[i] = i
		}
	} else {
		half, center := base/2, m.dim/2
		for i := 0; i < half; i++ {
			off := i + i/15 // a grid line every 16 modules
			pos[half-i-1] = center - off - 1
			pos[half+i] = center + off + 1
		}
	}
	bits := make([]bool, layerBits(compact, layers))
	row := 0
	for i := 0; i < layers; i++ {
		size := 4*(layers-i) + 12
		if compact {
			size = 4*(layers-i) + 9
		}
		lo, hi := 2*i, base-1-2*i
		for j := 0; j < size; j++ {
			for k := 0; k < 2; k++ {
				bits[row+0*size+2*j+k] = m.get(pos[lo+k], pos[lo+j])
				bits[row+2*size+2*j+k] = m.get(pos[lo+j], pos[hi-k])
				bits[row+4*size+2*j+k] = m.get(pos[hi-k], pos[hi-j])
				bits[row+6*size+2*j+k] = m.get(pos[hi-j], pos[lo+k])
			}
		}
		row += 8 * size
	}
	return bits
}

// dataBits error-corrects a symbol's layer bits and returns the data bits
// (stuffing removed) and the number of codewords corrected.
func dataBits(raw []bool, layers, nData int) ([]bool, int, error) {
	size, f := wordSize(layers)
	n := len(raw) / size
	if nData < 1 || nData > n {
		return nil, 0, fmt.Errorf("%w: %d data words in %d", errFormat, nData, n)
	}
	words := make([]int, n)
	off := len(raw) % size // leading padding bits
	for i := range words {
		words[i] = code(raw, off+i*size, size)
	}
	corrected, err := f.correct(words, n-nData)
	if err != nil {
		return nil, 0, err
	}
	all := 1<<size - 1
	var out []bool
	for _, w := range words[:nData] {
		switch w {
		case 0, all:
			return nil, 0, fmt.Errorf("%w: codeword of all %d", errFormat, w&1)
		case 1, all - 1: // stuffed: size-1 bits of one value, and a filler
			for i := 0; i < size-1; i++ {
				out = append(out, w == all-1)
			}
		default:
			for i := size - 1; i >= 0; i-- {
				out = append(out, w>>i&1 == 1)
			}
		}
	}
	return out, corrected, nil
}
