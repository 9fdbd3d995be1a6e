package sun

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// FuzzParse: any string is either taken apart consistently or refused as
// malformed; it never panics.
func FuzzParse(f *testing.F) {
	f.Add("https://tickets.example.org/n?t=T-0042&e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086")
	f.Add("https://a.example/n?x=1&t=X1&e=00000000000000000000000000000000&c=0000000000000000")
	f.Add("https://ntag.nxp.com/424?e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086")
	f.Fuzz(func(t *testing.T, uri string) {
		m, err := Parse(uri)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error outside ErrMalformed: %v", err)
			}
			return
		}
		if !bytes.HasSuffix(m.MACInput, []byte("&"+ParamMAC+"=")) || !bytes.HasPrefix(m.MACInput, []byte(m.Ticket+"&"+ParamPICC+"=")) {
			t.Fatalf("MAC input %q for ticket %q", m.MACInput, m.Ticket)
		}
		if !strings.Contains(uri, string(m.MACInput)) {
			t.Fatal("MAC input not taken from the URL")
		}
	})
}

// FuzzVerify: a URL either verifies under the all-zero keys or is refused
// with one of the sentinel errors.
func FuzzVerify(f *testing.F) {
	f.Add("https://tickets.example.org/n?t=T-0042&e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086")
	f.Add("https://a.example/n?t=X1&e=00000000000000000000000000000000&c=0000000000000000")
	f.Fuzz(func(t *testing.T, uri string) {
		_, err := Verify(StaticKeys{}, uri, nil)
		if err != nil && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrForged) {
			t.Fatalf("unexpected error: %v", err)
		}
	})
}
