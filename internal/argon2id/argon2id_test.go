package argon2id_test

import (
	"strings"
	"testing"

	"admit/internal/argon2id"
)

var fast = argon2id.Params{Time: 1, Memory: 64, Threads: 1, KeyLen: 32}

func TestHashAndCheck(t *testing.T) {
	phc, err := argon2id.Hash([]byte("1234"), fast)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("PHC string %q", phc)
	}
	if !argon2id.Check([]byte("1234"), phc) || argon2id.Check([]byte("1235"), phc) {
		t.Fatal("check")
	}
	again, _ := argon2id.Hash([]byte("1234"), fast)
	if again == phc {
		t.Fatal("two hashes of one secret are equal: no salt")
	}
	p, salt, tag, ok := argon2id.Parse(phc)
	if !ok || p != fast || len(salt) != argon2id.SaltLen || len(tag) != 32 {
		t.Fatalf("parse: %+v %d %d %v", p, len(salt), len(tag), ok)
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$" + strings.Repeat("A", 43),
		strings.Replace(phc, "t=1", "t=99", 1), strings.Replace(phc, "m=64", "m=4194305", 1)} {
		if argon2id.Check([]byte("1234"), bad) {
			t.Errorf("%q matched", bad)
		}
	}
}
