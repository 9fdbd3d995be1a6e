package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"admit/fleet/wire"
)

func contest(id int64) wire.Contest {
	at := time.Date(2026, 12, 1, 19, 4, 0, 0, time.UTC)
	return wire.Contest{ID: id, Event: "gala", TicketID: "T1", Kind: wire.ContestClaim, Noticed: at.Add(time.Second),
		First: wire.ContestSide{Device: "gate-a", Gate: "Gate A", At: at}, Second: wire.ContestSide{Device: "gate-b", Gate: "Gate B", At: at}}
}

// TestContestsValidate: contests go upstream well formed, their ids
// increasing, at most MaxContestsPerMessage a frame.
func TestContestsValidate(t *testing.T) {
	edit := func(f func(c *wire.Contest)) []wire.Contest {
		c := contest(1)
		f(&c)
		return []wire.Contest{c}
	}
	for _, tt := range []struct {
		name string
		cs   []wire.Contest
		ok   bool
	}{
		{"one", []wire.Contest{contest(1)}, true},
		{"an entry", edit(func(c *wire.Contest) { c.Kind = wire.ContestEntry; c.By = "gate-c" }), true},
		{"ids not increasing", []wire.Contest{contest(2), contest(2)}, false},
		{"no id", []wire.Contest{contest(0)}, false},
		{"unknown kind", edit(func(c *wire.Contest) { c.Kind = "fight" }), false},
		{"no ticket", edit(func(c *wire.Contest) { c.TicketID = "" }), false},
		{"a side without a device", edit(func(c *wire.Contest) { c.Second.Device = "" }), false},
		{"a side without a time", edit(func(c *wire.Contest) { c.First.At = time.Time{} }), false},
		{"long by", edit(func(c *wire.Contest) { c.By = strings.Repeat("x", wire.MaxIDLen+1) }), false},
		{"not noticed", edit(func(c *wire.Contest) { c.Noticed = time.Time{} }), false},
		{"too many", make([]wire.Contest, wire.MaxContestsPerMessage+1), false},
	} {
		data, err := json.Marshal(&wire.Message{Type: wire.TypeContests, Contests: &wire.Contests{Contests: tt.cs}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := wire.Decode(data)
		switch {
		case tt.ok && err != nil:
			t.Errorf("%s: %v", tt.name, err)
		case tt.ok && m.Contests.Contests[0] != tt.cs[0]:
			t.Errorf("%s: decoded %+v", tt.name, m.Contests.Contests[0])
		case !tt.ok && !errors.Is(err, wire.ErrInvalid):
			t.Errorf("%s: %v, want ErrInvalid", tt.name, err)
		}
	}
}

// TestContestAckSigned: an agent takes a contest acknowledgement signed
// for its session only, and a scan acknowledgement's signature does not
// pass for one.
func TestContestAckSigned(t *testing.T) {
	form := func(m *wire.Message) []byte {
		var buf bytes.Buffer
		if err := json.NewEncoder(&buf).Encode(m); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	ack := &wire.ContestAck{UpTo: 9}
	ack.Sign(replicaKey, sessionA)
	if m, err := trust(sessionA).Decode(form(&wire.Message{Type: wire.TypeContestAck, ContestAck: ack})); err != nil || m.ContestAck.UpTo != 9 {
		t.Fatalf("in its session: %+v %v", m, err)
	}
	scan := &wire.ScanAck{UpTo: 9}
	scan.Sign(replicaKey, sessionA)
	if _, err := trust(sessionB).Decode(form(&wire.Message{Type: wire.TypeContestAck, ContestAck: ack})); !errors.Is(err, wire.ErrUnsigned) {
		t.Errorf("replayed to another session: %v, want ErrUnsigned", err)
	}
	for name, a := range map[string]*wire.ContestAck{
		"unsigned":                  {UpTo: 9},
		"a scan ack's signature":    {UpTo: 9, Signature: scan.Signature},
		"a changed acknowledgement": {UpTo: 10, Signature: ack.Signature},
	} {
		if _, err := trust(sessionA).Decode(form(&wire.Message{Type: wire.TypeContestAck, ContestAck: a})); !errors.Is(err, wire.ErrUnsigned) {
			t.Errorf("%s: %v, want ErrUnsigned", name, err)
		}
	}
}
