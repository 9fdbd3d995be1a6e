package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"periph.io/x/host/v3"

	"admit/hal/board"
	"admit/hal/hwcheck"
	"admit/hal/ntag424"
	"admit/hal/ntag424/ev2"
	"admit/hal/rig"
	"admit/ticket/sun"
)

const nfcUsage = `usage: admitctl nfc <command> [flags]

commands:
  program  program an NTAG 424 DNA as a ticket: per-tag keys from the event's
           master key, the SUN URL for the ticket, Secure Dynamic Messaging
  read     read a tag's SUN URL and verify it with the event's master key
  keygen   write a new event master key (16 random bytes, hex) to a file

The reader is the PN532 of a board file (-board, -reader) or given by bus
(-i2c 1 [-addr 0x24], or -spi SPI0.0 [-soft-lsb]).
`

// nfcCmd is "admitctl nfc …". env is where the reader's bus is: periph's
// host on a board (nil), the emulator in tests.
func nfcCmd(ctx context.Context, args []string, stdout, stderr io.Writer, env *hwcheck.Env) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, nfcUsage)
		return flag.ErrHelp
	}
	switch args[0] {
	case "program":
		return nfcProgram(ctx, args[1:], stdout, stderr, env)
	case "read":
		return nfcRead(ctx, args[1:], stdout, stderr, env)
	case "keygen":
		return nfcKeygen(args[1:], stdout, stderr)
	}
	fmt.Fprint(stderr, nfcUsage)
	return fmt.Errorf("nfc: unknown command %q", args[0])
}

// readerFlags are the flags that name the reader.
type readerFlags struct {
	board, reader string
	i2c, spi      string
	addr          uint
	softLSB       bool
	wait          time.Duration
}

func (r *readerFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&r.board, "board", "", "board file naming the reader")
	fs.StringVar(&r.reader, "reader", "", "NFC reader of the board file (default: its first PN532)")
	fs.StringVar(&r.i2c, "i2c", "", "I²C bus of the PN532 (instead of -board)")
	fs.UintVar(&r.addr, "addr", 0x24, "I²C address of the PN532")
	fs.StringVar(&r.spi, "spi", "", "SPI port of the PN532 (instead of -board)")
	fs.BoolVar(&r.softLSB, "soft-lsb", false, "SPI: reverse bits in software (Raspberry Pi)")
	fs.DurationVar(&r.wait, "wait", 30*time.Second, "how long to wait for a tag")
}

// entry returns the board file entry of the reader.
func (r *readerFlags) entry() (board.NFC, error) {
	switch {
	case r.board != "" && (r.i2c != "" || r.spi != ""):
		return board.NFC{}, errors.New("give -board or -i2c/-spi, not both")
	case r.board != "":
		f, err := board.Load(r.board)
		if err != nil {
			return board.NFC{}, err
		}
		for _, n := range f.NFC {
			if n.Chip == "pn532" && (r.reader == "" || n.Name == r.reader) {
				return n, nil
			}
		}
		return board.NFC{}, fmt.Errorf("board %s: no PN532 reader %q", r.board, r.reader)
	case r.i2c != "" && r.spi != "":
		return board.NFC{}, errors.New("give -i2c or -spi, not both")
	case r.i2c != "":
		return board.NFC{Name: "nfc", Chip: "pn532", Bus: "i2c", I2C: r.i2c, Addr: board.Addr(r.addr)}, nil
	case r.spi != "":
		return board.NFC{Name: "nfc", Chip: "pn532", Bus: "spi", SPI: r.spi, SoftLSBFirst: r.softLSB}, nil
	}
	return board.NFC{}, errors.New("no reader: give -board or -i2c or -spi")
}

// tag opens the reader, waits for a tag and returns it; done releases the
// reader.
func (r *readerFlags) tag(ctx context.Context, env *hwcheck.Env, stderr io.Writer) (*ntag424.Tag, func(), error) {
	n, err := r.entry()
	if err != nil {
		return nil, nil, err
	}
	if env == nil {
		if _, err := host.Init(); err != nil {
			return nil, nil, fmt.Errorf("periph host drivers: %w", err)
		}
		e := hwcheck.HostEnv()
		env = &e
	}
	dev, closeDev, err := rig.OpenPN532(ctx, n, *env)
	if err != nil {
		return nil, nil, err
	}
	done := func() { _ = closeDev() }
	// The chip waits for the tag (MaxRetries 0xFF), bounded by -wait.
	if err := dev.SetMaxRetries(ctx, 0xFF, 0x01, 0xFF); err != nil {
		done()
		return nil, nil, err
	}
	fmt.Fprintln(stderr, "admitctl: hold the tag to the reader")
	wctx, cancel := context.WithTimeout(ctx, r.wait)
	defer cancel()
	tg, err := dev.InListPassiveTarget(wctx)
	if err != nil {
		done()
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, nil, fmt.Errorf("no tag within %s", r.wait)
		}
		return nil, nil, err
	}
	if !tg.ISODEP() {
		done()
		return nil, nil, fmt.Errorf("%s: %w (no ISO-DEP)", tg, ntag424.ErrNotNTAG424)
	}
	t, err := ntag424.New(dev, tg.Tg, tg.UID)
	if err != nil {
		done()
		return nil, nil, err
	}
	return t, func() { _ = dev.InRelease(ctx, tg.Tg); done() }, nil
}

// readKey reads a 16-byte key written in hex (spaces and a newline
// allowed).
func readKey(path string) (sun.Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return sun.Key{}, err
	}
	s := strings.Join(strings.Fields(string(b)), "")
	k, err := hex.DecodeString(s)
	if err != nil || len(k) != 16 {
		return sun.Key{}, fmt.Errorf("key file %s: want 32 hex digits (16 bytes)", path)
	}
	return sun.Key(k), nil
}

func nfcProgram(ctx context.Context, args []string, stdout, stderr io.Writer, env *hwcheck.Env) error {
	fs := flag.NewFlagSet("admitctl nfc program", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf readerFlags
	rf.register(fs)
	keyFile := fs.String("key", "", "file with the event's master key, hex (required)")
	oldKeyFile := fs.String("old-key", "", "file with the master key the tag was programmed with before (default: a factory tag)")
	ticketID := fs.String("ticket", "", "ticket id written into the tag's URL (required)")
	base := fs.String("url", "", "base URL of the tag's SUN URL, https://… without query (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyFile == "" || *ticketID == "" || *base == "" {
		fs.Usage()
		return errors.New("nfc program: -key, -ticket and -url are required")
	}
	master, err := readKey(*keyFile)
	if err != nil {
		return fmt.Errorf("nfc program: %w", err)
	}
	url, layout, err := sun.Template(*base, *ticketID)
	if err != nil {
		return fmt.Errorf("nfc program: %w", err)
	}
	tag, done, err := rf.tag(ctx, env, stderr)
	if err != nil {
		return fmt.Errorf("nfc program: %w", err)
	}
	defer done()
	uid := sun.UID(tag.UID())
	keys, err := sun.TagKeys(master, uid)
	if err != nil {
		return fmt.Errorf("nfc program: %w", err)
	}
	p := ntag424.Programming{
		URL: url, Layout: ntag424.Layout(layout),
		MetaReadKey: sun.KeyMetaRead, FileReadKey: sun.KeyFileRead, KeyVersion: 1,
	}
	for i, k := range keys {
		p.Keys[i] = ev2.Key(k)
	}
	if *oldKeyFile != "" {
		old, err := readKey(*oldKeyFile)
		if err != nil {
			return fmt.Errorf("nfc program: %w", err)
		}
		oldKeys, err := sun.TagKeys(old, uid)
		if err != nil {
			return fmt.Errorf("nfc program: %w", err)
		}
		for i, k := range oldKeys {
			p.OldKeys[i] = ev2.Key(k)
		}
	}
	if err := tag.Program(ctx, p); err != nil {
		return fmt.Errorf("nfc program: tag %s: %w", uid, err)
	}
	fmt.Fprintf(stdout, "programmed tag %s for ticket %s\n%s\n", uid, *ticketID, url)
	return nil
}

func nfcRead(ctx context.Context, args []string, stdout, stderr io.Writer, env *hwcheck.Env) error {
	fs := flag.NewFlagSet("admitctl nfc read", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rf readerFlags
	rf.register(fs)
	keyFile := fs.String("key", "", "file with the event's master key, hex (required)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *keyFile == "" {
		fs.Usage()
		return errors.New("nfc read: -key is required")
	}
	master, err := readKey(*keyFile)
	if err != nil {
		return fmt.Errorf("nfc read: %w", err)
	}
	keys, err := sun.NewMasterKeys(master)
	if err != nil {
		return fmt.Errorf("nfc read: %w", err)
	}
	tag, done, err := rf.tag(ctx, env, stderr)
	if err != nil {
		return fmt.Errorf("nfc read: %w", err)
	}
	defer done()
	url, err := tag.ReadURI(ctx)
	if err != nil {
		return fmt.Errorf("nfc read: %w", err)
	}
	fmt.Fprintln(stdout, url)
	bound := sun.UID(tag.UID())
	tap, err := sun.Verify(keys, url, &bound)
	if err != nil {
		return fmt.Errorf("nfc read: %w", err)
	}
	fmt.Fprintf(stdout, "ticket %s tag %s read counter %d: authentic\n", tap.Ticket, tap.UID, tap.Counter)
	return nil
}

func nfcKeygen(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("admitctl nfc keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to create (required; never overwritten)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		fs.Usage()
		return errors.New("nfc keygen: -out is required")
	}
	k := make([]byte, 16)
	if _, err := rand.Read(k); err != nil {
		return fmt.Errorf("nfc keygen: %w", err)
	}
	f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("nfc keygen: %w", err)
	}
	if _, err := fmt.Fprintf(f, "%X\n", k); err != nil {
		f.Close()
		return fmt.Errorf("nfc keygen: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("nfc keygen: %w", err)
	}
	fmt.Fprintf(stdout, "wrote a new event master key to %s (keep it secret: it makes every tag's keys)\n", *out)
	return nil
}
