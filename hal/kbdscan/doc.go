// Package kbdscan reads USB barcode scanners in keyboard mode (HID wedge),
// the scanners most venues already own, straight from the Linux input
// device (/dev/input/eventN or a stable /dev/input/by-id/…-event-kbd link).
//
// The scanner "types" each symbol and usually ends it with Enter. Reading
// the evdev key codes, not the characters a console would produce, makes the
// result independent of the host's keyboard layout: the codes are mapped
// with the US layout that scanners emit by default. The device is grabbed
// (EVIOCGRAB) so the keystrokes do not also reach a console or a login
// prompt. A symbol ends at the terminator key or, for scanners configured
// without one, after Opts.Timeout without a key.
//
// NewSim returns a Scanner fed by a simulated twin that types codes as the
// same binary input_event stream.
package kbdscan
