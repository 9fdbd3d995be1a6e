package ticket

import (
	"errors"
	"fmt"
)

// base45 as specified by RFC 9285: every two bytes become three characters of
// the QR alphanumeric alphabet, a final odd byte becomes two. Decoding is
// strict: characters outside the alphabet, a length of 1 modulo 3, or a
// group whose value exceeds its byte range are errors, so every byte string
// has exactly one encoding.

const base45Alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"

var base45Index = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := 0; i < len(base45Alphabet); i++ {
		t[base45Alphabet[i]] = int8(i)
	}
	return t
}()

// errBase45Length reports a base45 text whose length is 1 modulo 3: a
// character is missing (truncated).
var errBase45Length = errors.New("base45: length is 1 modulo 3")

// Base45EncodedLen returns the length of the base45 encoding of n bytes.
func Base45EncodedLen(n int) int { return n/2*3 + n%2*2 }

// AppendBase45 appends the base45 encoding of src to dst.
func AppendBase45(dst, src []byte) []byte {
	for i := 0; i+1 < len(src); i += 2 {
		n := int(src[i])<<8 | int(src[i+1])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45%45], base45Alphabet[n/2025])
	}
	if len(src)%2 == 1 {
		n := int(src[len(src)-1])
		dst = append(dst, base45Alphabet[n%45], base45Alphabet[n/45])
	}
	return dst
}

// EncodeBase45 returns the base45 encoding of src.
func EncodeBase45(src []byte) string {
	return string(AppendBase45(make([]byte, 0, Base45EncodedLen(len(src))), src))
}

// DecodeBase45 strictly decodes base45 text.
func DecodeBase45(s string) ([]byte, error) {
	if len(s)%3 == 1 {
		return nil, errBase45Length
	}
	out := make([]byte, 0, len(s)/3*2+len(s)%3/2)
	for i := 0; i < len(s); i += 3 {
		k := 3
		if len(s)-i == 2 {
			k = 2
		}
		n := 0
		mul := 1
		for j := 0; j < k; j++ {
			v := base45Index[s[i+j]]
			if v < 0 {
				return nil, fmt.Errorf("base45: invalid character %q at %d", s[i+j], i+j)
			}
			n += int(v) * mul
			mul *= 45
		}
		if k == 3 {
			if n > 0xFFFF {
				return nil, fmt.Errorf("base45: group at %d exceeds 65535", i)
			}
			out = append(out, byte(n>>8), byte(n))
		} else {
			if n > 0xFF {
				return nil, fmt.Errorf("base45: final group at %d exceeds 255", i)
			}
			out = append(out, byte(n))
		}
	}
	return out, nil
}
