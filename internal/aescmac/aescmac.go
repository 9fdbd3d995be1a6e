// Package aescmac is AES-CMAC (NIST SP 800-38B, RFC 4493) for 128-bit keys,
// the MAC of NXP's secure messaging and Secure Dynamic Messaging. The
// standard library has no CMAC; the NTAG 424 DNA verifier (ticket/sun), the
// reader-side driver (hal/ntag424) and the tag emulator (hal/pn532/pn532sim)
// all need one, so it lives here, a leaf that imports nothing of ours.
package aescmac

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"errors"
)

// Size is the length of a full CMAC.
const Size = 16

// ErrKeySize: the key is not 16 bytes.
var ErrKeySize = errors.New("aescmac: key must be 16 bytes")

// MAC is a CMAC key schedule: the block cipher and the two subkeys.
type MAC struct {
	block  cipher.Block
	k1, k2 [16]byte
}

// New prepares key (16 bytes) for CMAC computations.
func New(key []byte) (*MAC, error) {
	if len(key) != 16 {
		return nil, ErrKeySize
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	m := &MAC{block: b}
	var l [16]byte
	b.Encrypt(l[:], l[:])
	m.k1 = double(l)
	m.k2 = double(m.k1)
	return m, nil
}

// double is the multiplication by x in GF(2^128) of SP 800-38B §6.1.
func double(in [16]byte) [16]byte {
	var out [16]byte
	carry := in[0] >> 7
	for i := 0; i < 15; i++ {
		out[i] = in[i]<<1 | in[i+1]>>7
	}
	out[15] = in[15] << 1
	out[15] ^= 0x87 * carry
	return out
}

// Subkeys returns K1 and K2 (SP 800-38B §6.1), for constructions that
// build their own last block, such as AN10922's key diversification.
func (m *MAC) Subkeys() (k1, k2 [16]byte) { return m.k1, m.k2 }

// Block is the AES block cipher of the key, for callers that also encrypt.
func (m *MAC) Block() cipher.Block { return m.block }

// Sum returns the 16-byte CMAC of msg.
func (m *MAC) Sum(msg []byte) [16]byte {
	var x [16]byte
	n := len(msg)
	blocks := (n + 15) / 16
	complete := n > 0 && n%16 == 0
	if blocks == 0 {
		blocks = 1
	}
	for i := 0; i < blocks-1; i++ {
		subtle.XORBytes(x[:], x[:], msg[i*16:(i+1)*16])
		m.block.Encrypt(x[:], x[:])
	}
	var last [16]byte
	tail := msg[(blocks-1)*16:]
	copy(last[:], tail)
	if complete {
		subtle.XORBytes(last[:], last[:], m.k1[:])
	} else {
		last[len(tail)] = 0x80
		subtle.XORBytes(last[:], last[:], m.k2[:])
	}
	subtle.XORBytes(x[:], x[:], last[:])
	m.block.Encrypt(x[:], x[:])
	return x
}

// Sum is New(key).Sum(msg), for one-off computations.
func Sum(key, msg []byte) ([16]byte, error) {
	m, err := New(key)
	if err != nil {
		return [16]byte{}, err
	}
	return m.Sum(msg), nil
}

// Truncate returns the 8 bytes of a CMAC that NXP's EV2 secure messaging
// and SDM transmit: the bytes at odd indexes (1, 3, …, 15), in order
// (NT4H2421Gx §9.1.3, "MACt").
func Truncate(full [16]byte) [8]byte {
	var t [8]byte
	for i := range t {
		t[i] = full[2*i+1]
	}
	return t
}

// SumTruncated is Truncate(m.Sum(msg)).
func (m *MAC) SumTruncated(msg []byte) [8]byte { return Truncate(m.Sum(msg)) }
