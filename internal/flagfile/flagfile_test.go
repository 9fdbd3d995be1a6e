package flagfile

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type flags struct {
	set      *flag.FlagSet
	event    string
	board    string
	debounce time.Duration
	online   bool
	peers    string
	retries  int
	enroll   string
	config   string
	hosts    []string
}

func newFlags(def string) *flags {
	f := &flags{set: flag.NewFlagSet("test", flag.ContinueOnError)}
	f.set.SetOutput(io.Discard)
	f.set.StringVar(&f.config, "config", def, "")
	f.set.StringVar(&f.event, "event", "", "")
	f.set.StringVar(&f.board, "board", "", "")
	f.set.DurationVar(&f.debounce, "debounce", 3*time.Second, "")
	f.set.BoolVar(&f.online, "online", false, "")
	f.set.StringVar(&f.peers, "peers", "", "")
	f.set.IntVar(&f.retries, "retries", 1, "")
	f.set.StringVar(&f.enroll, "enroll", "", "")
	f.set.Func("host", "", func(v string) error { f.hosts = append(f.hosts, strings.Split(v, ",")...); return nil })
	return f
}

func write(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agent.json")
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask
		t.Fatal(err)
	}
	return path
}

var secrets = Options{Secrets: []string{"enroll"}}

// Every kind of value reaches its flag; the command line wins over the
// file, key by key.
func TestFileThenCommandLine(t *testing.T) {
	path := write(t, `{
	  "event": "gala", "board": "/etc/admit/board.json", "debounce": "2s",
	  "online": true, "peers": ["ws://a:8182/peer", "ws://b:8182/peer"], "retries": 4,
	  "host": ["gate.example", "10.0.0.5"]
	}`, 0o644)
	f := newFlags("")
	if err := f.set.Parse([]string{"-config", path, "-event", "cup", "-online=false"}); err != nil {
		t.Fatal(err)
	}
	got, err := Use(f.set, "config", secrets)
	if err != nil || got != path {
		t.Fatalf("Use: %q %v", got, err)
	}
	if f.event != "cup" || f.online {
		t.Errorf("the command line did not win: event %q online %v", f.event, f.online)
	}
	if f.board != "/etc/admit/board.json" || f.debounce != 2*time.Second || f.retries != 4 ||
		f.peers != "ws://a:8182/peer,ws://b:8182/peer" || strings.Join(f.hosts, " ") != "gate.example 10.0.0.5" {
		t.Errorf("file values: %+v", f)
	}
	// What the file set counts as set (flag.Visit), as on a command line.
	set := map[string]bool{}
	f.set.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if !set["board"] || !set["peers"] {
		t.Errorf("visited %v", set)
	}
}

func TestUnknownKeyNamed(t *testing.T) {
	f := newFlags("")
	path := write(t, `{"event": "gala", "bord": "/etc/admit/board.json"}`, 0o644)
	if err := f.set.Parse([]string{"-config", path}); err != nil {
		t.Fatal(err)
	}
	_, err := Use(f.set, "config", secrets)
	if err == nil || !strings.Contains(err.Error(), `unknown key "bord"`) {
		t.Fatalf("misspelt key: %v", err)
	}
	if f.event != "" {
		t.Error("a file with an unknown key was partly applied")
	}
}

func TestRefusedValues(t *testing.T) {
	for _, tc := range []struct{ body, want string }{
		{`{"config": "/etc/other.json"}`, `key "config" cannot be set`},
		{`{"event": {"id": "gala"}}`, `key "event": want a string`},
		{`{"event": null}`, `key "event": want a string`},
		{`{"peers": [["a"]]}`, `a list holds`},
		{`{"event": "a", "event": "b"}`, `given twice`},
		{`{"debounce": "soon"}`, `key "debounce": parse error`},
		{`["event", "gala"]`, `want a JSON object`},
		{`{"event": "gala"} {}`, `text after`},
		{`{"event": "gala"`, `EOF`},
	} {
		f := newFlags("")
		path := write(t, tc.body, 0o600)
		if err := f.set.Parse([]string{"-config", path}); err != nil {
			t.Fatal(err)
		}
		if _, err := Use(f.set, "config", secrets); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.body, err, tc.want)
		}
	}
}

func TestPermissions(t *testing.T) {
	for _, tc := range []struct {
		body string
		mode os.FileMode
		want string // "" accepted
	}{
		{`{"event": "gala"}`, 0o644, ""},
		{`{"event": "gala"}`, 0o664, "group or others change it"},
		{`{"event": "gala"}`, 0o646, "group or others change it"},
		{`{"enroll": "admit-enroll:?token=x"}`, 0o640, ""},
		{`{"enroll": "admit-enroll:?token=x"}`, 0o644, `sets "enroll", a secret, but others can read it`},
	} {
		f := newFlags("")
		path := write(t, tc.body, tc.mode)
		if err := f.set.Parse([]string{"-config", path}); err != nil {
			t.Fatal(err)
		}
		_, err := Use(f.set, "config", secrets)
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s %04o: %v, want %q", tc.body, tc.mode, err, tc.want)
		}
	}
}

// The default path is read when it exists and skipped when it does not;
// a path named on the command line must exist; -config "" reads none.
func TestDefaultPath(t *testing.T) {
	path := write(t, `{"event": "gala"}`, 0o644)
	f := newFlags(path)
	_ = f.set.Parse(nil)
	if got, err := Use(f.set, "config", secrets); err != nil || got != path || f.event != "gala" {
		t.Fatalf("default present: %q %v event %q", got, err, f.event)
	}
	missing := filepath.Join(t.TempDir(), "none.json")
	f = newFlags(missing)
	_ = f.set.Parse(nil)
	if got, err := Use(f.set, "config", secrets); err != nil || got != "" {
		t.Fatalf("default missing: %q %v", got, err)
	}
	f = newFlags("")
	_ = f.set.Parse([]string{"-config", missing})
	if _, err := Use(f.set, "config", secrets); err == nil {
		t.Fatal("a missing file named on the command line was accepted")
	}
	f = newFlags(path)
	_ = f.set.Parse([]string{"-config", ""})
	if got, err := Use(f.set, "config", secrets); err != nil || got != "" || f.event != "" {
		t.Fatalf(`-config "": %q %v event %q`, got, err, f.event)
	}
}
