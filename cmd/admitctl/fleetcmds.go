package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
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

// fleetClient talks to the fleet's HTTP API.
type fleetClient struct {
	base string
	http *http.Client
}

// fleetFlags adds -fleet and -pin to fs; call client() after parsing.
func fleetFlags(fs *flag.FlagSet) func() (*fleetClient, error) {
	base := fs.String("fleet", "https://127.0.0.1:8080", "fleet base URL (http:// only for a node started with -insecure)")
	pin := fs.String("pin", "", "hex SHA-256 of the fleet's CA certificate, for a fleet that runs its own CA (admit-fleet prints it)")
	return func() (*fleetClient, error) {
		c := &fleetClient{base: strings.TrimRight(*base, "/"), http: http.DefaultClient}
		if *pin != "" {
			fp, err := hex.DecodeString(*pin)
			if err != nil || len(fp) != sha256.Size {
				return nil, fmt.Errorf("-pin is not a hex SHA-256")
			}
			c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: tlspin.Config(fp)}}
		}
		return c, nil
	}
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
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Code, Message string }
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return fmt.Errorf("fleet: %s %s: %s: %s", method, path, resp.Status, e.Message)
	}
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
	fmt.Fprintln(tw, "TIME\tGATE\tDEVICE\tTICKET\tOUTCOME\tREASON")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Local().Format(time.TimeOnly), r.Gate, r.Device, r.TicketID, r.Outcome, r.Sentence)
	}
	return tw.Flush()
}
