package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"admit/fleet/wire"
)

// fill sets every exported field of the struct v points to, recursively,
// to a value that differs from its zero value, so a field the binary
// encoding forgets makes the round trip fail.
func fill(v reflect.Value, n *int) {
	*n++
	switch v.Kind() {
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), n)
	case reflect.Struct:
		if v.Type() == reflect.TypeFor[time.Time]() {
			v.Set(reflect.ValueOf(time.Date(2026, 11, 28, 19, 4, *n, 123456789+*n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), n)
			}
		}
	case reflect.String:
		v.SetString("s" + string(rune('a'+*n%26)) + "é")
	case reflect.Int64, reflect.Int:
		v.SetInt(int64(*n * 1000003))
	case reflect.Uint64:
		v.SetUint(uint64(*n) * 0x9e3779b97f4a7c15)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte{byte(*n), 0, 0xff})
			return
		}
		s := reflect.MakeSlice(v.Type(), 3, 3)
		for i := range 3 {
			fill(s.Index(i), n)
		}
		v.Set(s)
	default:
		panic("fill: unhandled kind " + v.Kind().String())
	}
}

// TestBatchFrameCarriesEveryField: a batch whose every field (every body of
// every change included) is set survives MarshalBatch and the binary
// parser unchanged.
func TestBatchFrameCarriesEveryField(t *testing.T) {
	var b wire.Batch
	n := 0
	fill(reflect.ValueOf(&b).Elem(), &n)
	got, err := wire.DecodeBatchFrame(wire.MarshalBatch(&b))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(&b)
	have, _ := json.Marshal(got)
	if !bytes.Equal(want, have) {
		t.Fatalf("round trip changed the batch:\nwant %s\nhave %s", want, have)
	}
}

// TestBinaryAndJSONBatchDecodeAlike: Decode gives the same message for a
// batch whether it came as JSON or as a binary frame, and refuses a
// tampered binary batch as it refuses a tampered JSON one.
func TestBinaryAndJSONBatchDecodeAlike(t *testing.T) {
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	b := sealed(wire.Batch{Event: "gala", From: 7, To: 10, Changes: []wire.Change{
		{Seq: 8, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T1", Type: "GA", CodeSecret: []byte("secret")}},
		{Seq: 9, Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T1", Device: "d", Gate: "A", At: at, Direction: wire.DirOut}},
		{Seq: 10, Kind: wire.KindAnnul, Annul: &wire.Annul{TicketID: "T1", Device: "d", Gate: "A", At: at, Reason: "no_passage"}},
	}})
	js, _ := json.Marshal(&wire.Message{Type: wire.TypeBatch, Batch: b})
	fromJSON, err := wire.Decode(js)
	if err != nil {
		t.Fatal(err)
	}
	frame := wire.MarshalBatch(b)
	fromBinary, err := wire.Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := json.Marshal(fromJSON)
	y, _ := json.Marshal(fromBinary)
	if !bytes.Equal(x, y) {
		t.Fatalf("JSON and binary decode differently:\n%s\n%s", x, y)
	}
	if len(frame) >= len(js)/2 {
		t.Errorf("binary frame %d bytes, JSON %d: expected well under half", len(frame), len(js))
	}
	tampered := bytes.Clone(frame)
	i := bytes.Index(tampered, []byte("T1"))
	tampered[i+1] = '2'
	if _, err := wire.Decode(tampered); !errors.Is(err, wire.ErrInvalid) {
		t.Fatalf("tampered binary batch: %v, want ErrInvalid", err)
	}
	for cut := 1; cut < len(frame); cut++ {
		if _, err := wire.Decode(frame[:cut]); !errors.Is(err, wire.ErrInvalid) {
			t.Fatalf("frame cut at %d of %d: %v, want ErrInvalid", cut, len(frame), err)
		}
	}
	if _, err := wire.Decode(append(bytes.Clone(frame), 0)); !errors.Is(err, wire.ErrInvalid) {
		t.Fatalf("trailing byte: %v, want ErrInvalid", err)
	}
	// A string JSON could not carry (not UTF-8), even under a valid checksum.
	bad := sealed(wire.Batch{Event: "gala", From: 0, To: 1, Changes: []wire.Change{
		{Seq: 1, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T\xff", Type: "GA"}}}})
	if _, err := wire.Decode(wire.MarshalBatch(bad)); !errors.Is(err, wire.ErrInvalid) {
		t.Fatalf("non-UTF-8 ticket id: %v, want ErrInvalid", err)
	}
}

// FuzzBatchFrame: the binary parser never panics, answers ErrInvalid for
// what it refuses, and what it accepts re-encodes to the same bytes.
func FuzzBatchFrame(f *testing.F) {
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	f.Add(wire.MarshalBatch(sealed(wire.Batch{Event: "gala", From: 0, To: 3, Changes: []wire.Change{
		{Seq: 1, Kind: wire.KindKey, Key: &wire.Key{ID: "k1", Public: make([]byte, 32)}},
		{Seq: 2, Kind: wire.KindRevoke, Revoke: &wire.Revoke{TicketID: "T1", Reason: "lost"}},
		{Seq: 3, Kind: wire.KindUsed, Used: &wire.Used{TicketID: "T2", Device: "d", Gate: "A", At: at}},
	}})))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || data[0] != 0x01 {
			data = append([]byte{0x01}, data...)
		}
		b, err := wire.DecodeBatchFrame(data)
		if err != nil {
			if !errors.Is(err, wire.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		again, err := wire.DecodeBatchFrame(wire.MarshalBatch(b))
		if err != nil {
			t.Fatalf("parsed batch does not survive re-encoding: %v", err)
		}
		x, _ := json.Marshal(b)
		y, _ := json.Marshal(again)
		if !bytes.Equal(x, y) {
			t.Fatalf("re-encoding changed the batch:\n%s\n%s", x, y)
		}
		if m, err := wire.Decode(data); err == nil && m.Batch == nil {
			t.Fatal("a binary frame decoded to something else than a batch")
		}
	})
}

// TestSnapshotFrameCarriesEveryField: as for batches, every field of a
// snapshot chunk and of its rows survives MarshalSnapshot and the parser.
func TestSnapshotFrameCarriesEveryField(t *testing.T) {
	var s wire.Snapshot
	n := 0
	fill(reflect.ValueOf(&s).Elem(), &n)
	got, err := wire.DecodeSnapshotFrame(wire.MarshalSnapshot(&s))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(&s)
	have, _ := json.Marshal(got)
	if !bytes.Equal(want, have) {
		t.Fatalf("round trip changed the snapshot:\nwant %s\nhave %s", want, have)
	}
}

func snapshotChunk() *wire.Snapshot {
	at := time.Date(2026, 11, 28, 19, 4, 0, 0, time.UTC)
	s := &wire.Snapshot{Event: "gala", Seq: 12, Running: 99, After: "", Last: "T3",
		Keys:    []wire.Key{{ID: "k1", Public: make([]byte, 32)}},
		Tickets: []wire.SnapTicket{{ID: "T1", Type: "GA"}, {ID: "T2", Type: "VIP", Holder: "Ada", Revoked: true}, {ID: "T3", Type: "GA", CodeSecret: []byte("s")}},
		Used:    []wire.Used{{TicketID: "T1", Device: "d", Gate: "A", At: at}, {TicketID: "T3", Device: "d", Gate: "A", At: at, Direction: wire.DirOut, Annulled: true}},
	}
	s.Seal()
	return s
}

// TestBinaryAndJSONSnapshotDecodeAlike: Decode gives the same chunk from
// JSON and from a binary frame, and refuses a tampered or cut binary one.
func TestBinaryAndJSONSnapshotDecodeAlike(t *testing.T) {
	s := snapshotChunk()
	js, _ := json.Marshal(&wire.Message{Type: wire.TypeSnapshot, Snapshot: s})
	fromJSON, err := wire.Decode(js)
	if err != nil {
		t.Fatal(err)
	}
	frame := wire.MarshalSnapshot(s)
	fromBinary, err := wire.Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	x, _ := json.Marshal(fromJSON)
	y, _ := json.Marshal(fromBinary)
	if !bytes.Equal(x, y) {
		t.Fatalf("JSON and binary decode differently:\n%s\n%s", x, y)
	}
	tampered := bytes.Clone(frame)
	i := bytes.Index(tampered, []byte("Ada"))
	tampered[i] = 'E'
	if _, err := wire.Decode(tampered); !errors.Is(err, wire.ErrInvalid) {
		t.Fatalf("tampered binary snapshot: %v, want ErrInvalid", err)
	}
	for cut := 1; cut < len(frame); cut++ {
		if _, err := wire.Decode(frame[:cut]); !errors.Is(err, wire.ErrInvalid) {
			t.Fatalf("frame cut at %d of %d: %v, want ErrInvalid", cut, len(frame), err)
		}
	}
}

// FuzzSnapshotFrame: the binary snapshot parser never panics, answers
// ErrInvalid for what it refuses, and what it accepts re-encodes alike.
func FuzzSnapshotFrame(f *testing.F) {
	f.Add(wire.MarshalSnapshot(snapshotChunk()))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) == 0 || data[0] != 0x02 {
			data = append([]byte{0x02}, data...)
		}
		s, err := wire.DecodeSnapshotFrame(data)
		if err != nil {
			if !errors.Is(err, wire.ErrInvalid) {
				t.Fatalf("error not ErrInvalid: %v", err)
			}
			return
		}
		again, err := wire.DecodeSnapshotFrame(wire.MarshalSnapshot(s))
		if err != nil {
			t.Fatalf("parsed snapshot does not survive re-encoding: %v", err)
		}
		x, _ := json.Marshal(s)
		y, _ := json.Marshal(again)
		if !bytes.Equal(x, y) {
			t.Fatalf("re-encoding changed the snapshot:\n%s\n%s", x, y)
		}
		if m, err := wire.Decode(data); err == nil && m.Snapshot == nil {
			t.Fatal("a binary snapshot frame decoded to something else")
		}
	})
}
