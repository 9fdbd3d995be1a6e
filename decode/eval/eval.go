package eval

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"gocv.io/x/gocv"

	"admit/clock"
	"admit/decode"
)

// Options configures a run.
type Options struct {
	// Formats enabled in the decoder; nil means DefaultFormats (QR,
	// PDF417, Aztec, Code 128, DataMatrix), or in Gate mode each set's
	// own format (GateFormats).
	Formats []decode.Format
	// Gate runs the decoder as a gate does: the per-frame budget of
	// decode.DefaultBudget and the default Share (optional passes only while
	// they fit, rotating over consecutive images) instead of StillBudget
	// and every pass, and, unless Formats
	// is set, only the format a gate scanning that set's tickets would
	// enable. Read rates then depend on machine load; use it for timing.
	Gate bool
	// Rotations in degrees (0, 90, 180, 270); nil means {0}.
	Rotations []int
	// Frames, in Gate mode, shows each image to the decoder up to Frames
	// times, as a camera sees a code held up for Frames frames (30 fps:
	// 15 frames is half a second); an image counts as read if the inline
	// pass of one of them, or a deep worker before the last frame's period
	// ends, decodes it. Times are those of the first frame's inline pass.
	// Zero means 1.
	Frames int
	// Workers, in Gate mode, is the decode.Pipeline's deep-pass workers;
	// zero means GateWorkers, negative means none (the optional passes
	// then run inline under the budget and share).
	Workers int
	// FPS, in Gate mode, is the camera's frame rate: after each frame the
	// workers have until the next frame (1/FPS after this one arrived) to
	// read it. The run moves on as soon as they have run every pass, so
	// it takes less than real time. Zero means 30.
	FPS float64
	// Budget is the decoder's per-frame budget; zero means StillBudget
	// (decode.DefaultBudget in Gate mode).
	Budget time.Duration
	// Baseline also times gozxing's QR reader alone on every image.
	Baseline bool
	// Sets restricts the run to these set names; nil means all.
	Sets []string
	// Clock is the stopwatch of the timings (and of the decoder's budget)
	// and, in Gate mode, the frame period's timer; nil means clock.Real{}.
	Clock clock.Clock
}

// GateWorkers is the deep-pass workers of a gate-mode run by default: a
// Raspberry Pi 4's four cores, one for the frame loop.
const GateWorkers = 3

// StillBudget is the per-image budget of a run: large enough that every
// image gets every pass, so read rates do not depend on machine load (a
// camera, seeing the same code in many frames, spreads the passes instead).
const StillBudget = 10 * time.Second

// DefaultFormats are the formats a gate enables by default.
var DefaultFormats = []decode.Format{decode.QR, decode.PDF417, decode.Aztec, decode.Code128, decode.DataMatrix}

// Families in report order.
var Families = []string{"QR", "PDF417", "Aztec", "Code 128", "DataMatrix", "other"}

// Counts is read/total.
type Counts struct{ Read, Total int }

func (c Counts) String() string { return fmt.Sprintf("%d/%d", c.Read, c.Total) }

// SetResult is one set at one rotation.
type SetResult struct {
	Name     string
	Family   string // "" for falsepositives sets
	Rotation int
	Counts   Counts // messages read; for falsepositives sets, images with a decode
	Times    []time.Duration
	Misses   []string // names not read (or, for falsepositives, read)
}

// Report is the outcome of a run.
type Report struct {
	Sets []SetResult
	// Family[rotation][family]
	Family map[int]map[string]Counts
	// FalsePositives[rotation] counts falsepositives images with a decode;
	// FPImages is how many such images there are.
	FalsePositives map[int]int
	FPImages       int
	// Passes[rotation][pass] counts the messages read, by the pass that
	// read their first part.
	Passes map[int]map[string]int
	// Median and P90 decode time per image, by rotation.
	Median, P90 map[int]time.Duration
	// BaselineMedian/BaselineP90: gozxing's QR reader alone at 0° (zero
	// unless Options.Baseline).
	BaselineMedian, BaselineP90 time.Duration
	// Pipeline sums, in Gate mode, what the pipelines did: frames shown,
	// frames handed to the deep workers, and the passes they ran.
	Pipeline decode.PipelineStats
	// Times[rotation][family] and BaselineTimes[rotation][family] are the
	// per-image times of the decoder and (with Options.Baseline) of
	// gozxing's QR reader alone; family "" is the falsepositives sets.
	Times, BaselineTimes map[int]map[string][]time.Duration
}

// GateFormats is what a gate scanning a set's tickets enables: the set's
// own symbology; the falsepositives sets get DefaultFormats.
func GateFormats(set string) []decode.Format {
	prefixes := []struct {
		prefix string
		format decode.Format
	}{
		{"qrcode", decode.QR}, {"pdf417", decode.PDF417}, {"aztec", decode.Aztec},
		{"code128", decode.Code128}, {"datamatrix", decode.DataMatrix}, {"code39", decode.Code39},
		{"ean13", decode.EAN13}, {"upca", decode.UPCA}, {"itf", decode.ITF},
	}
	for _, p := range prefixes {
		if strings.HasPrefix(set, p.prefix) {
			return []decode.Format{p.format}
		}
	}
	return DefaultFormats
}

// imageDecoder decodes one image as the run's mode says.
type imageDecoder interface {
	// read decodes src, returning the symbol, the time of the first
	// frame's decoding, and ErrNoSymbol if nothing was read.
	read(ctx context.Context, src gocv.Mat, now func() time.Time) (decode.Symbol, time.Duration, error)
	Close() error
}

// addStats adds what a gate decoder's pipeline did to the report.
func (rep *Report) addStats(d imageDecoder) {
	g, ok := d.(*gateDecoder)
	if !ok {
		return
	}
	st := g.p.Stats()
	rep.Pipeline.Frames += st.Frames
	rep.Pipeline.Candidates += st.Candidates
	rep.Pipeline.DeepPasses += st.DeepPasses
	rep.Pipeline.DeepTime += st.DeepTime
	rep.Pipeline.DeepReads += st.DeepReads
}

// stillDecoder gives an image every pass at once.
type stillDecoder struct{ d *decode.Decoder }

func (s stillDecoder) read(ctx context.Context, src gocv.Mat, now func() time.Time) (decode.Symbol, time.Duration, error) {
	t0 := now()
	sym, err := s.d.Decode(ctx, src)
	return sym, now().Sub(t0), err
}

func (s stillDecoder) Close() error { return s.d.Close() }

// gateDecoder shows an image to a gate's pipeline as a camera shows a
// code held still: frames times, one frame period apart, the deep workers
// working between frames.
type gateDecoder struct {
	p      *decode.Pipeline
	frames int
	period time.Duration
	clk    clock.Clock
}

func (g *gateDecoder) read(ctx context.Context, src gocv.Mat, now func() time.Time) (decode.Symbol, time.Duration, error) {
	// A new scene: nothing the workers read from the last image counts.
	if err := g.p.Forget(ctx); err != nil {
		return decode.Symbol{}, 0, err
	}
	var first time.Duration
	for f := 0; f < g.frames; f++ {
		t0 := now()
		sym, err := g.p.Decode(ctx, src)
		if f == 0 {
			first = now().Sub(t0)
		}
		if !errors.Is(err, decode.ErrNoSymbol) {
			return sym, first, err
		}
		// Until the next frame the workers may read this one.
		wait, cancel := context.WithCancel(ctx)
		tm := g.clk.AfterFunc(g.period-now().Sub(t0), cancel)
		_ = g.p.Settle(wait) // idle, or the period is over
		tm.Stop()
		cancel()
		if ctx.Err() != nil {
			return decode.Symbol{}, first, ctx.Err()
		}
		if sym, ok := g.p.Poll(); ok {
			return sym, first, nil
		}
	}
	return decode.Symbol{}, first, decode.ErrNoSymbol
}

func (g *gateDecoder) Close() error { return g.p.Close() }

// item is one message: one image, or several for structured append.
type item struct {
	name   string
	parts  []string // image paths
	want   []byte
	binary bool
}

// Run evaluates the decoder on corpusDir and prints a table to w.
func Run(ctx context.Context, corpusDir string, w io.Writer, opts Options) (Report, error) {
	perSet := opts.Formats == nil && opts.Gate
	if opts.Formats == nil {
		opts.Formats = DefaultFormats
	}
	if opts.Rotations == nil {
		opts.Rotations = []int{0}
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	now := opts.Clock.Now
	if opts.Workers == 0 {
		opts.Workers = GateWorkers
	}
	if opts.FPS <= 0 {
		opts.FPS = 30
	}
	period := time.Duration(float64(time.Second) / opts.FPS)
	if opts.Budget == 0 {
		opts.Budget = StillBudget
		if opts.Gate {
			opts.Budget = decode.DefaultBudget
		}
	}
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		return Report{}, fmt.Errorf("eval: read corpus: %w", err)
	}
	rep := Report{
		Family: map[int]map[string]Counts{}, FalsePositives: map[int]int{},
		Median: map[int]time.Duration{}, P90: map[int]time.Duration{},
		Passes: map[int]map[string]int{},
		Times:  map[int]map[string][]time.Duration{}, BaselineTimes: map[int]map[string][]time.Duration{},
	}
	share := -1.0 // still images: every pass
	if opts.Gate {
		share = 0 // the decoder's default, as a gate runs it
	}
	newDecoder := func(formats []decode.Format) imageDecoder {
		do := decode.Options{Formats: formats, Budget: opts.Budget, Share: share, Now: now, Workers: opts.Workers}
		if opts.Gate {
			return &gateDecoder{p: decode.NewPipeline(do), frames: max(opts.Frames, 1), period: period, clk: opts.Clock}
		}
		return stillDecoder{decode.NewDecoder(do)}
	}
	shared := newDecoder(opts.Formats)
	defer shared.Close()
	all := map[int][]time.Duration{}
	var baseline []time.Duration
	frame, rot := gocv.NewMat(), gocv.NewMat()
	defer frame.Close()
	defer rot.Close()
	for _, e := range entries {
		if !e.IsDir() || opts.Sets != nil && !slices.Contains(opts.Sets, e.Name()) {
			continue
		}
		set := e.Name()
		items, err := loadSet(filepath.Join(corpusDir, set))
		if err != nil {
			return rep, err
		}
		fam := family(set)
		if fam == "" {
			rep.FPImages += len(items)
		}
		dec := shared
		if perSet {
			dec = newDecoder(GateFormats(set))
		}
		for _, r := range opts.Rotations {
			sr := SetResult{Name: set, Family: fam, Rotation: r}
			for _, it := range items {
				var syms []decode.Symbol
				okParts := true
				for _, p := range it.parts {
					if err := ctx.Err(); err != nil {
						return rep, err
					}
					img := gocv.NewMat()
					if err := decode.ReadImage(p, &img); err != nil {
						img.Close()
						return rep, fmt.Errorf("eval: %w", err)
					}
					src := img
					if code, ok := rotateFlag(r); ok {
						gocv.Rotate(img, &rot, code)
						src = rot
					}
					sym, el, err := dec.read(ctx, src, now)
					sr.Times = append(sr.Times, el)
					all[r] = append(all[r], el)
					addTime(rep.Times, r, fam, el)
					if opts.Baseline {
						bt := timeBaseline(src, now)
						addTime(rep.BaselineTimes, r, fam, bt)
						if r == 0 {
							baseline = append(baseline, bt)
						}
					}
					img.Close()
					if err != nil {
						if !errors.Is(err, decode.ErrNoSymbol) {
							return rep, err
						}
						okParts = false
						continue
					}
					syms = append(syms, sym)
				}
				if fam == "" {
					if len(syms) > 0 {
						sr.Counts.Read++
						sr.Misses = append(sr.Misses, fmt.Sprintf("%s=%q(%s)", it.name, trunc(syms[0].Text), syms[0].Format))
					}
					sr.Counts.Total++
					continue
				}
				sr.Counts.Total++
				if okParts && matches(it, syms) {
					sr.Counts.Read++
					if rep.Passes[r] == nil {
						rep.Passes[r] = map[string]int{}
					}
					rep.Passes[r][syms[0].Pass]++
				} else {
					sr.Misses = append(sr.Misses, it.name)
				}
			}
			rep.Sets = append(rep.Sets, sr)
			if rep.Family[r] == nil {
				rep.Family[r] = map[string]Counts{}
			}
			if fam == "" {
				rep.FalsePositives[r] += sr.Counts.Read
			} else {
				c := rep.Family[r][fam]
				c.Read += sr.Counts.Read
				c.Total += sr.Counts.Total
				rep.Family[r][fam] = c
			}
		}
		if dec != shared {
			rep.addStats(dec)
			dec.Close()
		}
	}
	for r, ts := range all {
		rep.Median[r], rep.P90[r] = quantile(ts, 0.5), quantile(ts, 0.9)
	}
	rep.BaselineMedian, rep.BaselineP90 = quantile(baseline, 0.5), quantile(baseline, 0.9)
	rep.addStats(shared)
	rep.Print(w, opts.Rotations)
	return rep, nil
}

// Print writes the report as text tables.
func (rep Report) Print(w io.Writer, rotations []int) {
	fmt.Fprintf(w, "%-18s %-10s %4s %8s %9s %9s  %s\n", "set", "family", "rot", "read", "median", "p90", "missed")
	for _, s := range rep.Sets {
		fam := s.Family
		if fam == "" {
			fam = "(none)"
		}
		fmt.Fprintf(w, "%-18s %-10s %4d %8s %9s %9s  %s\n", s.Name, fam, s.Rotation, s.Counts,
			round(quantile(s.Times, 0.5)), round(quantile(s.Times, 0.9)), strings.Join(s.Misses, " "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-12s", "family")
	for _, r := range rotations {
		fmt.Fprintf(w, " %9s", fmt.Sprintf("%d°", r))
	}
	fmt.Fprintln(w)
	for _, f := range Families {
		fmt.Fprintf(w, "%-12s", f)
		for _, r := range rotations {
			fmt.Fprintf(w, " %9s", rep.Family[r][f])
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "%-12s", "false pos.")
	for _, r := range rotations {
		fmt.Fprintf(w, " %9s", fmt.Sprintf("%d/%d", rep.FalsePositives[r], rep.FPImages))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-12s", "median")
	for _, r := range rotations {
		fmt.Fprintf(w, " %9s", round(rep.Median[r]))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-12s", "p90")
	for _, r := range rotations {
		fmt.Fprintf(w, " %9s", round(rep.P90[r]))
	}
	fmt.Fprintln(w)
	for _, r := range rotations {
		names := make([]string, 0, len(rep.Passes[r]))
		for p := range rep.Passes[r] {
			names = append(names, p)
		}
		sort.Slice(names, func(i, j int) bool { return rep.Passes[r][names[i]] > rep.Passes[r][names[j]] })
		fmt.Fprintf(w, "reads by pass at %d°:", r)
		for _, p := range names {
			fmt.Fprintf(w, " %s %d", p, rep.Passes[r][p])
		}
		fmt.Fprintln(w)
	}
	if st := rep.Pipeline; st.Frames > 0 {
		fmt.Fprintf(w, "pipeline: %d frames, %d handed to the deep workers, %d deep passes (%d reads), deep work %s per frame\n",
			st.Frames, st.Candidates, st.DeepPasses, st.DeepReads, round(st.DeepTime/time.Duration(st.Frames)))
	}
	if len(rep.BaselineTimes) > 0 {
		rep.printTimes(w, rotations)
	}
	if rep.BaselineMedian > 0 {
		fmt.Fprintf(w, "gozxing QR reader alone (0°): median %s, p90 %s per image\n", round(rep.BaselineMedian), round(rep.BaselineP90))
	}
}

func addTime(m map[int]map[string][]time.Duration, r int, fam string, d time.Duration) {
	if m[r] == nil {
		m[r] = map[string][]time.Duration{}
	}
	m[r][fam] = append(m[r][fam], d)
}

// printTimes writes the median time per image by family, the decoder's
// next to gozxing's QR reader alone.
func (rep Report) printTimes(w io.Writer, rotations []int) {
	for _, r := range rotations {
		fmt.Fprintf(w, "median time per image at %d°: %-12s %9s %9s %6s\n", r, "family", "decoder", "gozxing", "ratio")
		var ours, base []time.Duration
		for _, f := range append(slices.Clone(Families), "") {
			ts, bs := rep.Times[r][f], rep.BaselineTimes[r][f]
			if len(ts) == 0 {
				continue
			}
			ours, base = append(ours, ts...), append(base, bs...)
			name := f
			if f == "" {
				name = "(none)"
			}
			printRatio(w, name, ts, bs)
		}
		printRatio(w, "all", ours, base)
	}
}

func printRatio(w io.Writer, name string, ts, bs []time.Duration) {
	m, b := quantile(ts, 0.5), quantile(bs, 0.5)
	ratio := "-"
	if b > 0 {
		ratio = fmt.Sprintf("%.2f×", float64(m)/float64(b))
	}
	fmt.Fprintf(w, "%28s %-12s %9s %9s %6s\n", "", name, round(m), round(b), ratio)
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

func trunc(s string) string {
	if len(s) > 24 {
		return s[:24] + "…"
	}
	return s
}

func rotateFlag(deg int) (gocv.RotateFlag, bool) {
	switch deg {
	case 90:
		return gocv.Rotate90Clockwise, true
	case 180:
		return gocv.Rotate180Clockwise, true
	case 270:
		return gocv.Rotate90CounterClockwise, true
	}
	return 0, false
}

func family(set string) string {
	switch {
	case strings.HasPrefix(set, "falsepositives"):
		return ""
	case strings.HasPrefix(set, "qrcode"):
		return "QR"
	case strings.HasPrefix(set, "pdf417"):
		return "PDF417"
	case strings.HasPrefix(set, "aztec"):
		return "Aztec"
	case strings.HasPrefix(set, "code128"):
		return "Code 128"
	case strings.HasPrefix(set, "datamatrix"):
		return "DataMatrix"
	}
	return "other"
}

// structured lists the structured-append sets.
var structured = []string{"qrcode-7", "pdf417-4"}

func loadSet(dir string) ([]item, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("eval: %w", err)
	}
	isStructured := slices.Contains(structured, filepath.Base(dir))
	byName := map[string]*item{}
	var order []string
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if ext != ".png" && ext != ".jpg" && ext != ".jpeg" {
			continue
		}
		base := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		key := base
		if isStructured {
			if i := strings.Index(base, "-"); i > 0 {
				key = base[:i]
			}
		}
		it := byName[key]
		if it == nil {
			it = &item{name: key}
			byName[key] = it
			order = append(order, key)
			if b, err := os.ReadFile(filepath.Join(dir, key+".txt")); err == nil {
				it.want = b
			} else if b, err := os.ReadFile(filepath.Join(dir, key+".bin")); err == nil {
				it.want, it.binary = b, true
			}
		}
		it.parts = append(it.parts, filepath.Join(dir, e.Name()))
	}
	sort.Strings(order)
	out := make([]item, 0, len(order))
	for _, k := range order {
		it := byName[k]
		sort.Strings(it.parts)
		out = append(out, *it)
	}
	return out, nil
}

// matches reports whether the symbols read for it give the expected
// content.
func matches(it item, syms []decode.Symbol) bool {
	if len(syms) != len(it.parts) || it.want == nil {
		return false
	}
	if len(syms) > 1 {
		sorted := slices.Clone(syms)
		seq := true
		for _, s := range sorted {
			if s.Sequence < 0 {
				seq = false
			}
		}
		if seq {
			sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Sequence < sorted[j].Sequence })
		}
		syms = sorted
	}
	var text strings.Builder
	var raw, latin []byte
	for _, s := range syms {
		text.WriteString(s.Text)
		raw = append(raw, s.Bytes...)
		for _, r := range s.Text {
			if r < 256 {
				latin = append(latin, byte(r))
			} else {
				latin = append(latin, []byte(string(r))...)
			}
		}
	}
	if !it.binary {
		return text.String() == string(it.want)
	}
	return bytes.Equal(raw, it.want) || bytes.Equal(latin, it.want) || text.String() == string(it.want)
}

func quantile(ts []time.Duration, q float64) time.Duration {
	if len(ts) == 0 {
		return 0
	}
	s := slices.Clone(ts)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// timeBaseline times gozxing's QR reader alone (hybrid binarizer,
// TRY_HARDER) on a frame, gray conversion included.
func timeBaseline(frame gocv.Mat, now func() time.Time) time.Duration {
	t0 := now()
	gray := gocv.NewMat()
	defer gray.Close()
	gocv.CvtColor(frame, &gray, gocv.ColorBGRToGray)
	pix, err := gray.DataPtrUint8()
	if err != nil {
		return 0
	}
	src, err := gozxing.NewPlanarYUVLuminanceSource(pix, gray.Cols(), gray.Rows(), 0, 0, gray.Cols(), gray.Rows(), false)
	if err != nil {
		return 0
	}
	bmp, err := gozxing.NewBinaryBitmap(gozxing.NewHybridBinarizer(src))
	if err != nil {
		return 0
	}
	_, _ = qrcode.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]interface{}{gozxing.DecodeHintType_TRY_HARDER: true})
	return now().Sub(t0)
}
