// Package kek is the fleet's key-encryption key: the AES-256 key that
// seals the private keys the fleet store keeps (event signing keys, the
// fleet's replica key), so that a copy of the database — a backup, a
// stolen disk, a read-only SQL injection — gives none of them away.
//
// The KEK never goes in the database. It comes from a file (0600; the
// embedded SQLite setup creates one beside its data on first start) or
// from the ADMIT_KEK environment variable, both holding the key as 64 hex
// digits (or standard base64). Every node of a fleet on one PostgreSQL
// needs the same KEK. Sealed values carry the KEK's id, so a store opened
// with another key says so instead of returning garbage, and rotation
// (sqlstore's Rewrap, "admit-fleet kek rotate") re-seals every value
// under a new key.
//
// Sealing is AES-256-GCM with a random 96-bit nonce per value (a fleet
// seals a few keys per event, far from GCM's random-nonce limits) and the
// value's label (what it is: "signing_key/<event>/<id>") as associated
// data, so a sealed value moved to another row does not open.
package kek

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// Size is the KEK's length in bytes.
const Size = 32

// EnvVar is the environment variable a fleet node reads its KEK from.
const EnvVar = "ADMIT_KEK"

// Errors of Open.
var (
	// ErrWrongKey: the value was sealed under another KEK.
	ErrWrongKey = errors.New("kek: sealed under another key-encryption key")
	// ErrNotSealed: the value is not a sealed value at all.
	ErrNotSealed = errors.New("kek: not a sealed value")
	// ErrCorrupt: the value or its label was altered.
	ErrCorrupt = errors.New("kek: sealed value altered, or moved from another row")
)

// magic starts every sealed value: the format's version.
var magic = []byte("kek1")

const (
	idLen    = 8
	nonceLen = 12
	overhead = len("kek1") + idLen + nonceLen + 16 // magic, key id, nonce, GCM tag
)

// Key is a key-encryption key.
type Key struct {
	aead cipher.AEAD
	id   [idLen]byte
}

// New returns the KEK of raw (Size bytes).
func New(raw []byte) (*Key, error) {
	if len(raw) != Size {
		return nil, fmt.Errorf("kek: %d bytes, want %d", len(raw), Size)
	}
	block, err := aes.NewCipher(raw)
	if err != nil {
		return nil, fmt.Errorf("kek: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("kek: %w", err)
	}
	k := &Key{aead: aead}
	sum := sha256.Sum256(append([]byte("admit-kek-id\x00"), raw...))
	copy(k.id[:], sum[:])
	return k, nil
}

// Generate returns a new random KEK and its text form (what a KEK file or
// ADMIT_KEK holds).
func Generate() (*Key, string, error) {
	raw := make([]byte, Size)
	if _, err := rand.Read(raw); err != nil {
		return nil, "", fmt.Errorf("kek: %w", err)
	}
	k, err := New(raw)
	return k, hex.EncodeToString(raw), err
}

// Parse reads a KEK in its text form: 64 hex digits or the standard
// base64 of 32 bytes, surrounding white space ignored.
func Parse(text string) (*Key, error) {
	text = strings.TrimSpace(text)
	raw, err := hex.DecodeString(text)
	if err != nil || len(raw) != Size {
		raw, err = base64.StdEncoding.DecodeString(text)
	}
	if err != nil || len(raw) != Size {
		return nil, fmt.Errorf("kek: not %d bytes in hex or base64", Size)
	}
	return New(raw)
}

// ReadFile reads the KEK in path. A file that others than its owner's
// group may read is refused: the KEK would be no secret.
func ReadFile(path string) (*Key, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("kek: %w", err)
	}
	if st.Mode().Perm()&0o007 != 0 {
		return nil, fmt.Errorf("kek: %s is readable by anyone (mode %04o): chmod 600 it", path, st.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("kek: %w", err)
	}
	k, err := Parse(string(data))
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, path)
	}
	return k, nil
}

// CreateFile writes a new random KEK to path (mode 0600; it fails if the
// file exists) and returns it.
func CreateFile(path string) (*Key, error) {
	k, text, err := Generate()
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("kek: %w", err)
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("kek: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("kek: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("kek: %w", err)
	}
	return k, nil
}

// LoadOrCreateFile reads the KEK in path, or creates one there when the
// file does not exist; created says which.
func LoadOrCreateFile(path string) (k *Key, created bool, err error) {
	k, err = ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err = CreateFile(path)
		return k, err == nil, err
	}
	return k, false, err
}

// ID names the KEK in logs and errors (a hash, not the key).
func (k *Key) ID() string { return hex.EncodeToString(k.id[:]) }

// Seal returns plain sealed under k, bound to label.
func (k *Key) Seal(plain []byte, label string) []byte {
	out := make([]byte, 0, overhead+len(plain))
	out = append(out, magic...)
	out = append(out, k.id[:]...)
	nonce := make([]byte, nonceLen)
	if _, err := rand.Read(nonce); err != nil {
		panic("kek: no randomness: " + err.Error()) // crypto/rand never fails on supported systems
	}
	out = append(out, nonce...)
	return k.aead.Seal(out, nonce, plain, []byte(label))
}

// Open returns the value sealed in sealed under label.
func (k *Key) Open(sealed []byte, label string) ([]byte, error) {
	if !IsSealed(sealed) {
		return nil, ErrNotSealed
	}
	id := sealed[len(magic) : len(magic)+idLen]
	if !bytes.Equal(id, k.id[:]) {
		return nil, fmt.Errorf("%w (sealed under %x, this one is %s)", ErrWrongKey, id, k.ID())
	}
	nonce := sealed[len(magic)+idLen : len(magic)+idLen+nonceLen]
	plain, err := k.aead.Open(nil, nonce, sealed[len(magic)+idLen+nonceLen:], []byte(label))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCorrupt, label)
	}
	return plain, nil
}

// IsSealed reports whether b has the form of a sealed value.
func IsSealed(b []byte) bool { return len(b) >= overhead && bytes.HasPrefix(b, magic) }

// SealedBy reports whether b was sealed under k (by its id; Open still
// checks it whole).
func (k *Key) SealedBy(b []byte) bool {
	return IsSealed(b) && bytes.Equal(b[len(magic):len(magic)+idLen], k.id[:])
}
