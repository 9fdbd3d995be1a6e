package postgres_test

import (
	"context"
	"testing"

	"admit/fleet"
	"admit/fleet/postgres"
	"admit/fleet/postgres/pgtest"
	"admit/fleet/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) fleet.Store {
		s, err := postgres.Open(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
