package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"admit/fleet"
	"admit/fleet/sqlite"
	"admit/fleet/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) fleet.Store {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "fleet.db"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
