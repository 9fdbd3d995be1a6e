package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"admit/fleet/access"
	"admit/fleet/api/apitest"
	"admit/fleet/node"
	"admit/fleet/operator"
)

// TestFleetCommandsWithAToken: every admitctl command that talks to the
// fleet works with an API token from -token, $ADMIT_TOKEN or the config
// file, and fails without one.
func TestFleetCommandsWithAToken(t *testing.T) {
	ctx := context.Background()
	n, err := node.Open(ctx, node.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Operators: operator.Service{Argon2: apitest.FastArgon2}})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close(ctx)
	admin := apitest.NewToken(t, n.URL(), nil, n.Operators, access.Grant{Role: access.Admin, Event: access.AllEvents})
	t.Setenv("ADMITCTL_CONFIG", filepath.Join(t.TempDir(), "none.json"))
	t.Setenv("ADMIT_TOKEN", "")

	ctl := func(args ...string) (string, error) {
		t.Helper()
		var out, errb bytes.Buffer
		err := run(ctx, args, &out, &errb)
		if err != nil {
			return out.String() + errb.String(), err
		}
		return out.String(), nil
	}
	pin := hex.EncodeToString(n.CAFingerprint) // the node's own CA (TLS is the default)
	fleet := []string{"-fleet", n.URL(), "-pin", pin, "-token", admin.Token}
	mustRun := func(args ...string) string {
		t.Helper()
		cmd := append(append(strings.Fields(args[0]), args[1:]...), fleet...)
		out, err := ctl(cmd...)
		if err != nil {
			t.Fatalf("admitctl %v: %v\n%s", args, err, out)
		}
		return out
	}
	dir := t.TempDir()
	out := mustRun("issue", "-event", "gala", "-create", "-n", "2", "-out", dir)
	if strings.Count(out, "AD1:") != 2 {
		t.Fatalf("issue: %s", out)
	}
	mustRun("scans")
	if out := mustRun("enroll-token", "-device", "gate-1", "-events", "gala"); !strings.HasPrefix(out, "admit-enroll:") && !strings.Contains(out, "token") {
		t.Fatalf("enroll-token: %s", out)
	}
	secret := strings.TrimSpace(mustRun("token create", "-name", "ci", "-role", "viewer", "-event", "gala"))
	if !strings.HasPrefix(secret, "admit_") {
		t.Fatalf("token create: %q", secret)
	}
	if out := mustRun("token list"); !strings.Contains(out, "viewer@gala") {
		t.Fatalf("token list: %s", out)
	}
	if out := mustRun("user add", "-name", "ada", "-role", "event_manager", "-event", "gala"); !strings.Contains(out, "/setup.html#token=") {
		t.Fatalf("user add: %s", out)
	}
	if out := mustRun("user grant", "-name", "ada", "-role", "viewer", "-event", "cup"); !strings.Contains(out, "event_manager@gala, viewer@cup") {
		t.Fatalf("user grant: %s", out)
	}
	mustRun("user ungrant", "-name", "ada", "-role", "viewer", "-event", "cup")
	mustRun("user unlock", "-name", "ada")
	if out := mustRun("user list"); !strings.Contains(out, "ada") || !strings.Contains(out, "event_manager@gala") {
		t.Fatalf("user list: %s", out)
	}
	if out := mustRun("audit", "-format", "csv", "-n", "100"); !strings.Contains(out, "/api/tokens") || !strings.Contains(out, "token,tok_") {
		t.Fatalf("audit: %s", out)
	}

	// The viewer token: reads, but may not issue.
	if _, err := ctl("scans", "-fleet", n.URL(), "-pin", pin, "-token", secret); err != nil {
		t.Fatalf("viewer scans: %v", err)
	}
	if out, err := ctl("issue", "-event", "gala", "-n", "1", "-out", dir, "-fleet", n.URL(), "-pin", pin, "-token", secret); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("viewer issued: %v %s", err, out)
	}
	// No token: refused before asking.
	if _, err := ctl("scans", "-fleet", n.URL(), "-pin", pin); err == nil || !strings.Contains(err.Error(), "no API token") {
		t.Fatalf("without a token: %v", err)
	}
	// $ADMIT_TOKEN, then the config file (0600 only).
	t.Setenv("ADMIT_TOKEN", admin.Token)
	if _, err := ctl("scans", "-fleet", n.URL(), "-pin", pin); err != nil {
		t.Fatalf("ADMIT_TOKEN: %v", err)
	}
	t.Setenv("ADMIT_TOKEN", "")
	cfg := filepath.Join(t.TempDir(), "admitctl.json")
	os.WriteFile(cfg, []byte(`{"fleet":"`+n.URL()+`","pin":"`+pin+`","token":"`+admin.Token+`"}`), 0o644)
	t.Setenv("ADMITCTL_CONFIG", cfg)
	if _, err := ctl("scans"); err == nil || !strings.Contains(err.Error(), "0600") {
		t.Fatalf("a world-readable config: %v", err)
	}
	os.Chmod(cfg, 0o600)
	if _, err := ctl("scans"); err != nil {
		t.Fatalf("config file: %v", err)
	}
	if out, err := ctl("otp", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"); err != nil || len(strings.TrimSpace(out)) != 6 {
		t.Fatalf("otp: %q %v", out, err)
	}
}
