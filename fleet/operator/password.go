package operator

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2 are argon2id parameters.
type Argon2 struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
	KeyLen  uint32
}

// DefaultArgon2 is RFC 9106's second recommended option (section 4):
// argon2id, t=3, m=64 MiB, p=4, 128-bit salt, 256-bit tag. The first
// option (2 GiB of memory) does not fit a fleet node that shares a small
// machine with its database; the second is the RFC's choice for
// memory-constrained settings and costs about a tenth of a second here.
// Passwords are capped at MaxPasswordLen bytes and sign-ins are throttled,
// so an attacker cannot make the node hash without bound.
var DefaultArgon2 = Argon2{Time: 3, Memory: 64 * 1024, Threads: 4, KeyLen: 32}

const saltLen = 16

var b64 = base64.RawStdEncoding

// hashPassword returns the PHC string of password under p:
// $argon2id$v=19$m=65536,t=3,p=4$<salt>$<tag>.
func hashPassword(password string, p Argon2) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("operator: salt: %w", err)
	}
	tag := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(tag)), nil
}

// checkPassword reports whether password matches the PHC string phc,
// hashing with the parameters phc records. A malformed phc is checked
// against a dummy hash instead, so the cost is the same.
func checkPassword(password, phc string) bool {
	p, salt, tag, ok := parsePHC(phc)
	if !ok {
		p, salt, tag, _ = parsePHC(dummyHash())
		argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
		return false
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(tag)))
	return subtle.ConstantTimeCompare(got, tag) == 1
}

func parsePHC(phc string) (p Argon2, salt, tag []byte, ok bool) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, false
	}
	var threads uint32
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &threads); err != nil ||
		p.Time == 0 || p.Time > 16 || p.Memory < 8 || p.Memory > 1<<22 || threads == 0 || threads > 64 {
		return p, nil, nil, false
	}
	p.Threads = uint8(threads)
	salt, err1 := b64.DecodeString(parts[4])
	tag, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(salt) < 8 || len(tag) < 16 || len(tag) > 64 {
		return p, nil, nil, false
	}
	p.KeyLen = uint32(len(tag))
	return p, salt, tag, true
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
