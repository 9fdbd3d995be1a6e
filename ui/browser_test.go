package ui_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// browser is a headless Chromium driven over the DevTools protocol: a few
// JSON commands on a WebSocket (navigate, evaluate, set a cookie, take a
// screenshot). We speak it ourselves over gorilla/websocket, which the
// fleet already uses, rather than add chromedp and its half-dozen modules
// for the four commands the console's tests need.
type browser struct {
	t       *testing.T
	cmd     *exec.Cmd
	ws      *websocket.Conn
	session string // the page's flat session

	mu      sync.Mutex // guards the fields below
	next    int64
	waiting map[int64]chan cdpReply
	done    chan struct{}
}

type cdpReply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Message string `json:"message"`
	} `json:"error"`
}

// newBrowser starts Chromium with one blank page.
func newBrowser(t *testing.T, bin string) *browser {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	// The profile is not t.TempDir(): Chromium's helper processes (network,
	// storage) may still be writing to it for a moment after the browser
	// itself exited, which would fail the test in TempDir's cleanup.
	profile, err := os.MkdirTemp("", "admit-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	// The test nodes serve TLS with their own CA, which this browser does
	// not know (an operator trusts it once, or gives the node a public
	// certificate): the browser lets it through.
	cmd := exec.CommandContext(ctx, bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--remote-debugging-port=0", "--ignore-certificate-errors",
		"--window-size=1100,800", "--user-data-dir="+profile, "about:blank")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("chromium: %v", err)
	}
	exited := make(chan struct{})
	go func() { defer close(exited); cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
		removeProfile(t, profile)
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if _, url, ok := strings.Cut(sc.Text(), "DevTools listening on "); ok {
				found <- url
			}
		}
	}()
	var url string
	select {
	case url = <-found:
	case <-time.After(30 * time.Second):
		t.Fatal("chromium did not open its DevTools endpoint")
	}
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{t: t, cmd: cmd, ws: ws, waiting: map[int64]chan cdpReply{}, done: make(chan struct{})}
	go b.read()
	t.Cleanup(func() {
		// Ask Chromium to shut down in order (it stops its helpers and
		// flushes the profile); killed only if it does not within 10 s.
		ws.SetWriteDeadline(time.Now().Add(time.Second))
		if ws.WriteJSON(map[string]any{"id": -1, "method": "Browser.close", "params": map[string]any{}}) == nil {
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
			}
		}
		ws.Close()
		<-b.done
	})
	var target struct{ TargetID string }
	b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target)
	var att struct{ SessionID string }
	b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att)
	b.session = att.SessionID
	b.call(b.session, "Page.enable", nil, nil)
	return b
}

func (b *browser) read() {
	defer close(b.done)
	for {
		var m struct {
			ID int64 `json:"id"`
			cdpReply
		}
		if err := b.ws.ReadJSON(&m); err != nil {
			return
		}
		if m.ID == 0 {
			continue // an event
		}
		b.mu.Lock()
		ch := b.waiting[m.ID]
		delete(b.waiting, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.cdpReply
		}
	}
}

// call sends one command and decodes its result into out.
func (b *browser) call(session, method string, params any, out any) {
	b.t.Helper()
	b.mu.Lock()
	b.next++
	id := b.next
	ch := make(chan cdpReply, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method, "params": params}
	if params == nil {
		msg["params"] = map[string]any{}
	}
	if session != "" {
		msg["sessionId"] = session
	}
	if err := b.ws.WriteJSON(msg); err != nil {
		b.t.Fatalf("%s: %v", method, err)
	}
	select {
	case r := <-ch:
		if r.Error != nil {
			b.t.Fatalf("%s: %s", method, r.Error.Message)
		}
		if out != nil {
			if err := json.Unmarshal(r.Result, out); err != nil {
				b.t.Fatalf("%s: %v", method, err)
			}
		}
	case <-time.After(30 * time.Second):
		b.t.Fatalf("%s: no answer", method)
	}
}

// navigate loads url in the page.
func (b *browser) navigate(url string) {
	b.t.Helper()
	b.call(b.session, "Page.navigate", map[string]any{"url": url}, nil)
}

// eval evaluates a JavaScript expression (awaiting a promise) and decodes
// its value into out.
func (b *browser) eval(expr string, out any) {
	b.t.Helper()
	var r struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	b.call(b.session, "Runtime.evaluate", map[string]any{"expression": expr, "awaitPromise": true, "returnByValue": true}, &r)
	if r.ExceptionDetails != nil {
		b.t.Fatalf("eval %s: %s %s", expr, r.ExceptionDetails.Text, r.ExceptionDetails.Exception.Description)
	}
	if out != nil && len(r.Result.Value) > 0 {
		if err := json.Unmarshal(r.Result.Value, out); err != nil {
			b.t.Fatalf("eval %s: %v", expr, err)
		}
	}
}

// text is the text of the first element matching a CSS selector ("" when none).
func (b *browser) text(selector string) string {
	var s string
	b.eval(fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, selector), &s)
	return s
}

// visible reports whether an element matches and is shown.
func (b *browser) visible(selector string) bool {
	var v bool
	b.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && e.offsetParent !== null; })()`, selector), &v)
	return v
}

// waitFor polls a JavaScript condition until it holds (bounded).
func (b *browser) waitFor(what, cond string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var ok bool
		// A page still loading has no elements yet: not yet, not an error.
		b.eval("(() => { try { return !!("+cond+"); } catch (e) { return false; } })()", &ok)
		if ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting for %s (%s); page:\n%s", what, cond, b.text("body"))
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// fill sets an input's value as typing would.
func (b *browser) fill(selector, value string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`(() => { const e = document.querySelector(%q); e.value = %q; e.dispatchEvent(new Event("input", {bubbles: true})); })()`, selector, value), nil)
}

// click clicks an element.
func (b *browser) click(selector string) {
	b.t.Helper()
	b.eval(fmt.Sprintf(`document.querySelector(%q).click()`, selector), nil)
}

// screenshot saves the page as a PNG in the test's screenshot folder
// ($ADMIT_UI_SCREENSHOTS, else the test's temporary directory) and logs
// where.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	var r struct{ Data string }
	b.call(b.session, "Page.captureScreenshot", map[string]any{"format": "png"}, &r)
	png, err := base64.StdEncoding.DecodeString(r.Data)
	if err != nil {
		b.t.Fatal(err)
	}
	dir := os.Getenv("ADMIT_UI_SCREENSHOTS")
	if dir == "" {
		dir = b.t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// setCookie gives the browser a cookie for url (a session the test signed
// in through the API).
func (b *browser) setCookie(url, name, value string) {
	b.t.Helper()
	b.call(b.session, "Network.setCookie", map[string]any{"name": name, "value": value, "url": url, "path": "/",
		"secure": true, "httpOnly": true, "sameSite": "Strict"}, nil)
}

// removeProfile removes a browser's profile directory once the browser has
// exited, retrying for a few seconds while its last helper processes
// finish writing to it.
func removeProfile(t *testing.T, dir string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := os.RemoveAll(dir)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Logf("browser profile %s left behind: %v", dir, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
