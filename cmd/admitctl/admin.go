package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"admit/fleet/access"
	"admit/fleet/api"
	"admit/fleet/audit"
	"admit/fleet/operator"
	"admit/internal/otp"
)

// subcommand runs the named action of a command group ("token create").
func subcommand(ctx context.Context, group string, args []string, stdout, stderr io.Writer, actions map[string]func(context.Context, []string, io.Writer, io.Writer) error, usage string) error {
	if len(args) == 0 || actions[args[0]] == nil {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return flag.ErrHelp
		}
		return fmt.Errorf("%s: unknown action %q", group, args[0])
	}
	return actions[args[0]](ctx, args[1:], stdout, stderr)
}

func grantFlags(fs *flag.FlagSet) (*string, *string) {
	role := fs.String("role", "", "role: admin, event_manager, gate_staff or viewer (required)")
	event := fs.String("event", access.AllEvents, "event id the role holds on ("+access.AllEvents+": all events)")
	return role, event
}

const tokenUsage = `usage: admitctl token <action> [flags]   (admins)

actions:
  create  -name NAME -role ROLE [-event EVENT] [-ttl 720h]   prints the token, shown once
  list    the tokens (never their secrets)
  revoke  -id tok_...
`

func tokenCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return subcommand(ctx, "token", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"create": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := flag.NewFlagSet("admitctl token create", flag.ContinueOnError)
			fs.SetOutput(stderr)
			client := fleetFlags(fs)
			name := fs.String("name", "", "what the token is for (required)")
			role, event := grantFlags(fs)
			ttl := fs.Duration("ttl", 0, "life of the token (0: until revoked)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			fc, err := client()
			if err != nil {
				return err
			}
			var t api.NewToken
			req := api.TokenRequest{Name: *name, Grant: access.Grant{Role: access.Role(*role), Event: *event}, TTLSeconds: int64(ttl.Seconds())}
			if err := fc.call(ctx, "POST", "/api/tokens", req, &t); err != nil {
				return fmt.Errorf("token create: %w", err)
			}
			fmt.Fprintf(stderr, "token %s (%s), shown this once:\n", t.ID, t.Grant)
			fmt.Fprintln(stdout, t.Secret)
			return nil
		},
		"list": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := flag.NewFlagSet("admitctl token list", flag.ContinueOnError)
			fs.SetOutput(stderr)
			client := fleetFlags(fs)
			if err := fs.Parse(args); err != nil {
				return err
			}
			fc, err := client()
			if err != nil {
				return err
			}
			var ts []operator.Token
			if err := fc.call(ctx, "GET", "/api/tokens", nil, &ts); err != nil {
				return fmt.Errorf("token list: %w", err)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tGRANT\tCREATED BY\tEXPIRES\tLAST USED\tSTATE")
			for _, t := range ts {
				state := "active"
				if !t.RevokedAt.IsZero() {
					state = "revoked"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Grant, t.CreatedBy, when(t.ExpiresAt), when(t.LastUsed), state)
			}
			return tw.Flush()
		},
		"revoke": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := flag.NewFlagSet("admitctl token revoke", flag.ContinueOnError)
			fs.SetOutput(stderr)
			client := fleetFlags(fs)
			id := fs.String("id", "", "token id (required)")
			if err := fs.Parse(args); err != nil {
				return err
			}
			fc, err := client()
			if err != nil {
				return err
			}
			if err := fc.call(ctx, "POST", "/api/tokens/"+url.PathEscape(*id)+"/revoke", nil, nil); err != nil {
				return fmt.Errorf("token revoke: %w", err)
			}
			fmt.Fprintf(stdout, "revoked %s\n", *id)
			return nil
		},
	}, tokenUsage)
}

func when(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.Local().Format(time.DateTime)
}

const userUsage = `usage: admitctl user <action> [flags]   (admins)

actions:
  add     -name NAME -role ROLE [-event EVENT]   prints the one-time setup link
  list    the operators, their grants and lock-outs
  grant   -name NAME -role ROLE [-event EVENT]   adds a grant
  ungrant -name NAME -role ROLE [-event EVENT]   removes a grant
  unlock  -name NAME                             lifts a sign-in lock-out
  reset   -name NAME                             clears password and TOTP, signs out everywhere, prints a new setup link
`

func userCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	named := func(action string, args []string, stderr io.Writer, withGrant bool) (*fleetClient, string, access.Grant, error) {
		fs := flag.NewFlagSet("admitctl user "+action, flag.ContinueOnError)
		fs.SetOutput(stderr)
		client := fleetFlags(fs)
		name := fs.String("name", "", "operator name (required)")
		var role, event *string
		if withGrant {
			role, event = grantFlags(fs)
		}
		if err := fs.Parse(args); err != nil {
			return nil, "", access.Grant{}, err
		}
		if *name == "" {
			return nil, "", access.Grant{}, fmt.Errorf("user %s: -name is required", action)
		}
		fc, err := client()
		var g access.Grant
		if withGrant {
			g = access.Grant{Role: access.Role(*role), Event: *event}
		}
		return fc, *name, g, err
	}
	find := func(ctx context.Context, fc *fleetClient, name string) (operator.Operator, error) {
		var ops []operator.Operator
		if err := fc.call(ctx, "GET", "/api/operators", nil, &ops); err != nil {
			return operator.Operator{}, err
		}
		for _, o := range ops {
			if o.Name == name {
				return o, nil
			}
		}
		return operator.Operator{}, fmt.Errorf("no operator %q", name)
	}
	setGrants := func(ctx context.Context, fc *fleetClient, name string, grants []access.Grant, stdout io.Writer) error {
		var o operator.Operator
		if err := fc.call(ctx, "PUT", "/api/operators/"+url.PathEscape(name)+"/grants", map[string]any{"grants": grants}, &o); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %s\n", o.Name, grantList(o.Grants))
		return nil
	}
	link := func(stdout, stderr io.Writer, l api.SetupLink) {
		fmt.Fprintf(stderr, "one-time setup link for %s (valid %s): open it to set a password and enrol TOTP\n", l.Operator.Name, operator.SetupTTL)
		fmt.Fprintln(stdout, l.URL)
	}
	return subcommand(ctx, "user", args, stdout, stderr, map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"add": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fc, name, g, err := named("add", args, stderr, true)
			if err != nil {
				return err
			}
			var l api.SetupLink
			if err := fc.call(ctx, "POST", "/api/operators", api.OperatorRequest{Name: name, Grants: []access.Grant{g}}, &l); err != nil {
				return fmt.Errorf("user add: %w", err)
			}
			link(stdout, stderr, l)
			return nil
		},
		"list": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fs := flag.NewFlagSet("admitctl user list", flag.ContinueOnError)
			fs.SetOutput(stderr)
			client := fleetFlags(fs)
			if err := fs.Parse(args); err != nil {
				return err
			}
			fc, err := client()
			if err != nil {
				return err
			}
			var ops []operator.Operator
			if err := fc.call(ctx, "GET", "/api/operators", nil, &ops); err != nil {
				return fmt.Errorf("user list: %w", err)
			}
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tGRANTS\tSET UP\tLOCKED UNTIL\tCREATED BY")
			for _, o := range ops {
				fmt.Fprintf(tw, "%s\t%s\t%v\t%s\t%s\n", o.Name, grantList(o.Grants), o.SetUp, when(o.LockedUntil), o.CreatedBy)
			}
			return tw.Flush()
		},
		"grant": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fc, name, g, err := named("grant", args, stderr, true)
			if err != nil {
				return err
			}
			o, err := find(ctx, fc, name)
			if err != nil {
				return fmt.Errorf("user grant: %w", err)
			}
			return setGrants(ctx, fc, name, append(o.Grants, g), stdout)
		},
		"ungrant": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fc, name, g, err := named("ungrant", args, stderr, true)
			if err != nil {
				return err
			}
			o, err := find(ctx, fc, name)
			if err != nil {
				return fmt.Errorf("user ungrant: %w", err)
			}
			var keep []access.Grant
			for _, x := range o.Grants {
				if x != g {
					keep = append(keep, x)
				}
			}
			if len(keep) == len(o.Grants) {
				return fmt.Errorf("user ungrant: %s has no grant %s", name, g)
			}
			return setGrants(ctx, fc, name, append([]access.Grant{}, keep...), stdout)
		},
		"unlock": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fc, name, _, err := named("unlock", args, stderr, false)
			if err != nil {
				return err
			}
			if err := fc.call(ctx, "POST", "/api/operators/"+url.PathEscape(name)+"/unlock", nil, nil); err != nil {
				return fmt.Errorf("user unlock: %w", err)
			}
			fmt.Fprintf(stdout, "unlocked %s\n", name)
			return nil
		},
		"reset": func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
			fc, name, _, err := named("reset", args, stderr, false)
			if err != nil {
				return err
			}
			var l api.SetupLink
			if err := fc.call(ctx, "POST", "/api/operators/"+url.PathEscape(name)+"/reset", nil, &l); err != nil {
				return fmt.Errorf("user reset: %w", err)
			}
			link(stdout, stderr, l)
			return nil
		},
	}, userUsage)
}

func grantList(gs []access.Grant) string {
	if len(gs) == 0 {
		return "(none)"
	}
	var s []string
	for _, g := range gs {
		s = append(s, g.String())
	}
	return strings.Join(s, ", ")
}

// auditCmd is "admitctl audit": the fleet's audit log, newest first, as a
// table or exported as CSV or JSON lines.
func auditCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admitctl audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	client := fleetFlags(fs)
	n := fs.Int("n", 50, fmt.Sprintf("how many entries (at most %d)", audit.MaxLimit))
	actor := fs.String("actor", "", "only this operator, token id or device")
	route := fs.String("route", "", "only this route pattern, e.g. /api/devices/{id}/rekey")
	target := fs.String("target", "", "only entries whose target contains this, e.g. event=gala")
	since := fs.Duration("since", 0, "only the last ... (e.g. 24h)")
	format := fs.String("format", "table", "table, csv or jsonl")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fc, err := client()
	if err != nil {
		return err
	}
	q := url.Values{"limit": {fmt.Sprint(*n)}}
	for k, v := range map[string]string{"actor": *actor, "route": *route, "target": *target} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *since > 0 {
		q.Set("since", time.Now().Add(-*since).UTC().Format(time.RFC3339))
	}
	switch *format {
	case "csv", "jsonl":
		q.Set("format", *format)
		resp, err := fc.do(ctx, "GET", "/api/audit?"+q.Encode(), "application/json", nil)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		defer resp.Body.Close()
		_, err = io.Copy(stdout, resp.Body)
		return err
	case "table":
	default:
		return fmt.Errorf("audit: -format %q: table, csv or jsonl", *format)
	}
	var es []audit.Entry
	if err := fc.call(ctx, "GET", "/api/audit?"+q.Encode(), nil, &es); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tWHO\tFROM\tCALL\tTARGET\tSTATUS\tSUMMARY")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s:%s\t%s\t%s %s\t%s\t%d\t%s\n", e.At.Local().Format(time.DateTime), e.ActorKind, e.Actor, e.Remote, e.Method, e.Route, e.Target, e.Status, e.Summary)
	}
	return tw.Flush()
}

// otpCmd is "admitctl otp SECRET": the current TOTP code of a base32
// secret (the demo's printed login; what oathtool --totp -b prints).
func otpCmd(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: admitctl otp BASE32-SECRET")
		return flag.ErrHelp
	}
	seed, err := operator.ParseSecret(args[0])
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, otp.HOTP(seed, uint64(otp.Step(time.Now(), operator.TOTPStep)), operator.TOTPDigits))
	return nil
}
