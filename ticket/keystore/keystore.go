// Package keystore keeps ticket keys as files in a directory, one JSON file
// per key, for admitctl and for a fleet that signs from disk.
//
// # Layout
//
//	DIR/<event>/<key id>.json        Ed25519 ticket key (private or public-only)
//	DIR/<event>/jwt/<key id>.json    foreign JWT issuer's public key
//
// Event and key ids used as file names must match [A-Za-z0-9][A-Za-z0-9._-]{0,63}.
// Directories are created 0700 and files written 0600 via a temporary file
// and rename, so a crash leaves either the old or the new file.
//
// # Ticket key file ("admit-key/1")
//
//	{
//	  "format": "admit-key/1",
//	  "event": "fest25",
//	  "id": "k1",
//	  "alg": "Ed25519",
//	  "public": "<base64url, no padding, 32 bytes>",
//	  "private": "<base64url, no padding, 32-byte Ed25519 seed>",  // absent in public-only copies
//	  "created": "2025-07-01T10:00:00Z",
//	  "retired_at": "2025-07-10T00:00:00Z"                          // absent while active
//	}
//
// A public-only copy (Export) is what gates get: it verifies, it cannot sign.
//
// # JWT key file ("admit-jwt-key/1")
//
//	{
//	  "format": "admit-jwt-key/1",
//	  "event": "fest25",
//	  "id": "ext1",                 // the JWS "kid"
//	  "issuer": "https://tix.example", // required "iss"; absent = any
//	  "public_pem": "-----BEGIN PUBLIC KEY-----\n...",  // PKIX, Ed25519 or ECDSA P-256
//	  "retired_at": "..."           // optional
//	}
package keystore

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"time"

	"admit/ticket"
)

// File format identifiers.
const (
	FormatKey    = "admit-key/1"
	FormatJWTKey = "admit-jwt-key/1"
)

// ErrNotFound is returned for a key that has no file.
var ErrNotFound = errors.New("keystore: key not found")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidName reports whether s can be an event or key id in a key directory.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Dir is a key directory.
type Dir struct {
	Path string
}

// Entry is one ticket key as listed.
type Entry struct {
	Key        ticket.PublicKey
	HasPrivate bool
	Created    time.Time
}

type keyFile struct {
	Format    string     `json:"format"`
	Event     string     `json:"event"`
	ID        string     `json:"id"`
	Alg       string     `json:"alg"`
	Public    string     `json:"public"`
	Private   string     `json:"private,omitempty"`
	Created   time.Time  `json:"created"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

type jwtKeyFile struct {
	Format    string     `json:"format"`
	Event     string     `json:"event"`
	ID        string     `json:"id"`
	Issuer    string     `json:"issuer,omitempty"`
	PublicPEM string     `json:"public_pem"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

var b64 = base64.RawURLEncoding.Strict()

func checkNames(event, id string) error {
	if !ValidName(event) {
		return fmt.Errorf("keystore: invalid event id %q (want %s)", event, nameRE)
	}
	if !ValidName(id) {
		return fmt.Errorf("keystore: invalid key id %q (want %s)", id, nameRE)
	}
	return nil
}

func (d Dir) keyPath(event, id string) string { return filepath.Join(d.Path, event, id+".json") }
func (d Dir) jwtPath(event, id string) string {
	return filepath.Join(d.Path, event, "jwt", id+".json")
}

// Generate creates a new Ed25519 key for event with id; it refuses to
// overwrite an existing key.
func (d Dir) Generate(event, id string, now time.Time) (ticket.SigningKey, error) {
	if err := checkNames(event, id); err != nil {
		return ticket.SigningKey{}, err
	}
	p := d.keyPath(event, id)
	if _, err := os.Stat(p); err == nil {
		return ticket.SigningKey{}, fmt.Errorf("keystore: key %s/%s already exists", event, id)
	}
	k, err := ticket.GenerateSigningKey(event, id)
	if err != nil {
		return ticket.SigningKey{}, err
	}
	f := keyFile{
		Format: FormatKey, Event: event, ID: id, Alg: "Ed25519",
		Public:  b64.EncodeToString(k.Public().Key),
		Private: b64.EncodeToString(k.Private.Seed()),
		Created: now.UTC().Truncate(time.Second),
	}
	if err := writeJSON(p, f); err != nil {
		return ticket.SigningKey{}, err
	}
	return k, nil
}

// List returns all ticket keys, sorted by event then id.
func (d Dir) List() ([]Entry, error) {
	files, err := d.keyFiles()
	if err != nil {
		return nil, err
	}
	out := make([]Entry, 0, len(files))
	for _, f := range files {
		e, _, err := f.decode()
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key.Event != out[j].Key.Event {
			return out[i].Key.Event < out[j].Key.Event
		}
		return out[i].Key.ID < out[j].Key.ID
	})
	return out, nil
}

// Retire marks (event, id) retired from at on.
func (d Dir) Retire(event, id string, at time.Time) error {
	if err := checkNames(event, id); err != nil {
		return err
	}
	f, err := readKeyFile(d.keyPath(event, id))
	if err != nil {
		return err
	}
	t := at.UTC().Truncate(time.Second)
	f.RetiredAt = &t
	return writeJSON(d.keyPath(event, id), f)
}

// SigningKey loads the private key (event, id).
func (d Dir) SigningKey(event, id string) (ticket.SigningKey, error) {
	if err := checkNames(event, id); err != nil {
		return ticket.SigningKey{}, err
	}
	f, err := readKeyFile(d.keyPath(event, id))
	if err != nil {
		return ticket.SigningKey{}, err
	}
	_, priv, err := f.decode()
	if err != nil {
		return ticket.SigningKey{}, err
	}
	if priv == nil {
		return ticket.SigningKey{}, fmt.Errorf("keystore: key %s/%s is public-only", event, id)
	}
	return ticket.SigningKey{Event: event, ID: id, Private: priv}, nil
}

// ActiveSigningKey returns the most recently created key of event that has
// a private half and is not retired at now.
func (d Dir) ActiveSigningKey(event string, now time.Time) (ticket.SigningKey, error) {
	entries, err := d.List()
	if err != nil {
		return ticket.SigningKey{}, err
	}
	var best *Entry
	for i, e := range entries {
		if e.Key.Event != event || !e.HasPrivate || e.Key.Retired(now) {
			continue
		}
		if best == nil || e.Created.After(best.Created) || (e.Created.Equal(best.Created) && e.Key.ID > best.Key.ID) {
			best = &entries[i]
		}
	}
	if best == nil {
		return ticket.SigningKey{}, fmt.Errorf("keystore: no active signing key for event %q: %w", event, ErrNotFound)
	}
	return d.SigningKey(event, best.Key.ID)
}

// Keyring loads every ticket key (public halves, with retirement) and every
// JWT key into a new keyring.
func (d Dir) Keyring() (*ticket.Keyring, error) {
	entries, err := d.List()
	if err != nil {
		return nil, err
	}
	kr := ticket.NewKeyring()
	for _, e := range entries {
		kr.Add(e.Key)
	}
	jwts, err := d.JWTKeys()
	if err != nil {
		return nil, err
	}
	for _, k := range jwts {
		if err := kr.AddJWT(k); err != nil {
			return nil, fmt.Errorf("keystore: %w", err)
		}
	}
	return kr, nil
}

// Export writes public-only copies of every key (ticket and JWT) to dst,
// for distribution to gates.
func (d Dir) Export(dst Dir) error {
	files, err := d.keyFiles()
	if err != nil {
		return err
	}
	for _, f := range files {
		f.Private = ""
		if err := writeJSON(dst.keyPath(f.Event, f.ID), f); err != nil {
			return err
		}
	}
	paths, err := filepath.Glob(filepath.Join(d.Path, "*", "jwt", "*.json"))
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	for _, p := range paths {
		var f jwtKeyFile
		if err := readJSON(p, &f); err != nil {
			return err
		}
		if err := writeJSON(dst.jwtPath(f.Event, f.ID), f); err != nil {
			return err
		}
	}
	return nil
}

// AddJWTKey stores a foreign issuer's public key (PKIX PEM, Ed25519 or
// ECDSA P-256) for event under kid id.
func (d Dir) AddJWTKey(event, id, issuer string, publicPEM []byte) error {
	if err := checkNames(event, id); err != nil {
		return err
	}
	f := jwtKeyFile{Format: FormatJWTKey, Event: event, ID: id, Issuer: issuer, PublicPEM: string(publicPEM)}
	if _, err := f.decode(); err != nil {
		return err
	}
	return writeJSON(d.jwtPath(event, id), f)
}

// JWTKeys loads the configured JWT keys.
func (d Dir) JWTKeys() ([]ticket.JWTKey, error) {
	paths, err := filepath.Glob(filepath.Join(d.Path, "*", "jwt", "*.json"))
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	var out []ticket.JWTKey
	for _, p := range paths {
		var f jwtKeyFile
		if err := readJSON(p, &f); err != nil {
			return nil, err
		}
		k, err := f.decode()
		if err != nil {
			return nil, fmt.Errorf("keystore: %s: %w", p, err)
		}
		out = append(out, k)
	}
	return out, nil
}

func (f jwtKeyFile) decode() (ticket.JWTKey, error) {
	if f.Format != FormatJWTKey {
		return ticket.JWTKey{}, fmt.Errorf("keystore: jwt key format %q, want %q", f.Format, FormatJWTKey)
	}
	blk, _ := pem.Decode([]byte(f.PublicPEM))
	if blk == nil || blk.Type != "PUBLIC KEY" {
		return ticket.JWTKey{}, fmt.Errorf("keystore: jwt key %s/%s: want a PEM \"PUBLIC KEY\" block", f.Event, f.ID)
	}
	pub, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return ticket.JWTKey{}, fmt.Errorf("keystore: jwt key %s/%s: %w", f.Event, f.ID, err)
	}
	k := ticket.JWTKey{Event: f.Event, ID: f.ID, Issuer: f.Issuer}
	switch pub := pub.(type) {
	case ed25519.PublicKey:
		k.Key = pub
	case *ecdsa.PublicKey:
		k.Key = pub
	default:
		return ticket.JWTKey{}, fmt.Errorf("keystore: jwt key %s/%s: %T not supported", f.Event, f.ID, pub)
	}
	if k.Alg() == "" {
		return ticket.JWTKey{}, fmt.Errorf("keystore: jwt key %s/%s: want Ed25519 or ECDSA P-256", f.Event, f.ID)
	}
	if f.RetiredAt != nil {
		k.RetiredAt = f.RetiredAt.UTC()
	}
	return k, nil
}

func (d Dir) keyFiles() ([]keyFile, error) {
	paths, err := filepath.Glob(filepath.Join(d.Path, "*", "*.json"))
	if err != nil {
		return nil, fmt.Errorf("keystore: %w", err)
	}
	out := make([]keyFile, 0, len(paths))
	for _, p := range paths {
		f, err := readKeyFile(p)
		if err != nil {
			return nil, err
		}
		if want := filepath.Base(p); want != f.ID+".json" || filepath.Base(filepath.Dir(p)) != f.Event {
			return nil, fmt.Errorf("keystore: %s holds key %s/%s", p, f.Event, f.ID)
		}
		out = append(out, f)
	}
	return out, nil
}

func readKeyFile(p string) (keyFile, error) {
	var f keyFile
	if err := readJSON(p, &f); err != nil {
		return keyFile{}, err
	}
	if f.Format != FormatKey || f.Alg != "Ed25519" {
		return keyFile{}, fmt.Errorf("keystore: %s: format %q alg %q, want %q Ed25519", p, f.Format, f.Alg, FormatKey)
	}
	return f, nil
}

// decode returns the listing entry and, if present, the private key; it
// checks that the private seed matches the public key.
func (f keyFile) decode() (Entry, ed25519.PrivateKey, error) {
	pub, err := b64.DecodeString(f.Public)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return Entry{}, nil, fmt.Errorf("keystore: key %s/%s: bad public key", f.Event, f.ID)
	}
	e := Entry{Key: ticket.PublicKey{Event: f.Event, ID: f.ID, Key: pub}, Created: f.Created}
	if f.RetiredAt != nil {
		e.Key.RetiredAt = f.RetiredAt.UTC()
	}
	if f.Private == "" {
		return e, nil, nil
	}
	seed, err := b64.DecodeString(f.Private)
	if err != nil || len(seed) != ed25519.SeedSize {
		return Entry{}, nil, fmt.Errorf("keystore: key %s/%s: bad private key", f.Event, f.ID)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
		return Entry{}, nil, fmt.Errorf("keystore: key %s/%s: private key does not match public key", f.Event, f.ID)
	}
	e.HasPrivate = true
	return e, priv, nil
}

func readJSON(p string, v any) error {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keystore: %s: %w", p, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("keystore: %s: %w", p, err)
	}
	return nil
}

func writeJSON(p string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	b = append(b, '\n')
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("keystore: write %s: %w", p, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("keystore: sync %s: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("keystore: close %s: %w", p, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("keystore: %w", err)
	}
	return nil
}
