package ntag424

import (
	"errors"
	"testing"
)

// FuzzParseURIRecord: an NDEF message either yields a URI that
// URIRecord writes back to a record parsing to the same URI, or is refused.
func FuzzParseURIRecord(f *testing.F) {
	rec, _, _ := URIRecord("https://tickets.example.org/n?t=T-0042&e=00000000000000000000000000000000&c=0000000000000000")
	f.Add(rec)
	f.Add([]byte{0xD1, 0x01, 0x4D, 0x55, 0x04})
	f.Add([]byte{0xD1, 0x01, 0x05, 'T', 0x02, 'e', 'n', 'h', 'i'})
	f.Fuzz(func(t *testing.T, msg []byte) {
		uri, err := ParseURIRecord(msg)
		if err != nil {
			if !errors.Is(err, ErrNotURI) {
				t.Fatalf("error outside ErrNotURI: %v", err)
			}
			return
		}
		again, _, err := URIRecord(uri)
		if err != nil {
			t.Fatalf("%q does not write back: %v", uri, err)
		}
		if got, err := ParseURIRecord(again); err != nil || got != uri {
			t.Fatalf("%q → %q %v", uri, got, err)
		}
	})
}
