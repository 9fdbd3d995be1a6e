package ticket

import "crypto"

// JWTKey is a configured verification key of a foreign JWT issuer for one
// event (see VerifyJWT).
type JWTKey struct {
	Event string
	ID    string // JWS "kid"; "" matches a JWT without kid
	Key   crypto.PublicKey
}
