// Package ticketcli implements the "ticket" and "keys" subcommands of
// admitctl:
//
//	admitctl ticket issue  -keys DIR -event E -id ID [-key KID] [-type T] [-zones a,b] [-seat S]
//	                       [-from TIME] [-until TIME | -for DURATION] [-policy single|multi|reentry]
//	                       [-rotating] [-qr FILE.png]
//	admitctl ticket show   [-code] TEXT|-
//	admitctl ticket verify -keys DIR [-event E] [-at TIME] [-revoked id,...] [-secret HEX] TEXT|-
//	admitctl keys generate -keys DIR -event E -id KID
//	admitctl keys list     -keys DIR [-event E]
//	admitctl keys retire   -keys DIR -event E -id KID [-at TIME]
//	admitctl keys export   -keys DIR -out DIR
//	admitctl keys add-jwt  -keys DIR -event E -id KID [-issuer ISS] -pem FILE
//
// TIME is RFC 3339 or "now". The key directory format is documented in
// package admit/ticket/keystore. Run is the entry point; cmd/admitctl wires
// it.
package ticketcli

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"os"
	"strings"
	"time"

	"github.com/makiuchi-d/gozxing"
	"github.com/makiuchi-d/gozxing/qrcode"
	"github.com/makiuchi-d/gozxing/qrcode/decoder"
	"github.com/makiuchi-d/gozxing/qrcode/encoder"

	"admit/clock"
	"admit/ticket"
	"admit/ticket/keystore"
)

// ErrUsage is returned (wrapped) for a bad command line; usage has been
// printed to stderr.
var ErrUsage = errors.New("ticketcli: usage")

// Run runs "ticket ..." or "keys ..." (args[0] is the subcommand).
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return cli{now: clock.Real{}.Now, stdin: os.Stdin, stdout: stdout, stderr: stderr}.run(ctx, args)
}

type cli struct {
	now    func() time.Time
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (c cli) run(ctx context.Context, args []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(args) < 2 {
		return c.usage("", "want: ticket issue|show|verify, keys generate|list|retire|export|add-jwt")
	}
	cmd := args[0] + " " + args[1]
	rest := args[2:]
	switch cmd {
	case "ticket issue":
		return c.issue(rest)
	case "ticket show":
		return c.show(rest)
	case "ticket verify":
		return c.verify(rest)
	case "keys generate":
		return c.keysGenerate(rest)
	case "keys list":
		return c.keysList(rest)
	case "keys retire":
		return c.keysRetire(rest)
	case "keys export":
		return c.keysExport(rest)
	case "keys add-jwt":
		return c.keysAddJWT(rest)
	}
	return c.usage("", "unknown command "+cmd)
}

func (c cli) usage(cmd, msg string) error {
	if msg != "" {
		fmt.Fprintf(c.stderr, "admitctl %s: %s\n", cmd, msg)
	}
	return fmt.Errorf("%w: %s", ErrUsage, msg)
}

func (c cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("admitctl "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

func (c cli) parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	return nil
}

// parseTime accepts RFC 3339 or "now".
func (c cli) parseTime(name, s string) (time.Time, error) {
	if s == "" || s == "now" {
		return c.now().UTC().Truncate(time.Second), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: -%s: %v", ErrUsage, name, err)
	}
	return t.UTC(), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (c cli) textArg(fs *flag.FlagSet) (string, error) {
	if fs.NArg() != 1 {
		return "", c.usage(fs.Name(), "want exactly one ticket text (or - for stdin)")
	}
	s := fs.Arg(0)
	if s == "-" {
		b, err := io.ReadAll(io.LimitReader(c.stdin, 1<<16))
		if err != nil {
			return "", fmt.Errorf("ticketcli: read stdin: %w", err)
		}
		s = string(b)
	}
	return strings.TrimRight(s, "\r\n"), nil
}

func (c cli) issue(args []string) error {
	fs := c.flags("ticket issue")
	dir := fs.String("keys", "", "key directory")
	event := fs.String("event", "", "event id")
	keyID := fs.String("key", "", "key id (default: newest active key of the event)")
	id := fs.String("id", "", "ticket id")
	typ := fs.String("type", "", "ticket type, e.g. GA, VIP")
	zones := fs.String("zones", "", "comma-separated zones (empty = any)")
	seat := fs.String("seat", "", "seat")
	from := fs.String("from", "now", "valid from (RFC 3339 or now)")
	until := fs.String("until", "", "valid until (RFC 3339); or use -for")
	dur := fs.Duration("for", 24*time.Hour, "validity duration when -until is not given")
	policy := fs.String("policy", "single", "entry policy: single, multi, reentry")
	rotating := fs.Bool("rotating", false, "require a rotating code; prints the per-ticket secret for the allowlist")
	qrPath := fs.String("qr", "", "also write the QR code (EC level M) as PNG to this file")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *event == "" || *id == "" {
		return c.usage(fs.Name(), "-keys, -event and -id are required")
	}
	nb, err := c.parseTime("from", *from)
	if err != nil {
		return err
	}
	na := nb.Add(*dur)
	if *until != "" {
		if na, err = c.parseTime("until", *until); err != nil {
			return err
		}
	}
	pol, err := ticket.ParsePolicy(*policy)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUsage, err)
	}
	d := keystore.Dir{Path: *dir}
	var k ticket.SigningKey
	if *keyID != "" {
		k, err = d.SigningKey(*event, *keyID)
	} else {
		k, err = d.ActiveSigningKey(*event, c.now())
	}
	if err != nil {
		return err
	}
	text, err := ticket.Encode(ticket.Claims{
		ID: *id, Event: *event, Type: *typ, Zones: splitList(*zones), Seat: *seat,
		NotBefore: nb, NotAfter: na, Policy: pol, Rotating: *rotating,
	}, k)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, text)
	if *rotating {
		secret, err := ticket.GenerateCodeSecret()
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "code-secret %s\n", hex.EncodeToString(secret))
	}
	if *qrPath != "" {
		if err := writeQR(*qrPath, text); err != nil {
			return err
		}
	}
	return nil
}

// writeQR renders text as a QR code at EC level M, 4 pixels per module.
func writeQR(path, text string) error {
	hints := map[gozxing.EncodeHintType]any{gozxing.EncodeHintType_ERROR_CORRECTION: decoder.ErrorCorrectionLevel_M}
	m, err := qrcode.NewQRCodeWriter().Encode(text, gozxing.BarcodeFormat_QR_CODE, 0, 0, hints)
	if err != nil {
		return fmt.Errorf("ticketcli: qr: %w", err)
	}
	const scale = 4
	img := image.NewGray(image.Rect(0, 0, m.GetWidth()*scale, m.GetHeight()*scale))
	for y := 0; y < img.Bounds().Dy(); y++ {
		for x := 0; x < img.Bounds().Dx(); x++ {
			v := color.Gray{Y: 0xFF}
			if m.Get(x/scale, y/scale) {
				v = color.Gray{}
			}
			img.SetGray(x, y, v)
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("ticketcli: qr: %w", err)
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return fmt.Errorf("ticketcli: qr: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("ticketcli: qr: %w", err)
	}
	return nil
}

func (c cli) show(args []string) error {
	fs := c.flags("ticket show")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	text, err := c.textArg(fs)
	if err != nil {
		return err
	}
	f := ticket.Classify(text)
	fmt.Fprintf(c.stdout, "format     %s\n", f)
	switch f {
	case ticket.FormatLegacy:
		fmt.Fprintf(c.stdout, "note       %s\n", ticket.ReasonLegacyLookup.Sentence())
		return nil
	case ticket.FormatJWT:
		fmt.Fprintln(c.stdout, "note       JWT: use ticket verify with configured keys to see claims")
		return nil
	}
	cl, err := ticket.ParseUnverified(text)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.stdout, "UNVERIFIED (signature not checked)")
	printClaims(c.stdout, cl)
	if bin, err := ticket.DecodeBase45(text[strings.IndexByte(text, ':')+1+codeLen(f):]); err == nil {
		fmt.Fprintf(c.stdout, "size       %d bytes binary, %d characters text", len(bin), len(text))
		if qr, err := encoder.Encoder_encodeWithoutHint(text, decoder.ErrorCorrectionLevel_M); err == nil {
			fmt.Fprintf(c.stdout, ", QR version %d-M", qr.GetVersion().GetVersionNumber())
		}
		fmt.Fprintln(c.stdout)
	}
	return nil
}

func codeLen(f ticket.Format) int {
	if f == ticket.FormatAD1Rotating {
		return ticket.CodeDigits
	}
	return 0
}

func printClaims(w io.Writer, c ticket.Claims) {
	fmt.Fprintf(w, "id         %s\n", c.ID)
	fmt.Fprintf(w, "event      %s\n", c.Event)
	fmt.Fprintf(w, "type       %s\n", c.Type)
	zones := "any"
	if len(c.Zones) > 0 {
		zones = strings.Join(c.Zones, ",")
	}
	fmt.Fprintf(w, "zones      %s\n", zones)
	if c.Seat != "" {
		fmt.Fprintf(w, "seat       %s\n", c.Seat)
	}
	fmt.Fprintf(w, "valid      %s .. %s\n", c.NotBefore.Format(time.RFC3339), c.NotAfter.Format(time.RFC3339))
	fmt.Fprintf(w, "policy     %s\n", c.Policy)
	if c.Rotating {
		fmt.Fprintln(w, "rotating   yes (needs a live code)")
	}
	fmt.Fprintf(w, "key        %s\n", c.KeyID)
}

func (c cli) verify(args []string) error {
	fs := c.flags("ticket verify")
	dir := fs.String("keys", "", "key directory (public keys suffice)")
	event := fs.String("event", "", "gate's event (refuse others)")
	at := fs.String("at", "now", "verify as of this time (RFC 3339 or now)")
	revoked := fs.String("revoked", "", "comma-separated revoked ticket ids (of -event, or of the ticket's event)")
	secretHex := fs.String("secret", "", "per-ticket rotating-code secret, hex")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return c.usage(fs.Name(), "-keys is required")
	}
	text, err := c.textArg(fs)
	if err != nil {
		return err
	}
	now, err := c.parseTime("at", *at)
	if err != nil {
		return err
	}
	kr, err := keystore.Dir{Path: *dir}.Keyring()
	if err != nil {
		return err
	}
	revokedIDs := splitList(*revoked)
	opts := ticket.VerifyOptions{
		Now:   now,
		Event: *event,
		Revocations: ticket.RevocationsFunc(func(ev, id string) bool {
			if *event != "" && ev != *event {
				return false
			}
			for _, r := range revokedIDs {
				if r == id {
					return true
				}
			}
			return false
		}),
	}
	if *secretHex != "" {
		secret, err := hex.DecodeString(*secretHex)
		if err != nil {
			return fmt.Errorf("%w: -secret: %v", ErrUsage, err)
		}
		opts.Codes = ticket.CodeSecretsFunc(func(string, string) ([]byte, bool) { return secret, true })
	}
	res, err := ticket.Check(text, kr, opts)
	if err != nil {
		fmt.Fprintf(c.stdout, "REFUSED %s: %s\n", ticket.ReasonOf(err), ticket.SentenceOf(err))
		return err
	}
	fmt.Fprintf(c.stdout, "OK (%s, assurance %s)\n", res.Format, res.Assurance)
	printClaims(c.stdout, res.Claims)
	return nil
}

func (c cli) keysGenerate(args []string) error {
	fs := c.flags("keys generate")
	dir := fs.String("keys", "", "key directory")
	event := fs.String("event", "", "event id")
	id := fs.String("id", "", "key id")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *event == "" || *id == "" {
		return c.usage(fs.Name(), "-keys, -event and -id are required")
	}
	k, err := keystore.Dir{Path: *dir}.Generate(*event, *id, c.now())
	if err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "generated %s/%s\n", k.Event, k.ID)
	return nil
}

func (c cli) keysList(args []string) error {
	fs := c.flags("keys list")
	dir := fs.String("keys", "", "key directory")
	event := fs.String("event", "", "only this event")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return c.usage(fs.Name(), "-keys is required")
	}
	d := keystore.Dir{Path: *dir}
	entries, err := d.List()
	if err != nil {
		return err
	}
	now := c.now()
	fmt.Fprintf(c.stdout, "%-16s %-12s %-8s %-8s %-20s %s\n", "EVENT", "KEY", "TYPE", "STATE", "CREATED", "RETIRED_AT")
	for _, e := range entries {
		if *event != "" && e.Key.Event != *event {
			continue
		}
		typ := "public"
		if e.HasPrivate {
			typ = "private"
		}
		state, retired := "active", "-"
		if !e.Key.RetiredAt.IsZero() {
			retired = e.Key.RetiredAt.Format(time.RFC3339)
			state = "retiring"
			if e.Key.Retired(now) {
				state = "retired"
			}
		}
		fmt.Fprintf(c.stdout, "%-16s %-12s %-8s %-8s %-20s %s\n", e.Key.Event, e.Key.ID, typ, state, e.Created.Format(time.RFC3339), retired)
	}
	jwts, err := d.JWTKeys()
	if err != nil {
		return err
	}
	for _, k := range jwts {
		if *event != "" && k.Event != *event {
			continue
		}
		fmt.Fprintf(c.stdout, "%-16s %-12s %-8s %-8s %-20s iss=%q\n", k.Event, k.ID, "jwt", k.Alg(), "-", k.Issuer)
	}
	return nil
}

func (c cli) keysRetire(args []string) error {
	fs := c.flags("keys retire")
	dir := fs.String("keys", "", "key directory")
	event := fs.String("event", "", "event id")
	id := fs.String("id", "", "key id")
	at := fs.String("at", "now", "refuse its tickets from this time (RFC 3339 or now)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *event == "" || *id == "" {
		return c.usage(fs.Name(), "-keys, -event and -id are required")
	}
	t, err := c.parseTime("at", *at)
	if err != nil {
		return err
	}
	if err := (keystore.Dir{Path: *dir}).Retire(*event, *id, t); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "retired %s/%s at %s\n", *event, *id, t.Format(time.RFC3339))
	return nil
}

func (c cli) keysExport(args []string) error {
	fs := c.flags("keys export")
	dir := fs.String("keys", "", "key directory")
	out := fs.String("out", "", "destination directory for public-only copies")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *out == "" {
		return c.usage(fs.Name(), "-keys and -out are required")
	}
	if err := (keystore.Dir{Path: *dir}).Export(keystore.Dir{Path: *out}); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "exported public keys to %s\n", *out)
	return nil
}

func (c cli) keysAddJWT(args []string) error {
	fs := c.flags("keys add-jwt")
	dir := fs.String("keys", "", "key directory")
	event := fs.String("event", "", "event id")
	id := fs.String("id", "", "JWS kid")
	issuer := fs.String("issuer", "", "required iss (empty = any)")
	pemPath := fs.String("pem", "", "PKIX PEM public key file (Ed25519 or ECDSA P-256)")
	if err := c.parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *event == "" || *id == "" || *pemPath == "" {
		return c.usage(fs.Name(), "-keys, -event, -id and -pem are required")
	}
	p, err := os.ReadFile(*pemPath)
	if err != nil {
		return fmt.Errorf("ticketcli: %w", err)
	}
	if err := (keystore.Dir{Path: *dir}).AddJWTKey(*event, *id, *issuer, p); err != nil {
		return err
	}
	fmt.Fprintf(c.stdout, "added jwt key %s/%s\n", *event, *id)
	return nil
}
