package ticketcli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"admit/ticket/ticketcli"
)

func ExampleRun() {
	dir, err := os.MkdirTemp("", "admitctl-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	keys := filepath.Join(dir, "keys")
	err = ticketcli.Run(context.Background(), []string{"keys", "generate", "-keys", keys, "-event", "fest25", "-id", "k1"}, os.Stdout, os.Stderr)
	fmt.Println(err)
	// Output:
	// generated fest25/k1
	// <nil>
}
