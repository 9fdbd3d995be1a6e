package agent_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"admit/fleet/replicate"
	"admit/fleet/wire"
)

// newDecideServer serves the fleet's online-decision handler the way a
// fleet node mounts it.
func newDecideServer(t testing.TB) *httptest.Server {
	mux := http.NewServeMux()
	mux.Handle(wire.DecidePath, replicate.DecideHandler(&replicate.MemClaimer{}, quiet))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}
