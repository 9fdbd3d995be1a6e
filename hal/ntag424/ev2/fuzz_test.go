package ev2

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzResponse: any R-APDU, in any mode, is either accepted with the
// counter moved on by one, or refused without moving it; nothing panics.
// Accepted Full answers come from a MAC only the session can make, so the
// fuzzer mostly explores the refusals; the seeds include AN12196's
// accepted answers.
func FuzzResponse(f *testing.F) {
	f.Add(byte(3), []byte{0x70, 0x75, 0x60, 0x55, 0x68, 0x85, 0x05, 0xB5, 0x2A, 0x5E, 0x26, 0xE5, 0x9E, 0x32, 0x9C, 0xD6, 0x59, 0x5F, 0x67, 0x22, 0x98, 0xEA, 0x41, 0xB7, 0x91, 0x00})
	f.Add(byte(1), []byte{0x91, 0x00})
	f.Add(byte(0), []byte{0x91, 0xAE})
	f.Add(byte(3), []byte{0x90, 0x00})
	f.Fuzz(func(t *testing.T, mode byte, r []byte) {
		s := &Session{TI: [4]byte{0xDF, 0x05, 0x55, 0x22}, CmdCtr: 0}
		copy(s.Enc[:], []byte{0x2B, 0x4D, 0x96, 0x3C, 0x01, 0x4D, 0xC3, 0x6F, 0x24, 0xF6, 0x9A, 0x50, 0xA3, 0x94, 0xF8, 0x75})
		copy(s.Mac[:], []byte{0x37, 0x9D, 0x32, 0x13, 0x0C, 0xE6, 0x17, 0x05, 0xDD, 0x5F, 0xD8, 0xC3, 0x6B, 0x95, 0xD7, 0x64})
		m := []Mode{Plain, MAC, Full}[int(mode)%3]
		data, err := s.Response(CmdGetCardUID, m, r)
		switch {
		case err == nil:
			if s.CmdCtr != 1 {
				t.Fatalf("accepted, counter %d", s.CmdCtr)
			}
			if m == Plain && !bytes.Equal(data, r[:len(r)-2]) {
				t.Fatal("plain data altered")
			}
		case s.CmdCtr != 0:
			t.Fatalf("refused (%v) but counter moved", err)
		}
		var se *StatusError
		if err != nil && !errors.As(err, &se) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrResponseMAC) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}

// FuzzUnpad: Unpad inverts Pad and refuses anything else without panic.
func FuzzUnpad(f *testing.F) {
	f.Add([]byte{0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Unpad(Pad(b))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("round trip % X: % X %v", b, got, err)
		}
		_, _ = Unpad(b)
	})
}
