package systemd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Logger returns the service's logger on stderr: when stderr is the
// journal ($JOURNAL_STREAM names its device and inode), each line starts
// with its syslog priority ("<6>" for info, "<4>" warn, "<3>" error) and
// carries no time (the journal stamps it); otherwise plain slog text with
// the time.
func Logger(stderr *os.File, getenv func(string) string) *slog.Logger {
	if journalStream(stderr, getenv("JOURNAL_STREAM")) {
		return slog.New(NewJournalHandler(stderr, nil))
	}
	return slog.New(slog.NewTextHandler(stderr, nil))
}

// journalStream reports whether f is the stream $JOURNAL_STREAM ("dev:ino")
// names.
func journalStream(f *os.File, env string) bool {
	dev, ino, ok := strings.Cut(env, ":")
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil {
		return false
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return dev == strconv.FormatUint(uint64(sys.Dev), 10) && ino == strconv.FormatUint(uint64(sys.Ino), 10)
}

// journalHandler writes slog text records prefixed with their priority
// and without a time.
type journalHandler struct {
	mu    *sync.Mutex   // guards buf and writes to out
	buf   *bytes.Buffer // inner writes here
	out   io.Writer
	inner slog.Handler
}

// NewJournalHandler returns a handler writing to w in the journal's
// stream format: "<6>level=INFO msg=... key=value" per line.
func NewJournalHandler(w io.Writer, opts *slog.HandlerOptions) slog.Handler {
	var o slog.HandlerOptions
	if opts != nil {
		o = *opts
	}
	replace := o.ReplaceAttr
	o.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		if replace != nil {
			return replace(groups, a)
		}
		return a
	}
	buf := new(bytes.Buffer)
	return &journalHandler{mu: new(sync.Mutex), buf: buf, out: w, inner: slog.NewTextHandler(buf, &o)}
}

func (h *journalHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *journalHandler) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
	fmt.Fprintf(h.buf, "<%d>", priority(r.Level))
	if err := h.inner.Handle(ctx, r); err != nil {
		return err
	}
	_, err := h.out.Write(h.buf.Bytes())
	return err
}

func (h *journalHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &journalHandler{mu: h.mu, buf: h.buf, out: h.out, inner: h.inner.WithAttrs(attrs)}
}

func (h *journalHandler) WithGroup(name string) slog.Handler {
	return &journalHandler{mu: h.mu, buf: h.buf, out: h.out, inner: h.inner.WithGroup(name)}
}

// priority is the syslog priority of a slog level.
func priority(l slog.Level) int {
	switch {
	case l >= slog.LevelError:
		return 3 // err
	case l >= slog.LevelWarn:
		return 4 // warning
	case l >= slog.LevelInfo:
		return 6 // info
	}
	return 7 // debug
}
