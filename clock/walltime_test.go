package clock

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// wallTime are the time package's functions that read the wall clock or
// wait on it. Outside package main and this package, code takes a Clock.
var wallTime = []string{"Now", "Since", "Until", "After", "AfterFunc", "NewTimer", "NewTicker", "Tick", "Sleep"}

// testOnly are packages that may read wall time because only tests import
// them (checked below): a test waiting for real goroutines on real sockets
// waits in real time.
var testOnly = []string{"internal/testwait"}

// TestNoWallTimeOutsideClock fails when a non-test file of a package other
// than main and clock calls, or takes as a value, one of the time
// package's wall-clock functions: such code must follow the injected
// Clock (or, for an OS-enforced deadline, use Deadline).
func TestNoWallTimeOutsideClock(t *testing.T) {
	root, module := moduleRoot(t)
	fset := token.NewFileSet()
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if path == root {
				return nil
			}
			name := d.Name()
			if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "vendor" || name == "node_modules" {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		files++
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			for _, pkg := range testOnly {
				if p == module+"/"+pkg {
					t.Errorf("%s imports %s, which only tests may import", rel, p)
				}
			}
		}
		dir := filepath.ToSlash(filepath.Dir(rel))
		if f.Name.Name == "main" || dir == "clock" || slices.Contains(testOnly, dir) {
			return nil
		}
		for _, c := range wallTimeCalls(fset, f) {
			t.Errorf("%s:%s: reads wall time; take a clock.Clock (or clock.Deadline for an OS deadline)", rel, c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("looked at %d files under %s: not the whole module", files, root)
	}
}

// wallTimeCalls returns "line:col time.X" for each use of a wall-clock
// function of package time in f, under whatever name f imports it.
func wallTimeCalls(fset *token.FileSet, f *ast.File) []string {
	var names []string
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); p != "time" {
			continue
		}
		switch {
		case imp.Name == nil:
			names = append(names, "time")
		case imp.Name.Name == "_":
		case imp.Name.Name == ".":
			return []string{fmt.Sprintf("%s dot-imports time", fset.Position(imp.Pos()))}
		default:
			names = append(names, imp.Name.Name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); ok && slices.Contains(names, x.Name) && slices.Contains(wallTime, sel.Sel.Name) {
			pos := fset.Position(sel.Pos())
			out = append(out, fmt.Sprintf("%d:%d %s.%s", pos.Line, pos.Column, x.Name, sel.Sel.Name))
		}
		return true
	})
	return out
}

// TestWallTimeCalls: the check sees calls, function values and renamed
// imports, and leaves methods of time.Time and durations alone.
func TestWallTimeCalls(t *testing.T) {
	for _, tc := range []struct {
		src  string
		want []string
	}{
		{`import "time"; func f() { _ = time.Now(); var d time.Duration; _ = d }`, []string{"1:42 time.Now"}},
		{`import "time"; var now = time.Now`, []string{"1:37 time.Now"}},
		{`import t "time"; func f() { <-t.After(1); t.Sleep(1) }`, []string{"1:42 t.After", "1:54 t.Sleep"}},
		{`import "time"; func f(a, b time.Time) bool { return a.After(b) || b.Before(a) }`, nil},
		{`import "time"; var d = 2 * time.Second; var c = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)`, nil},
		{`import . "time"; var x = Now()`, []string{"x.go:1:19 dot-imports time"}},
		{`import "fmt"; type c struct{}; func (c) Now() int { return 0 }; var time c; var _ = fmt.Sprint(time.Now())`, nil},
	} {
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "x.go", "package p; "+tc.src, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		if got := wallTimeCalls(fset, f); !slices.Equal(got, tc.want) {
			t.Errorf("%s:\n got %q\nwant %q", tc.src, got, tc.want)
		}
	}
}

// moduleRoot returns the directory of the go.mod above this package and
// its module path.
func moduleRoot(t *testing.T) (dir, module string) {
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		f, err := os.Open(filepath.Join(dir, "go.mod"))
		if err == nil {
			defer f.Close()
			s := bufio.NewScanner(f)
			for s.Scan() {
				if m, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
					return dir, strings.Trim(strings.TrimSpace(m), `"`)
				}
			}
			t.Fatalf("%s/go.mod names no module", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the clock package")
		}
		dir = parent
	}
}
