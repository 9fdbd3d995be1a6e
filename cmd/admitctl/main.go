// Command admitctl is the operator's tool: issue tickets into a folder of
// QR PNGs, list recent scans, create enrollment tokens, and work with ticket
// codes and keys offline. (The demo venue is its own command, admit-demo,
// so the operator's tool links neither the agent nor OpenCV.)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"admit/internal/version"
	"admit/ticket/ticketcli"
)

const usage = `usage: admitctl <command> [flags]

Commands that talk to the fleet take -fleet, -pin and -token; the token
(an API token an admin created) also comes from $ADMIT_TOKEN or from
~/.config/admit/admitctl.json ({"fleet": ..., "pin": ..., "token": ...},
mode 0600).

commands:
  issue    issue tickets for an event through the fleet, into a folder of QR PNGs
  scans    list the most recent scans the fleet recorded
  enroll-token  create a one-time enrollment token for a device; prints the QR text for admit-agent -enroll
  token    create, list and revoke API tokens (admins)
  user     add operators, list them, grant and ungrant roles, unlock, reset (admins)
  audit    the fleet's audit log, as a table or exported as CSV or JSON lines (admins)
  otp      the current TOTP code of a base32 secret (the demo's login)
  version  print the version of admitctl
  ticket   issue, show or verify ticket codes offline (admitctl ticket -h)
  keys     generate, list and retire event signing keys offline (admitctl keys -h)
  nfc      program and read NTAG 424 DNA tickets through a PN532 (admitctl nfc)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) && !errors.Is(err, ticketcli.ErrUsage) {
			fmt.Fprintln(os.Stderr, "admitctl:", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "version", "-version", "--version":
		version.Print(stdout, "admitctl")
		return nil
	case "issue":
		return issue(ctx, args[1:], stdout, stderr)
	case "scans":
		return scans(ctx, args[1:], stdout, stderr)
	case "enroll-token":
		return enrollToken(ctx, args[1:], stdout, stderr)
	case "token":
		return tokenCmd(ctx, args[1:], stdout, stderr)
	case "user":
		return userCmd(ctx, args[1:], stdout, stderr)
	case "audit":
		return auditCmd(ctx, args[1:], stdout, stderr)
	case "otp":
		return otpCmd(ctx, args[1:], stdout, stderr)
	case "ticket", "keys":
		return ticketcli.Run(ctx, args, stdout, stderr)
	case "nfc":
		return nfcCmd(ctx, args[1:], stdout, stderr, nil)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", args[0])
}
