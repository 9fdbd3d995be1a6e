package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"admit/agent/uplink"
	"admit/fleet/wire"
)

// identityFile, in the data directory, is what enrollment gave the device:
// its key pair, who the fleet says it is, and the fleet CA it pins. It is
// written 0600 (the private key is in it) and read on every later start.
const identityFile = "identity.json"

// identity is the content of identityFile.
type identity struct {
	Device string `json:"device"`
	Gate   string `json:"gate,omitempty"`
	// Key is the Ed25519 private key (64 bytes, base64 in JSON).
	Key ed25519.PrivateKey `json:"key"`
	// CAFingerprint is the hex SHA-256 of the fleet's CA certificate;
	// empty when the fleet has a publicly trusted certificate or no TLS.
	CAFingerprint string `json:"ca_fingerprint,omitempty"`
	// Fleet is the stream URL derived from the enrollment code.
	Fleet string `json:"fleet"`
	// ReplicaKey is the fleet's replica key (Ed25519 public key, base64 in
	// JSON): what the gate checks everything the fleet sends against.
	// Absent in identities enrolled before protocol 5, until the uplink
	// takes it over the pinned TLS link.
	ReplicaKey ed25519.PublicKey `json:"replica_key,omitempty"`
}

func (id *identity) pin() []byte {
	b, _ := hex.DecodeString(id.CAFingerprint)
	return b
}

// loadIdentity reads the identity in dir; os.ErrNotExist when the device
// never enrolled.
func loadIdentity(dir string) (*identity, error) {
	data, err := os.ReadFile(filepath.Join(dir, identityFile))
	if err != nil {
		return nil, err
	}
	var id identity
	if err := json.Unmarshal(data, &id); err != nil {
		return nil, fmt.Errorf("%s: %w", identityFile, err)
	}
	if id.Device == "" || len(id.Key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%s: no device or no key", identityFile)
	}
	if _, err := hex.DecodeString(id.CAFingerprint); err != nil {
		return nil, fmt.Errorf("%s: ca_fingerprint: %w", identityFile, err)
	}
	if id.ReplicaKey != nil && len(id.ReplicaKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%s: replica_key of %d bytes", identityFile, len(id.ReplicaKey))
	}
	return &id, nil
}

// save writes id to dir with mode 0600: a temporary file, synced, then
// renamed over the old one, so a power cut leaves the old identity or the
// new one, never half of one.
func (id *identity) save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	data, err := json.MarshalIndent(id, "", "\t")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, identityFile+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, identityFile))
}

// enroll generates a key pair, enrolls it with the fleet named by code
// (the text of the enrollment QR) and saves the identity in dir. A code
// naming a plain http:// fleet is refused unless insecure.
func enroll(ctx context.Context, dir, code string, insecure bool) (*identity, error) {
	u, err := wire.ParseEnrollURI(strings.TrimSpace(code))
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("enroll: %w", err)
	}
	res, err := uplink.Enroll(ctx, code, key, insecure)
	if err != nil {
		return nil, err
	}
	id := &identity{Device: res.Device, Gate: res.Gate, Key: key, CAFingerprint: hex.EncodeToString(res.CAFingerprint), Fleet: streamURL(u.Fleet),
		ReplicaKey: res.ReplicaKey}
	if err := id.save(dir); err != nil {
		return nil, fmt.Errorf("enroll: enrolled as %q, but the identity could not be saved (enroll again with a new code): %w", res.Device, err)
	}
	return id, nil
}

// streamURL turns a fleet's base URL (https://host:port) into its agent
// stream URL (wss://host:port/ws).
func streamURL(base string) string {
	base = strings.TrimSuffix(base, "/")
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base + "/ws"
}

// errNoIdentity: neither -device nor an enrollment says who this gate is.
var errNoIdentity = errors.New("-device is required unless the gate enrolls (-enroll) or enrolled before (" + identityFile + " in -data)")
