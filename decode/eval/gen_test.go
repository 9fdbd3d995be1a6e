package eval

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGenerateGateSetDeterministic: the same seed gives the same frames,
// another seed others; every family and condition has its folder.
func TestGenerateGateSetDeterministic(t *testing.T) {
	opts := GateSetOptions{PerCondition: 1, Empty: 2, Seed: 7}
	a, b, c := t.TempDir(), t.TempDir(), t.TempDir()
	for dir, seed := range map[string]int64{a: 7, b: 7, c: 8} {
		o := opts
		o.Seed = seed
		if err := GenerateGateSet(dir, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, fam := range GateFamilies {
		for _, cond := range GateConditions {
			name := filepath.Join(fam+"-"+cond, "001.png")
			pa, err := os.ReadFile(filepath.Join(a, name))
			if err != nil {
				t.Fatal(err)
			}
			pb, _ := os.ReadFile(filepath.Join(b, name))
			pc, _ := os.ReadFile(filepath.Join(c, name))
			if !bytes.Equal(pa, pb) {
				t.Errorf("%s differs between two runs with the same seed", name)
			}
			if bytes.Equal(pa, pc) {
				t.Errorf("%s is the same with another seed", name)
			}
			if txt, err := os.ReadFile(filepath.Join(a, fam+"-"+cond, "001.txt")); err != nil || len(txt) < 40 {
				t.Errorf("%s: expected text %q, %v", name, txt, err)
			}
		}
	}
	ents, err := os.ReadDir(filepath.Join(a, "falsepositives-gate"))
	if err != nil || len(ents) != 2 {
		t.Fatalf("falsepositives-gate: %d files, %v", len(ents), err)
	}
}

// TestGateSetGateMode: on a small generated set, gate mode after three
// frames (a frame period long enough for every pass) reads what still mode
// reads, with no false positive on the empty frames.
func TestGateSetGateMode(t *testing.T) {
	if testing.Short() {
		t.Skip("generates and decodes a set")
	}
	dir := t.TempDir()
	if err := GenerateGateSet(dir, GateSetOptions{PerCondition: 1, Empty: 9, Seed: 3}); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var out strings.Builder
	still, err := Run(ctx, dir, &out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	gate, err := Run(ctx, dir, &out, Options{Gate: true, Frames: 3, FPS: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, fam := range []string{"QR", "PDF417", "Aztec"} {
		if s, g := still.Family[0][fam], gate.Family[0][fam]; g.Read < s.Read || g.Total != len(GateConditions) {
			t.Errorf("%s: gate mode read %v, still mode %v", fam, g, s)
		}
	}
	if still.FalsePositives[0] != 0 || gate.FalsePositives[0] != 0 || gate.FPImages != 9 {
		t.Errorf("false positives: still %d, gate %d of %d", still.FalsePositives[0], gate.FalsePositives[0], gate.FPImages)
	}
}
