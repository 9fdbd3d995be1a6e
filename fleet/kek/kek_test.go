package kek_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"admit/fleet/kek"
)

func TestSealOpen(t *testing.T) {
	k, text, err := kek.Generate()
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{0xab}, 64)
	sealed := k.Seal(secret, "signing_key/gala/k1")
	if bytes.Contains(sealed, secret[:16]) || !kek.IsSealed(sealed) || !k.SealedBy(sealed) {
		t.Fatalf("sealed value %x", sealed)
	}
	if again := k.Seal(secret, "signing_key/gala/k1"); bytes.Equal(again, sealed) {
		t.Fatal("two seals of one value are equal: nonce reused")
	}
	got, err := k.Open(sealed, "signing_key/gala/k1")
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open: %x %v", got, err)
	}
	if _, err := k.Open(sealed, "signing_key/other/k1"); !errors.Is(err, kek.ErrCorrupt) {
		t.Fatalf("moved to another row: %v", err)
	}
	flipped := bytes.Clone(sealed)
	flipped[len(flipped)-1] ^= 1
	if _, err := k.Open(flipped, "signing_key/gala/k1"); !errors.Is(err, kek.ErrCorrupt) {
		t.Fatalf("altered: %v", err)
	}
	other, _, _ := kek.Generate()
	if _, err := other.Open(sealed, "signing_key/gala/k1"); !errors.Is(err, kek.ErrWrongKey) || other.SealedBy(sealed) {
		t.Fatalf("another KEK: %v", err)
	}
	if _, err := k.Open(secret, "x"); !errors.Is(err, kek.ErrNotSealed) {
		t.Fatalf("plaintext: %v", err)
	}
	same, err := kek.Parse(" " + text + "\n")
	if err != nil || same.ID() != k.ID() {
		t.Fatalf("Parse of the text form: %v", err)
	}
	if _, err := kek.Parse("00"); err == nil {
		t.Fatal("a short key parsed")
	}
}

// TestFiles: a KEK file is created 0600 once and read back; a file anyone
// may read is refused.
func TestFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek")
	k, created, err := kek.LoadOrCreateFile(path)
	if err != nil || !created {
		t.Fatalf("create: %v %v", created, err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v %v", st.Mode(), err)
	}
	again, created, err := kek.LoadOrCreateFile(path)
	if err != nil || created || again.ID() != k.ID() {
		t.Fatalf("reload: %v %v", created, err)
	}
	if _, err := kek.CreateFile(path); err == nil {
		t.Fatal("CreateFile overwrote a KEK")
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := kek.ReadFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable KEK: %v", err)
	}
}
