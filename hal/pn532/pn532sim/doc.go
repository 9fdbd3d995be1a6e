// Package pn532sim emulates an NXP PN532 on periph's fake buses, byte for
// byte: an i2c.Bus that answers at 0x24 with the ready byte before every
// read, and an spi.Port (mode 0, LSB first, or MSB first with the bit order
// undone as a real chip would see it) with the 0x01/0x02/0x03 direction
// bytes. It speaks the chip's frame protocol (ACK after each command, NACK
// to ask for a repeat, the error frame for syntax errors; a frame must
// start with exactly one preamble byte and the start code, 00 00 FF, and
// end with its postamble, UM0701-02 §6.2.1) and runs GetFirmwareVersion,
// GetGeneralStatus, Diagnose, SAMConfiguration (its IRQ parameter drives
// the IRQ line or not), PowerDown (the first transfer after it wakes the
// chip and is lost), RFConfiguration (MaxRetries, timings, MaxRtyCOM),
// InListPassiveTarget and InAutoPoll (106 kbps type A), InDataExchange
// (with MI chaining both ways), InCommunicateThru, InDeselect, InSelect
// and InRelease.
//
// Time passes on the chip's clock (WithClock; a clock.Fake in tests), and
// the emulator never sleeps: a command that waits answers once its time is
// due or its card arrives. After reset MaxRetries is FF 01 FF, so
// InListPassiveTarget waits for a card until one is placed; with a bounded
// MaxRetries an empty field is answered after 1+n activation attempts. A
// card taken out of the field stays the chip's target until InRelease or
// the next activation, and exchanges with it time out (status 0x01) after
// the RF timeout, as on the real chip (UM0701-02 §7.3.8, §7.3.11).
//
// The field holds virtual cards: NTAG213/215/216 tags with NDEF content,
// NTAG 424 DNA tags (EV2 authentication and secure messaging, ChangeKey,
// ChangeFileSettings, Secure Dynamic Messaging on read; checked against
// NXP's AN12196 examples), ISO-DEP phones running admit's ticket
// application, and MIFARE Classic badges. Faults are injected one occurrence at a time (Inject) or by
// removing a card after a number of exchanges (RemoveAfter).
//
// The emulator keeps its own frame encoder and parser on purpose: it does
// not import the driver, so a bug in the driver's codec cannot hide itself.
package pn532sim
