package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"time"

	"admit/fleet/access"
	"admit/fleet/operator"
	"admit/fleet/qrimage"
)

// setCookie sets a session cookie: HttpOnly (no script reads it), Secure
// (never over plain HTTP but to localhost, which browsers treat as
// secure), SameSite=Strict (no other site's page makes the browser send
// it), host-only (the __Host- prefix).
func setCookie(w http.ResponseWriter, name, value string, maxAge time.Duration) {
	age := int(maxAge / time.Second)
	if maxAge < 0 {
		age = -1
	}
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: age, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// LoginRequest is the password step.
type LoginRequest struct {
	Name     string `json:"name"`
	Password string `json:"password"`
}

func (a *api) login(w http.ResponseWriter, r *http.Request) {
	var req LoginRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	if len(req.Name) <= operator.MaxNameLen {
		noteClaimed(r, req.Name)
	}
	note(r, "sign-in: password")
	pending, err := a.ops.Login(r.Context(), req.Name, req.Password, remoteAddr(r), r.UserAgent())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	setCookie(w, PendingCookie, pending, operator.PendingTTL)
	writeJSON(w, http.StatusOK, map[string]string{"next": "code"})
}

// CodeRequest is the second step: a TOTP code or a recovery code.
type CodeRequest struct {
	Code string `json:"code"`
}

func (a *api) loginCode(w http.ResponseWriter, r *http.Request) {
	var req CodeRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	note(r, "sign-in: code")
	c, err := r.Cookie(PendingCookie)
	if err != nil {
		a.fail(w, r, fmt.Errorf("no sign-in in progress: enter your password first: %w", operator.ErrBadToken))
		return
	}
	secret, s, err := a.ops.LoginCode(r.Context(), c.Value, req.Code, remoteAddr(r), r.UserAgent())
	if errors.Is(err, operator.ErrBadToken) {
		setCookie(w, PendingCookie, "", -1)
		err = fmt.Errorf("sign-in expired: enter your password again: %w", err)
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := operator.Principal{Kind: "operator", Name: s.Operator, Session: s.ID}
	noteActor(r, p)
	setCookie(w, PendingCookie, "", -1)
	setCookie(w, SessionCookie, secret, operator.SessionMax)
	a.writeMe(w, r, p, secret)
}

// SetupRequest opens or finishes a setup link.
type SetupRequest struct {
	Token    string `json:"token"`
	Password string `json:"password,omitempty"`
	Code     string `json:"code,omitempty"`
}

// SetupInfo is what a setup page shows: the TOTP seed to enrol, as text
// and as a QR of its otpauth:// URI.
type SetupInfo struct {
	operator.SetupInfo
	QRPNG string `json:"qr_png"` // base64 PNG
}

func (a *api) setupBegin(w http.ResponseWriter, r *http.Request) {
	var req SetupRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	info, err := a.ops.BeginSetup(r.Context(), req.Token)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	noteClaimed(r, info.Operator)
	note(r, "setup link opened")
	png, err := qrimage.PNG(info.URI, 300)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, SetupInfo{SetupInfo: info, QRPNG: base64.StdEncoding.EncodeToString(png)})
}

// SetupDone is a finished setup: the recovery codes, shown this once, and
// the signed-in session's CSRF token.
type SetupDone struct {
	Me
	RecoveryCodes []string `json:"recovery_codes"`
}

func (a *api) setupFinish(w http.ResponseWriter, r *http.Request) {
	var req SetupRequest
	if err := readJSON(r, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	note(r, "setup: password and TOTP set")
	o, codes, err := a.ops.FinishSetup(r.Context(), req.Token, req.Password, req.Code)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	secret, s, err := a.ops.SignIn(r.Context(), o.Name, remoteAddr(r), r.UserAgent())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	p := operator.Principal{Kind: "operator", Name: o.Name, Grants: o.Grants, Session: s.ID}
	noteActor(r, p)
	setCookie(w, SessionCookie, secret, operator.SessionMax)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, SetupDone{Me: a.me0(r, p, secret), RecoveryCodes: codes})
}

// Me is who the caller is and what it may do: the console shows the
// operator and hides what the grants do not allow (the server checks
// every call regardless).
type Me struct {
	Kind   string                       `json:"kind"` // operator or token
	Name   string                       `json:"name"`
	Grants []access.Grant               `json:"grants"`
	Perms  map[access.Perm]access.Scope `json:"perms"`
	// CSRF is the token a session's console sends in X-CSRF-Token with
	// every change.
	CSRF              string `json:"csrf,omitempty"`
	RecoveryCodesLeft *int   `json:"recovery_codes_left,omitempty"`
}

func (a *api) me0(r *http.Request, p operator.Principal, session string) Me {
	if p.Grants == nil && p.Kind == "operator" {
		if o, err := a.ops.Store.Operator(r.Context(), p.Name); err == nil {
			p.Grants = o.Grants
		}
	}
	m := Me{Kind: p.Kind, Name: p.Name, Grants: p.Grants, Perms: map[access.Perm]access.Scope{}}
	if m.Grants == nil {
		m.Grants = []access.Grant{}
	}
	for _, perm := range access.Perms() {
		if sc := access.ScopeOf(p.Grants, perm); sc.All || len(sc.Events) > 0 {
			m.Perms[perm] = sc
		}
	}
	if session != "" {
		m.CSRF = operator.CSRFToken(session)
	}
	if p.Kind == "operator" {
		if n, err := a.ops.Store.RecoveryCodesLeft(r.Context(), p.Name); err == nil {
			m.RecoveryCodesLeft = &n
		}
	}
	return m
}

func (a *api) writeMe(w http.ResponseWriter, r *http.Request, p operator.Principal, session string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, a.me0(r, p, session))
}

func sessionSecret(r *http.Request) string {
	if r.Header.Get("Authorization") != "" {
		return ""
	}
	if c, err := r.Cookie(SessionCookie); err == nil {
		return c.Value
	}
	return ""
}

func (a *api) me(w http.ResponseWriter, r *http.Request) {
	a.writeMe(w, r, who(r), sessionSecret(r))
}

func (a *api) logout(w http.ResponseWriter, r *http.Request) {
	s := sessionSecret(r)
	if s == "" {
		a.fail(w, r, fmt.Errorf("an API token does not sign out: revoke it: %w", errBadRequest))
		return
	}
	note(r, "sign-out")
	if err := a.ops.Logout(r.Context(), s); err != nil {
		a.fail(w, r, err)
		return
	}
	setCookie(w, SessionCookie, "", -1)
	w.WriteHeader(http.StatusNoContent)
}

func operatorOnly(r *http.Request) (operator.Principal, error) {
	p := who(r)
	if p.Kind != "operator" {
		return p, fmt.Errorf("an API token has no sessions: %w", errBadRequest)
	}
	return p, nil
}

func (a *api) mySessions(w http.ResponseWriter, r *http.Request) {
	p, err := operatorOnly(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	ss, err := a.ops.Sessions(r.Context(), p.Name, p.Session)
	a.reply(w, r, http.StatusOK, firstN(ss, MaxListPage), err)
}

func (a *api) revokeMySession(w http.ResponseWriter, r *http.Request) {
	p, err := operatorOnly(r)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	note(r, "end own session")
	if err := a.ops.RevokeSession(r.Context(), p.Name, r.PathValue("id")); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
