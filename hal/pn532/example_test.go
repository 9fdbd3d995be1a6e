package pn532_test

import (
	"context"
	"fmt"
	"log"

	"admit/hal/pn532"
	"admit/hal/pn532/pn532sim"
)

// On a board the bus comes from periph's host drivers:
//
//	if _, err := host.Init(); err != nil { ... }
//	bus, err := i2creg.Open("1")
//
// Here the emulator stands in for the chip.
func Example() {
	ctx := context.Background()
	chip := pn532sim.New()
	chip.Place(pn532sim.NewNTAG(pn532sim.NTAG213, []byte{0x04, 0xA1, 0xB2, 0xC3, 0xD4, 0xE5, 0xF6}, nil))

	dev, err := pn532.NewI2C(chip.I2C(), &pn532.DefaultOpts)
	if err != nil {
		log.Fatal(err)
	}
	fw, err := dev.Init(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(dev, fw)

	// A gate polls a bounded number of times, then gets ErrNoCard.
	if err := dev.SetMaxRetries(ctx, 0xFF, 0x01, 0x02); err != nil {
		log.Fatal(err)
	}
	tg, err := dev.InListPassiveTarget(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(tg)

	// READ (0x30) of page 3, the NDEF capability container.
	var page [16]byte
	if _, err := dev.InDataExchange(ctx, tg.Tg, []byte{0x30, 0x03}, page[:]); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("CC % X\n", page[:4])
	if err := dev.InRelease(ctx, tg.Tg); err != nil {
		log.Fatal(err)
	}
	// Output:
	// pn532(i2c pn532sim-i2c 0x24) PN532 v1.6
	// target 1 uid 04A1B2C3D4E5F6 atqa 0044 sak 00
	// CC E1 10 12 00
}
