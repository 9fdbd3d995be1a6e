// Package tlspin is how a client trusts a fleet that runs its own CA: not
// through the system roots but through the SHA-256 fingerprint of that CA's
// certificate, pinned at enrollment (the gate) or given on the command line
// (admitctl -pin). The agent's uplink and online client and admitctl all
// dial the fleet with Config, so they trust it the same way.
package tlspin

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"admit/clock"
)

// Config returns the client TLS config for a fleet whose CA has the
// SHA-256 fingerprint pin: the chain the fleet presents must be signed by
// exactly that CA (names are not checked: the pin is the identity), and
// the fleet's certificate must be valid at the config's Time (the wall
// clock unless the caller sets it, as in crypto/tls). An empty pin returns
// nil, which uses the system roots.
func Config(pin []byte) *tls.Config {
	if len(pin) == 0 {
		return nil
	}
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyPeerCertificate below
	}
	cfg.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("tlspin: fleet sent no certificate")
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return fmt.Errorf("tlspin: fleet certificate: %w", err)
		}
		for _, der := range raw[1:] {
			fp := sha256.Sum256(der)
			if subtle.ConstantTimeCompare(fp[:], pin) != 1 {
				continue
			}
			ca, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("tlspin: fleet CA: %w", err)
			}
			if err := leaf.CheckSignatureFrom(ca); err != nil {
				return fmt.Errorf("tlspin: fleet certificate not signed by the pinned CA: %w", err)
			}
			// Validity is judged on the wall clock, as crypto/tls judges
			// every chain it verifies itself, unless the caller set Time.
			now := clock.Real{}.Now
			if cfg.Time != nil {
				now = cfg.Time
			}
			if t := now(); t.After(leaf.NotAfter) || t.Before(leaf.NotBefore) {
				return errors.New("tlspin: fleet certificate expired or not yet valid")
			}
			return nil
		}
		return errors.New("tlspin: fleet CA does not match the pinned fingerprint")
	}
	return cfg
}
