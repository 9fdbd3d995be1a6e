package ticket

import (
	"sort"
	"sync"
)

// RevocationList is an in-memory Revocations: a set of (event, ticket id).
// The agent may use its own replicated store instead; anything with a
// Revoked(event, id) method will do. Safe for concurrent use.
type RevocationList struct {
	mu  sync.RWMutex // guards ids
	ids map[keyRef]struct{}
}

// NewRevocationList returns an empty list.
func NewRevocationList() *RevocationList {
	return &RevocationList{ids: make(map[keyRef]struct{})}
}

// Revoke adds (event, id).
func (l *RevocationList) Revoke(event, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ids[keyRef{event, id}] = struct{}{}
}

// Unrevoke removes (event, id).
func (l *RevocationList) Unrevoke(event, id string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.ids, keyRef{event, id})
}

// Revoked implements Revocations.
func (l *RevocationList) Revoked(event, id string) bool {
	l.mu.RLock()
	defer l.mu.RUnlock()
	_, ok := l.ids[keyRef{event, id}]
	return ok
}

// IDs returns the revoked ticket ids of event, sorted.
func (l *RevocationList) IDs(event string) []string {
	l.mu.RLock()
	var out []string
	for r := range l.ids {
		if r.event == event {
			out = append(out, r.id)
		}
	}
	l.mu.RUnlock()
	sort.Strings(out)
	return out
}

// RevocationsFunc adapts a function to Revocations.
type RevocationsFunc func(event, id string) bool

// Revoked implements Revocations.
func (f RevocationsFunc) Revoked(event, id string) bool { return f(event, id) }

// CodeSecretsFunc adapts a function to CodeSecrets.
type CodeSecretsFunc func(event, id string) ([]byte, bool)

// CodeSecret implements CodeSecrets.
func (f CodeSecretsFunc) CodeSecret(event, id string) ([]byte, bool) { return f(event, id) }

// LegacyLookupFunc adapts a function to LegacyLookup.
type LegacyLookupFunc func(code string) (Claims, bool)

// LookupLegacy implements LegacyLookup.
func (f LegacyLookupFunc) LookupLegacy(code string) (Claims, bool) { return f(code) }
