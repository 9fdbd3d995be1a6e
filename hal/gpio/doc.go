// Package gpio drives a gate's simple outputs and inputs through periph's
// gpio pins: the turnstile relay and the indicator LEDs. On a board the pins
// come from periph's host drivers; in tests and the demo venue they are
// periph's gpiotest pins, so the same code runs everywhere.
package gpio
