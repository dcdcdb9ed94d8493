package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// envName returns the environment variable of flag name: GOSSIPD_KEY_FILE
// for key-file.
func envName(name string) string {
	return "GOSSIPD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// parseFlags parses args into fs, then fills every flag not given on the
// command line from the environment and, if fs has a "config" flag naming
// a file, from that file. Flags win over the environment, which wins over
// the file.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 && fs.Name() != "broadcast" {
		fmt.Fprintf(stderr, "gossipd %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && !set[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("gossipd: %s: %w", envName(f.Name), err))
			}
			set[f.Name] = true
		}
	})
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	cf := fs.Lookup("config")
	if cf == nil || cf.Value.String() == "" {
		return nil
	}
	values, err := readConfigFile(cf.Value.String())
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		name := strings.ReplaceAll(k, "_", "-")
		f := fs.Lookup(name)
		if f == nil || name == "config" || strings.Contains(k, "-") {
			errs = append(errs, fmt.Errorf("gossipd: config file %s: unknown key %q", cf.Value.String(), k))
			continue
		}
		if set[name] {
			continue
		}
		if err := fs.Set(name, values[k]); err != nil {
			errs = append(errs, fmt.Errorf("gossipd: config file %s: %s: %w", cf.Value.String(), k, err))
		}
	}
	return errors.Join(errs...)
}

// readConfigFile reads a YAML or JSON file (JSON when it begins with "{")
// of flag names in snake case and returns every value as a flag string;
// lists become comma-separated. Duplicate keys are errors.
func readConfigFile(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("gossipd: config file: %w", err)
	}
	var raw map[string]any
	if trimmed := bytes.TrimSpace(data); len(trimmed) > 0 && trimmed[0] == '{' {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		err = dec.Decode(&raw)
	} else {
		err = yaml.Unmarshal(data, &raw)
	}
	if err != nil {
		return nil, fmt.Errorf("gossipd: config file %s: %w", path, err)
	}
	out := map[string]string{}
	for k, v := range raw {
		s, err := flagString(v)
		if err != nil {
			return nil, fmt.Errorf("gossipd: config file %s: %s: %w", path, k, err)
		}
		out[k] = s
	}
	return out, nil
}

func flagString(v any) (string, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return v, nil
	case []any:
		parts := make([]string, 0, len(v))
		for _, e := range v {
			s, err := flagString(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", errors.New("a value must be a string, number, boolean or list")
	default:
		return fmt.Sprint(v), nil
	}
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
