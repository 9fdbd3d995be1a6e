// Package ui holds the browser side of admit: the operators' console,
// embedded into the fleet binary and served by fleet/api.
package ui

import (
	"embed"
	"io/fs"
)

//go:embed console
var files embed.FS

// Console is the operators' console: index.html and its assets.
func Console() fs.FS {
	sub, err := fs.Sub(files, "console")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	return sub
}
