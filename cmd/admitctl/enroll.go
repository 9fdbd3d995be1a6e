package main

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"admit/fleet/api"
)

// enrollToken is "admitctl enroll-token": ask the fleet for a one-time
// enrollment token for a device (POST /api/enrollments) and print the
// text of its QR, which the gate takes with admit-agent -enroll (or a
// handheld scans).
func enrollToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admitctl enroll-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := fleetFlags(fs)
	req := api.EnrollmentRequest{}
	fs.StringVar(&req.Device, "device", "", "device id the token enrolls (required)")
	fs.StringVar(&req.Gate, "gate", "", "gate name the device serves")
	fs.StringVar(&req.Name, "name", "", "device name")
	fs.StringVar(&req.Group, "group", "", "config group")
	events := fs.String("events", "", "comma-separated events the device serves (an event manager may enroll devices of its events)")
	fs.BoolVar(&req.Replace, "replace", false, "the device id is enrolled: the token gives it a new key and clears its revocation (admins)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token stays valid")
	qr := fs.String("qr", "", "also write the QR as a PNG to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if req.Device == "" {
		return fmt.Errorf("enroll-token: -device is required")
	}
	req.TTLSeconds = int(ttl.Seconds())
	if *events != "" {
		req.Events = strings.Split(*events, ",")
	}
	fc, err := client()
	if err != nil {
		return fmt.Errorf("enroll-token: %w", err)
	}
	var tok api.EnrollmentToken
	if err := fc.call(ctx, http.MethodPost, "/api/enrollments", req, &tok); err != nil {
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
