package keystore

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"admit/ticket"
)

var now = time.Date(2025, 7, 1, 10, 0, 0, 0, time.UTC)

func TestGenerateSignVerify(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	k1, err := d.Generate("fest25", "k1", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Generate("fest25", "k1", now); err == nil {
		t.Fatal("Generate overwrote a key")
	}
	if _, err := d.Generate("../x", "k1", now); err == nil {
		t.Fatal("Generate accepted a path as event")
	}
	if _, err := d.Generate("fest25", "k2", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(d.Path, "fest25", "k1.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st.Mode(), err)
	}
	active, err := d.ActiveSigningKey("fest25", now.Add(2*time.Hour))
	if err != nil || active.ID != "k2" {
		t.Fatalf("active = %v, %v", active.ID, err)
	}
	c := ticket.Claims{ID: "T1", Event: "fest25", NotBefore: now, NotAfter: now.Add(24 * time.Hour)}
	text, err := ticket.Encode(c, k1)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Retire("fest25", "k2", now.Add(3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := d.Retire("fest25", "nope", now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("retire unknown: %v", err)
	}
	active, err = d.ActiveSigningKey("fest25", now.Add(4*time.Hour))
	if err != nil || active.ID != "k1" {
		t.Fatalf("active after retiring k2 = %v, %v", active.ID, err)
	}

	// Gates get a public-only export.
	pub := Dir{Path: t.TempDir()}
	if err := d.Export(pub); err != nil {
		t.Fatal(err)
	}
	entries, err := pub.List()
	if err != nil || len(entries) != 2 || entries[0].HasPrivate || entries[1].Key.RetiredAt.IsZero() {
		t.Fatalf("exported list = %+v, %v", entries, err)
	}
	if _, err := pub.SigningKey("fest25", "k1"); err == nil {
		t.Fatal("public-only copy can sign")
	}
	kr, err := pub.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ticket.Verify(text, kr, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
}

func TestJWTKey(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	p := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	if err := d.AddJWTKey("fest25", "ext1", "https://tix.example", p); err != nil {
		t.Fatal(err)
	}
	if err := d.AddJWTKey("fest25", "bad", "", []byte("nope")); err == nil {
		t.Fatal("accepted a non-PEM key")
	}
	kr, err := d.Keyring()
	if err != nil {
		t.Fatal(err)
	}
	if ks := kr.JWTKeys(); len(ks) != 1 || ks[0].Alg() != "ES256" || ks[0].Issuer != "https://tix.example" {
		t.Fatalf("JWT keys = %+v", ks)
	}
}

func TestTamperedFileRefused(t *testing.T) {
	d := Dir{Path: t.TempDir()}
	if _, err := d.Generate("fest25", "k1", now); err != nil {
		t.Fatal(err)
	}
	other := Dir{Path: t.TempDir()}
	if _, err := other.Generate("fest25", "k1", now); err != nil {
		t.Fatal(err)
	}
	// Public key from one file, private from another: refused.
	a, _ := os.ReadFile(filepath.Join(d.Path, "fest25", "k1.json"))
	b, _ := os.ReadFile(filepath.Join(other.Path, "fest25", "k1.json"))
	fa, fb := decodeForTest(t, a), decodeForTest(t, b)
	fa.Private = fb.Private
	if err := writeJSON(filepath.Join(d.Path, "fest25", "k1.json"), fa); err != nil {
		t.Fatal(err)
	}
	if _, err := d.SigningKey("fest25", "k1"); err == nil {
		t.Fatal("mismatched key pair accepted")
	}
}

func decodeForTest(t *testing.T, b []byte) keyFile {
	t.Helper()
	p := filepath.Join(t.TempDir(), "k.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := readKeyFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return f
}
