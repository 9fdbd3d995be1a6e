package replicate

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"admit/fleet"
	"admit/fleet/wire"
)

// Claimer rules on a gate's online DecideRequest and, when it admits,
// records the passage in the same step, so two gates asking at once cannot
// both be told yes.
type Claimer interface {
	Claim(ctx context.Context, r wire.DecideRequest) (wire.DecideResponse, error)
}

// DecideHandler serves wire.DecidePath without authentication: POST a
// DecideRequest, get a DecideResponse; GET is a health probe (204). For
// tests and tools; a fleet node serves NewDecideHandler.
func DecideHandler(c Claimer, log *slog.Logger) http.Handler {
	return NewDecideHandler(DecideOptions{Claimer: c, Log: log})
}

// Devices looks devices up (fleet.Store does).
type Devices interface {
	Device(ctx context.Context, id string) (fleet.Device, error)
}

// DecideOptions configures NewDecideHandler.
type DecideOptions struct {
	Claimer Claimer
	// Devices, when set, authenticates every request like the agent
	// stream: the device must be enrolled, not revoked, and have signed
	// the body with its key (wire.DecideSignatureHeader). Nil: no check.
	Devices Devices
	// AllowUnenrolled accepts unsigned requests from devices the fleet
	// does not know (Options.AllowUnenrolled of the stream); enrolled
	// devices must sign either way.
	AllowUnenrolled bool
	// ReplicaKey signs every answer (wire.DecideResponseSignatureHeader),
	// as the stream's data is signed; nil: answers go unsigned, which a
	// gate holding the replica key refuses.
	ReplicaKey ed25519.PrivateKey
	Log        *slog.Logger
}

// maxDecideBody bounds a decision request.
const maxDecideBody = 64 << 10

// NewDecideHandler serves wire.DecidePath: POST a signed DecideRequest,
// get a DecideResponse (401 unauthenticated, 403 revoked or an event the
// device does not serve, 400 malformed or a time too far from the fleet's
// clock); GET is a health probe (204).
func NewDecideHandler(o DecideOptions) http.Handler {
	log := o.Log
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
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDecideBody))
		if err != nil {
			http.Error(w, fmt.Sprintf("%v: %v", wire.ErrInvalid, err), http.StatusBadRequest)
			return
		}
		var req wire.DecideRequest
		if err := json.Unmarshal(body, &req); err != nil {
			http.Error(w, fmt.Sprintf("%v: %v", wire.ErrInvalid, err), http.StatusBadRequest)
			return
		}
		if err := req.Validate(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if o.Devices != nil {
			if code, err := o.authenticate(r, req.Device, body); err != nil {
				log.Warn("replicate: online decision refused", "device", req.Device, "remote", r.RemoteAddr, "err", err)
				http.Error(w, err.Error(), code)
				return
			}
		}
		resp, err := o.Claimer.Claim(r.Context(), req)
		switch {
		case errors.Is(err, fleet.ErrNotServed):
			log.Warn("replicate: online decision refused", "device", req.Device, "event", req.Event, "err", err)
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		case errors.Is(err, fleet.ErrInvalid):
			log.Warn("replicate: online decision refused", "device", req.Device, "err", err)
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		case err != nil:
			log.Error("replicate: online decision", "device", req.Device, "ticket", req.TicketID, "err", err)
			http.Error(w, "decision failed", http.StatusInternalServerError)
			return
		}
		out, err := json.Marshal(resp)
		if err != nil {
			http.Error(w, "decision failed", http.StatusInternalServerError)
			return
		}
		if o.ReplicaKey != nil {
			sig := ed25519.Sign(o.ReplicaKey, wire.DecideResponseSigningBytes(body, out))
			w.Header().Set(wire.DecideResponseSignatureHeader, base64.StdEncoding.EncodeToString(sig))
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	})
}

// authenticate checks that device signed body with its enrolled key. It
// returns the HTTP status to answer with when not.
func (o *DecideOptions) authenticate(r *http.Request, device string, body []byte) (int, error) {
	if h := r.Header.Get(wire.DecideDeviceHeader); h != device {
		return http.StatusUnauthorized, fmt.Errorf("request for device %q sent as %q", device, h)
	}
	d, err := o.Devices.Device(r.Context(), device)
	switch {
	case errors.Is(err, fleet.ErrNotFound):
		if o.AllowUnenrolled {
			return 0, nil
		}
		return http.StatusUnauthorized, fmt.Errorf("device %q is not enrolled", device)
	case err != nil:
		return http.StatusInternalServerError, err
	case d.Revoked():
		return http.StatusForbidden, fmt.Errorf("device %q is revoked", device)
	case len(d.PublicKey) != ed25519.PublicKeySize:
		if o.AllowUnenrolled {
			return 0, nil
		}
		return http.StatusUnauthorized, fmt.Errorf("device %q has no key", device)
	}
	sig, err := base64.StdEncoding.DecodeString(r.Header.Get(wire.DecideSignatureHeader))
	if err != nil || !ed25519.Verify(d.PublicKey, wire.DecideSigningBytes(body), sig) {
		return http.StatusUnauthorized, fmt.Errorf("request of %q not signed by its enrolled key", device)
	}
	return 0, nil
}
