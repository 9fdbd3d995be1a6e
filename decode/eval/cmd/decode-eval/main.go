// Command decode-eval measures admit's decoder on a barcode corpus:
//
//	go run ./decode/eval/cmd/decode-eval -corpus ../shared/corpus -rotations 0,90,180,270 -baseline
//
// With -gate it runs the decoder as a gate does (the camera pipeline: first
// pass inline, deep passes on -workers goroutines; each set's own format)
// and shows each image for -frames frames at -fps:
//
//	go run ./decode/eval/cmd/decode-eval -corpus ../shared/corpus -gate -frames 3 -baseline
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"admit/decode"
	"admit/decode/eval"
	"admit/internal/version"
)

func main() {
	corpus := flag.String("corpus", "../shared/corpus", "corpus directory")
	rots := flag.String("rotations", "0", "comma-separated rotations in degrees (0,90,180,270)")
	formats := flag.String("formats", "", "comma-separated formats (default: qr,pdf417,aztec,code128,datamatrix; 'all' for every reader)")
	sets := flag.String("sets", "", "comma-separated set names (default: all)")
	budget := flag.Duration("budget", 0, "per-frame budget for optional passes (0: decoder default)")
	baseline := flag.Bool("baseline", false, "also time gozxing's QR reader alone")
	frames := flag.Int("frames", 1, "with -gate: show each image up to this many times, like a code held up to a camera")
	gate := flag.Bool("gate", false, "run as a gate: the camera pipeline (first pass inline, deep passes on workers), each set's own format unless -formats")
	workers := flag.Int("workers", eval.GateWorkers, "with -gate: deep-pass workers (negative: none, the optional passes inline under the budget)")
	fps := flag.Float64("fps", 30, "with -gate: camera frame rate; the workers have one frame period per frame")
	generate := flag.String("generate", "", "write the gate-conditions set into this directory and exit")
	per := flag.Int("per", 20, "with -generate: frames per family and condition")
	seed := flag.Int64("seed", 1, "with -generate: the set's seed")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		version.Print(os.Stdout, "decode-eval")
		return
	}

	if *generate != "" {
		if err := eval.GenerateGateSet(*generate, eval.GateSetOptions{PerCondition: *per, Seed: *seed}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}

	opts := eval.Options{Budget: *budget, Baseline: *baseline, Gate: *gate, Frames: *frames, Workers: *workers, FPS: *fps}
	for _, r := range strings.Split(*rots, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(r))
		if err != nil {
			fmt.Fprintf(os.Stderr, "decode-eval: bad rotation %q\n", r)
			os.Exit(2)
		}
		opts.Rotations = append(opts.Rotations, n)
	}
	switch *formats {
	case "":
	case "all":
		opts.Formats = decode.AllFormats
	default:
		for _, f := range strings.Split(*formats, ",") {
			opts.Formats = append(opts.Formats, decode.Format(strings.TrimSpace(f)))
		}
	}
	if *sets != "" {
		opts.Sets = strings.Split(*sets, ",")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	t0 := time.Now()
	if _, err := eval.Run(ctx, *corpus, os.Stdout, opts); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("total %s\n", time.Since(t0).Round(time.Millisecond))
}
