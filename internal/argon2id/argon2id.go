// Package argon2id hashes secrets that people type — operators' passwords,
// gate staff's PINs — with argon2id (RFC 9106) and keeps each hash as a
// PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$tag), so that the
// parameters a hash was made with travel with it and can rise later
// without breaking the hashes made before. The fleet hashes; the fleet
// (passwords) and the gates (PINs, replicated hashed) verify. It is the
// one home of the encoding, so both sides read it alike.
package argon2id

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id parameters.
type Params struct {
	Time    uint32 // passes
	Memory  uint32 // KiB
	Threads uint8
	KeyLen  uint32 // bytes of tag
}

// SaltLen is the length of the random salt of every new hash (128 bits).
const SaltLen = 16

var b64 = base64.RawStdEncoding

// Hash returns the PHC string of secret under p, with a new random salt.
func Hash(secret []byte, p Params) (string, error) {
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("argon2id: salt: %w", err)
	}
	tag := argon2.IDKey(secret, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads, b64.EncodeToString(salt), b64.EncodeToString(tag)), nil
}

// Check reports whether secret matches the PHC string phc, hashing with
// the parameters phc records (a malformed phc matches nothing). Compare in
// constant time.
func Check(secret []byte, phc string) bool {
	p, salt, tag, ok := Parse(phc)
	if !ok {
		return false
	}
	got := argon2.IDKey(secret, salt, p.Time, p.Memory, p.Threads, uint32(len(tag)))
	return subtle.ConstantTimeCompare(got, tag) == 1
}

// Parse reads a PHC string: its parameters, salt and tag. ok is false for
// anything else than argon2id version 19 with parameters in bounds (1 to
// 16 passes, 8 KiB to 4 GiB, 1 to 64 threads, a salt of at least 8 bytes
// and a tag of 16 to 64).
func Parse(phc string) (p Params, salt, tag []byte, ok bool) {
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
