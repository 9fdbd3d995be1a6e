// Package pn532sim emulates an NXP PN532 on periph's fake buses, byte for
// byte: an i2c.Bus that answers at 0x24 with the ready byte before every
// read, and an spi.Port (mode 0, LSB first, or MSB first with the bit order
// undone as a real chip would see it) with the 0x01/0x02/0x03 direction
// bytes. It speaks the chip's frame protocol (ACK after each command, NACK
// to ask for a repeat, the error frame for syntax errors) and runs the
// commands admit uses: GetFirmwareVersion, SAMConfiguration,
// RFConfiguration, InListPassiveTarget (106 kbps type A), InDataExchange
// (with MI chaining both ways) and InRelease.
//
// The field holds virtual cards: NTAG213/215/216 tags with NDEF content,
// ISO-DEP phones running admit's ticket application, and MIFARE Classic
// badges. Faults are injected one occurrence at a time (Inject) or by
// removing a card after a number of exchanges (RemoveAfter).
//
// The emulator keeps its own frame encoder and parser on purpose: it does
// not import the driver, so a bug in the driver's codec cannot hide itself.
package pn532sim
