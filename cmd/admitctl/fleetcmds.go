package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"admit/fleet"
	"admit/fleet/qrimage"
	"admit/internal/tlspin"
)

// fleetClient talks to the fleet's HTTP API with an API token.
type fleetClient struct {
	base  string
	token string
	http  *http.Client
}

// ctlConfig is admitctl's config file: defaults for -fleet, -pin and
// -token. It holds a secret, so admitctl reads it only when no one but
// its owner may (mode 0600).
type ctlConfig struct {
	Fleet string `json:"fleet,omitempty"`
	Pin   string `json:"pin,omitempty"`
	Token string `json:"token,omitempty"`
}

// configPath is $ADMITCTL_CONFIG, else admit/admitctl.json in the user's
// config directory (~/.config/admit/admitctl.json).
func configPath() string {
	if p := os.Getenv("ADMITCTL_CONFIG"); p != "" {
		return p
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "admit", "admitctl.json")
}

func readConfig() (ctlConfig, error) {
	var c ctlConfig
	path := configPath()
	if path == "" {
		return c, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return c, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return c, fmt.Errorf("%s is mode %04o: it holds an API token, make it 0600 (chmod 600 %s)", path, st.Mode().Perm(), path)
	}
	if err := json.NewDecoder(io.LimitReader(f, 1<<16)).Decode(&c); err != nil {
		return c, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// fleetFlags adds -fleet, -pin and -token to fs; call client() after
// parsing. A flag given wins, then $ADMIT_TOKEN (for the token), then the
// config file.
func fleetFlags(fs *flag.FlagSet) func() (*fleetClient, error) {
	base := fs.String("fleet", "", "fleet base URL (default: the config file's, else https://127.0.0.1:8080; http:// only for a node started with -insecure)")
	pin := fs.String("pin", "", "hex SHA-256 of the fleet's CA certificate, for a fleet that runs its own CA (admit-fleet prints it)")
	token := fs.String("token", "", "API token (default: $ADMIT_TOKEN, else the config file's "+configPath()+")")
	return func() (*fleetClient, error) {
		cfg, err := readConfig()
		if err != nil {
			return nil, err
		}
		pick := func(vals ...string) string {
			for _, v := range vals {
				if v != "" {
					return v
				}
			}
			return ""
		}
		c := &fleetClient{
			base:  strings.TrimRight(pick(*base, cfg.Fleet, "https://127.0.0.1:8080"), "/"),
			token: pick(*token, os.Getenv("ADMIT_TOKEN"), cfg.Token),
			http:  http.DefaultClient,
		}
		if c.token == "" {
			return nil, fmt.Errorf("no API token: pass -token, set ADMIT_TOKEN, or put it in %s (an admin creates one in the console or with admitctl token create)", configPath())
		}
		if p := pick(*pin, cfg.Pin); p != "" {
			fp, err := hex.DecodeString(p)
			if err != nil || len(fp) != sha256.Size {
				return nil, fmt.Errorf("-pin is not a hex SHA-256")
			}
			c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: tlspin.Config(fp)}}
		}
		return c, nil
	}
}

// do sends one request with the token and returns the answer, or an error
// with the fleet's message for a status of 300 or more.
func (c *fleetClient) do(ctx context.Context, method, path, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var e struct{ Code, Message string }
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return nil, fmt.Errorf("fleet: %s %s: %s: %s", method, path, resp.Status, e.Message)
	}
	return resp, nil
}

// call does one JSON request against the fleet API.
func (c *fleetClient) call(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	resp, err := c.do(ctx, method, path, "application/json", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(out)
}

func issue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admitctl issue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := fleetFlags(fs)
	event := fs.String("event", "", "event id (created if -create is set)")
	create := fs.Bool("create", false, "create the event first")
	n := fs.Int("n", 10, "number of tickets")
	typ := fs.String("type", "GA", "ticket type")
	policy := fs.String("policy", "single", "entry policy: single, multi or reentry")
	out := fs.String("out", "tickets", "folder for the QR PNGs")
	size := fs.Int("size", 400, "QR image size in pixels")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *event == "" {
		return fmt.Errorf("issue: -event is required")
	}
	fc, err := client()
	if err != nil {
		return fmt.Errorf("issue: %w", err)
	}
	if *create {
		if err := fc.call(ctx, "POST", "/api/events", fleet.Event{ID: *event}, nil); err != nil {
			return err
		}
	}
	var ts []fleet.Ticket
	req := fleet.IssueRequest{Type: *typ, Count: *n, Policy: *policy}
	if err := fc.call(ctx, "POST", "/api/events/"+url.PathEscape(*event)+"/tickets", req, &ts); err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, t := range ts {
		png, err := qrimage.PNG(t.Code, *size)
		if err != nil {
			return err
		}
		name := filepath.Join(*out, t.ID+".png")
		if err := os.WriteFile(name, png, 0o644); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%s\n", name, t.Code)
	}
	return nil
}

func scans(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admitctl scans", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := fleetFlags(fs)
	limit := fs.Int("n", 20, "how many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fc, err := client()
	if err != nil {
		return fmt.Errorf("scans: %w", err)
	}
	var rs []fleet.ScanRecord
	if err := fc.call(ctx, "GET", fmt.Sprintf("/api/scans?limit=%d", *limit), nil, &rs); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tGATE\tDEVICE\tTICKET\tOUTCOME\tREASON\tSTAFF")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Local().Format(time.TimeOnly), r.Gate, r.Device, r.TicketID, r.Outcome, r.Sentence, r.Staff)
	}
	return tw.Flush()
}
