package operator

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"

	"admit/internal/argon2id"
)

// Argon2 are argon2id parameters.
type Argon2 = argon2id.Params

// DefaultArgon2 is RFC 9106's second recommended option (section 4):
// argon2id, t=3, m=64 MiB, p=4, 128-bit salt, 256-bit tag. The first
// option (2 GiB of memory) does not fit a fleet node that shares a small
// machine with its database; the second is the RFC's choice for
// memory-constrained settings and costs about a tenth of a second here.
// Passwords are capped at MaxPasswordLen bytes and sign-ins are throttled,
// so an attacker cannot make the node hash without bound.
var DefaultArgon2 = Argon2{Time: 3, Memory: 64 * 1024, Threads: 4, KeyLen: 32}

var b64 = base64.RawStdEncoding

// hashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>.
func hashPassword(password string, p Argon2) (string, error) {
	phc, err := argon2id.Hash([]byte(password), p)
	if err != nil {
		return "", fmt.Errorf("operator: %w", err)
	}
	return phc, nil
}

// checkPassword reports whether password matches the PHC string phc,
// hashing with the parameters phc records. A malformed phc is checked
// against a dummy hash instead, so the cost is the same.
func checkPassword(password, phc string) bool {
	if _, _, _, ok := argon2id.Parse(phc); !ok {
		argon2id.Check([]byte(password), dummyHash())
		return false
	}
	return argon2id.Check([]byte(password), phc)
}

var dummy struct {
	once sync.Once
	phc  string
}

// dummyHash is a hash of a random password under DefaultArgon2: what a
// sign-in for an unknown operator (or one without a password) is checked
// against, so that it costs what a real one costs.
func dummyHash() string {
	dummy.once.Do(func() {
		var pw [16]byte
		rand.Read(pw[:])
		dummy.phc, _ = hashPassword(b64.EncodeToString(pw[:]), DefaultArgon2)
	})
	return dummy.phc
}
