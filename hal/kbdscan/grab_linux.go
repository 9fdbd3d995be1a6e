//go:build linux

package kbdscan

import (
	"fmt"
	"os"
	"syscall"
)

// eviocgrab is _IOW('E', 0x90, int).
const eviocgrab = 0x40044590

// Open opens an evdev device, grabs it so its keystrokes reach no one else,
// and returns a Scanner reading it. Close ungrabs and closes it.
func Open(path string, opts *Opts) (*Scanner, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("kbdscan: %w", err)
	}
	if err := grab(f, 1); err != nil {
		f.Close()
		return nil, fmt.Errorf("kbdscan: grab %s: %w", path, err)
	}
	s := newScanner(f, opts)
	s.close = func() error {
		_ = grab(f, 0)
		return f.Close()
	}
	return s, nil
}

func grab(f *os.File, on uintptr) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, eviocgrab, on)
	}); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}
