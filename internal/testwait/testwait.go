// Package testwait lets tests wait for a state to be reached — a replica
// caught up, a connection dropped — with a deadline, never for a guessed
// duration.
package testwait

import (
	"testing"
	"time"
)

// Deadline bounds every wait: far beyond any healthy run, so only a real
// hang fails.
const Deadline = 20 * time.Second

// For polls cond every 2 ms until it holds, failing t with what when the
// deadline passes first.
func For(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
