package board

import (
	"fmt"
	"slices"
	"strings"
)

// Devices are the device nodes a gate on this board opens, as periph's
// host drivers open them on a Raspberry Pi running Linux: what a service
// manager must let the gate's process reach (systemd's DeviceAllow=).
type Devices struct {
	// Nodes are device nodes by path, each with the access it needs
	// ("rw", or "r" for input devices): /dev/i2c-1, /dev/spidev0.0,
	// /dev/gpiomem, a scanner's /dev/input/by-id/… path.
	Nodes []DeviceNode
	// GPIOChips is set when the board drives or reads GPIO pins: periph
	// reaches them through the GPIO character devices (/dev/gpiochipN,
	// whose number differs between models and kernels) as well as
	// /dev/gpiomem, so the whole class is needed.
	GPIOChips bool
}

// DeviceNode is one device node and the access the gate needs to it.
type DeviceNode struct {
	Path   string
	Access string // "rw" or "r"
}

// Devices returns the device nodes the board's devices are opened
// through, each once, in a stable order.
func (f *File) Devices() Devices {
	var d Devices
	seen := map[string]bool{}
	add := func(path, access string) {
		if !seen[path] {
			seen[path] = true
			d.Nodes = append(d.Nodes, DeviceNode{Path: path, Access: access})
		}
	}
	pins := false
	i2cBus := func(name string) { add("/dev/i2c-"+name, "rw") }
	for _, n := range f.NFC {
		switch n.Bus {
		case "i2c":
			i2cBus(n.I2C)
		case "spi":
			add(spidev(n.SPI), "rw")
		}
		pins = pins || n.IRQ != "" || n.Reset != ""
	}
	if f.Display != nil {
		i2cBus(f.Display.I2C)
	}
	pins = pins || f.Relay != nil || f.Indicator != nil || f.Buzzer != nil || f.Passage != nil || f.Button != nil
	for _, s := range f.Scanners {
		add(s.Device, "r")
	}
	if pins {
		add("/dev/gpiomem", "rw")
		d.GPIOChips = true
	}
	slices.SortStableFunc(d.Nodes, func(a, b DeviceNode) int { return strings.Compare(a.Path, b.Path) })
	return d
}

// spidev is the device node of a periph SPI port name: "SPI0.1" is
// /dev/spidev0.1.
func spidev(port string) string {
	p := strings.TrimPrefix(strings.ToUpper(port), "SPI")
	if bus, cs, ok := strings.Cut(p, "."); ok {
		return fmt.Sprintf("/dev/spidev%s.%s", bus, cs)
	}
	return "/dev/spidev" + p + ".0"
}
