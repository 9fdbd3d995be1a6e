package wire_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"admit/fleet/wire"
)

// TestParseGateConfig: a good config parses with its nil-means-unchanged
// fields; a bad one is refused with ErrBadConfig naming the field,
// unknown fields included.
func TestParseGateConfig(t *testing.T) {
	c, err := wire.ParseGateConfig([]byte(`{"direction":"exit","zone":"","types":[],"online":true,"debounce":"1.5s",
		"passage_timeout":"20s","reader_sides":{"camera0":"in","nfc0":"out"},"formats":["qr","pdf417"],"peers":["ws://10.0.0.2:8182/peer"],
		"idle_text":"Welcome to the gala","buzzer":false,"events":["gala","gala-vip"]}`))
	if err == nil {
		t.Fatal("reader sides on an exit gate: accepted")
	}
	c, err = wire.ParseGateConfig([]byte(`{"direction":"both","zone":"","types":[],"online":true,"debounce":"1.5s",
		"passage_timeout":"20s","reader_sides":{"camera0":"in","nfc0":"out"},"formats":["qr","pdf417"],"peers":["ws://10.0.0.2:8182/peer"],
		"idle_text":"Welcome to the gala","buzzer":false,"events":["gala","gala-vip"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if *c.Direction != "both" || c.Zone == nil || *c.Zone != "" || c.Types == nil || len(*c.Types) != 0 || !c.Online.Enabled ||
		time.Duration(*c.Debounce) != 1500*time.Millisecond || time.Duration(*c.PassageTimeout) != 20*time.Second ||
		c.ReaderSides["nfc0"] != "out" || len(*c.Formats) != 2 || len(*c.Peers) != 1 || *c.IdleText == "" || *c.Buzzer || len(c.Events) != 2 {
		t.Fatalf("parsed %+v", c)
	}
	empty, err := wire.ParseGateConfig([]byte(`{}`))
	if err != nil || empty.Direction != nil || empty.Types != nil || empty.Online != nil || empty.Events != nil {
		t.Fatalf("empty config: %+v %v (every field nil: the gate's own settings)", empty, err)
	}
	if o, err := wire.ParseGateConfig([]byte(`{"online":{"enabled":true,"timeout":"250ms","max_failures":2}}`)); err != nil ||
		!o.Online.Enabled || time.Duration(o.Online.Timeout) != 250*time.Millisecond || o.Online.MaxFailures != 2 {
		t.Fatalf("online object: %+v %v", o.Online, err)
	}
	for body, field := range map[string]string{
		`{"totally":"bogus"}`:                         `"totally"`,
		`{"direction":"sideways"}`:                    `"direction"`,
		`{"direction":3}`:                             `"direction"`,
		`{"version":2}`:                               `"version"`,
		`{"debounce":"forever"}`:                      `"debounce"`,
		`{"debounce":"5m"}`:                           `"debounce"`,
		`{"passage_timeout":"10ms"}`:                  `"passage_timeout"`,
		`{"online":{"enabled":true,"bogus":1}}`:       `bogus`,
		`{"online":{"timeout":"1h"}}`:                 `"online.timeout"`,
		`{"formats":[]}`:                              `"formats"`,
		`{"formats":["QR code"]}`:                     `"formats"`,
		`{"peers":["http://x/peer"]}`:                 `"peers"`,
		`{"types":["GA","GA"]}`:                       `"types"`,
		`{"events":[]}`:                               `"events"`,
		`{"events":["#venue:gala"]}`:                  `"events"`,
		`{"reader_sides":{"nfc0":"up"}}`:              `"reader_sides"`,
		`{"zone":"` + strings.Repeat("z", 200) + `"}`: `"zone"`,
	} {
		_, err := wire.ParseGateConfig([]byte(body))
		if !errors.Is(err, wire.ErrBadConfig) || !strings.Contains(err.Error(), field) {
			t.Errorf("%s: %v, want ErrBadConfig naming %s", body, err, field)
		}
	}
	for _, body := range []string{``, `[]`, `null`, `{"a":1} {"b":2}`, `{` + strings.Repeat(" ", wire.MaxConfigBytes) + `}`} {
		if _, err := wire.ParseGateConfig([]byte(body)); !errors.Is(err, wire.ErrBadConfig) {
			t.Errorf("%.20q: %v, want ErrBadConfig", body, err)
		}
	}
}

// TestConfigAck: a failed version needs its reason and differs from the
// version still applied.
func TestConfigAck(t *testing.T) {
	for _, tc := range []struct {
		ack wire.ConfigAck
		ok  bool
	}{
		{wire.ConfigAck{Version: 3}, true},
		{wire.ConfigAck{Version: 2, Failed: 3, Error: "no camera"}, true},
		{wire.ConfigAck{Version: 2, Error: "protocol 4 style"}, true},
		{wire.ConfigAck{Version: 2, Failed: 3}, false},
		{wire.ConfigAck{Version: 3, Failed: 3, Error: "x"}, false},
		{wire.ConfigAck{Version: 2, Failed: -1, Error: "x"}, false},
	} {
		data, _ := json.Marshal(&wire.Message{Type: wire.TypeConfigAck, ConfigAck: &tc.ack})
		if _, err := wire.Decode(data); (err == nil) != tc.ok {
			t.Errorf("%+v: %v, want ok=%v", tc.ack, err, tc.ok)
		}
	}
}

// TestVenueKinds: each kind's row parses into its type, and a row out of
// bounds is refused where it is decoded.
func TestVenueKinds(t *testing.T) {
	es, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	point, _ := es.PublicKey.Bytes()
	off := false
	at := time.Date(2026, 11, 28, 18, 0, 0, 0, time.UTC)
	good := []wire.VenueRow{
		venueRow(t, wire.VenueKindZone, "floor", wire.VenueZone{Name: "Floor"}),
		venueRow(t, wire.VenueKindGate, "north", wire.VenueGate{Name: "North", Zones: []string{"floor"}}),
		venueRow(t, wire.VenueKindTicketType, "VIP", wire.VenueTicketType{Name: "VIP", Zones: []string{"vip"}, Policy: wire.PolicyReentry}),
		venueRow(t, wire.VenueKindSettings, wire.VenueSettingsID, wire.VenueSettings{AdmitOnSignature: &off}),
		venueRow(t, wire.VenueKindBadge, "season-7", wire.VenueBadge{UID: wire.BadgeLookup([]byte{4, 1, 2, 3}), Name: "Ada", NotBefore: at, NotAfter: at.Add(time.Hour)}),
		venueRow(t, wire.VenueKindJWTKey, "partner", wire.VenueJWTKey{Kid: "p1", Alg: wire.AlgES256, Public: point, Issuer: "tix"}),
		venueRow(t, wire.VenueKindJWTKey, "partner-ed", wire.VenueJWTKey{Alg: wire.AlgEdDSA, Public: make([]byte, 32)}),
	}
	if s, err := good[3].Settings(); err != nil || s.AdmitsOnSignature() {
		t.Fatalf("settings: %+v %v", s, err)
	}
	if (wire.VenueSettings{}).AdmitsOnSignature() != true {
		t.Fatal("admission on signature is on by default")
	}
	if b, err := good[4].Badge(); err != nil || b.Name != "Ada" || !b.NotAfter.Equal(at.Add(time.Hour)) {
		t.Fatalf("badge: %+v %v", b, err)
	}
	if k, err := good[5].JWTKey(); err != nil || !bytes.Equal(k.Public, point) {
		t.Fatalf("jwt key: %+v %v", k, err)
	}
	for _, bad := range []struct {
		kind, id string
		v        any
	}{
		{wire.VenueKindTicketType, "X", wire.VenueTicketType{Policy: "twice"}},
		{wire.VenueKindSettings, "other", wire.VenueSettings{}},
		{wire.VenueKindBadge, "b", wire.VenueBadge{UID: "04a1b2c3"}},
		{wire.VenueKindBadge, "b", wire.VenueBadge{UID: wire.BadgeLookup([]byte{1}), NotBefore: at, NotAfter: at.Add(-time.Hour)}},
		{wire.VenueKindJWTKey, "k", wire.VenueJWTKey{Alg: wire.AlgES256, Public: make([]byte, 65)}},
		{wire.VenueKindJWTKey, "k", wire.VenueJWTKey{Alg: "HS256", Public: make([]byte, 32)}},
		{wire.VenueKindZone, "z", map[string]string{"name": "Floor", "colour": "red"}},
	} {
		if _, err := wire.NewVenueRow(bad.kind, bad.id, bad.v); !errors.Is(err, wire.ErrInvalid) {
			t.Errorf("%s/%s %+v: %v, want ErrInvalid", bad.kind, bad.id, bad.v, err)
		}
	}
	// They travel in a venue batch like any row.
	cs := make([]wire.Change, len(good))
	for i := range good {
		cs[i] = wire.Change{Seq: int64(i + 1), Kind: wire.KindVenue, Venue: &good[i]}
	}
	b := sealed(wire.Batch{Event: wire.VenueScope("gala"), To: int64(len(cs)), Changes: cs})
	if _, err := wire.Decode(wire.MarshalBatch(b)); err != nil {
		t.Fatal(err)
	}
}

// TestAsOfSection: a batch's and a chunk's sync point travel in a
// trailing section of the binary frame, only when set: without one, the
// frame is the protocol-4 frame byte for byte; JSON and binary agree.
func TestAsOfSection(t *testing.T) {
	at := time.Date(2026, 11, 28, 19, 4, 5, 6_000_000, time.UTC)
	b := sealed(wire.Batch{Event: "gala", From: 0, To: 1, Changes: []wire.Change{
		{Seq: 1, Kind: wire.KindTicket, Ticket: &wire.Ticket{ID: "T1", Type: "GA"}}}})
	plain := wire.MarshalBatch(b)
	b.AsOf = at
	withAsOf := wire.MarshalBatch(b)
	if !bytes.HasPrefix(withAsOf, plain) || len(withAsOf) == len(plain) {
		t.Fatal("the sync point is not a trailing section of the batch frame")
	}
	m, err := wire.Decode(withAsOf)
	if err != nil || !m.Batch.AsOf.Equal(at) {
		t.Fatalf("batch as of: %+v %v", m, err)
	}
	js, _ := json.Marshal(&wire.Message{Type: wire.TypeBatch, Batch: b})
	if m, err := wire.Decode(js); err != nil || !m.Batch.AsOf.Equal(at) {
		t.Fatalf("JSON batch as of: %v", err)
	}
	if m, err := trust(sessionA).Decode(wire.SignBatchFrame(replicaKey, withAsOf)); err != nil || !m.Batch.AsOf.Equal(at) {
		t.Fatalf("signed batch as of: %v", err)
	}
	// A changed sync point under the genuine signature is refused.
	signed := wire.SignBatchFrame(replicaKey, withAsOf)
	b.AsOf = at.Add(time.Hour)
	forged := append(bytes.Clone(signed[:1+64]), wire.MarshalBatch(b)...)
	if _, err := trust(sessionA).Decode(forged); !errors.Is(err, wire.ErrUnsigned) {
		t.Fatalf("forged sync point: %v, want ErrUnsigned", err)
	}
	for cut := len(plain) + 1; cut < len(withAsOf); cut++ {
		if _, err := wire.Decode(withAsOf[:cut]); !errors.Is(err, wire.ErrInvalid) {
			t.Fatalf("as-of section cut at %d: %v", cut, err)
		}
	}

	s := snapshotChunk()
	plainChunk := wire.MarshalSnapshot(s)
	s.AsOf = at
	chunk := wire.MarshalSnapshot(s)
	if !bytes.HasPrefix(chunk, plainChunk) {
		t.Fatal("the sync point is not a trailing section of the chunk")
	}
	if m, err := wire.Decode(chunk); err != nil || !m.Snapshot.AsOf.Equal(at) {
		t.Fatalf("chunk as of: %v", err)
	}
	vs := venueSnapshot(t)
	vs.AsOf = at
	if m, err := wire.Decode(wire.MarshalSnapshot(vs)); err != nil || !m.Snapshot.AsOf.Equal(at) || len(m.Snapshot.Venue) != 3 {
		t.Fatalf("venue chunk with a sync point: %v", err)
	}
}
