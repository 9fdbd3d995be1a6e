//go:build !linux

package kbdscan

import "errors"

// Open is only available on Linux, where evdev lives.
func Open(path string, opts *Opts) (*Scanner, error) {
	return nil, errors.New("kbdscan: evdev needs Linux")
}
