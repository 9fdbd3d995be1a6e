package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"admit/fleet"
	"admit/fleet/qrimage"
)

// call does one JSON request against the fleet API.
func call(ctx context.Context, method, url string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fleet: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		var e struct{ Code, Message string }
		json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&e)
		return fmt.Errorf("fleet: %s %s: %s: %s", method, url, resp.Status, e.Message)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

func issue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admitctl issue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fleetURL := fs.String("fleet", "http://127.0.0.1:8080", "fleet base URL")
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
	if *create {
		if err := call(ctx, "POST", *fleetURL+"/api/events", fleet.Event{ID: *event}, nil); err != nil {
			return err
		}
	}
	var ts []fleet.Ticket
	req := fleet.IssueRequest{Type: *typ, Count: *n, Policy: *policy}
	if err := call(ctx, "POST", *fleetURL+"/api/events/"+*event+"/tickets", req, &ts); err != nil {
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
	fleetURL := fs.String("fleet", "http://127.0.0.1:8080", "fleet base URL")
	limit := fs.Int("n", 20, "how many")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var rs []fleet.ScanRecord
	if err := call(ctx, "GET", fmt.Sprintf("%s/api/scans?limit=%d", *fleetURL, *limit), nil, &rs); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tGATE\tDEVICE\tTICKET\tOUTCOME\tREASON")
	for _, r := range rs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Local().Format(time.TimeOnly), r.Gate, r.Device, r.TicketID, r.Outcome, r.Sentence)
	}
	return tw.Flush()
}
