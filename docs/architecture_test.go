package docs

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The package map and the dependency rules live in architecture.md; the
// format these tests read is described there, in "## Packages". Messages
// name the file from the repository root.
const (
	architectureFile = "architecture.md"
	architecture     = "docs/architecture.md"
)

// mapEntry is one list item of a section: the first backquoted word of a
// line "- `path` — what it is".
type mapEntry struct {
	line int // 1-based, in architecture.md
	path string
	text string
}

var entryRE = regexp.MustCompile("^\\s*[-*]\\s+`([^`]+)`")

// section returns the lines of architecture.md under the "## name"
// heading, up to the next "## " heading, with their 1-based numbers.
func section(t *testing.T, name string) (lines []string, first int) {
	t.Helper()
	data, err := os.ReadFile(architectureFile)
	if err != nil {
		t.Fatal(err)
	}
	all := strings.Split(string(data), "\n")
	start := slices.Index(all, "## "+name)
	if start < 0 {
		t.Fatalf("%s: no %q heading; the tests read the package map and the rules from it", architecture, "## "+name)
	}
	end := len(all)
	for i := start + 1; i < len(all); i++ {
		if strings.HasPrefix(all[i], "## ") {
			end = i
			break
		}
	}
	return all[start+1 : end], start + 2
}

// packageMap returns the entries of "## Packages".
func packageMap(t *testing.T) []mapEntry {
	lines, first := section(t, "Packages")
	var out []mapEntry
	for i, l := range lines {
		if m := entryRE.FindStringSubmatch(l); m != nil {
			out = append(out, mapEntry{line: first + i, path: m[1], text: strings.TrimSpace(l)})
		}
	}
	return out
}

// sharedLeaves returns the backquoted paths of the "Shared leaves:" line
// of "## Dependency rules".
func sharedLeaves(t *testing.T) (leaves []string, line int) {
	lines, first := section(t, "Dependency rules")
	for i, l := range lines {
		if rest, ok := strings.CutPrefix(l, "Shared leaves:"); ok {
			for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(rest, -1) {
				leaves = append(leaves, m[1])
			}
			return leaves, first + i
		}
	}
	t.Fatalf("%s: no \"Shared leaves:\" line under \"## Dependency rules\"", architecture)
	return nil, 0
}

// modulePackages runs go list in the module root and returns every
// package of the module (paths from the module root, "fleet/wire") with
// its non-test imports of packages of the module.
func modulePackages(t *testing.T) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,DepOnly,Imports,Module", "./...")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	type listed struct {
		ImportPath string
		DepOnly    bool
		Imports    []string
		Module     *struct{ Path string }
	}
	var ours []listed
	module := ""
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listed
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.DepOnly || p.Module == nil {
			continue
		}
		module = p.Module.Path
		ours = append(ours, p)
	}
	if module == "" {
		t.Fatal("go list ./... listed no package of the module")
	}
	pkgs := map[string][]string{}
	for _, p := range ours {
		rel, ok := strings.CutPrefix(p.ImportPath, module+"/")
		if !ok {
			t.Fatalf("package %s outside module %s", p.ImportPath, module)
		}
		var imports []string
		for _, imp := range p.Imports {
			if r, ok := strings.CutPrefix(imp, module+"/"); ok {
				imports = append(imports, r)
			}
		}
		pkgs[rel] = imports
	}
	return pkgs
}

// TestPackageMap fails when a package of the module is missing from the
// package map in architecture.md, or the map names a package that does
// not exist, or names one twice.
func TestPackageMap(t *testing.T) {
	pkgs := modulePackages(t)
	entries := packageMap(t)
	if len(entries) < 10 || len(pkgs) < 10 {
		t.Fatalf("read %d map lines and %d packages; is the test reading the right files?", len(entries), len(pkgs))
	}
	seen := map[string]mapEntry{}
	for _, e := range entries {
		if prev, dup := seen[e.path]; dup {
			t.Errorf("%s:%d: `%s` is listed twice (also at line %d); remove this line:\n\t%s", architecture, e.line, e.path, prev.line, e.text)
			continue
		}
		seen[e.path] = e
		if _, ok := pkgs[e.path]; !ok {
			t.Errorf("%s:%d: the package map names `%s`, which is not a package of the module (go list ./...); remove this line:\n\t%s", architecture, e.line, e.path, e.text)
		}
	}
	var missing []string
	for p := range pkgs {
		if _, ok := seen[p]; !ok {
			missing = append(missing, p)
		}
	}
	slices.Sort(missing)
	for _, p := range missing {
		near := nearest(entries, p)
		where := `under "## Packages"`
		if near.line > 0 {
			where = fmt.Sprintf("after line %d (`%s`)", near.line, near.path)
		}
		t.Errorf("%s: package `%s` is not in the package map; add this line %s, saying what the package holds:\n\t- `%s` — …", architecture, p, where, p)
	}
}

// nearest returns the map entry that shares the most leading path
// elements with p (the last of equals), or the zero entry.
func nearest(entries []mapEntry, p string) mapEntry {
	var best mapEntry
	bestN := 0
	for _, e := range entries {
		if n := commonElems(e.path, p); n >= bestN && n > 0 {
			best, bestN = e, n
		}
	}
	return best
}

func commonElems(a, b string) int {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	n := 0
	for n < len(as) && n < len(bs) && as[n] == bs[n] {
		n++
	}
	return n
}

// tree is the top-level folder of a package path.
func tree(p string) string {
	top, _, _ := strings.Cut(p, "/")
	return top
}

// leafTrees are the trees that import nothing of ours but their own
// packages and the shared leaves.
var leafTrees = []string{"hal", "decode", "ticket"}

// violations returns, sorted, one sentence per import of pkgs (package →
// its imports of the module) that breaks the dependency rules of
// architecture.md.
func violations(pkgs map[string][]string, leaves []string) []string {
	isLeaf := map[string]bool{}
	for _, l := range leaves {
		isLeaf[l] = true
	}
	var out []string
	for p, imports := range pkgs {
		for _, imp := range imports {
			switch {
			case isLeaf[p]:
				out = append(out, fmt.Sprintf("%s imports %s: a shared leaf imports nothing of ours (drop the import, or take %s off the \"Shared leaves:\" line if it is no longer a leaf)", p, imp, p))
			case slices.Contains(leafTrees, tree(p)) && tree(imp) != tree(p) && !isLeaf[imp]:
				out = append(out, fmt.Sprintf("%s imports %s: hal, decode and ticket import nothing of ours but their own tree and the shared leaves (%s)", p, imp, strings.Join(leaves, ", ")))
			case tree(p) == "agent" && tree(imp) == "fleet" && imp != "fleet/wire":
				out = append(out, fmt.Sprintf("%s imports %s: agent imports nothing from fleet but fleet/wire", p, imp))
			case tree(p) == "fleet" && tree(imp) == "agent":
				out = append(out, fmt.Sprintf("%s imports %s: fleet imports nothing from agent", p, imp))
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestDependencyRules checks the rules of "## Dependency rules" on the
// non-test imports of every package of the module.
func TestDependencyRules(t *testing.T) {
	pkgs := modulePackages(t)
	leaves, line := sharedLeaves(t)
	for _, l := range leaves {
		if _, ok := pkgs[l]; !ok {
			t.Errorf("%s:%d: the \"Shared leaves:\" line names `%s`, which is not a package of the module; remove it from that line", architecture, line, l)
		}
	}
	for _, v := range violations(pkgs, leaves) {
		t.Errorf("%s (%s, \"## Dependency rules\")", v, architecture)
	}
}

// TestViolationsCatch shows that each rule fires, so TestDependencyRules
// cannot pass by checking nothing.
func TestViolationsCatch(t *testing.T) {
	pkgs := map[string][]string{
		"hal/gpio":      {"hal", "hal/clock", "internal/sqlitedb"}, // own tree and leaves: fine
		"decode":        {"decode/pdf417", "hal"},                  // fine
		"ticket/entry":  {"ticket"},                                // fine
		"agent/uplink":  {"agent/gatedb", "fleet/wire"},            // fine
		"fleet/node":    {"fleet/api", "ticket", "hal/clock"},      // fine
		"cmd/admitctl":  {"agent/uplink", "fleet/api"},             // fine: cmd wires both
		"hal/nfc":       {"agent"},
		"decode/eval":   {"fleet/qrimage"},
		"ticket":        {"internal/venue"},
		"agent/peer":    {"fleet/replicate"},
		"fleet/replica": {"agent/gatedb"},
		"hal/clock":     {"hal"},
	}
	got := violations(pkgs, []string{"hal", "hal/clock", "internal/sqlitedb"})
	want := []string{"agent/peer imports fleet/replicate", "decode/eval imports fleet/qrimage", "fleet/replica imports agent/gatedb",
		"hal/clock imports hal", "hal/nfc imports agent", "ticket imports internal/venue"}
	if len(got) != len(want) {
		t.Fatalf("violations:\n%s\nwant one for each of %q", strings.Join(got, "\n"), want)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]+":") {
			t.Errorf("violation %d: %q, want it to start %q", i, got[i], want[i])
		}
	}
}

// TestMapFormat keeps the map's own lines readable: one package per line,
// each with what it is.
func TestMapFormat(t *testing.T) {
	lines, first := section(t, "Packages")
	sc := bufio.NewScanner(strings.NewReader(strings.Join(lines, "\n")))
	for i := 0; sc.Scan(); i++ {
		l := sc.Text()
		if !entryRE.MatchString(l) {
			continue
		}
		if !strings.Contains(l, " — ") {
			t.Errorf("%s:%d: a map line says what the package is after \" — \": %s", architecture, first+i, l)
		}
	}
}

// TestFleetTestsImportNoAgent checks the one rule that covers test files:
// no test of a fleet package imports a package of agent (the fleet's tests
// speak fleet/wire through fleet/replicate/replicatetest).
func TestFleetTestsImportNoAgent(t *testing.T) {
	cmd := exec.Command("go", "list", "-json=ImportPath,TestImports,XTestImports,Module", "./fleet/...")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.Bytes())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for {
		var p struct {
			ImportPath                string
			TestImports, XTestImports []string
			Module                    *struct{ Path string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		n++
		if p.Module == nil {
			continue
		}
		for _, imp := range append(p.TestImports, p.XTestImports...) {
			if r, ok := strings.CutPrefix(imp, p.Module.Path+"/"); ok && tree(r) == "agent" {
				t.Errorf("a test of %s imports %s: fleet tests import nothing from agent; talk to the hub with fleet/replicate/replicatetest, or move the test to an end-to-end home (%s, \"## Dependency rules\")",
					p.ImportPath, imp, architecture)
			}
		}
	}
	if n < 5 {
		t.Fatalf("go list ./fleet/... listed %d packages: not the fleet tree", n)
	}
}
