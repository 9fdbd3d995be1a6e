package wire_test

import (
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"admit/fleet/wire"
)

// TestEveryFieldHandled walks every struct type declared in this package
// (parsed from its source, so a new struct is caught too) and fails when a
// field is not declared handled by the validator and encoder.
func TestEveryFieldHandled(t *testing.T) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	handled := wire.HandledFields()
	seen := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok || !ts.Name.IsExported() {
				return true
			}
			seen++
			list, ok := handled[ts.Name.Name]
			if !ok {
				t.Errorf("%s: struct %s is not declared in handledFields", name, ts.Name.Name)
				return true
			}
			var fields []string
			for _, fl := range st.Fields.List {
				for _, id := range fl.Names {
					fields = append(fields, id.Name)
					if !slices.Contains(list, id.Name) {
						t.Errorf("%s: field %s.%s is not handled by the validator/encoder (add it to handledFields once it is)", name, ts.Name.Name, id.Name)
					}
				}
			}
			for _, h := range list {
				if !slices.Contains(fields, h) {
					t.Errorf("handledFields lists %s.%s, which does not exist", ts.Name.Name, h)
				}
			}
			return true
		})
	}
	if seen < 20 {
		t.Fatalf("found only %d structs; is the test reading the package?", seen)
	}
}

func sealed(b wire.Batch) *wire.Batch {
	b.Seal()
	return &b
}

func TestValidate(t *testing.T) {
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	goodBatch := sealed(wire.Batch{Event: "gala", From: 0, To: 2, Changes: []wire.Change{
		{Seq: 1, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T1", Type: "GA"}},
		{Seq: 2, Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T1", Device: "d", Gate: "A", At: at}},
	}})
	tampered := *goodBatch
	tampered.Changes = slices.Clone(goodBatch.Changes)
	tampered.Changes[0].Ticket = &wire.Ticket{ID: "T1", Type: "VIP"}
	snap := &wire.Snapshot{Event: "gala", Seq: 5, After: "", Last: "B", Tickets: []wire.SnapTicket{{ID: "A"}, {ID: "B", Revoked: true}}}
	snap.Seal()
	badOrder := &wire.Snapshot{Event: "gala", Seq: 5, Last: "B", Tickets: []wire.SnapTicket{{ID: "B"}, {ID: "A"}}}
	badOrder.Seal()
	long := strings.Repeat("x", wire.MaxIDLen+1)
	nonce := make([]byte, 32)
	tests := []struct {
		name string
		m    wire.Message
		ok   bool
	}{
		{"batch", wire.Message{Type: wire.TypeBatch, Batch: goodBatch}, true},
		{"tampered batch", wire.Message{Type: wire.TypeBatch, Batch: &tampered}, false},
		{"snapshot", wire.Message{Type: wire.TypeSnapshot, Snapshot: snap}, true},
		{"snapshot out of order", wire.Message{Type: wire.TypeSnapshot, Snapshot: badOrder}, false},
		{"two bodies", wire.Message{Type: wire.TypeAck, Ack: &wire.Ack{Event: "e"}, ScanAck: &wire.ScanAck{}}, false},
		{"type mismatch", wire.Message{Type: wire.TypeHello, Ack: &wire.Ack{Event: "e"}}, false},
		{"unknown type", wire.Message{Type: "nope", Ack: &wire.Ack{Event: "e"}}, false},
		{"old protocol", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: 1, Device: "d"}}, false},
		{"hello", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: wire.ProtocolVersion, Device: "d", Nonce: nonce, Cursors: map[string]wire.Cursor{"gala": {Seq: 3}}}}, true},
		{"hello of protocol 5 without a nonce", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: 5, Device: "d"}}, false},
		{"hello with a short nonce", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: 5, Device: "d", Nonce: nonce[:16]}}, false},
		{"hello of protocol 4", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: 4, Device: "d", Cursors: map[string]wire.Cursor{"gala": {Seq: 3}}}}, true},
		{"hello with a venue scope", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: 5, Device: "d", Nonce: nonce, Cursors: map[string]wire.Cursor{"gala": {Seq: 3}, wire.VenueScope("gala"): {Seq: 2}}}}, true},
		{"hello of protocol 4 with a venue scope", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: 4, Device: "d", Cursors: map[string]wire.Cursor{wire.VenueScope("gala"): {Seq: 2}}}}, false},
		{"hello with a venue scope of no event", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: 5, Device: "d", Nonce: nonce, Cursors: map[string]wire.Cursor{wire.VenuePrefix: {Seq: 2}}}}, false},
		{"hello of protocol 4 with a nonce", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: 4, Device: "d", Nonce: nonce}}, false},
		{"hello of a future protocol", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: wire.ProtocolVersion + 1, Device: "d", Nonce: nonce}}, false},
		{"long device", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: wire.ProtocolVersion, Device: long, Nonce: nonce}}, false},
		{"short signature", wire.Message{Type: wire.TypeHello, Hello: &wire.Hello{Protocol: wire.ProtocolVersion, Device: "d", Nonce: nonce, Signature: []byte{1}}}, false},
		{"challenge with a replica key", wire.Message{Type: wire.TypeChallenge, Challenge: &wire.Challenge{Nonce: nonce, ReplicaKey: nonce}}, true},
		{"challenge with a short replica key", wire.Message{Type: wire.TypeChallenge, Challenge: &wire.Challenge{Nonce: nonce, ReplicaKey: nonce[:8]}}, false},
		{"revoked with a short signature", wire.Message{Type: wire.TypeRevoked, Revoked: &wire.Revoked{Signature: nonce}}, false},
		{"scan ack with a short signature", wire.Message{Type: wire.TypeScanAck, ScanAck: &wire.ScanAck{UpTo: 3, Signature: nonce}}, false},
		{"config with a short signature", wire.Message{Type: wire.TypeConfig, Config: &wire.Config{Version: 1, Body: json.RawMessage(`{"a":1}`), Signature: nonce}}, false},
		{"scans not increasing", wire.Message{Type: wire.TypeScans, Scans: &wire.Scans{Scans: []wire.Scan{
			{Seq: 2, Event: "e", Outcome: wire.Refused}, {Seq: 2, Event: "e", Outcome: wire.Refused}}}}, false},
		{"too many scans", wire.Message{Type: wire.TypeScans, Scans: &wire.Scans{Scans: make([]wire.Scan, wire.MaxScansPerMessage+1)}}, false},
		{"config not json", wire.Message{Type: wire.TypeConfig, Config: &wire.Config{Version: 1, Body: json.RawMessage(`[1]`)}}, false},
		{"config", wire.Message{Type: wire.TypeConfig, Config: &wire.Config{Version: 1, Body: json.RawMessage(`{"a":1}`)}}, true},
		{"challenge", wire.Message{Type: wire.TypeChallenge, Challenge: &wire.Challenge{Nonce: make([]byte, 32)}}, true},
		{"short nonce", wire.Message{Type: wire.TypeChallenge, Challenge: &wire.Challenge{Nonce: make([]byte, 8)}}, false},
		{"exit scan", wire.Message{Type: wire.TypeScans, Scans: &wire.Scans{Scans: []wire.Scan{
			{Seq: 1, Event: "e", TicketID: "T", Outcome: wire.Admitted, Direction: wire.DirOut}}}}, true},
		{"scan direction", wire.Message{Type: wire.TypeScans, Scans: &wire.Scans{Scans: []wire.Scan{
			{Seq: 1, Event: "e", TicketID: "T", Outcome: wire.Admitted, Direction: "sideways"}}}}, false},
		{"annul", wire.Message{Type: wire.TypeBatch, Batch: sealed(wire.Batch{Event: "gala", From: 0, To: 1, Changes: []wire.Change{
			{Seq: 1, Kind: wire.KindAnnul, Annul: &wire.Annul{TicketID: "T1", Device: "d", Gate: "A", At: at, Reason: "no_passage"}}}})}, true},
		{"annulled used change", wire.Message{Type: wire.TypeBatch, Batch: sealed(wire.Batch{Event: "gala", From: 0, To: 1, Changes: []wire.Change{
			{Seq: 1, Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T1", Device: "d", Gate: "A", At: at, Annulled: true}}}})}, false},
		{"admitted annulment", wire.Message{Type: wire.TypeScans, Scans: &wire.Scans{Scans: []wire.Scan{
			{Seq: 1, Event: "e", TicketID: "T", Outcome: wire.Admitted, Annuls: at}}}}, false},
		{"used direction", wire.Message{Type: wire.TypeBatch, Batch: sealed(wire.Batch{Event: "gala", From: 0, To: 1, Changes: []wire.Change{
			{Seq: 1, Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T1", Device: "d", Gate: "A", At: at, Direction: "up"}}}})}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := json.Marshal(&tt.m)
			if err != nil {
				t.Fatal(err)
			}
			_, err = wire.Decode(data)
			if tt.ok && err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !tt.ok && !errors.Is(err, wire.ErrInvalid) {
				t.Fatalf("Decode: %v, want ErrInvalid", err)
			}
		})
	}
}

// TestUnknownTypeRefused: a frame of a type this package does not define
// is refused whatever body it carries, including the "ext" slot of
// protocol 2, which no message used and which is gone.
func TestUnknownTypeRefused(t *testing.T) {
	for _, frame := range []string{
		`{"type":"nope"}`,
		`{"type":"nope","ext":{}}`,
		`{"type":"nope","ack":{"event":"e","cursor":1}}`,
		`{"type":"","ack":{"event":"e","cursor":1}}`,
	} {
		if _, err := wire.Decode([]byte(frame)); !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("Decode(%s): %v, want ErrInvalid", frame, err)
		}
	}
}

func TestRunningChecksumIsTheLogCRC(t *testing.T) {
	cs := []wire.Change{
		{Seq: 1, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "A", Type: "GA"}},
		{Seq: 2, Kind: wire.KindRevoke, Revoke: &wire.Revoke{TicketID: "A"}},
	}
	whole := wire.RunningChecksum(0, cs)
	split := wire.RunningChecksum(wire.RunningChecksum(0, cs[:1]), cs[1:])
	if whole != split || whole == 0 {
		t.Fatalf("running checksum not incremental: %x vs %x", whole, split)
	}
	swapped := wire.RunningChecksum(0, []wire.Change{cs[1], cs[0]})
	if swapped == whole {
		t.Fatal("running checksum ignores order")
	}
}

// TestDirectionIsChecksummed: an exit and an entry of the same ticket at
// the same time are different changes to the replica; an entry encodes as
// before protocol 3, so older logs keep their checksums.
func TestDirectionIsChecksummed(t *testing.T) {
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	used := func(dir string) []wire.Change {
		return []wire.Change{{Seq: 1, Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T", Device: "d", Gate: "A", At: at, Direction: dir}}}
	}
	if wire.RunningChecksum(0, used("")) != wire.RunningChecksum(0, used(wire.DirIn)) {
		t.Fatal(`"" and "in" checksum differently`)
	}
	if wire.RunningChecksum(0, used(wire.DirIn)) == wire.RunningChecksum(0, used(wire.DirOut)) {
		t.Fatal("the direction of a used mark is not checksummed")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte(`{"type":"ack","ack":{"event":"e","cursor":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := wire.Decode(data)
		if err != nil {
			if !errors.Is(err, wire.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		again, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := wire.Decode(again); err != nil {
			t.Fatalf("valid message does not survive re-encoding: %v", err)
		}
	})
}
