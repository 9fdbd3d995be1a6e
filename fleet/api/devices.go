package api

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"admit/fleet"
	"admit/fleet/access"
	"admit/fleet/qrimage"
	"admit/fleet/wire"
)

// deviceView is a device as the API shows it: its status and whether it
// has a stream open to this node (absent when the node cannot tell).
type deviceView struct {
	fleet.DeviceStatus
	Connected *bool `json:"connected,omitempty"`
}

func (a *api) view(d fleet.DeviceStatus) deviceView {
	v := deviceView{DeviceStatus: d}
	if a.opts.Connected != nil {
		c := a.opts.Connected(d.ID)
		v.Connected = &c
	}
	return v
}

func (a *api) listDevices(w http.ResponseWriter, r *http.Request) {
	n, err := page(r, DefaultListPage, MaxListPage)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ds, err := a.svc.Devices(r.Context())
	sc := scopeOf(r, access.ReadDevices)
	views := []deviceView{}
	for _, d := range ds {
		if sc.All || sc.HasAny(d.Events) {
			views = append(views, a.view(d))
		}
	}
	a.reply(w, r, http.StatusOK, firstN(views, n), err)
}

func (a *api) getDevice(w http.ResponseWriter, r *http.Request) {
	d, err := a.svc.Store.Device(r.Context(), r.PathValue("id"))
	v := struct {
		fleet.Device
		Connected *bool `json:"connected,omitempty"`
	}{Device: d, Connected: a.view(fleet.DeviceStatus{Device: d}).Connected}
	a.reply(w, r, http.StatusOK, v, err)
}

// preEnroll registers a device with a key the operator has, or updates an
// enrolled one's name, group, gate and events (never its key or
// revocation). The caller needs ManageDevices on the device's events
// before and after.
func (a *api) preEnroll(w http.ResponseWriter, r *http.Request) {
	var d fleet.Device
	if err := readJSON(r, &d); err != nil {
		a.fail(w, r, err)
		return
	}
	d.ID = r.PathValue("id")
	old, err := a.deviceEvents(r, d.ID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := allowedOn(r, access.ManageDevices, union(old, d.Events)); err != nil {
		a.fail(w, r, err)
		return
	}
	note(r, "pre-enroll: gate %q, group %q, events %v", d.Gate, d.Group, d.Events)
	d, err = a.svc.PreEnroll(r.Context(), d)
	a.reply(w, r, http.StatusOK, d, err)
}

// union of two event lists; empty only when both are (the fleet as a
// whole).
func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, e := range b {
		if !slices.Contains(out, e) {
			out = append(out, e)
		}
	}
	return out
}

func (a *api) revokeDevice(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.svc.RevokeDevice(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.svc.Store.Device(r.Context(), id)
	a.reply(w, r, http.StatusOK, d, err)
}

// RekeyRequest gives an enrolled device a new key.
type RekeyRequest struct {
	PublicKey []byte `json:"public_key"` // Ed25519
}

func (a *api) rekeyDevice(w http.ResponseWriter, r *http.Request) {
	var req RekeyRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	note(r, "re-key (and clear any revocation)")
	d, err := a.svc.RekeyDevice(r.Context(), r.PathValue("id"), req.PublicKey)
	a.reply(w, r, http.StatusOK, d, err)
}

func (a *api) unrevokeDevice(w http.ResponseWriter, r *http.Request) {
	note(r, "clear the revocation, keep the key")
	d, err := a.svc.UnrevokeDevice(r.Context(), r.PathValue("id"))
	a.reply(w, r, http.StatusOK, d, err)
}

// EnrollmentRequest asks for a one-time enrollment token.
type EnrollmentRequest struct {
	Device     string   `json:"device"`
	Name       string   `json:"name,omitempty"`
	Group      string   `json:"group,omitempty"`
	Gate       string   `json:"gate,omitempty"`
	Events     []string `json:"events,omitempty"`      // the events the device will serve
	TTLSeconds int      `json:"ttl_seconds,omitempty"` // default 24 h
	// Replace makes a token for a device id that is enrolled: it re-keys
	// the device (and clears its revocation) when used. Admins only.
	Replace bool `json:"replace,omitempty"`
}

// EnrollmentToken is the token, shown once, with its QR.
type EnrollmentToken struct {
	Token     string    `json:"token"`
	URI       string    `json:"uri"`    // the QR's text (wire.EnrollURI)
	QRPNG     string    `json:"qr_png"` // base64 PNG of the URI
	Device    string    `json:"device"`
	ExpiresAt time.Time `json:"expires_at"`
}

func (a *api) createEnrollment(w http.ResponseWriter, r *http.Request) {
	var req EnrollmentRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	old, err := a.deviceEvents(r, req.Device)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := allowedOn(r, access.ManageDevices, union(old, req.Events)); err != nil {
		a.fail(w, r, err)
		return
	}
	if req.Replace {
		if err := allowedOn(r, access.RekeyDevices, nil); err != nil {
			a.fail(w, r, err)
			return
		}
	}
	note(r, "enrollment token for device %q (gate %q, events %v, replace %v)", req.Device, req.Gate, req.Events, req.Replace)
	token, e, err := a.svc.CreateEnrollment(r.Context(), fleet.Enrollment{Device: req.Device, Name: req.Name, Group: req.Group, Gate: req.Gate,
		Events: req.Events, Replace: req.Replace}, time.Duration(req.TTLSeconds)*time.Second)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	uri := wire.EnrollURI{Fleet: a.baseURL(r), Token: token, CAFingerprint: a.opts.CAFingerprint, ReplicaKey: a.opts.ReplicaKey}.String()
	png, err := qrimage.PNG(uri, 400)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, EnrollmentToken{Token: token, URI: uri, QRPNG: base64.StdEncoding.EncodeToString(png), Device: e.Device, ExpiresAt: e.ExpiresAt})
}

// baseURL is the node's URL as links should carry it: PublicURL, else the
// request's own scheme and (checked) host.
func (a *api) baseURL(r *http.Request) string {
	if a.opts.PublicURL != "" {
		return strings.TrimRight(a.opts.PublicURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (a *api) enroll(w http.ResponseWriter, r *http.Request) {
	var req wire.EnrollRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if err := req.Validate(); err != nil {
		a.fail(w, r, err)
		return
	}
	d, err := a.svc.Enroll(r.Context(), req.Token, req.PublicKey)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	noteDevice(r, d.ID)
	note(r, "enrolled with a one-time token")
	a.log.Info("device enrolled", "device", d.ID)
	writeJSON(w, http.StatusOK, wire.EnrollResponse{Device: d.ID, Name: d.Name, Gate: d.Gate, CAFingerprint: a.opts.CAFingerprint,
		ReplicaKey: a.opts.ReplicaKey})
}

func (a *api) listConfigs(w http.ResponseWriter, r *http.Request) {
	n, err := page(r, DefaultListPage, MaxListPage)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	cs, err := a.svc.Store.Configs(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	sc := scopeOf(r, access.ReadConfigs)
	out := []fleet.DesiredConfig{}
	for _, c := range cs {
		if !sc.All {
			id, ok := strings.CutPrefix(c.Scope, "device:")
			if !ok {
				continue // a group's config is fleet-wide
			}
			events, err := a.deviceEvents(r, id)
			if err != nil {
				a.fail(w, r, err)
				return
			}
			if !sc.HasAll(events) {
				continue
			}
		}
		out = append(out, c)
	}
	writeJSON(w, http.StatusOK, firstN(out, n))
}

func (a *api) putConfig(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		a.fail(w, r, fmt.Errorf("config body: %w", err))
		return
	}
	c, err := a.svc.PutConfig(r.Context(), r.PathValue("scope"), body)
	if err == nil {
		note(r, "config version %d", c.Version)
	}
	a.reply(w, r, http.StatusOK, c, err)
}
