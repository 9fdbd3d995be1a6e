package replicate

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"admit/fleet/wire"
)

// Claimer rules on a gate's online DecideRequest and, when it admits,
// records the passage in the same step, so two gates asking at once cannot
// both be told yes.
type Claimer interface {
	Claim(ctx context.Context, r wire.DecideRequest) (wire.DecideResponse, error)
}

// DecideHandler serves wire.DecidePath: POST a DecideRequest, get a
// DecideResponse; GET is a health probe (204).
func DecideHandler(c Claimer, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			w.WriteHeader(http.StatusNoContent)
			return
		case http.MethodPost:
		default:
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		var req wire.DecideRequest
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
		if err := dec.Decode(&req); err != nil {
			http.Error(w, fmt.Sprintf("%v: %v", wire.ErrInvalid, err), http.StatusBadRequest)
			return
		}
		if err := req.Validate(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, err := c.Claim(r.Context(), req)
		if err != nil {
			log.Error("replicate: online decision", "device", req.Device, "ticket", req.TicketID, "err", err)
			http.Error(w, "decision failed", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	})
}

// MemClaimer is a Claimer that keeps passages in memory: one fleet node,
// forgotten on restart (gates then fall back to their replicas, which hold
// every used mark the fleet fanned out). A store-backed Claimer replaces it
// when the fleet serves online mode across nodes.
type MemClaimer struct {
	Location *time.Location // formats times in sentences; default UTC

	mu       sync.Mutex // guards passages
	passages map[[2]string][]wire.DecideRequest
}

// Claim applies the entry policy
// allowed = exit OR multi-entry OR no prior entry OR (re-entry AND last passage an exit).
func (m *MemClaimer) Claim(ctx context.Context, r wire.DecideRequest) (wire.DecideResponse, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.passages == nil {
		m.passages = map[[2]string][]wire.DecideRequest{}
	}
	k := [2]string{r.Event, r.TicketID}
	prev := m.passages[k]
	var lastEntry, last *wire.DecideRequest
	for i := range prev {
		p := &prev[i]
		last = p
		if p.Direction == "in" {
			lastEntry = p
		}
	}
	ok := r.Direction == "out" || r.Policy == "multi" || lastEntry == nil || (r.Policy == "reentry" && last.Direction == "out")
	if !ok {
		loc := m.Location
		if loc == nil {
			loc = time.UTC
		}
		reason := "already_used"
		s := fmt.Sprintf("Already used at %s at %s", lastEntry.Gate, lastEntry.At.In(loc).Format("15:04"))
		if r.Policy == "reentry" {
			reason = "no_exit"
			s = fmt.Sprintf("Already inside: entered at %s at %s", lastEntry.Gate, lastEntry.At.In(loc).Format("15:04"))
		}
		return wire.DecideResponse{Reason: reason, Sentence: s}, nil
	}
	m.passages[k] = append(prev, r)
	return wire.DecideResponse{Admit: true}, nil
}
