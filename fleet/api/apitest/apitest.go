// Package apitest signs test operators in to a fleet's API the way the
// console does — an operator made through the real operator.Service, its
// password and TOTP code posted to /api/login and /api/login/code — or
// mints an API token through the real service. For tests only: it adds no
// way in that the API does not have.
package apitest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"admit/fleet/access"
	"admit/fleet/api"
	"admit/fleet/operator"
)

// FastArgon2 makes test sign-ins cheap; production uses
// operator.DefaultArgon2.
var FastArgon2 = operator.Argon2{Time: 1, Memory: 64, Threads: 1, KeyLen: 32}

// Password is every test operator's password.
const Password = "correct horse battery staple"

// NewOperator creates an operator with grants, a password (Password) and
// a fresh TOTP seed, which it returns.
func NewOperator(t testing.TB, ops *operator.Service, name string, grants ...access.Grant) []byte {
	t.Helper()
	ctx := context.Background()
	if _, _, err := ops.CreateOperator(ctx, name, grants, "apitest"); err != nil {
		t.Fatalf("apitest: create operator %s: %v", name, err)
	}
	seed, err := operator.NewTOTPSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ops.SetCredentials(ctx, name, Password, seed); err != nil {
		t.Fatalf("apitest: credentials of %s: %v", name, err)
	}
	return seed
}

// Client calls a fleet's API as one caller: a signed-in session (its
// cookie and CSRF token) or an API token.
type Client struct {
	Base    string
	HTTP    *http.Client
	Session string // the session cookie's value
	CSRF    string
	Token   string // an API token, sent as Authorization: Bearer
}

// SignIn creates an operator and signs it in through the API, with the
// TOTP code of now.
func SignIn(t testing.TB, base string, hc *http.Client, ops *operator.Service, now time.Time, name string, grants ...access.Grant) *Client {
	t.Helper()
	seed := NewOperator(t, ops, name, grants...)
	c, err := Login(base, hc, name, Password, operator.TOTP(seed, now))
	if err != nil {
		t.Fatalf("apitest: sign in %s: %v", name, err)
	}
	return c
}

// Login posts a password and a code to /api/login and /api/login/code.
func Login(base string, hc *http.Client, name, password, code string) (*Client, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{Base: strings.TrimRight(base, "/"), HTTP: hc}
	resp, err := c.post("/api/login", api.LoginRequest{Name: name, Password: password}, nil)
	if err != nil {
		return nil, err
	}
	pending := cookie(resp, api.PendingCookie)
	if pending == "" {
		return nil, fmt.Errorf("no pending sign-in cookie")
	}
	var me api.Me
	resp, err = c.post("/api/login/code", api.CodeRequest{Code: code}, &http.Cookie{Name: api.PendingCookie, Value: pending}, &me)
	if err != nil {
		return nil, err
	}
	if c.Session = cookie(resp, api.SessionCookie); c.Session == "" || me.CSRF == "" {
		return nil, fmt.Errorf("no session after the code")
	}
	c.CSRF = me.CSRF
	return c, nil
}

func cookie(resp *http.Response, name string) string {
	for _, c := range resp.Cookies() {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

func (c *Client) post(path string, in any, ck *http.Cookie, out ...any) (*http.Response, error) {
	b, _ := json.Marshal(in)
	req, _ := http.NewRequest(http.MethodPost, c.Base+path, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if ck != nil {
		req.AddCookie(ck)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return resp, fmt.Errorf("%s: %s %s", path, resp.Status, data)
	}
	if len(out) > 0 {
		if err := json.Unmarshal(data, out[0]); err != nil {
			return resp, err
		}
	}
	return resp, nil
}

// NewToken creates an API token with one grant through the service and
// returns a client that sends it.
func NewToken(t testing.TB, base string, hc *http.Client, ops *operator.Service, g access.Grant) *Client {
	t.Helper()
	secret, _, err := ops.CreateToken(context.Background(), "apitest "+g.String(), g, 0, "apitest")
	if err != nil {
		t.Fatal(err)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{Base: strings.TrimRight(base, "/"), HTTP: hc, Token: secret}
}

// Request makes a request as the client: the session cookie and its CSRF
// token, or the API token. contentType "" means application/json.
func (c *Client) Request(method, path, contentType string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, c.Base+path, body)
	if err != nil {
		panic(err)
	}
	if contentType == "" {
		contentType = "application/json"
	}
	req.Header.Set("Content-Type", contentType)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.Session != "" {
		req.AddCookie(&http.Cookie{Name: api.SessionCookie, Value: c.Session})
		req.Header.Set(api.CSRFHeader, c.CSRF)
	}
	return req
}

// Do sends a request with a JSON body (in, unless nil) and decodes a 2xx
// answer into out (unless nil); it returns the status and, for an error
// answer, its code.
func (c *Client) Do(method, path string, in, out any) (int, string, error) {
	var body io.Reader
	if in != nil {
		switch v := in.(type) {
		case string:
			body = strings.NewReader(v)
		default:
			b, err := json.Marshal(in)
			if err != nil {
				return 0, "", err
			}
			body = bytes.NewReader(b)
		}
	}
	return c.Send(c.Request(method, path, "", body), out)
}

// Send sends req and decodes a 2xx answer into out.
func (c *Client) Send(req *http.Request, out any) (int, string, error) {
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		var e struct{ Code string }
		json.Unmarshal(data, &e)
		return resp.StatusCode, e.Code, nil
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, "", fmt.Errorf("%s %s: %w: %s", req.Method, req.URL.Path, err, data)
		}
	}
	return resp.StatusCode, "", nil
}
