package clock_test

import (
	"fmt"
	"time"

	"admit/clock"
)

// A component takes a Clock; its test moves a Fake's time and sees the
// timers fire before Advance returns, without waiting.
func ExampleFake() {
	clk := clock.NewFake(time.Date(2031, 5, 17, 19, 0, 0, 0, time.UTC))
	release := clk.AfterFunc(800*time.Millisecond, func() { fmt.Println("relay open at", clk.Now().Format("15:04:05.000")) })
	clk.Advance(799 * time.Millisecond)
	fmt.Println("armed:", clk.Pending())
	clk.Advance(time.Millisecond)
	fmt.Println("stopped after firing:", release.Stop())
	// Output:
	// armed: 1
	// relay open at 19:00:00.800
	// stopped after firing: false
}
