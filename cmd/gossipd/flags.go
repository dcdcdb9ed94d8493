package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
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
// the file. A bad flag is reported on stderr in one line, pointing to
// gossipd CMD -h; -h prints the command's help on stderr.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	if len(args) == 1 && args[0] == describeFlags {
		return &flagSetOnly{fs}
	}
	fs.Usage = func() {}
	fs.SetOutput(io.Discard) // the flag package's own messages: flagError says it in one line
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printHelp(stderr, fs)
			return err
		}
		fmt.Fprintln(stderr, flagError(fs, err))
		return errUsage
	}
	c, _ := lookupCommand(fs.Name())
	if fs.NArg() > 0 && c.args == "" {
		fmt.Fprintf(stderr, "gossipd %s: unexpected argument %q (it takes flags only); see gossipd %s -h\n", fs.Name(), fs.Arg(0), fs.Name())
		return errUsage
	}
	if err := checkEnvironment(os.Environ()); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if v, ok := os.LookupEnv(envName(f.Name)); ok && !set[f.Name] {
			if err := fs.Set(f.Name, v); err != nil {
				errs = append(errs, fmt.Errorf("gossipd: $%s: %w", envName(f.Name), setError(f, v, err)))
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
	values, err := readConfigFile(cf.Value.String(), listFlags)
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
			errs = append(errs, fmt.Errorf("gossipd: config file %s: %s: %w", cf.Value.String(), k, setError(f, values[k], err)))
		}
	}
	return errors.Join(errs...)
}

// listFlags are the flags that take a comma-separated list, which a config
// file may give as a YAML or JSON list; any other flag takes one value.
var listFlags = map[string]bool{"seeds": true, "topics": true, "allow": true}

// otherEnv are the environment variables gossipd reads that are not flags.
var otherEnv = []string{clusterSecretEnv, wallClockEnv}

// knownEnv returns every environment variable gossipd reads: one per flag
// of every command, and otherEnv.
func knownEnv() []string {
	seen := map[string]bool{}
	for _, c := range commands {
		flagSetOf(c).VisitAll(func(f *flag.Flag) { seen[envName(f.Name)] = true })
	}
	for _, e := range otherEnv {
		seen[e] = true
	}
	out := make([]string, 0, len(seen))
	for e := range seen {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// serviceLinkEnv matches the variables Kubernetes gives every pod for each
// Service with a cluster IP in its namespace (a Service "gossipd" or
// "gossipd-metrics": GOSSIPD_SERVICE_HOST, GOSSIPD_METRICS_PORT_9090_TCP,
// ...): they are not misspelt flags.
var serviceLinkEnv = regexp.MustCompile(`^GOSSIPD_(?:[A-Z0-9_]+_)?(?:SERVICE_HOST|SERVICE_PORT(?:_[A-Z0-9_]+)?|PORT(?:_[0-9]+_(?:TCP|UDP|SCTP)(?:_PROTO|_PORT|_ADDR)?)?)$`)

// checkEnvironment refuses a GOSSIPD_ variable that no command reads (a
// misspelt one would be silently ignored, as an unknown config key is
// not), naming the known one nearest to it.
func checkEnvironment(environ []string) error {
	var known []string
	var errs []error
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "GOSSIPD_") || serviceLinkEnv.MatchString(name) {
			continue
		}
		if known == nil {
			known = knownEnv()
		}
		if slices.Contains(known, name) {
			continue
		}
		errs = append(errs, fmt.Errorf("gossipd: unknown environment variable %s (did you mean %s?)", name, nearest(name, known)))
	}
	return errors.Join(errs...)
}

// nearest returns the name of names closest to w: among those made of
// every underscore-separated word of w and more (GOSSIPD_SECRET:
// GOSSIPD_CLUSTER_SECRET), the one with the fewest other words; failing
// any, the closest in edit distance (GOSSIPD_KEYFILE: GOSSIPD_KEY_FILE).
// The first of equals wins, names being sorted.
func nearest(w string, names []string) string {
	words := strings.Split(w, "_")
	best, bestD := "", -1
	for _, c := range names {
		cw := strings.Split(c, "_")
		if !containsAll(cw, words) {
			continue
		}
		if d := len(cw) - len(words); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	if best != "" {
		return best
	}
	for _, c := range names {
		if d := editDistance(w, c); bestD < 0 || d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func containsAll(set, items []string) bool {
	for _, it := range items {
		if !slices.Contains(set, it) {
			return false
		}
	}
	return true
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// readConfigFile reads a YAML or JSON file (JSON when it begins with "{")
// of flag names in snake case and returns every value as a flag string;
// the lists of the keys in lists (snake case) become comma-separated, and a
// list or a map anywhere else is an error. Duplicate keys are errors.
func readConfigFile(path string, lists map[string]bool) (map[string]string, error) {
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
		if _, isList := v.([]any); isList && !lists[strings.ReplaceAll(k, "_", "-")] {
			return nil, fmt.Errorf("gossipd: config file %s: %s: a list is given, but %s takes one value (a string, number or boolean)", path, k, k)
		}
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
			switch e.(type) {
			case []any, map[string]any:
				return "", errors.New("a list's items must be strings, numbers or booleans")
			}
			s, err := flagString(e)
			if err != nil {
				return "", err
			}
			parts = append(parts, s)
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", errors.New("a map is given, but a value must be a string, number, boolean or (for seeds, topics and allow) a list")
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
