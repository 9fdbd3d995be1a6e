package aztec

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/makiuchi-d/gozxing"
)

// ErrNotFound is returned when no Aztec symbol could be read.
var ErrNotFound = errors.New("aztec: no symbol found")

// Result is one decoded symbol.
type Result struct {
	Text    string // content, bytes interpreted per ECI (ISO-8859-1 by default)
	Bytes   []byte // content bytes as encoded
	Compact bool
	Layers  int // data layers; 0 for a rune
	// Rune is the value (0–255) of an Aztec rune, -1 for a symbol with data
	// layers. A rune's Text is its value in three digits.
	Rune       int
	Corrected  int  // codewords repaired by error correction
	ECI        bool // an ECI designator occurred
	GS1        bool // FNC1 in first position
	ReaderInit bool
	Mirrored   bool
	// Structured append (ISO/IEC 24778 8): Index is the symbol's 0-based
	// position, -1 when it stands alone; Count is 0 when not given; ID is
	// the message ID, "" when none.
	Index, Count int
	ID           string
	// Corners of the symbol in matrix coordinates, clockwise from the
	// symbol's top-left.
	Corners [4]gozxing.ResultPoint
}

// maxCenters bounds the bull's-eye candidates tried in one image.
const maxCenters = 8

// DecodeMatrix reads one Aztec symbol from a binarized image (true =
// dark).
func DecodeMatrix(m *gozxing.BitMatrix) (*Result, error) {
	im := &picture{m: m, w: m.GetWidth(), h: m.GetHeight()}
	var firstErr error
	for _, c := range findCenters(im, maxCenters) {
		res, err := decodeAt(im, c)
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

// orientation maps the symbol's module coordinates onto the image's: a
// mirror image, then quarter turns clockwise.
type orientation struct {
	turns  int
	mirror bool
}

func (o orientation) apply(u, v float64) (float64, float64) {
	if o.mirror {
		u = -u
	}
	for i := 0; i < o.turns; i++ {
		u, v = -v, u
	}
	return u, v
}

// sampler reads modules of a located symbol.
type sampler struct {
	im *picture
	h  homography
	o  orientation
}

// dark reports whether the module at symbol coordinates (u, v) is dark:
// the majority of five points, its centre and four around it.
func (s *sampler) dark(u, v int) bool {
	iu, iv := s.o.apply(float64(u), float64(v))
	n := 0
	for _, d := range [5][2]float64{{0, 0}, {-0.25, -0.25}, {0.25, -0.25}, {0.25, 0.25}, {-0.25, 0.25}} {
		p := s.h.apply(iu+d[0], iv+d[1])
		if s.im.dark(p.x, p.y) {
			n++
		}
	}
	return n >= 3
}

func (s *sampler) inside(u, v int) bool {
	iu, iv := s.o.apply(float64(u), float64(v))
	p := s.h.apply(iu, iv)
	return p.x >= 0 && p.y >= 0 && p.x < float64(s.im.w) && p.y < float64(s.im.h)
}

// orientationBits reads the 12 orientation modules at the corners of the
// mode message ring of radius r, clockwise from the left side just below
// the top-left corner; upright and unmirrored they read 111 011 100 000.
func (s *sampler) orientationBits(r int) int {
	pos := [12][2]int{
		{-r, -r + 1}, {-r, -r}, {-r + 1, -r},
		{r - 1, -r}, {r, -r}, {r, -r + 1},
		{r, r - 1}, {r, r}, {r - 1, r},
		{-r + 1, r}, {-r, r}, {-r, r - 1},
	}
	v := 0
	for _, p := range pos {
		v <<= 1
		if s.dark(p[0], p[1]) {
			v |= 1
		}
	}
	return v
}

const orientationMarks = 0b111_011_100_000

// modeMessage reads the mode message around the core (radius 5 compact,
// 7 full): each side clockwise from the top, the modules between the
// orientation marks, skipping a full symbol's reference grid line. It
// returns the corrected data words' value and whether it is a rune.
func (s *sampler) modeMessage(r int) (value int, isRune bool, err error) {
	compact := r == 5
	var bitsRead []bool
	for side := 0; side < 4; side++ {
		for i := 2; i <= 2*r-2; i++ {
			if !compact && i == r {
				continue
			}
			var u, v int
			switch side {
			case 0:
				u, v = -r+i, -r
			case 1:
				u, v = r, -r+i
			case 2:
				u, v = r-i, r
			default:
				u, v = -r, r-i
			}
			bitsRead = append(bitsRead, s.dark(u, v))
		}
	}
	n, nData := 10, 4
	if compact {
		n, nData = 7, 2
	}
	words := make([]int, n)
	for i := range words {
		words[i] = code(bitsRead, 4*i, 4)
	}
	try := func(ws []int) (int, bool) {
		if _, err := gf16.correct(ws, n-nData); err != nil {
			return 0, false
		}
		v := 0
		for _, w := range ws[:nData] {
			v = v<<4 | w
		}
		return v, true
	}
	if v, ok := try(append([]int(nil), words...)); ok {
		return v, false, nil
	}
	if compact {
		// A rune: the mode message with alternate bits inverted.
		ws := make([]int, n)
		for i, w := range words {
			ws[i] = w ^ 0b1010
		}
		if v, ok := try(ws); ok {
			return v, true, nil
		}
	}
	return 0, false, fmt.Errorf("%w: mode message", ErrNotFound)
}

// decodeAt reads the symbol whose bull's eye is at c.
func decodeAt(im *picture, c center) (*Result, error) {
	edges := ringEdges(im, c, 6)
	hCompact, ok := locate(c, edges, []int{3, 4})
	if !ok {
		return nil, fmt.Errorf("%w: bull's eye edges", ErrNotFound)
	}
	var lastErr error = fmt.Errorf("%w: orientation", ErrNotFound)
	// Compact with the core's fit; full-range with the fit of the wider
	// rings (more precise far out), then with the core's.
	type attempt struct {
		h homography
		r int
	}
	attempts := []attempt{{hCompact, 5}}
	if hf, ok := locate(c, edges, []int{3, 4, 5, 6}); ok {
		attempts = append(attempts, attempt{hf, 7})
	}
	attempts = append(attempts, attempt{hCompact, 7})
	for _, a := range attempts {
		h, r := a.h, a.r
		compact := r == 5
		for _, mirror := range []bool{false, true} {
			for turns := 0; turns < 4; turns++ {
				s := &sampler{im: im, h: h, o: orientation{turns, mirror}}
				if bits.OnesCount(uint(s.orientationBits(r)^orientationMarks)) > 2 {
					continue
				}
				mode, isRune, err := s.modeMessage(r)
				if err != nil {
					lastErr = err
					continue
				}
				res, err := s.decodeSymbol(compact, mode, isRune)
				if err != nil {
					lastErr = err
					continue
				}
				res.Mirrored = mirror
				return res, nil
			}
		}
	}
	return nil, lastErr
}

// decodeSymbol samples and decodes the data layers the mode message
// describes.
func (s *sampler) decodeSymbol(compact bool, mode int, isRune bool) (*Result, error) {
	res := &Result{Compact: compact, Rune: -1, Index: -1}
	if isRune {
		res.Rune = mode
		res.Text = fmt.Sprintf("%03d", mode)
		res.Bytes = []byte(res.Text)
		s.corners(res, 11)
		return res, nil
	}
	var layers, nData int
	if compact {
		layers = mode>>6 + 1
		if layers == 1 && mode&0x20 != 0 { // ISO/IEC 24778 9: reader initialization
			res.ReaderInit = true
			mode &^= 0x20
		}
		nData = mode&0x3f + 1
	} else {
		layers = mode>>11 + 1
		if layers <= 22 && mode&0x400 != 0 {
			res.ReaderInit = true
			mode &^= 0x400
		}
		nData = mode&0x7ff + 1
	}
	res.Layers = layers
	dim := dimension(compact, layers)
	half := dim / 2
	// What lies outside the image (a symbol cropped at its edge) reads
	// light and is left to error correction; but most of the symbol must
	// be there.
	e := half / 2
	for _, p := range [4][2]int{{-e, -e}, {e, -e}, {e, e}, {-e, e}} {
		if !s.inside(p[0], p[1]) {
			return nil, fmt.Errorf("%w: symbol of %d modules does not fit the image", ErrNotFound, dim)
		}
	}
	// The core's fit, refined on the whole symbol's module edges; if that
	// does not decode, the core's fit as it is.
	var data []bool
	var corrected int
	var err error
	for i, h := range []homography{refine(s.im, s.h, half), s.h} {
		t := &sampler{im: s.im, h: h, o: s.o}
		m := &matrix{dim: dim, dark: make([]bool, dim*dim)}
		for y := 0; y < dim; y++ {
			for x := 0; x < dim; x++ {
				m.dark[y*dim+x] = t.dark(x-half, y-half)
			}
		}
		data, corrected, err = dataBits(layerBitsOf(m, compact, layers), layers, nData)
		if err == nil {
			s.h = h
			break
		}
		if i == 0 && layers <= 1 {
			break // nothing to refine on
		}
	}
	if err != nil {
		return nil, err
	}
	ct, err := decodeBits(data)
	if err != nil {
		return nil, err
	}
	res.Text, res.Bytes = ct.text, ct.bytes
	res.Corrected, res.ECI, res.GS1 = corrected, ct.eci, ct.gs1
	res.Index, res.Count, res.ID = ct.index, ct.count, ct.id
	s.corners(res, dim)
	return res, nil
}

// corners sets res.Corners to the outer corners of a symbol dim modules
// wide.
func (s *sampler) corners(res *Result, dim int) {
	e := float64(dim) / 2
	for i, p := range [4][2]float64{{-e, -e}, {e, -e}, {e, e}, {-e, e}} {
		u, v := s.o.apply(p[0], p[1])
		q := s.h.apply(u, v)
		res.Corners[i] = gozxing.NewResultPoint(q.x, q.y)
	}
}
