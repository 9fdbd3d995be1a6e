package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"admit/agent/uplink"
	"admit/fleet/api"
)

// enrollToken is "admitctl enroll-token": ask the fleet for a one-time
// enrollment token for a device (POST /api/enrollments) and print the
// text of its QR, which the gate takes with admit-agent -enroll (or a
// handheld scans).
func enrollToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admitctl enroll-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fleetURL := fs.String("fleet", "http://127.0.0.1:8080", "fleet base URL (https:// for a fleet with TLS)")
	pin := fs.String("pin", "", "hex SHA-256 of the fleet's CA certificate, for a fleet that runs its own CA (admit-fleet prints it)")
	req := api.EnrollmentRequest{}
	fs.StringVar(&req.Device, "device", "", "device id the token enrolls (required)")
	fs.StringVar(&req.Gate, "gate", "", "gate name the device serves")
	fs.StringVar(&req.Name, "name", "", "device name")
	fs.StringVar(&req.Group, "group", "", "config group")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token stays valid")
	qr := fs.String("qr", "", "also write the QR as a PNG to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if req.Device == "" {
		return fmt.Errorf("enroll-token: -device is required")
	}
	req.TTLSeconds = int(ttl.Seconds())
	client := http.DefaultClient
	if *pin != "" {
		fp, err := hex.DecodeString(*pin)
		if err != nil || len(fp) != 32 {
			return fmt.Errorf("enroll-token: -pin is not a hex SHA-256")
		}
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: uplink.TLSConfig(fp)}}
	}
	body, _ := json.Marshal(req)
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, *fleetURL+"/api/enrollments", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return fmt.Errorf("enroll-token: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("enroll-token: fleet answered %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	var tok api.EnrollmentToken
	if err := json.Unmarshal(data, &tok); err != nil {
		return fmt.Errorf("enroll-token: %w", err)
	}
	if *qr != "" {
		png, err := base64.StdEncoding.DecodeString(tok.QRPNG)
		if err != nil {
			return fmt.Errorf("enroll-token: QR: %w", err)
		}
		if err := os.WriteFile(*qr, png, 0o600); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "one-time token for %s, valid until %s; on the gate: admit-agent -enroll '<code>' ...\n",
		tok.Device, tok.ExpiresAt.Local().Format(time.DateTime))
	fmt.Fprintln(stdout, tok.URI)
	return nil
}
