package keystore_test

import (
	"fmt"
	"os"
	"time"

	"admit/ticket"
	"admit/ticket/keystore"
)

func ExampleDir() {
	path, err := os.MkdirTemp("", "keys")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(path)
	d := keystore.Dir{Path: path}
	now := time.Date(2025, 7, 4, 18, 0, 0, 0, time.UTC)
	if _, err := d.Generate("fest25", "k1", now); err != nil {
		panic(err)
	}
	// Fleet side: sign with the newest active key.
	k, err := d.ActiveSigningKey("fest25", now)
	if err != nil {
		panic(err)
	}
	text, _ := ticket.Encode(ticket.Claims{ID: "T1", NotBefore: now, NotAfter: now.Add(time.Hour)}, k)
	// Gate side: a keyring of the public halves.
	kr, _ := d.Keyring()
	c, err := ticket.Verify(text, kr, now)
	fmt.Println(c.Event, c.ID, c.KeyID, err)
	// Output: fest25 T1 k1 <nil>
}
