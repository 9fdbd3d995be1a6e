package agent

import (
	"context"
	"time"

	"admit/agent/status"
)

// metrics are the gate's Prometheus series.
type metrics struct {
	reg                *status.Registry
	decisions          *status.Counter
	latency            *status.Histogram
	debounced          *status.Counter
	journalErrors      *status.Counter
	annulled           *status.Counter
	passages           *status.Counter
	unexpectedPassages *status.Counter
	onlineFailures     *status.Counter
	modeSwitches       *status.Counter
	peerMarksRefused   *status.Counter
	peerLinksRefused   *status.Counter
	staffSignIns       *status.Counter
	unsigned           *status.Counter
	syncing            *status.Counter
	configs            *status.Counter
	claimMetrics       // claim.go
}

func newMetrics(a *Agent) *metrics {
	r := status.NewRegistry()
	m := &metrics{
		reg:                r,
		decisions:          r.Counter("admit_decisions_total", "Decisions journaled, by outcome, direction and reason.", "outcome", "direction", "reason"),
		latency:            r.Histogram("admit_decision_seconds", "Presentation to durable journal commit.", 250*time.Microsecond, 500*time.Microsecond, time.Millisecond, 2*time.Millisecond, 5*time.Millisecond, 10*time.Millisecond, 50*time.Millisecond, 250*time.Millisecond),
		debounced:          r.Counter("admit_debounced_reads_total", "Reads dropped as repeats of the same presentation."),
		journalErrors:      r.Counter("admit_journal_errors_total", "Decisions that could not be journaled (gate stayed shut)."),
		annulled:           r.Counter("admit_annulled_total", "Entries annulled, by reason.", "reason"),
		passages:           r.Counter("admit_passages_total", "Entries confirmed by the passage sensor."),
		unexpectedPassages: r.Counter("admit_unexpected_passages_total", "Passages with no entry waiting (tailgating, forced turnstile)."),
		onlineFailures:     r.Counter("admit_online_failures_total", "Fleet decisions that failed or came too late (decided locally)."),
		modeSwitches:       r.Counter("admit_mode_switches_total", "Switches between online and local mode, by new mode.", "mode"),
		peerMarksRefused:   r.Counter("admit_peer_marks_refused_total", "Passages from peer gates refused, by reason (peer.Refused*).", "reason"),
		peerLinksRefused:   r.Counter("admit_peer_links_refused_total", "Links from peer gates refused, by reason (peer.Refused*).", "reason"),
		staffSignIns:       r.Counter("admit_staff_sign_ins_total", "Staff sign-ins at this gate, by result (ok, failed, locked).", "result"),
		unsigned: r.Counter("admit_fleet_unsigned_total",
			"Data from the fleet refused, unapplied, for lack of a valid replica-key signature (a fake fleet or a man in the middle), by where: the stream or an online decision.", "source"),
		syncing: r.Counter("admit_presentations_syncing_total", "Presentations not decided: the gate was not ready for their event (its first sync had not completed)."),
		configs: r.Counter("admit_configs_total", "Fleet configs, by result: applied or failed.", "result"),
	}
	m.claimMetrics = newClaimMetrics(r, a)
	gauge := func(name, help string, f func(context.Context) (float64, error)) {
		r.GaugeFunc(name, help, func() float64 {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			v, err := f(ctx)
			if err != nil {
				return -1
			}
			return v
		})
	}
	gauge("admit_journal_backlog", "Journaled scans not yet acknowledged by the fleet.", func(ctx context.Context) (float64, error) {
		n, err := a.db.Backlog(ctx)
		return float64(n), err
	})
	perEvent := func(f func(event string) float64) func() map[string]float64 {
		return func() map[string]float64 {
			out := map[string]float64{}
			for _, ev := range a.Events() {
				out[ev] = f(ev)
			}
			return out
		}
	}
	r.GaugeVecFunc("admit_replica_cursor", "Replication cursor of each event the gate serves.", "event", func() map[string]float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		cur, err := a.db.Cursors(ctx)
		out := map[string]float64{}
		for _, ev := range a.Events() {
			out[ev] = float64(cursorOf(cur, ev))
			if err != nil {
				out[ev] = -1
			}
		}
		return out
	})
	r.GaugeVecFunc("admit_ready", "1 once the event's first sync completed on this gate (it decides for it), 0 while it is syncing.", "event",
		perEvent(func(ev string) float64 { return b2f(a.db.Ready(ev)) }))
	r.GaugeVecFunc("admit_sync_point_seconds", "The fleet's sync point of the replica of each event (Unix seconds; 0: none said): tickets issued after it may be admitted on their signature.", "event",
		perEvent(func(ev string) float64 {
			if t := a.db.SyncPoint(ev); !t.IsZero() {
				return float64(t.Unix())
			}
			return 0
		}))
	r.GaugeFunc("admit_healthy", "1 while the gate is healthy (see /healthz for why not).", func() float64 {
		return b2f(len(a.unhealthy(context.Background())) == 0)
	})
	r.GaugeFunc("admit_config_version", "The fleet config the gate runs (0: none).", func() float64 { return float64(a.live.Load().version) })
	r.GaugeFunc("admit_uplink_connected", "1 while the fleet stream is up.", func() float64 { return b2f(a.Online()) })
	r.GaugeFunc("admit_online_mode", "1 while the gate asks the fleet before each entry.", func() float64 { return b2f(a.Mode() == ModeOnline) })
	r.GaugeFunc("admit_peers_connected", "Peer gates this gate pushes its passages to.", func() float64 { return float64(a.gossip.Connected()) })
	r.GaugeFunc("admit_peer_marks_received", "Passages received from peer gates since start.", func() float64 { return float64(a.gossip.Received()) })
	r.GaugeFunc("admit_peer_marks_unpersisted", "Passages from peer gates that count for decisions but are not written to the database yet.",
		func() float64 { return float64(a.db.PeerMarksHeld()) })
	return m
}

func (a *Agent) peerMarkRefused(reason string) { a.metrics.peerMarksRefused.Inc(reason) }
func (a *Agent) peerLinkRefused(reason string) { a.metrics.peerLinksRefused.Inc(reason) }

func (m *metrics) observe(d Decision) {
	outcome := "refused"
	if d.Admitted {
		outcome = "admitted"
	}
	m.decisions.Inc(outcome, string(d.Direction), d.Reason)
	if d.Took > 0 {
		m.latency.Observe(d.Took)
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func cursorOf(cursors map[string]int64, event string) int64 { return cursors[event] }
