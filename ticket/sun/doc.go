// Package sun verifies the Secure Unique NFC (SUN) messages of NXP NTAG 424
// DNA tickets offline: the URL a tag returns on every read carries its UID
// and read counter encrypted (PICCData) and an AES-CMAC that only the
// issuer's keys make (SDMMAC). A copy of the URL replays an old counter; a
// tag programmed by someone else cannot make the MAC.
//
// What it does, and where each step is specified:
//   - Key diversification (NXP AN10922 §2.2, AES-128, CMAC based): every
//     tag's keys derive from the event's master key and the tag's UID, so
//     the gate holds one key per event, not one per tag (Diversify,
//     TagKeys). The key that encrypts PICCData cannot depend on the UID (the
//     UID is inside it): it is event-wide (MetaReadKey).
//   - SDM session keys (NT4H2421Gx §9.3.9.1; AN12196 §3.3):
//     KSesSDMFileReadMAC = CMAC(SDMFileReadKey, 3CC3 0001 0080 ‖ UID ‖
//     SDMReadCtr), and the ENC twin with C33C.
//   - PICCData (AN12196 §3.4.2): AES-128 decryption with the meta read
//     key: PICCDataTag (0xC7: UID and counter mirrored, 7-byte UID) ‖ UID ‖
//     SDMReadCtr (3 bytes, LSB first) ‖ random padding.
//   - SDMMAC (AN12196 §3.4.4): CMAC with the session MAC key over the file
//     bytes from SDMMACInputOffset up to the MAC, truncated to its odd
//     bytes. In admit's URL the MAC input starts at the ticket id, so the
//     MAC binds the ticket id written on the tag as well.
//
// admit's URL (Layout, Template): base?t=<ticket id>&e=<PICCData, 32 hex>&c=<SDMMAC, 16 hex>.
//
// The rule "a tag's read counter strictly increases" is Counter: a value a
// gate can persist per tag and merge with its peers' (the highest wins).
//
// sun does no I/O and imports nothing of admit's but the AES-CMAC leaf.
package sun
