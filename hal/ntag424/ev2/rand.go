package ev2

import "crypto/rand"

var cryptoRand = rand.Reader
