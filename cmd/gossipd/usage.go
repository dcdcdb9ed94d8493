package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"
)

// command is one subcommand of gossipd.
type command struct {
	name string
	run  func(args []string, stdout, stderr io.Writer) error
	// args is the synopsis after "[flags]" ("PAYLOAD", "bash|zsh"), empty
	// for a command that takes no positional argument.
	args string
	// summary is the one line gossipd -h shows.
	summary string
	// about is the paragraph above the flags in gossipd CMD -h: what the
	// command does and its positional arguments.
	about string
}

// commands lists every subcommand, in the order gossipd -h shows them.
// It is filled by init, since the help and completion commands read it.
var commands []command

func init() {
	commands = []command{
		{name: "agent", run: runAgent, summary: "run the agent",
			about: "Runs the agent: joins the cluster through -seeds (retrying until it has) and serves\n" +
				"the gRPC API on -grpc-socket until SIGTERM or SIGINT, then leaves gracefully.\n" +
				"Every flag may also come from $GOSSIPD_<FLAG> or from the -config file."},
		{name: "members", run: runMembers, summary: "list the members known to the local agent",
			about: "Lists every member the local agent knows, one per line (-o json: one JSON object)."},
		{name: "broadcast", run: runBroadcast, args: "PAYLOAD", summary: "broadcast a message on a topic",
			about: "Broadcasts one message on -topic and prints its ID (\"id ORIGIN-SEQUENCE\").\n\n" +
				"arguments:\n" +
				"  PAYLOAD  the message, one argument (quote it); instead of it, -file FILE reads\n" +
				"           the payload from a file and -file - from standard input.\n" +
				"           At most the agent's -max-payload (default and largest 512 KiB)."},
		{name: "subscribe", run: runSubscribe, summary: "print the messages of some topics",
			about: "Prints the messages the local agent delivers on some topics (all without -topic\n" +
				"or -topics), one per line: SEQUENCE, ID, TOPIC, \"PAYLOAD\"; gap, lag and restart\n" +
				"notices in their place. Runs until interrupted or -count messages were printed."},
		{name: "status", run: runStatus, summary: "print the local agent's status",
			about: "Prints the local agent's identity, views, trees, sequence and counters."},
		{name: "leave", run: runLeave, summary: "leave the cluster gracefully and stop the agent",
			about: "Asks the local agent to leave the cluster gracefully; the agent then stops."},
		{name: "keygen", run: runKeygen, summary: "write a new identity key file",
			about: "Writes a new identity key to -out (mode 0600) and prints its public key, id and address."},
		{name: "certify", run: runCertify, summary: "replace the certificate in a key file, keeping the key",
			about: "Replaces the certificate in -key-file by one signed by -ca, keeping the key\n" +
				"(a step of a cluster CA rotation, docs/operations.md)."},
		{name: "version", run: runVersion, summary: "print gossipd's version, commit and Go version",
			about: "Prints the module version, the VCS revision the binary was built from and the Go version."},
		{name: "completion", run: runCompletion, args: "bash|zsh", summary: "print a shell completion script",
			about: "Prints a completion script for the shell named, completing subcommands and their flags.\n\n" +
				"arguments:\n" +
				"  bash|zsh  the shell: load it with  source <(gossipd completion bash)  in ~/.bashrc,\n" +
				"            or  source <(gossipd completion zsh)  in ~/.zshrc (after compinit)."},
	}
}

// lookupCommand returns the subcommand called name.
func lookupCommand(name string) (command, bool) {
	for _, c := range commands {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// topUsage is what gossipd -h prints.
func topUsage() string {
	var b strings.Builder
	b.WriteString("usage: gossipd <command> [flags] [arguments]\n\ncommands:\n")
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-11s %s\n", c.name, c.summary)
	}
	b.WriteString(`
gossipd <command> -h describes a command and its flags.
Client commands reach the agent at -socket (default /tmp/gossipd.sock) or
-addr. Every flag can be set as GOSSIPD_<FLAG_IN_UPPER_SNAKE_CASE>.
`)
	return b.String()
}

// synopsis returns "usage: gossipd broadcast [flags] PAYLOAD".
func (c command) synopsis() string {
	s := "usage: gossipd " + c.name + " [flags]"
	if c.args != "" {
		s += " " + c.args
	}
	return s
}

// printHelp writes command name's help: its synopsis, what it does and
// its positional arguments, and its flags.
func printHelp(w io.Writer, fs *flag.FlagSet) {
	c, _ := lookupCommand(fs.Name())
	fmt.Fprintf(w, "%s\n\n", c.synopsis())
	if c.about != "" {
		fmt.Fprintf(w, "%s\n\n", c.about)
	}
	fmt.Fprintln(w, "flags:")
	out := fs.Output()
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(out)
}

// flagNameIn finds the flag an error of the flag package names
// ("invalid value "x" for flag -timeout: parse error").
var flagNameIn = regexp.MustCompile(`-([A-Za-z0-9][A-Za-z0-9-]*)`)

// flagError renders an error of fs.Parse as one line naming the flag and,
// for a bad value, the form expected.
func flagError(fs *flag.FlagSet, err error) string {
	msg := err.Error()
	name := ""
	if m := flagNameIn.FindStringSubmatch(msg); m != nil {
		name = m[1]
	}
	f := fs.Lookup(name)
	switch {
	case f != nil && strings.HasPrefix(msg, "invalid") && expectedForm(f) != "":
		msg = fmt.Sprintf("invalid value for -%s: %s", name, valueError(f, err))
	case strings.HasPrefix(msg, "flag needs an argument"):
		if f != nil && expectedForm(f) != "" {
			msg += " (" + expectedForm(f) + ")"
		}
	}
	return fmt.Sprintf("gossipd %s: %s; see gossipd %s -h", fs.Name(), msg, fs.Name())
}

// invalidValue extracts the value from the flag package's message.
var invalidValue = regexp.MustCompile(`value ("(?:[^"\\]|\\.)*")`)

// valueError says what was wrong with a flag's value: the value given
// and the form expected.
func valueError(f *flag.Flag, err error) string {
	given := ""
	if m := invalidValue.FindStringSubmatch(err.Error()); m != nil {
		given = m[1] + ": "
	}
	return given + expectedForm(f)
}

// setError renders err, fs.Set's refusal of value (from the environment or
// a config file) for flag f, with the form expected.
func setError(f *flag.Flag, value string, err error) error {
	form := expectedForm(f)
	if form == "" {
		return err
	}
	return fmt.Errorf("invalid value %q: %s", value, form)
}

// expectedForm describes the values flag f takes.
func expectedForm(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case time.Duration:
		return "want a duration such as 500ms, 10s or 1m30s"
	case bool:
		return "want true or false"
	case int, int64:
		return "want an integer"
	case uint, uint64:
		return "want a non-negative integer"
	case float64:
		return "want a number"
	}
	return ""
}

// flagNames returns the names of fs's flags, sorted.
func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	return names
}

// describeFlags is the one argument with which a command only builds its
// flag set and returns it, in a *flagSetOnly error (flagSetOf): no command
// line can hold it, since arguments cannot contain a NUL byte.
const describeFlags = "\x00describe-flags"

// flagSetOnly carries a command's flag set out of it.
type flagSetOnly struct{ fs *flag.FlagSet }

func (e *flagSetOnly) Error() string { return "gossipd: the flags of " + e.fs.Name() }

// flagSetOf returns the flags of command c: every command builds its flag
// set and hands it to parseFlags before anything else, and returns
// parseFlags's error.
func flagSetOf(c command) *flag.FlagSet {
	var only *flagSetOnly
	if err := c.run([]string{describeFlags}, io.Discard, io.Discard); errors.As(err, &only) {
		return only.fs
	}
	return flag.NewFlagSet(c.name, flag.ContinueOnError)
}
