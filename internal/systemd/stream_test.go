package systemd

import (
	"os"
	"strconv"
	"syscall"
	"testing"
)

func streamOf(t *testing.T, f *os.File) string {
	t.Helper()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return strconv.FormatUint(uint64(sys.Dev), 10) + ":" + strconv.FormatUint(uint64(sys.Ino), 10)
}
