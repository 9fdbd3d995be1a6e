package ticket

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// ErrKeyNotFound is returned by Keyring operations on a key it does not hold.
var ErrKeyNotFound = errors.New("ticket: key not found")

// SigningKey is an issuer's private key for one event. Its ID goes into every
// ticket it signs (the COSE "kid").
type SigningKey struct {
	Event, ID string
	Private   ed25519.PrivateKey
}

// GenerateSigningKey creates a fresh Ed25519 key for event with id keyID.
func GenerateSigningKey(event, keyID string) (SigningKey, error) {
	if event == "" || keyID == "" {
		return SigningKey{}, fmt.Errorf("ticket: generate key: event and key id are required")
	}
	if err := checkField("event", event); err != nil {
		return SigningKey{}, err
	}
	if err := checkField("key id", keyID); err != nil {
		return SigningKey{}, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return SigningKey{}, fmt.Errorf("ticket: generate key: %w", err)
	}
	return SigningKey{Event: event, ID: keyID, Private: priv}, nil
}

// Public returns the verification half of k, active (not retired).
func (k SigningKey) Public() PublicKey {
	var pub ed25519.PublicKey
	if len(k.Private) == ed25519.PrivateKeySize {
		pub = k.Private.Public().(ed25519.PublicKey)
	}
	return PublicKey{Event: k.Event, ID: k.ID, Key: pub}
}

// PublicKey verifies tickets of one event signed under key ID. A non-zero
// RetiredAt refuses its tickets from that instant on.
type PublicKey struct {
	Event, ID string
	Key       ed25519.PublicKey
	RetiredAt time.Time // zero = active
}

// Retired reports whether k is retired at now.
func (k PublicKey) Retired(now time.Time) bool {
	return !k.RetiredAt.IsZero() && !now.Before(k.RetiredAt)
}

type keyRef struct{ event, id string }

// Keyring holds the verification keys of any number of events, several per
// event. Rotation: add the new key, issue with it, keep the old one until
// its tickets expire, then retire it. It is safe for concurrent use; the
// zero value is an empty keyring.
type Keyring struct {
	mu   sync.RWMutex // guards the fields below
	keys map[keyRef]PublicKey
	jwt  map[keyRef]JWTKey
}

// NewKeyring returns a keyring holding keys.
func NewKeyring(keys ...PublicKey) *Keyring {
	kr := &Keyring{keys: make(map[keyRef]PublicKey), jwt: make(map[keyRef]JWTKey)}
	for _, k := range keys {
		kr.Add(k)
	}
	return kr
}

// Add adds k, replacing any key with the same (Event, ID).
func (kr *Keyring) Add(k PublicKey) {
	k.Key = append(ed25519.PublicKey(nil), k.Key...)
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if kr.keys == nil {
		kr.keys = make(map[keyRef]PublicKey)
	}
	kr.keys[keyRef{k.Event, k.ID}] = k
}

// Remove drops a key; its tickets then fail with ReasonUnknownKey.
func (kr *Keyring) Remove(event, keyID string) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	delete(kr.keys, keyRef{event, keyID})
}

// Retire refuses tickets signed by (event, keyID) from at on. Tickets it
// signed remain verifiable before at, so rotation needs no reissue.
func (kr *Keyring) Retire(event, keyID string, at time.Time) error {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	ref := keyRef{event, keyID}
	k, ok := kr.keys[ref]
	if !ok {
		return fmt.Errorf("ticket: retire %s/%s: %w", event, keyID, ErrKeyNotFound)
	}
	k.RetiredAt = at.UTC()
	kr.keys[ref] = k
	return nil
}

// Lookup returns the key (event, keyID).
func (kr *Keyring) Lookup(event, keyID string) (PublicKey, bool) {
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	k, ok := kr.keys[keyRef{event, keyID}]
	return k, ok
}

// Keys returns all keys sorted by event then id.
func (kr *Keyring) Keys() []PublicKey {
	kr.mu.RLock()
	out := make([]PublicKey, 0, len(kr.keys))
	for _, k := range kr.keys {
		out = append(out, k)
	}
	kr.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Event != out[j].Event {
			return out[i].Event < out[j].Event
		}
		return out[i].ID < out[j].ID
	})
	return out
}
