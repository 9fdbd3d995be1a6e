package tlspin_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"admit/internal/tlspin"
)

// newCA returns a CA certificate and key, valid around now.
func newCA(t *testing.T, now time.Time) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test fleet CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return ca, key
}

// serve starts an HTTPS server whose certificate, valid for an hour from
// now, is signed by ca and sent with it.
func serve(t *testing.T, ca *x509.Certificate, caKey *ecdsa.PrivateKey, now time.Time) *httptest.Server {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "fleet"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, DNSNames: []string{"fleet.invalid"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der, ca.Raw}, PrivateKey: key}}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func get(url string, cfg *tls.Config) error {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}}
	defer client.CloseIdleConnections()
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func TestConfig(t *testing.T) {
	now := time.Now()
	ca, caKey := newCA(t, now)
	srv := serve(t, ca, caKey, now)
	pin := sha256.Sum256(ca.Raw)
	other, _ := newCA(t, now)
	otherPin := sha256.Sum256(other.Raw)

	if tlspin.Config(nil) != nil {
		t.Fatal("no pin: want nil (system roots)")
	}
	// The pinned CA is trusted whatever the name the server has.
	if err := get(srv.URL, tlspin.Config(pin[:])); err != nil {
		t.Fatalf("pinned CA: %v", err)
	}
	// Another CA's pin: the handshake fails.
	if err := get(srv.URL, tlspin.Config(otherPin[:])); err == nil || !strings.Contains(err.Error(), "pinned fingerprint") {
		t.Fatalf("wrong pin: %v, want a pin mismatch", err)
	}
	// The pinned CA, but the certificate expired at the config's time.
	late := tlspin.Config(pin[:])
	late.Time = func() time.Time { return now.Add(2 * time.Hour) }
	if err := get(srv.URL, late); err == nil || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired certificate: %v, want refused", err)
	}
}
