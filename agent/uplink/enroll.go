package uplink

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"admit/fleet/wire"
	"admit/internal/tlspin"
)

// Enroll registers key with the fleet named in an enrollment code (the text
// of the enrollment QR), over TLS pinned to the CA fingerprint the code
// carries. It returns who the device is, the fingerprint to pin from now
// on (Options.CAFingerprint) and the fleet's replica key
// (Options.ReplicaKey), which must be the code's when the code names one.
//
// A code whose fleet is plain http:// is refused unless insecure: the
// one-time token would cross the network in the clear.
func Enroll(ctx context.Context, code string, key ed25519.PrivateKey, insecure bool) (wire.EnrollResponse, error) {
	var out wire.EnrollResponse
	u, err := wire.ParseEnrollURI(code)
	if err != nil {
		return out, fmt.Errorf("uplink: enroll: %w", err)
	}
	if err := CheckURL(u.Fleet, insecure); err != nil {
		return out, fmt.Errorf("uplink: enroll: the token would be sent in the clear: %w", err)
	}
	body, _ := json.Marshal(&wire.EnrollRequest{Token: u.Token, PublicKey: key.Public().(ed25519.PublicKey)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(u.Fleet, "/")+wire.EnrollPath, bytes.NewReader(body))
	if err != nil {
		return out, fmt.Errorf("uplink: enroll: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlspin.Config(u.CAFingerprint)}}
	resp, err := client.Do(req)
	if err != nil {
		return out, fmt.Errorf("uplink: enroll: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return out, fmt.Errorf("uplink: enroll: fleet answered %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	if err := json.Unmarshal(data, &out); err != nil {
		return out, fmt.Errorf("uplink: enroll: %w", err)
	}
	if len(u.CAFingerprint) > 0 && !bytes.Equal(out.CAFingerprint, u.CAFingerprint) {
		return out, fmt.Errorf("uplink: enroll: fleet reports CA %x, the code pinned %x", out.CAFingerprint, u.CAFingerprint)
	}
	switch {
	case len(out.ReplicaKey) != ed25519.PublicKeySize:
		return out, fmt.Errorf("uplink: enroll: the fleet gave no replica key (a fleet of protocol 4 does not sign replica data: upgrade it)")
	case len(u.ReplicaKey) > 0 && !bytes.Equal(out.ReplicaKey, u.ReplicaKey):
		return out, fmt.Errorf("uplink: enroll: fleet reports replica key %x, the code names %x: not the fleet that made the code", out.ReplicaKey, u.ReplicaKey)
	}
	return out, nil
}
