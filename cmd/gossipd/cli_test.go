package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cliIn runs the binary with args in directory dir, with extra
// environment variables, and returns its stdout and stderr.
func cliIn(t *testing.T, dir string, env []string, args ...string) (string, string, error) {
	t.Helper()
	bin := binary(t) // built before the call's deadline starts
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// Every subcommand's -h starts with its synopsis, describes its positional
// arguments and lists each of its flags.
func TestHelpOfEveryCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, err := cli(t, c.name, "-h")
			require.NoError(t, err, stderr)
			require.Empty(t, stdout)
			first, _, _ := strings.Cut(stderr, "\n")
			require.Equal(t, strings.TrimSpace("usage: gossipd "+c.name+" [flags] "+c.args), first)
			if c.args != "" {
				require.Contains(t, stderr, "arguments:\n  "+c.args)
			}
			flagSetOf(c).VisitAll(func(f *flag.Flag) {
				require.Regexp(t, `(?m)^  -`+regexp.QuoteMeta(f.Name)+`\b`, stderr)
			})
			// gossipd help CMD says the same, on stdout.
			out, _, err := cli(t, "help", c.name)
			require.NoError(t, err)
			require.Equal(t, stderr, out)
		})
	}
	stdout, _, err := cli(t, "-h")
	require.NoError(t, err)
	for _, c := range commands {
		require.Regexp(t, `(?m)^  `+c.name+` +`+regexp.QuoteMeta(c.summary)+`$`, stdout)
	}
}

// A bad flag is one line naming the flag and the form expected, and where
// to read more, never the whole usage.
func TestBadFlagIsOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	for _, tc := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"subscribe", "-timeout", "5x"}, 2, []string{`gossipd subscribe: invalid value for -timeout: "5x": want a duration such as 500ms, 10s or 1m30s; see gossipd subscribe -h`}},
		{[]string{"agent", "-max-payload", "big"}, 2, []string{"-max-payload", `"big"`, "want an integer", "see gossipd agent -h"}},
		{[]string{"agent", "-insecure=maybe"}, 2, []string{"-insecure", "want true or false", "see gossipd agent -h"}},
		{[]string{"members", "-timeout"}, 2, []string{"flag needs an argument: -timeout", "duration", "see gossipd members -h"}},
		{[]string{"status", "-bogus"}, 2, []string{"flag provided but not defined: -bogus", "see gossipd status -h"}},
		{[]string{"status", "extra"}, 2, []string{`unexpected argument "extra"`, "see gossipd status -h"}},
		{[]string{"subscribe", "-count", "-1"}, 1, []string{"-count -1: want a positive number of messages, or 0 for no limit"}},
		{[]string{"completion", "fish"}, 2, []string{`unknown shell "fish": want bash or zsh`}},
		{[]string{"completion"}, 2, []string{"name one shell, bash or zsh"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Parallel()
			stdout, stderr, err := cliIn(t, dir, nil, tc.args...)
			require.Equal(t, tc.code, exitCode(err), stderr)
			require.Empty(t, stdout)
			require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			for _, w := range tc.want {
				require.Contains(t, stderr, w)
			}
		})
	}
	// From the environment, the same description of the form.
	_, stderr, err := cliIn(t, dir, []string{"GOSSIPD_TIMEOUT=soon"}, "members", "-socket", filepath.Join(dir, "none.sock"))
	require.Equal(t, 1, exitCode(err), stderr)
	require.Contains(t, stderr, `$GOSSIPD_TIMEOUT: invalid value "soon": want a duration`)
}

// A misspelt GOSSIPD_ variable is an error naming the nearest known one;
// a list given for a single-valued key of a config file is an error.
func TestUnknownEnvironmentAndListForScalar(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	for _, tc := range []struct{ cmd, env, want string }{
		{"agent", "GOSSIPD_KEYFILE=k", "unknown environment variable GOSSIPD_KEYFILE (did you mean GOSSIPD_KEY_FILE?)"},
		{"members", "GOSSIPD_SEED=x:1", "unknown environment variable GOSSIPD_SEED (did you mean GOSSIPD_SEEDS?)"},
		{"agent", "GOSSIPD_SECRET=0123", "unknown environment variable GOSSIPD_SECRET (did you mean GOSSIPD_CLUSTER_SECRET?)"},
		{"status", "GOSSIPD_LOGLEVEL=info", "unknown environment variable GOSSIPD_LOGLEVEL (did you mean GOSSIPD_LOG_LEVEL?)"},
	} {
		_, stderr, err := cliIn(t, dir, []string{tc.env}, tc.cmd)
		require.Equal(t, 1, exitCode(err), stderr)
		require.Equal(t, "gossipd: "+tc.want+"\n", stderr)
	}
	_, _, err := cliIn(t, dir, []string{"GOSSIPD_KEYFILE=k"}, "agent", "-h")
	require.Equal(t, 0, exitCode(err), "-h still answers")
	// A variable of another command is known: GOSSIPD_SOCKET is the
	// clients', and the agent does not refuse it (its own socket error
	// shows it got past the check).
	var stderr string
	_, stderr, err = cliIn(t, dir, []string{"GOSSIPD_SOCKET=x"}, "agent", "-bind", "127.0.0.1:0", "-key-file", filepath.Join(dir, "k.key"),
		"-grpc-socket", dir)
	require.Equal(t, 1, exitCode(err), stderr)
	require.Contains(t, stderr, "exists and is not a socket")

	for name, body := range map[string]string{
		"list.yaml":  "bind: [1, 2]\n",
		"list.json":  `{"key_file": ["a", "b"]}`,
		"map.yaml":   "log_level: {a: 1}\n",
		"nest.yaml":  "seeds: [[a, b]]\n",
		"seeds.yaml": "seeds: [\"x@@:\"]\n",
	} {
		cfg := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(cfg, []byte(body), 0o600))
		_, stderr, err := cli(t, "agent", "-config", cfg, "-bind", "127.0.0.1:0", "-key-file", filepath.Join(dir, "k.key"), "-grpc-socket", filepath.Join(dir, "s.sock"))
		require.Equal(t, 1, exitCode(err), stderr)
		switch name {
		case "list.yaml":
			require.Contains(t, stderr, "bind: a list is given, but bind takes one value")
		case "list.json":
			require.Contains(t, stderr, "key_file: a list is given, but key_file takes one value")
		case "map.yaml":
			require.Contains(t, stderr, "log_level: a map is given")
		case "nest.yaml":
			require.Contains(t, stderr, "seeds: a list's items must be strings, numbers or booleans")
		case "seeds.yaml": // a list is fine for seeds: its item is then checked
			require.Contains(t, stderr, `-seeds: "x@@:": the part before @ is not a base64url ed25519 public key`)
		}
	}
}

// A seed that can never be dialled fails at start; one that may resolve
// later (a DNS name) is retried.
func TestSeedsCheckedAtStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	for seed, want := range map[string]string{
		"x@@:":                  "the part before @ is not a base64url ed25519 public key",
		"127.0.0.1":             "want key@host:port or host:port",
		"127.0.0.1:http":        `port "http" is not a number from 1 to 65535`,
		"127.0.0.1:70000":       `port "70000" is not a number from 1 to 65535`,
		":7001":                 "no host",
		"bad host!:7001":        `host "bad host!" is neither an IP address nor a DNS name`,
		"127.0.0.1:7001,,x@y:1": "the part before @ is not a base64url ed25519 public key",
	} {
		start := time.Now()
		_, stderr, err := cli(t, "agent", "-bind", "127.0.0.1:0", "-key-file", filepath.Join(dir, "k.key"), "-grpc-socket", filepath.Join(dir, "s.sock"), "-seeds", seed)
		require.Equal(t, 1, exitCode(err), "seed %q: %s", seed, stderr)
		require.Contains(t, stderr, want, seed)
		require.Contains(t, stderr, "gossipd: -seeds:")
		require.Less(t, time.Since(start), 10*time.Second)
	}
	// A name that does not resolve (yet): the agent runs and retries.
	p := startAgent(t, dir, "dns", "-seeds", "not-yet.invalid:7001")
	waitFor(t, 10*time.Second, "a join attempt failed", func() bool { return strings.Contains(p.log.String(), "join failed; retrying") })
	select {
	case err := <-p.done:
		t.Fatalf("the agent exited: %v\n%s", err, p.log.String())
	default:
	}
}

// Client commands and the agent take relative socket paths.
func TestRelativeSocketPaths(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	port := freePort(t)
	agent := exec.Command(binary(t), "agent", "-bind", fmt.Sprintf("127.0.0.1:%d", port), "-key-file", "a.key",
		"-grpc-socket", "./a.sock", "-log-format", "console")
	agent.Dir = dir
	log := &lockedBuffer{}
	agent.Stderr = log
	require.NoError(t, agent.Start())
	done := make(chan error, 1)
	go func() { done <- agent.Wait() }()
	t.Cleanup(func() {
		_ = agent.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("agent log:\n%s", log.String())
		}
	})
	waitFor(t, 10*time.Second, "the agent answers on ./a.sock", func() bool {
		_, _, err := cliIn(t, dir, nil, "status", "-socket", "./a.sock")
		return err == nil
	})
	// The start-up line may follow the socket's first answer by a moment.
	waitFor(t, 10*time.Second, "the log names the socket's absolute path", func() bool {
		return strings.Contains(log.String(), filepath.Join(dir, "a.sock"))
	})
	for _, sock := range []string{"./a.sock", "a.sock", "../" + filepath.Base(dir) + "/a.sock"} {
		out, stderr, err := cliIn(t, dir, nil, "members", "-socket", sock)
		require.NoError(t, err, "%s: %s", sock, stderr)
		require.Contains(t, out, "alive")
	}
	for _, payload := range []string{"x", "y"} {
		out, stderr, err := cliIn(t, dir, nil, "broadcast", "-socket", "a.sock", "-topic", "t", payload)
		require.NoError(t, err, stderr)
		require.Regexp(t, `^id [0-9a-f]+-[0-9a-f]+\n$`, out)
	}
	out, stderr, err := cliIn(t, dir, nil, "subscribe", "-socket", "a.sock", "-resume-from", "1", "-count", "1")
	require.NoError(t, err, stderr)
	require.Contains(t, out, "\tt\t\"y\"")
	_, stderr, err = cliIn(t, dir, nil, "leave", "-socket", "./a.sock")
	require.NoError(t, err, stderr)
	select {
	case <-done:
		done <- nil
	case <-time.After(15 * time.Second):
		t.Fatal("the agent did not stop after leave")
	}
}

// Topics and payloads the agent cannot take are refused with errors that
// say why; a topic with a comma can be subscribed to with -topic.
func TestTopicsAndPayloadLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	p := startAgent(t, dir, "a", "-max-payload", "1024")
	// Sequence 1 on the agent, so that -resume-from 1 replays the rest.
	_, stderr, err := cli(t, "broadcast", "-socket", p.socket, "-topic", "warm-up", "first")
	require.NoError(t, err, stderr)
	for _, topic := range []string{"a", "a,b", "b", "c"} {
		out, stderr, err := cli(t, "broadcast", "-socket", p.socket, "-topic", topic, "payload on "+topic)
		require.NoError(t, err, stderr)
		require.Regexp(t, `^id [0-9a-f]+-[0-9a-f]+\n$`, out)
	}
	out, stderr, err := cli(t, "subscribe", "-socket", p.socket, "-resume-from", "1", "-topic", "a,b", "-topic", "c", "-count", "2")
	require.NoError(t, err, stderr)
	require.Regexp(t, `^\d+\t[0-9a-f]+-[0-9a-f]+\ta,b\t"payload on a,b"\n\d+\t[0-9a-f]+-[0-9a-f]+\tc\t"payload on c"\n$`, out)
	// -topics still splits on commas: a and b.
	out, stderr, err = cli(t, "subscribe", "-socket", p.socket, "-resume-from", "1", "-topics", "a,b", "-count", "2")
	require.NoError(t, err, stderr)
	require.Regexp(t, `^\d+\t\S+\ta\t"payload on a"\n\d+\t\S+\tb\t"payload on b"\n$`, out)

	big := filepath.Join(dir, "big")
	require.NoError(t, os.WriteFile(big, make([]byte, 5_000_000), 0o600))
	mid := filepath.Join(dir, "mid")
	require.NoError(t, os.WriteFile(mid, make([]byte, 2000), 0o600))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-topic", "t", "-file", big}, "gossipd: broadcast: payload of 5000000 bytes exceeds the agent's limit of 512 KiB (524288 bytes; -max-payload may set it lower)"},
		{[]string{"-topic", "t", "-file", mid}, "gossipd: broadcast: payload of 2000 bytes exceeds the limit of 1 KiB (1024 bytes) of this agent (-max-payload) (InvalidArgument)"},
		{[]string{"-topic", "bad\xff", "x"}, `gossipd: broadcast: topic "bad\xff" is not valid UTF-8 (InvalidArgument)`},
	} {
		_, stderr, err := cli(t, append([]string{"broadcast", "-socket", p.socket}, tc.args...)...)
		require.Equal(t, 1, exitCode(err), stderr)
		require.Equal(t, tc.want+"\n", stderr)
	}
	_, stderr, err = cli(t, "subscribe", "-socket", p.socket, "-topic", "\xfe", "-count", "1")
	require.Equal(t, 1, exitCode(err), stderr)
	require.Contains(t, stderr, `gossipd: subscribe: topic "\xfe" is not valid UTF-8 (InvalidArgument)`)
}

// gossipd version prints the module, the commit the binary was built from
// (when the build recorded it) and the Go version.
func TestVersion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	out, stderr, err := cli(t, "version")
	require.NoError(t, err, stderr)
	require.Regexp(t, `^gossipd \S+\n`, out)
	require.Contains(t, out, "module:  github.com/plumview/plumview\n")
	require.Contains(t, out, "go:      "+runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH+"\n")
	info, err := exec.Command("go", "version", "-m", binary(t)).Output()
	require.NoError(t, err)
	if m := regexp.MustCompile(`(?m)^\s+build\s+vcs\.revision=(\S+)$`).FindSubmatch(info); m != nil {
		require.Contains(t, out, "commit:  "+string(m[1]))
	} else {
		require.Contains(t, out, "commit:  unknown (built without VCS information)\n")
	}
	again, _, err := cli(t, "--version")
	require.NoError(t, err)
	require.Equal(t, out, again)
}

func TestVersionString(t *testing.T) {
	v := buildVersion{module: "m", version: "v1.2.3", revision: "abc", time: "2026-01-02T03:04:05Z", modified: true, goVersion: "go1.26.8", arch: "linux/amd64"}
	require.Equal(t, "gossipd v1.2.3\nmodule:  m\ncommit:  abc (2026-01-02T03:04:05Z, with uncommitted changes)\ngo:      go1.26.8 linux/amd64\n", v.String())
}

// The completion scripts parse, and bash's completes subcommands, flags
// and flag values.
func TestCompletion(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	script, stderr, err := cli(t, "completion", "bash")
	require.NoError(t, err, stderr)
	zsh, stderr, err := cli(t, "completion", "zsh")
	require.NoError(t, err, stderr)
	require.True(t, strings.HasPrefix(zsh, "#compdef gossipd\n"))
	for _, c := range commands {
		require.Contains(t, zsh, "'"+c.name+":")
		require.Contains(t, script, "\t"+c.name+")")
	}
	require.Contains(t, zsh, "\tsubscribe) flags=(")
	if zshPath, err := exec.LookPath("zsh"); err == nil {
		file := filepath.Join(dir, "gossipd.zsh")
		require.NoError(t, os.WriteFile(file, []byte(zsh), 0o600))
		out, err := exec.Command(zshPath, "-n", file).CombinedOutput()
		require.NoError(t, err, "zsh -n: %s", out)
		// Sourced after compinit, it registers _gossipd for gossipd.
		load := exec.Command(zshPath, "-f", "-c", fmt.Sprintf(`autoload -U compinit; compinit -u -d %q; source %q; print -r -- $_comps[gossipd]`,
			filepath.Join(dir, "zcompdump"), file))
		load.Env = append(os.Environ(), "HOME="+dir)
		out, err = load.CombinedOutput()
		require.NoError(t, err, "%s", out)
		require.Equal(t, "_gossipd\n", string(out))
	} else {
		t.Logf("no zsh: the zsh script is checked by its content only")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Logf("no bash: the bash script is checked by its content only")
		require.Contains(t, script, "complete -o default -F _gossipd gossipd\n")
		return
	}
	file := filepath.Join(dir, "gossipd.bash")
	require.NoError(t, os.WriteFile(file, []byte(script), 0o600))
	out, err := exec.Command(bash, "-n", file).CombinedOutput()
	require.NoError(t, err, "bash -n: %s", out)
	complete := func(words ...string) string {
		t.Helper()
		prog := fmt.Sprintf(`source %q
COMP_WORDS=(%s); COMP_CWORD=%d; _gossipd; printf '%%s\n' "${COMPREPLY[@]}"
complete -p gossipd`, file, shellWords(words), len(words)-1)
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return string(out)
	}
	require.Equal(t, "subscribe\nstatus\ncomplete -o default -F _gossipd gossipd\n", complete("gossipd", "s"))
	require.Equal(t, "-topic\n-topics\ncomplete -o default -F _gossipd gossipd\n", complete("gossipd", "subscribe", "-top"))
	require.Contains(t, complete("gossipd", "agent", "-"), "\n-seeds\n")
	require.Equal(t, "json\ncomplete -o default -F _gossipd gossipd\n", complete("gossipd", "members", "-o", "j"))
	require.Equal(t, "zsh\ncomplete -o default -F _gossipd gossipd\n", complete("gossipd", "completion", "z"))
}

// shellWords quotes words for a bash array.
func shellWords(words []string) string {
	q := make([]string, len(words))
	for i, w := range words {
		q[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// /healthz is liveness and /readyz readiness: an agent whose seed does
// not answer is alive but not ready; one that joined is both.
func TestHealthzAndReadyz(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	get := func(addr, path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		return resp.StatusCode, b.String()
	}
	// The HTTP endpoint may start a little after the gRPC socket that
	// startAgent waits for.
	listening := func(addr string) func() bool {
		return func() bool {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		}
	}
	lonelyHTTP := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	startAgent(t, dir, "lonely", "-seeds", fmt.Sprintf("127.0.0.1:%d", freePort(t)), "-metrics-addr", lonelyHTTP)
	waitFor(t, 30*time.Second, "lonely's HTTP endpoint", listening(lonelyHTTP))
	code, _ := get(lonelyHTTP, "/healthz")
	require.Equal(t, http.StatusOK, code)
	code, body := get(lonelyHTTP, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "not ready: the node has not joined the cluster")

	soloHTTP := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	startAgent(t, dir, "solo", "-metrics-addr", soloHTTP)
	waitFor(t, 30*time.Second, "solo's HTTP endpoint", listening(soloHTTP))
	waitFor(t, 30*time.Second, "solo is ready", func() bool { c, _ := get(soloHTTP, "/readyz"); return c == http.StatusOK })
	code, body = get(soloHTTP, "/readyz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ready\n", body)
	code, _ = get(soloHTTP, "/healthz")
	require.Equal(t, http.StatusOK, code)
}

// The agent says who it is and how it is set up in one line at start, and
// every log names nodes in hexadecimal as the CLI does.
func TestStartupSummaryAndHexIDsInLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	a := startAgent(t, dir, "a", "-log-level", "debug", "-data-dir", filepath.Join(dir, "data"))
	b := startAgent(t, dir, "b", "-log-level", "debug", "-seeds", a.addr())
	waitFor(t, 10*time.Second, "a and b are neighbours", func() bool {
		return strings.Contains(a.log.String(), "neighbour up") && strings.Contains(b.log.String(), "neighbour up")
	})
	status, _, err := cli(t, "status", "-socket", b.socket)
	require.NoError(t, err)
	bID := regexp.MustCompile(`(?m)^id:\s+([0-9a-f]{16})$`).FindStringSubmatch(status)
	require.NotNil(t, bID, status)

	var started []string
	for _, line := range strings.Split(b.log.String(), "\n") {
		if strings.Contains(line, "agent started") {
			started = append(started, line)
		}
	}
	require.Len(t, started, 1, b.log.String())
	for _, want := range []string{
		`"id": "` + bID[1] + `"`, `"bind": "` + b.addr() + `"`, `"advertise": "(the bound address)"`,
		`"admission": "any key (loopback bind)"`, `"seeds": "` + a.addr() + `"`,
		`"data_dir": "(none: nothing kept across restarts)"`, `"socket": "` + b.socket + `"`, `"version": "`,
	} {
		require.Contains(t, started[0], want)
	}
	require.Contains(t, a.log.String(), `"data_dir": "`+filepath.Join(dir, "data")+`"`)
	require.Contains(t, a.log.String(), `"seeds": "(none: first node, or its saved members)"`)

	// Node IDs: sixteen hexadecimal digits wherever they are logged.
	require.Regexp(t, `neighbour up.*"peer": "`+bID[1]+`"`, a.log.String())
	require.Regexp(t, `"node": "`+bID[1]+`"`, b.log.String())
	for _, log := range []string{a.log.String(), b.log.String()} {
		require.NotRegexp(t, `"(peer|node)": [0-9]`, log, "a node ID logged as a number")
		require.NotRegexp(t, `"(peer|node)": "(?:[0-9a-f]{0,15}|[0-9a-f]{17,})"`, log)
	}
}

// freeTCPPort returns a TCP port free on loopback now.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
