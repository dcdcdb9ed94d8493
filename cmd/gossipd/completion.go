package main

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// flagValues are the values completed after the flags that take one of a
// few words.
var flagValues = map[string]string{
	"o":          "table json",
	"log-level":  "debug info warn error",
	"log-format": "json console",
	"nat":        "auto off",
	"state":      "alive suspect failed left",
}

// runCompletion prints the completion script of a shell.
func runCompletion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("completion", flag.ContinueOnError)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "gossipd completion: name one shell, bash or zsh; see gossipd completion -h")
		return errUsage
	}
	switch fs.Arg(0) {
	case "bash":
		_, err := io.WriteString(stdout, bashCompletion())
		return err
	case "zsh":
		_, err := io.WriteString(stdout, zshCompletion())
		return err
	}
	fmt.Fprintf(stderr, "gossipd completion: unknown shell %q: want bash or zsh; see gossipd completion -h\n", fs.Arg(0))
	return errUsage
}

// commandFlags returns, for each command in order, its flags as "-name".
func commandFlags() [][]string {
	out := make([][]string, len(commands))
	for i, c := range commands {
		for _, n := range flagNames(flagSetOf(c)) {
			out[i] = append(out[i], "-"+n)
		}
	}
	return out
}

func bashCompletion() string {
	var b strings.Builder
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	b.WriteString(`# bash completion for gossipd; load it with: source <(gossipd completion bash)
_gossipd() {
	local cur="${COMP_WORDS[COMP_CWORD]}" prev="${COMP_WORDS[COMP_CWORD-1]}"
	COMPREPLY=()
	if [[ $COMP_CWORD -eq 1 ]]; then
		COMPREPLY=($(compgen -W "` + strings.Join(names, " ") + `" -- "$cur"))
		return
	fi
	case "$prev" in
`)
	for _, f := range sortedKeys(flagValues) {
		fmt.Fprintf(&b, "\t-%s) COMPREPLY=($(compgen -W %q -- \"$cur\")); return ;;\n", f, flagValues[f])
	}
	b.WriteString("\tesac\n\tlocal flags=\n\tcase \"${COMP_WORDS[1]}\" in\n")
	for i, fl := range commandFlags() {
		if commands[i].name == "completion" {
			b.WriteString("\tcompletion) [[ $COMP_CWORD -eq 2 ]] && COMPREPLY=($(compgen -W \"bash zsh\" -- \"$cur\")); return ;;\n")
			continue
		}
		fmt.Fprintf(&b, "\t%s) flags=%q ;;\n", commands[i].name, strings.Join(fl, " "))
	}
	b.WriteString(`	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$flags" -- "$cur"))
	fi
}
complete -o default -F _gossipd gossipd
`)
	return b.String()
}

func zshCompletion() string {
	var b strings.Builder
	b.WriteString(`#compdef gossipd
# zsh completion for gossipd; load it with: source <(gossipd completion zsh)
# (after compinit), or save it as _gossipd in a directory of $fpath.
_gossipd() {
	local -a cmds flags
	cmds=(
`)
	for _, c := range commands {
		fmt.Fprintf(&b, "\t\t%s\n", zshQuote(c.name+":"+c.summary))
	}
	b.WriteString(`	)
	if (( CURRENT == 2 )); then
		_describe 'gossipd command' cmds
		return
	fi
	case $words[CURRENT-1] in
`)
	for _, f := range sortedKeys(flagValues) {
		fmt.Fprintf(&b, "\t-%s) compadd -- %s; return ;;\n", f, flagValues[f])
	}
	b.WriteString("\tesac\n\tcase $words[2] in\n")
	for i, fl := range commandFlags() {
		if commands[i].name == "completion" {
			b.WriteString("\tcompletion) (( CURRENT == 3 )) && compadd -- bash zsh; return ;;\n")
			continue
		}
		fmt.Fprintf(&b, "\t%s) flags=(%s) ;;\n", commands[i].name, strings.Join(fl, " "))
	}
	b.WriteString(`	esac
	if [[ $PREFIX == -* ]]; then
		compadd -a flags
	else
		_files
	fi
}
if [[ $zsh_eval_context[-1] == loadautofunc ]]; then
	_gossipd "$@"
else
	compdef _gossipd gossipd
fi
`)
	return b.String()
}

// zshQuote quotes s for zsh in single quotes.
func zshQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
