// Package pn532 drives an NXP PN532 NFC controller over periph's I²C or SPI.
//
// Datasheet: NXP PN532 User Manual UM0701-02 (frames §6.2, commands §7) and
// the PN532 short-form datasheet (I²C §8.3.2.4, SPI §8.3.5).
//
// Wiring:
//   - I²C: SDA/SCL to the host bus, address 0x24 (7-bit). Set the board's
//     mode switches to I²C (SEL0=0, SEL1=1). Every read starts with a status
//     byte: 0x01 when a frame is ready.
//   - SPI: mode 0, LSB first, at most 5 MHz (1–2 MHz is safer with jumper
//     wires). The first byte of every transfer says what follows: 0x01 data
//     write, 0x02 status read, 0x03 data read. Controllers that cannot shift
//     LSB first (the Raspberry Pi's) are driven MSB first with every byte
//     bit-reversed in software (Opts.SoftLSBFirst).
//   - IRQ (optional): active low when a frame is ready. The driver sleeps on
//     its falling edge; without it the driver polls the status byte every
//     Opts.PollInterval until Opts.Timeout.
//
// Waiting for a card: the chip's MxRtyPassiveActivation (RFConfiguration
// item 0x05, UM0701-02 §7.3.1) is 0xFF after reset, which makes
// InListPassiveTarget run until a card comes. The driver follows what it
// set (SetMaxRetries): with 0xFF it waits for the answer without
// Opts.Timeout, polling the status every Opts.WaitPollInterval (or on the
// IRQ edge), until ctx ends, and then aborts the command with an ACK
// frame. InAutoPoll with AutoPollForever does the same.
//
// Protocol: every command is an information frame D4 CC … from the host; the
// chip acknowledges it with an ACK frame, then answers with D5 CC+1 …. A
// frame whose checksum does not add up is answered with a NACK, which asks
// the sender to repeat its last frame; the driver does exactly that, up to
// Opts.Retries times. A syntax error in a command yields the error frame.
//
// Errata and habits of the chip the driver copes with:
//   - After power-up or power-down the chip may miss the first transaction
//     on I²C; Wake sends a dummy transfer and waits Opts.WakeDelay.
//   - The ready byte is repeated at the start of every I²C read; the frame
//     that follows is consumed by the read, so the driver reads a response
//     in one transfer sized from what the command can return.
//
// Waiting never sleeps: the driver asks its Clock (Opts.Clock) for timers, so
// tests drive time themselves.
package pn532
