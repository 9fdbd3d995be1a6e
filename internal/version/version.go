// Package version says which build of admit a binary is: the version the
// Makefile stamps at link time (`git describe`), else the VCS revision Go
// embeds in a build from a git checkout, else "dev". Every command prints
// it with -version; the agent reports it to the fleet as its firmware.
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Version is set at link time:
//
//	go build -ldflags "-X admit/internal/version.Version=v1.2.3" ./cmd/...
//
// Empty means "not stamped": String falls back to the build info.
var Version = ""

// String returns the build's version: the stamped Version, or
// "dev-<revision>[-dirty]" from the embedded VCS information, or "dev".
func String() string {
	if Version != "" {
		return Version
	}
	return fromBuildInfo(debug.ReadBuildInfo())
}

func fromBuildInfo(bi *debug.BuildInfo, ok bool) string {
	if !ok {
		return "dev"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return "dev"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if dirty {
		return "dev-" + rev + "-dirty"
	}
	return "dev-" + rev
}

// Print writes the line every command's -version prints: the program's
// name, its version, and the Go toolchain and platform it was built for.
func Print(w io.Writer, program string) {
	fmt.Fprintf(w, "%s %s (%s %s/%s)\n", program, String(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
