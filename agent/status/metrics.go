// Package status is the gate's local observability: a small Prometheus
// registry written by hand (counters with labels, gauges read at scrape
// time, one latency histogram) in the text exposition format 0.0.4, and the
// JSON helpers of the status endpoint. It keeps the agent free of a metrics
// dependency: a gate exports a dozen series, and the format is simple.
package status

import (
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Registry holds the gate's metrics. Safe for concurrent use.
type Registry struct {
	mu      sync.Mutex // guards metrics
	metrics []metric
}

type metric interface {
	name() string
	write(w io.Writer)
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{} }

func (r *Registry) add(m metric) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.metrics = append(r.metrics, m)
}

// Write writes every metric in the text exposition format, sorted by name.
func (r *Registry) Write(w io.Writer) {
	r.mu.Lock()
	ms := slices.Clone(r.metrics)
	r.mu.Unlock()
	sort.SliceStable(ms, func(i, j int) bool { return ms[i].name() < ms[j].name() })
	for _, m := range ms {
		m.write(w)
	}
}

// ContentType is the exposition format's media type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Counter is a counter family with fixed label names.
type Counter struct {
	n, help string
	labels  []string
	mu      sync.Mutex // guards values
	values  map[string]float64
}

// Counter registers a counter family.
func (r *Registry) Counter(name, help string, labels ...string) *Counter {
	c := &Counter{n: name, help: help, labels: labels, values: map[string]float64{}}
	r.add(c)
	return c
}

// Inc adds 1 to the series with the given label values (in order).
func (c *Counter) Inc(values ...string) { c.Add(1, values...) }

// Add adds v to the series with the given label values.
func (c *Counter) Add(v float64, values ...string) {
	k := labelString(c.labels, values)
	c.mu.Lock()
	c.values[k] += v
	c.mu.Unlock()
}

// Value returns the series' value (tests and the status page read it).
func (c *Counter) Value(values ...string) float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.values[labelString(c.labels, values)]
}

func (c *Counter) name() string { return c.n }

func (c *Counter) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n", c.n, escapeHelp(c.help), c.n)
	c.mu.Lock()
	keys := make([]string, 0, len(c.values))
	for k := range c.values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "%s%s %s\n", c.n, k, formatFloat(c.values[k]))
	}
	if len(c.values) == 0 && len(c.labels) == 0 {
		fmt.Fprintf(w, "%s 0\n", c.n)
	}
	c.mu.Unlock()
}

// Gauge is read at scrape time.
type Gauge struct {
	n, help string
	read    func() float64
}

// GaugeFunc registers a gauge whose value read returns.
func (r *Registry) GaugeFunc(name, help string, read func() float64) {
	r.add(&Gauge{n: name, help: help, read: read})
}

func (g *Gauge) name() string { return g.n }

func (g *Gauge) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", g.n, escapeHelp(g.help), g.n, g.n, formatFloat(g.read()))
}

// GaugeVec is a gauge with one label, read at scrape time: a value per
// label value (an event, say).
type GaugeVec struct {
	n, help, label string
	read           func() map[string]float64
}

// GaugeVecFunc registers a gauge with one label whose values read returns.
func (r *Registry) GaugeVecFunc(name, help, label string, read func() map[string]float64) {
	r.add(&GaugeVec{n: name, help: help, label: label, read: read})
}

func (g *GaugeVec) name() string { return g.n }

func (g *GaugeVec) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", g.n, escapeHelp(g.help), g.n)
	vals := g.read()
	for _, k := range slices.Sorted(maps.Keys(vals)) {
		fmt.Fprintf(w, "%s%s %s\n", g.n, labelString([]string{g.label}, []string{k}), formatFloat(vals[k]))
	}
}

// Histogram is a latency histogram in seconds.
type Histogram struct {
	n, help string
	bounds  []float64  // upper bounds, seconds
	mu      sync.Mutex // guards the fields below
	counts  []uint64   // per bucket (not cumulative); last is +Inf
	sum     float64
	total   uint64
}

// Histogram registers a histogram with the given bucket upper bounds.
func (r *Registry) Histogram(name, help string, bounds ...time.Duration) *Histogram {
	h := &Histogram{n: name, help: help, counts: make([]uint64, len(bounds)+1)}
	for _, b := range bounds {
		h.bounds = append(h.bounds, b.Seconds())
	}
	r.add(h)
	return h
}

// Observe records one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(h.bounds, s)
	h.mu.Lock()
	h.counts[i]++
	h.sum += s
	h.total++
	h.mu.Unlock()
}

// Count returns how many durations were observed.
func (h *Histogram) Count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

func (h *Histogram) name() string { return h.n }

func (h *Histogram) write(w io.Writer) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", h.n, escapeHelp(h.help), h.n)
	h.mu.Lock()
	defer h.mu.Unlock()
	var cum uint64
	for i, b := range h.bounds {
		cum += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", h.n, formatFloat(b), cum)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", h.n, h.total, h.n, formatFloat(h.sum), h.n, h.total)
}

func labelString(names, values []string) string {
	if len(names) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		v := ""
		if i < len(values) {
			v = values[i]
		}
		b.WriteString(n)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(v))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
var helpEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
func escapeHelp(s string) string  { return helpEscaper.Replace(s) }

func formatFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}
