package sun

import (
	"crypto/aes"

	"admit/internal/aescmac"
)

// PICCDataTag 0xC7: UID mirrored (bit 7), read counter mirrored (bit 6),
// UID length 7 (bits 3–0) (NT4H2421Gx §9.3.4; AN12196 §3.4.2.1).
const piccDataTag = 0xC7

// MaxCounter is the largest SDMReadCtr: the counter is 24 bits.
const MaxCounter = 1<<24 - 1

// sessionVector is SV1 (label C33C, the ENC key) or SV2 (3CC3, the MAC
// key) of NT4H2421Gx §9.3.9.1: label ‖ 0001 0080 ‖ UID ‖ SDMReadCtr (LSB
// first), exactly one block for a 7-byte UID and a mirrored counter.
func sessionVector(label [2]byte, uid UID, ctr uint32) [16]byte {
	var sv [16]byte
	sv[0], sv[1] = label[0], label[1]
	sv[2], sv[3], sv[4], sv[5] = 0x00, 0x01, 0x00, 0x80
	copy(sv[6:13], uid[:])
	sv[13], sv[14], sv[15] = byte(ctr), byte(ctr>>8), byte(ctr>>16)
	return sv
}

// sessionKeys returns KSesSDMFileReadENC and KSesSDMFileReadMAC of a read
// (AN12196 §3.3 Table 1).
func sessionKeys(fileKey Key, uid UID, ctr uint32) (enc, mac Key) {
	m, err := aescmac.New(fileKey[:])
	if err != nil {
		panic(err) // a Key is 16 bytes
	}
	sv1 := sessionVector([2]byte{0xC3, 0x3C}, uid, ctr)
	sv2 := sessionVector([2]byte{0x3C, 0xC3}, uid, ctr)
	return Key(m.Sum(sv1[:])), Key(m.Sum(sv2[:]))
}

// sdmMAC is the SDMMAC of a read: the truncated CMAC, under the session
// MAC key, of the file bytes the MAC covers (AN12196 §3.4.4.2).
func sdmMAC(fileKey Key, uid UID, ctr uint32, input []byte) [8]byte {
	_, ks := sessionKeys(fileKey, uid, ctr)
	m, _ := aescmac.New(ks[:])
	return m.SumTruncated(input)
}

// piccData is decrypted PICCData.
type piccData struct {
	tag byte
	uid UID
	ctr uint32
}

// decryptPICCData decrypts the 16-byte PICCENCData with the meta read key:
// AES-128 CBC with a zero IV over one block, i.e. one block decryption
// (AN12196 §3.4.2.1 Table 2).
func decryptPICCData(metaKey Key, enc [16]byte) piccData {
	b, err := aes.NewCipher(metaKey[:])
	if err != nil {
		panic(err)
	}
	var p [16]byte
	b.Decrypt(p[:], enc[:])
	var d piccData
	d.tag = p[0]
	copy(d.uid[:], p[1:8])
	d.ctr = uint32(p[8]) | uint32(p[9])<<8 | uint32(p[10])<<16
	return d
}
