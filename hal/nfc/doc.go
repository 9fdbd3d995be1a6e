// Package nfc reads admit credentials from NFC cards through an initiator
// such as the PN532 driver, and offers them as a hal.CredentialReader.
//
// Three kinds of card are understood:
//   - NFC Forum Type 2 tags (NTAG213/215/216): the capability container on
//     page 3, then the TLV area from page 4, read 16 bytes (four pages) at a
//     time, or with FAST_READ in one go on NTAG215/216; the NDEF message TLV (1- or 3-byte length) holds a Text record
//     or a record of MIME type application/vnd.admit.ticket with the ticket.
//   - ISO-DEP phones (host card emulation): SELECT of admit's AID, then
//     GET TICKET (80 CA 00 00 00), following 61 XX with GET RESPONSE; any
//     status word other than 90 00 is an *APDUError.
//   - anything else (MIFARE Classic staff badges, NTAGs without a ticket):
//     the UID, reported as hal.AssuranceLow since UIDs clone.
//
// A card that stays in the field is read once; it must leave before it is
// read again. While the field is empty the controller waits for the next
// card itself (MaxRetries 0xFF), so a tap is read as soon as the card
// answers; while a card rests on the reader, it is checked every
// PollInterval.
package nfc
