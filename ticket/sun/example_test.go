package sun_test

import (
	"errors"
	"fmt"

	"admit/ticket/sun"
)

// The issuer programs a tag with a template URL; the tag mirrors PICCData
// and the MAC into it on every read; the gate verifies what it read, then
// applies the counter rule to what it accepted before for that tag.
func Example() {
	url, layout, _ := sun.Template("https://tickets.example.org/n", "T-0042")
	fmt.Println(url)
	fmt.Println(layout.PICCData, layout.MAC)

	// A URL whose MAC was not made with the event's keys is refused.
	_, err := sun.Verify(sun.StaticKeys{}, "https://tickets.example.org/n?t=T-0042&e=EF963FF7828658A599F3041510671E88&c=94EED9EE65337086", nil)
	fmt.Println(errors.Is(err, sun.ErrForged))

	var c sun.Counter
	c, _ = c.Accept(61)
	_, err = c.Accept(61) // the same read again: a copy
	fmt.Println(errors.Is(err, sun.ErrReplay))
	// Output:
	// https://tickets.example.org/n?t=T-0042&e=00000000000000000000000000000000&c=0000000000000000
	// 41 76
	// true
	// true
}
