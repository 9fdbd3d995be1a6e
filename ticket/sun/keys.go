package sun

import (
	"crypto/subtle"
	"errors"
	"fmt"

	"admit/internal/aescmac"
)

// Key is an AES-128 key.
type Key [16]byte

// UID is the 7-byte UID of an NTAG 424 DNA.
type UID [7]byte

func (u UID) String() string { return fmt.Sprintf("%X", u[:]) }

// Key numbers of the tag's application keys in admit's scheme (NT4H2421Gx
// §8.2.1: five AES keys, 0 being the application master key).
const (
	KeyApp      = 0 // application master key: ChangeKey, ChangeFileSettings, writing the NDEF file
	KeyMetaRead = 1 // SDMMetaReadKey: encrypts PICCData; event-wide
	KeyFileRead = 2 // SDMFileReadKey: the SDMMAC; per tag
	NumKeys     = 5 // keys 3 and 4 are set per tag too, and grant nothing
)

// ErrDiversifyInput: AN10922's diversification input must be 1 to 31 bytes.
var ErrDiversifyInput = errors.New("sun: diversification input must be 1 to 31 bytes")

// Diversify is AN10922 §2.2's AES-128 key diversification: the CMAC of
// 0x01 ‖ m under master, where the input is always padded to 32 bytes
// (80 00 … and the K2 subkey) unless it is exactly 32 bytes long (K1) —
// which is where it differs from a plain CMAC of a short input.
func Diversify(master Key, m []byte) (Key, error) {
	if len(m) < 1 || len(m) > 31 {
		return Key{}, ErrDiversifyInput
	}
	mac, err := aescmac.New(master[:])
	if err != nil {
		return Key{}, err
	}
	var d [32]byte
	d[0] = 0x01
	copy(d[1:], m)
	if n := 1 + len(m); n < 32 {
		d[n] = 0x80
		// A plain CMAC of 32 bytes uses K1 on the last block; AN10922 wants
		// K2 when padding was added. XOR K1⊕K2 into the last block so that
		// the CMAC's own K1 leaves K2.
		k1, k2 := mac.Subkeys()
		subtle.XORBytes(d[16:], d[16:], k1[:])
		subtle.XORBytes(d[16:], d[16:], k2[:])
	}
	return Key(mac.Sum(d[:])), nil
}

// scheme is the system identifier in admit's diversification inputs
// (AN10922 §2.2.1 appends one; ours names the scheme and its version).
const scheme = "admit/ntag424/1"

// TagKey returns key number n (0–4) of the tag with uid under the event's
// master key: AN10922 with M = UID ‖ n ‖ "admit/ntag424/1". Key 1, the
// meta read key, is the exception: it is MetaReadKey for every tag.
func TagKey(master Key, uid UID, n int) (Key, error) {
	if n < 0 || n >= NumKeys {
		return Key{}, fmt.Errorf("sun: key number %d", n)
	}
	if n == KeyMetaRead {
		return MetaReadKey(master)
	}
	m := append(append(uid[:0:0], uid[:]...), byte(n))
	return Diversify(master, append(m, scheme...))
}

// MetaReadKey is the event-wide key that encrypts PICCData: AN10922 with
// M = 1 ‖ "admit/ntag424/1" (no UID: the gate needs it to learn the UID).
func MetaReadKey(master Key) (Key, error) {
	return Diversify(master, append([]byte{KeyMetaRead}, scheme...))
}

// TagKeys returns the five application keys of the tag with uid.
func TagKeys(master Key, uid UID) ([NumKeys]Key, error) {
	var ks [NumKeys]Key
	for n := range ks {
		k, err := TagKey(master, uid, n)
		if err != nil {
			return ks, err
		}
		ks[n] = k
	}
	return ks, nil
}

// Keys gives a verifier the two SDM keys: the meta read key that decrypts
// PICCData, and the file read key of a tag, by UID, that makes its MAC.
type Keys interface {
	MetaReadKey() Key
	FileReadKey(uid UID) Key
}

// MasterKeys derives both from an event's master key (admit's scheme).
type MasterKeys struct {
	meta   Key
	master Key
}

// NewMasterKeys returns the Keys of an event with master key master.
func NewMasterKeys(master Key) (*MasterKeys, error) {
	meta, err := MetaReadKey(master)
	if err != nil {
		return nil, err
	}
	return &MasterKeys{meta: meta, master: master}, nil
}

func (k *MasterKeys) MetaReadKey() Key { return k.meta }

func (k *MasterKeys) FileReadKey(uid UID) Key {
	key, _ := TagKey(k.master, uid, KeyFileRead) // cannot fail: fixed-size input
	return key
}

// StaticKeys are fixed keys for every tag (a tag set up by hand, or NXP's
// examples, which use the all-zero factory keys).
type StaticKeys struct {
	Meta, File Key
}

func (k StaticKeys) MetaReadKey() Key    { return k.Meta }
func (k StaticKeys) FileReadKey(UID) Key { return k.File }
