package status

import (
	"strings"
	"testing"
	"time"
)

func TestExposition(t *testing.T) {
	r := NewRegistry()
	c := r.Counter("admit_decisions_total", "Decisions by outcome and reason.", "outcome", "reason")
	c.Inc("admitted", "")
	c.Inc("refused", `already "used"`)
	c.Inc("refused", `already "used"`)
	r.GaugeFunc("admit_journal_backlog", "Scans not yet acknowledged.", func() float64 { return 7 })
	h := r.Histogram("admit_decision_seconds", "Decision latency.", 500*time.Microsecond, time.Millisecond)
	h.Observe(100 * time.Microsecond)
	h.Observe(2 * time.Millisecond)
	var b strings.Builder
	r.Write(&b)
	want := `# HELP admit_decision_seconds Decision latency.
# TYPE admit_decision_seconds histogram
admit_decision_seconds_bucket{le="0.0005"} 1
admit_decision_seconds_bucket{le="0.001"} 1
admit_decision_seconds_bucket{le="+Inf"} 2
admit_decision_seconds_sum 0.0021
admit_decision_seconds_count 2
# HELP admit_decisions_total Decisions by outcome and reason.
# TYPE admit_decisions_total counter
admit_decisions_total{outcome="admitted",reason=""} 1
admit_decisions_total{outcome="refused",reason="already \"used\""} 2
# HELP admit_journal_backlog Scans not yet acknowledged.
# TYPE admit_journal_backlog gauge
admit_journal_backlog 7
`
	if b.String() != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", b.String(), want)
	}
	if c.Value("refused", `already "used"`) != 2 {
		t.Error("Value")
	}
}
