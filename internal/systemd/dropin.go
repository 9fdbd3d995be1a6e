package systemd

import (
	"fmt"
	"strings"
)

// DeviceRule is one DeviceAllow= entry: a device node's path or a device
// class ("char-gpiochip"), and the access ("rw", "r").
type DeviceRule struct {
	Device, Access string
}

// DeviceDropIn renders a unit drop-in ("…service.d/devices.conf") that
// lets the service reach rules' devices, with comment lines first. With
// DeviceAllow= set, systemd closes every other device node but the
// standard pseudo devices (DevicePolicy=auto).
func DeviceDropIn(comment []string, rules []DeviceRule) string {
	var b strings.Builder
	for _, c := range comment {
		fmt.Fprintf(&b, "# %s\n", c)
	}
	b.WriteString("[Service]\n")
	for _, r := range rules {
		fmt.Fprintf(&b, "DeviceAllow=%s %s\n", r.Device, r.Access)
	}
	return b.String()
}
