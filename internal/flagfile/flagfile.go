// Package flagfile sets a command's flags from a JSON file whose keys are
// the flag names: {"event": "gala", "board": "/etc/admit/board.json",
// "debounce": "3s", "online": true, "peers": ["ws://gate-2:8182/peer"]}.
// Every flag a command defines can be set this way without code changes;
// the command line overrides the file, key by key. A key that names no
// flag is refused, naming the key, so a misspelt setting is never
// silently ignored.
//
// Values are applied with flag.Value.Set: a string as it is, a number
// or a boolean as its JSON text, a list as its elements joined with
// commas (the form every list flag of admit takes).
package flagfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Options says how to treat a file.
type Options struct {
	// Secrets are the keys whose values are secrets (an enrollment code,
	// a database password): a file that sets one must not be readable by
	// others than its owner and group.
	Secrets []string
	// Refuse are keys a file may not set (the flag that names the file).
	Refuse []string
}

// Use applies the file named by the flag called name of fs (after
// fs.Parse). A file named on the command line must exist; the flag's
// default is read only when it exists, and an empty value reads none.
// It returns the path it read, "" when none.
func Use(set *flag.FlagSet, name string, opts Options) (string, error) {
	f := set.Lookup(name)
	if f == nil {
		return "", fmt.Errorf("flagfile: no flag -%s", name)
	}
	path := f.Value.String()
	if path == "" {
		return "", nil
	}
	explicit := false
	set.Visit(func(v *flag.Flag) { explicit = explicit || v.Name == name })
	if !explicit {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
	}
	opts.Refuse = append(opts.Refuse, name)
	return path, Apply(set, path, opts)
}

// Apply reads the JSON object in path and sets each flag it names that
// was not set on the command line (fs.Parse ran before). It checks the
// file's permissions first: never writable by group or others (whoever
// can write it chooses the fleet a gate trusts), and not readable by
// others when it sets one of opts.Secrets.
func Apply(set *flag.FlagSet, path string, opts Options) error {
	st, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if perm := st.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("config %s: mode %04o lets group or others change it: chmod go-w %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	kvs, err := parse(data)
	if err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	given := map[string]bool{}
	set.Visit(func(f *flag.Flag) { given[f.Name] = true })
	for _, kv := range kvs {
		switch {
		case slices.Contains(opts.Refuse, kv.key):
			return fmt.Errorf("config %s: key %q cannot be set in a config file", path, kv.key)
		case set.Lookup(kv.key) == nil:
			return fmt.Errorf("config %s: unknown key %q: no flag -%s (keys are the flag names, see -help)", path, kv.key, kv.key)
		case slices.Contains(opts.Secrets, kv.key) && st.Mode().Perm()&0o004 != 0:
			return fmt.Errorf("config %s: sets %q, a secret, but others can read it: chmod o-r %s", path, kv.key, path)
		}
	}
	for _, kv := range kvs {
		if given[kv.key] {
			continue // the command line wins
		}
		if err := set.Set(kv.key, kv.value); err != nil {
			return fmt.Errorf("config %s: key %q: %w", path, kv.key, err)
		}
	}
	return nil
}

type keyValue struct{ key, value string }

// parse reads a JSON object of flag values, in file order, refusing
// duplicate keys.
func parse(data []byte) ([]keyValue, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("want a JSON object of flag names and values")
	}
	var out []keyValue
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := tok.(string) // object keys are strings
		if seen[key] {
			return nil, fmt.Errorf("key %q given twice", key)
		}
		seen[key] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		v, err := value(raw)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", key, err)
		}
		out = append(out, keyValue{key, v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("text after the JSON object")
	}
	return out, nil
}

// value is the flag text of one JSON value.
func value(raw json.RawMessage) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "", err
	}
	if list, ok := v.([]any); ok {
		parts := make([]string, len(list))
		for i, e := range list {
			s, ok := scalar(e)
			if !ok {
				return "", errors.New("a list holds strings, numbers or booleans")
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	}
	if s, ok := scalar(v); ok {
		return s, nil
	}
	return "", errors.New("want a string, number, boolean or list")
}

func scalar(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case bool:
		return strconv.FormatBool(v), true
	}
	return "", false
}
