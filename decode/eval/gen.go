package eval

import (
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"

	"github.com/boombuler/barcode"
	bbaztec "github.com/boombuler/barcode/aztec"
	bbpdf417 "github.com/boombuler/barcode/pdf417"
	bbqr "github.com/boombuler/barcode/qr"
	"gocv.io/x/gocv"
)

// The gate-conditions set: camera frames as a gate sees them, generated
// deterministically (GenerateGateSet), laid out like ../shared/corpus so
// that Run measures them: one folder per family and condition
// (qrcode-tilt, aztec-dim, pdf417-moire, …) and one of frames without a
// code (falsepositives-gate). It is ours, separate from the shared corpus,
// and generated into an ignored folder, never committed.

// GateConditions are the conditions of the gate-conditions set:
//   - small: modules of 1.4–2 px (a phone at arm's length);
//   - tilt: the code turned 30–45° away from the camera;
//   - blur: out of focus (Gaussian, σ a third of a module or more);
//   - dim: a dark entrance, the frame in 10–80 grey levels with gain noise;
//   - glare: a specular highlight over part of the code;
//   - dark: a dark-mode phone (light modules on a dark screen);
//   - moire: a phone screen seen by the camera: pixel grid and aliasing;
//   - clutter: a busy background (text, stripes, grids, shapes);
//   - motion: a code moving during the exposure (a linear smear of one to
//     two modules).
//
// Every frame also gets some tilt, an in-plane turn, sensor noise and
// JPEG compression.
var GateConditions = []string{"small", "tilt", "blur", "dim", "glare", "dark", "moire", "clutter", "motion"}

// GateFamilies are the symbologies of the gate-conditions set, by folder
// prefix.
var GateFamilies = []string{"qrcode", "aztec", "pdf417"}

// GateSetOptions configures GenerateGateSet.
type GateSetOptions struct {
	PerCondition int // frames per family and condition; zero means 20
	Empty        int // frames without a code; zero means 40
	Seed         int64
	// Width and Height of the frames; zero means 640×480.
	Width, Height int
}

// GenerateGateSet writes the gate-conditions set into dir (created if
// needed; existing files of the same names are overwritten). The same
// options give the same images.
func GenerateGateSet(dir string, opts GateSetOptions) error {
	if opts.PerCondition == 0 {
		opts.PerCondition = 20
	}
	if opts.Empty == 0 {
		opts.Empty = 40
	}
	if opts.Width == 0 || opts.Height == 0 {
		opts.Width, opts.Height = 640, 480
	}
	for _, fam := range GateFamilies {
		for _, cond := range GateConditions {
			set := fam + "-" + cond
			for i := 0; i < opts.PerCondition; i++ {
				g := newGen(opts, set, i)
				text, sym, err := g.symbol(fam)
				if err != nil {
					return fmt.Errorf("eval: generate %s/%d: %w", set, i, err)
				}
				frame := g.frame(cond, sym)
				name := fmt.Sprintf("%03d", i+1)
				if err := writeFrame(filepath.Join(dir, set), name, frame, g.quality(), text); err != nil {
					return err
				}
				frame.Close()
			}
		}
	}
	for i := 0; i < opts.Empty; i++ {
		g := newGen(opts, "falsepositives-gate", i)
		cond := GateConditions[i%len(GateConditions)]
		frame := g.frame(cond, nil)
		if err := writeFrame(filepath.Join(dir, "falsepositives-gate"), fmt.Sprintf("%03d-%s", i+1, cond), frame, g.quality(), ""); err != nil {
			return err
		}
		frame.Close()
	}
	return nil
}

func writeFrame(dir, name string, frame gocv.Mat, quality int, text string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("eval: generate: %w", err)
	}
	// JPEG round trip (what a camera's or a phone's compression leaves),
	// stored as PNG so the pixels are exactly these.
	buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, frame, []int{gocv.IMWriteJpegQuality, quality})
	if err != nil {
		return fmt.Errorf("eval: generate: %w", err)
	}
	jpg, err := gocv.IMDecode(buf.GetBytes(), gocv.IMReadColor)
	buf.Close()
	if err != nil {
		return fmt.Errorf("eval: generate: %w", err)
	}
	defer jpg.Close()
	if !gocv.IMWrite(filepath.Join(dir, name+".png"), jpg) {
		return fmt.Errorf("eval: generate: cannot write %s/%s.png", dir, name)
	}
	if text == "" {
		return nil
	}
	if err := os.WriteFile(filepath.Join(dir, name+".txt"), []byte(text), 0o644); err != nil {
		return fmt.Errorf("eval: generate: %w", err)
	}
	return nil
}

// gen draws one frame; its random source depends only on the options'
// seed, the set and the index.
type gen struct {
	rng  *rand.Rand
	w, h int
}

func newGen(opts GateSetOptions, set string, i int) *gen {
	hs := fnv.New64a()
	fmt.Fprintf(hs, "%d/%s/%d", opts.Seed, set, i)
	return &gen{rng: rand.New(rand.NewSource(int64(hs.Sum64()))), w: opts.Width, h: opts.Height}
}

func (g *gen) uniform(lo, hi float64) float64 { return lo + g.rng.Float64()*(hi-lo) }

func (g *gen) quality() int { return 70 + g.rng.Intn(25) }

// symbolGrid is a code's modules: dark[y][x], each row rowHeight modules
// tall, with quiet modules of margin around.
type symbolGrid struct {
	dark      [][]bool
	rowHeight int
	margin    int
}

const ticketAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

// symbol returns a ticket-like payload of the family and its modules.
func (g *gen) symbol(fam string) (string, *symbolGrid, error) {
	var (
		text string
		bc   barcode.Barcode
		err  error
		sg   symbolGrid
	)
	switch fam {
	case "qrcode":
		// An AD1 ticket: 170–200 characters of base45 (QR version 7–8).
		text = "AD1:" + g.text(ticketAlphabet, 160+g.rng.Intn(36))
		level := []bbqr.ErrorCorrectionLevel{bbqr.L, bbqr.M, bbqr.Q}[g.rng.Intn(3)]
		bc, err = bbqr.Encode(text, level, bbqr.Auto)
		sg.rowHeight, sg.margin = 1, 4
	case "aztec":
		// A rail ticket's worth of text: 40–220 characters.
		text = g.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:-/", 40+g.rng.Intn(180))
		bc, err = bbaztec.Encode([]byte(text), 23+g.rng.Intn(20), bbaztec.DEFAULT_LAYERS)
		sg.rowHeight, sg.margin = 1, 3
	case "pdf417":
		// A boarding pass (IATA BCBP-like): 60–160 characters.
		text = "M1" + g.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ/ ", 18) + "E" + g.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ", 40+g.rng.Intn(100))
		bc, err = bbpdf417.Encode(text, byte(2+g.rng.Intn(3)))
		sg.rowHeight, sg.margin = 3, 2
	default:
		return "", nil, fmt.Errorf("unknown family %q", fam)
	}
	if err != nil {
		return "", nil, err
	}
	b := bc.Bounds()
	step := 1
	if fam == "pdf417" {
		step = 2 // boombuler draws each PDF417 row two pixels tall
	}
	for y := b.Min.Y; y < b.Max.Y; y += step {
		row := make([]bool, b.Dx())
		for x := b.Min.X; x < b.Max.X; x++ {
			r, _, _, _ := bc.At(x, y).RGBA()
			row[x-b.Min.X] = r < 0x8000
		}
		sg.dark = append(sg.dark, row)
	}
	return text, &sg, nil
}

func (g *gen) text(alphabet string, n int) string {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteByte(alphabet[g.rng.Intn(len(alphabet))])
	}
	return sb.String()
}

// frame draws a w×h BGR frame for the condition, with sym on a card (or a
// phone screen) unless sym is nil.
func (g *gen) frame(cond string, sym *symbolGrid) gocv.Mat {
	frame := g.background(cond == "clutter")
	px := 4.0 // module size in the frame
	if sym != nil {
		px = g.placeCode(frame, cond, sym)
	} else if g.rng.Intn(2) == 0 {
		// An empty frame often holds an empty card or a phone.
		g.placeCode(frame, cond, &symbolGrid{dark: [][]bool{make([]bool, 30)}, rowHeight: 30, margin: 2})
	}
	switch cond {
	case "blur":
		s := px * g.uniform(0.3, 0.45)
		gocv.GaussianBlur(frame, &frame, image.Point{}, s, s, gocv.BorderReplicate)
	case "motion":
		g.motionBlur(frame, px*g.uniform(0.8, 1.6))
	case "dim":
		lo, hi := g.uniform(5, 20), g.uniform(60, 90)
		frame.ConvertToWithParams(&frame, gocv.MatTypeCV8UC3, float32((hi-lo)/255), float32(lo))
		g.noise(frame, g.uniform(2, 4))
	case "glare":
		// applied with the code (it must cover part of it)
	}
	g.noise(frame, g.uniform(1, 3))
	return frame
}

// background is a plausible scene: a lit gradient with soft shapes, or,
// cluttered, with text, stripes, grids and shapes.
func (g *gen) background(clutter bool) gocv.Mat {
	img := image.NewRGBA(image.Rect(0, 0, g.w, g.h))
	base := [3]float64{g.uniform(60, 180), g.uniform(60, 180), g.uniform(60, 180)}
	gx, gy := g.uniform(-60, 60), g.uniform(-60, 60)
	for y := 0; y < g.h; y++ {
		for x := 0; x < g.w; x++ {
			f := gx*float64(x)/float64(g.w) + gy*float64(y)/float64(g.h)
			i := img.PixOffset(x, y)
			for c := 0; c < 3; c++ {
				img.Pix[i+c] = clamp8(base[c] + f)
			}
			img.Pix[i+3] = 255
		}
	}
	m, err := gocv.ImageToMatRGB(img)
	if err != nil {
		panic(err) // an RGBA image always converts
	}
	shapes := 3 + g.rng.Intn(4)
	for i := 0; i < shapes; i++ {
		c := g.color(40, 220)
		p := image.Pt(g.rng.Intn(g.w), g.rng.Intn(g.h))
		if g.rng.Intn(2) == 0 {
			gocv.Rectangle(&m, image.Rect(p.X, p.Y, p.X+20+g.rng.Intn(200), p.Y+20+g.rng.Intn(150)), c, -1)
		} else {
			gocv.Circle(&m, p, 10+g.rng.Intn(80), c, -1)
		}
	}
	if clutter {
		g.clutter(&m)
	} else {
		gocv.GaussianBlur(m, &m, image.Point{}, 3, 3, gocv.BorderReplicate)
	}
	return m
}

// clutter draws what a gate's camera sees around a ticket: printed text,
// stripes, grids, checks and line art.
func (g *gen) clutter(m *gocv.Mat) {
	n := 6 + g.rng.Intn(6)
	for i := 0; i < n; i++ {
		c := g.color(0, 255)
		x, y := g.rng.Intn(g.w), g.rng.Intn(g.h)
		switch g.rng.Intn(5) {
		case 0: // text lines
			scale := g.uniform(0.4, 1.2)
			for l := 0; l < 1+g.rng.Intn(5); l++ {
				gocv.PutText(m, g.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz 0123456789", 8+g.rng.Intn(20)),
					image.Pt(x, y+l*int(30*scale)), gocv.FontHersheySimplex, scale, c, 1+g.rng.Intn(2))
			}
		case 1: // stripes
			period, width := 3+g.rng.Intn(10), 60+g.rng.Intn(160)
			for k := 0; k < width/period; k++ {
				gocv.Line(m, image.Pt(x+k*period, y), image.Pt(x+k*period+g.rng.Intn(20), y+40+g.rng.Intn(120)), c, 1+g.rng.Intn(2))
			}
		case 2: // grid
			cell, cells := 4+g.rng.Intn(12), 4+g.rng.Intn(12)
			for k := 0; k <= cells; k++ {
				gocv.Line(m, image.Pt(x+k*cell, y), image.Pt(x+k*cell, y+cells*cell), c, 1)
				gocv.Line(m, image.Pt(x, y+k*cell), image.Pt(x+cells*cell, y+k*cell), c, 1)
			}
		case 3: // checks
			cell, cells := 3+g.rng.Intn(10), 3+g.rng.Intn(10)
			for j := 0; j < cells; j++ {
				for k := 0; k < cells; k++ {
					if (j+k)%2 == 0 {
						gocv.Rectangle(m, image.Rect(x+k*cell, y+j*cell, x+(k+1)*cell, y+(j+1)*cell), c, -1)
					}
				}
			}
		default: // line art
			for k := 0; k < 3+g.rng.Intn(8); k++ {
				gocv.Line(m, image.Pt(g.rng.Intn(g.w), g.rng.Intn(g.h)), image.Pt(g.rng.Intn(g.w), g.rng.Intn(g.h)), c, 1+g.rng.Intn(3))
			}
		}
	}
}

func (g *gen) color(lo, hi int) color.RGBA {
	return color.RGBA{uint8(lo + g.rng.Intn(hi-lo+1)), uint8(lo + g.rng.Intn(hi-lo+1)), uint8(lo + g.rng.Intn(hi-lo+1)), 255}
}

// placeCode draws the code on its card (paper, or a phone's screen) into
// frame, turned and tilted as the condition says, and returns the size of
// a module in the frame.
func (g *gen) placeCode(frame gocv.Mat, cond string, sym *symbolGrid) float64 {
	rows := len(sym.dark) * sym.rowHeight
	cols := len(sym.dark[0])
	mw, mh := cols+2*sym.margin, rows+2*sym.margin // modules, quiet zone included
	// Module size in the frame.
	var px float64
	switch cond {
	case "small":
		px = g.uniform(1.4, 2.0)
	default:
		// The code (quiet zone included) spans 30–70 % of the frame's
		// height, at least 2.5 px per module.
		px = math.Max(2.5, g.uniform(0.3, 0.7)*float64(g.h)/float64(max(mw, mh)))
		px = math.Min(px, 9)
	}
	// The card is drawn at s pixels per module, at least two.
	s := max(2, int(math.Ceil(px)))
	screen := cond == "dark" || cond == "moire" || (cond != "dim" && g.rng.Intn(4) == 0)
	light, dark := g.uniform(200, 250), g.uniform(10, 50)
	if cond == "dark" {
		light, dark = g.uniform(15, 45), g.uniform(170, 235) // the light is the modules
	}
	card := gocv.NewMatWithSize(mh*s, mw*s, gocv.MatTypeCV8UC1)
	defer card.Close()
	card.SetTo(gocv.NewScalar(light, 0, 0, 0))
	pix, _ := card.DataPtrUint8()
	for y, row := range sym.dark {
		for x, d := range row {
			if !d {
				continue
			}
			for j := 0; j < s*sym.rowHeight; j++ {
				o := ((sym.margin+y*sym.rowHeight)*s+j)*mw*s + (sym.margin+x)*s
				for k := 0; k < s; k++ {
					pix[o+k] = uint8(dark)
				}
			}
		}
	}
	if screen && cond == "moire" {
		// The screen's pixel grid: dark lines between the pixels, a
		// little finer than the camera's pixels, so sampling aliases.
		period := g.uniform(1.6, 3.2) * float64(s) / px
		depth := g.uniform(0.25, 0.5)
		for y := 0; y < mh*s; y++ {
			for x := 0; x < mw*s; x++ {
				fx := math.Mod(float64(x), period) / period
				fy := math.Mod(float64(y), period) / period
				if fx > 0.7 || fy > 0.7 {
					pix[y*mw*s+x] = uint8(float64(pix[y*mw*s+x]) * (1 - depth))
				}
			}
		}
	}
	bgr := gocv.NewMat()
	defer bgr.Close()
	gocv.CvtColor(card, &bgr, gocv.ColorGrayToBGR)
	if !screen {
		// Paper under warm light.
		tint := gocv.NewMatWithSizeFromScalar(gocv.NewScalar(g.uniform(0.85, 1), g.uniform(0.9, 1), 1, 0), bgr.Rows(), bgr.Cols(), gocv.MatTypeCV32FC3)
		defer tint.Close()
		f := gocv.NewMat()
		defer f.Close()
		bgr.ConvertTo(&f, gocv.MatTypeCV32FC3)
		gocv.Multiply(f, tint, &f)
		f.ConvertTo(&bgr, gocv.MatTypeCV8UC3)
	}

	// Pose: a card of mw×mh modules at px per module, turned in its plane,
	// tilted about an axis in its plane, projected by a camera of focal
	// length f.
	tilt := g.uniform(0, 15)
	if cond == "tilt" {
		tilt = g.uniform(30, 45)
	}
	turn := g.uniform(-25, 25)
	if g.rng.Intn(3) == 0 {
		turn = g.uniform(0, 360)
	}
	axis := g.uniform(0, 180)
	const f = 550.0
	W, H := float64(mw)*px, float64(mh)*px
	// The projected size shrinks by cos(tilt) along one axis; keep the card
	// inside the frame.
	corners := [4][2]float64{{-W / 2, -H / 2}, {W / 2, -H / 2}, {W / 2, H / 2}, {-W / 2, H / 2}}
	proj := func(cx, cy float64) []gocv.Point2f {
		out := make([]gocv.Point2f, 4)
		tr, ta, tt := turn*math.Pi/180, axis*math.Pi/180, tilt*math.Pi/180
		ux, uy := math.Cos(ta), math.Sin(ta)
		for i, c := range corners {
			// Turn in the plane.
			x := c[0]*math.Cos(tr) - c[1]*math.Sin(tr)
			y := c[0]*math.Sin(tr) + c[1]*math.Cos(tr)
			// Tilt about the axis (ux, uy, 0) by tt (Rodrigues' formula),
			// z away from the camera.
			d := x*ux + y*uy
			nx := x*math.Cos(tt) + ux*d*(1-math.Cos(tt))
			ny := y*math.Cos(tt) + uy*d*(1-math.Cos(tt))
			nz := (ux*y - uy*x) * math.Sin(tt)
			z := f + nz
			out[i] = gocv.Point2f{X: float32(cx + f*nx/z), Y: float32(cy + f*ny/z)}
		}
		return out
	}
	// The whole card must show: shrink it until its projection fits in
	// 94 % of the frame (a long PDF417 turned on its side is held farther
	// away), then place it at random where it fits.
	var minX, maxX, minY, maxY float64
	for try := 0; try < 20; try++ {
		pts := proj(0, 0)
		minX, maxX, minY, maxY = math.Inf(1), math.Inf(-1), math.Inf(1), math.Inf(-1)
		for _, p := range pts {
			minX, maxX = math.Min(minX, float64(p.X)), math.Max(maxX, float64(p.X))
			minY, maxY = math.Min(minY, float64(p.Y)), math.Max(maxY, float64(p.Y))
		}
		fit := math.Min(0.94*float64(g.w)/(maxX-minX), 0.94*float64(g.h)/(maxY-minY))
		if fit >= 1 {
			break
		}
		for i := range corners {
			corners[i][0] *= fit
			corners[i][1] *= fit
		}
		px *= fit
	}
	cx, cy := float64(g.w)/2, float64(g.h)/2
	if room := float64(g.w) - (maxX - minX); room > 0 {
		cx = -minX + g.uniform(0, room)
	}
	if room := float64(g.h) - (maxY - minY); room > 0 {
		cy = -minY + g.uniform(0, room)
	}
	dst := proj(cx, cy)
	sw, sh := float32(mw*s), float32(mh*s)
	srcQuad := gocv.NewPoint2fVectorFromPoints([]gocv.Point2f{{X: 0, Y: 0}, {X: sw, Y: 0}, {X: sw, Y: sh}, {X: 0, Y: sh}})
	dstQuad := gocv.NewPoint2fVectorFromPoints(dst)
	defer srcQuad.Close()
	defer dstQuad.Close()
	hm := gocv.GetPerspectiveTransform2f(srcQuad, dstQuad)
	defer hm.Close()
	if cond == "small" || float64(s) > 1.5*px {
		// Shrinking: smooth first so that sampling does not alias (a
		// lens does this), except the screen grid, which should.
		sigma := 0.4 * float64(s) / px
		if cond != "moire" {
			gocv.GaussianBlur(bgr, &bgr, image.Point{}, sigma, sigma, gocv.BorderReplicate)
		}
	}
	gocv.WarpPerspectiveWithParams(bgr, &frame, hm, image.Pt(g.w, g.h), gocv.InterpolationLinear, gocv.BorderTransparent, color.RGBA{})
	if cond == "glare" {
		// A highlight over part of the card.
		i := g.rng.Intn(4)
		c := image.Pt(int((float64(dst[i].X)+cx)/2+g.uniform(-10, 10)), int((float64(dst[i].Y)+cy)/2+g.uniform(-10, 10)))
		g.glare(frame, c, g.uniform(0.15, 0.3)*math.Max(maxX-minX, maxY-minY), g.uniform(120, 230))
	}
	return px
}

// glare adds a soft highlight of the given radius and strength at c.
func (g *gen) glare(frame gocv.Mat, c image.Point, radius, strength float64) {
	pix, _ := frame.DataPtrUint8()
	ch := frame.Channels()
	r2 := 2 * radius * radius
	for y := max(0, c.Y-int(3*radius)); y < min(g.h, c.Y+int(3*radius)); y++ {
		for x := max(0, c.X-int(3*radius)); x < min(g.w, c.X+int(3*radius)); x++ {
			dx, dy := float64(x-c.X), float64(y-c.Y)
			add := strength * math.Exp(-(dx*dx+dy*dy)/r2)
			o := (y*g.w + x) * ch
			for k := 0; k < ch; k++ {
				pix[o+k] = clamp8(float64(pix[o+k]) + add)
			}
		}
	}
}

// motionBlur smears the frame along a random direction over length
// pixels.
func (g *gen) motionBlur(frame gocv.Mat, length float64) {
	n := max(1, int(math.Round(length/2)))
	k := gocv.Zeros(2*n+1, 2*n+1, gocv.MatTypeCV32F)
	defer k.Close()
	a := g.uniform(0, math.Pi)
	for i := -n; i <= n; i++ {
		x, y := n+int(math.Round(float64(i)*math.Cos(a))), n+int(math.Round(float64(i)*math.Sin(a)))
		k.SetFloatAt(y, x, 1)
	}
	sum := k.Sum().Val1
	k.DivideFloat(float32(sum))
	gocv.Filter2D(frame, &frame, -1, k, image.Pt(-1, -1), 0, gocv.BorderReplicate)
}

// noise adds Gaussian sensor noise of standard deviation sigma.
func (g *gen) noise(frame gocv.Mat, sigma float64) {
	pix, _ := frame.DataPtrUint8()
	for i := range pix {
		pix[i] = clamp8(float64(pix[i]) + g.rng.NormFloat64()*sigma)
	}
}

func clamp8(v float64) uint8 {
	switch {
	case v <= 0:
		return 0
	case v >= 255:
		return 255
	}
	return uint8(v + 0.5)
}
