package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// exitCode returns the exit status of a finished command's error.
func exitCode(err error) int {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestBadInput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	sock := filepath.Join(dir, "s.sock")
	key := filepath.Join(dir, "k.key")
	badKey := filepath.Join(dir, "bad.key")
	require.NoError(t, os.WriteFile(badKey, []byte("not a key"), 0o600))
	openKey := filepath.Join(dir, "open.key")
	_, _, err := cli(t, "keygen", "-out", openKey)
	require.NoError(t, err)
	require.NoError(t, os.Chmod(openKey, 0o644))
	unknownKey := filepath.Join(dir, "unknown.yaml")
	require.NoError(t, os.WriteFile(unknownKey, []byte("bind: 127.0.0.1:0\nbogus_key: 1\n"), 0o600))
	dashKey := filepath.Join(dir, "dash.json")
	require.NoError(t, os.WriteFile(dashKey, []byte(`{"key-file": "x"}`), 0o600))
	shortSecret := filepath.Join(dir, "short.secret")
	require.NoError(t, os.WriteFile(shortSecret, []byte("CHANGE-ME\n"), 0o600))
	goodSecret := filepath.Join(dir, "good.secret")
	require.NoError(t, os.WriteFile(goodSecret, []byte("a-long-enough-cluster-secret\n"), 0o600))
	agent := []string{"agent", "-bind", "127.0.0.1:0", "-grpc-socket", sock}
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"unknown command", []string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{"unknown flag", []string{"agent", "-bogus"}, 2, "flag provided but not defined: -bogus"},
		{"unknown config key", append(agent, "-key-file", key, "-config", unknownKey), 1, `unknown key "bogus_key"`},
		{"config key not in snake case", append(agent, "-key-file", key, "-config", dashKey), 1, `unknown key "key-file"`},
		{"missing config file", append(agent, "-key-file", key, "-config", filepath.Join(dir, "none.yaml")), 1, "gossipd: config file"},
		{"garbage key file", append(agent, "-key-file", badKey), 1, "no PEM"},
		{"key file readable by others", append(agent, "-key-file", openKey), 1, "chmod 600"},
		{"key file is a directory", append(agent, "-key-file", dir), 1, "not a regular file"},
		{"non-loopback API", append(agent, "-key-file", key, "-grpc-addr", "0.0.0.0:9999"), 1, "not a loopback address"},
		{"non-loopback bind, no admission", []string{"agent", "-bind", "0.0.0.0:0", "-grpc-socket", sock, "-key-file", key}, 1, "gossipd: refusing to listen on 0.0.0.0:0 with no cluster admission"},
		{"default bind, no admission", []string{"agent", "-grpc-socket", sock, "-key-file", key}, 1, "(b) admit only certified or listed keys: -cluster-ca FILE"},
		{"short cluster secret", append(agent, "-key-file", key, "-cluster-secret-file", shortSecret), 1, "at least 16 are needed"},
		{"cluster secret and CA", append(agent, "-key-file", key, "-cluster-secret-file", goodSecret, "-cluster-ca", goodSecret), 1, "use one"},
		{"insecure beside an admission", append(agent, "-key-file", key, "-cluster-secret-file", goodSecret, "-insecure"), 1, "-insecure admits any peer"},
		{"bad log level", append(agent, "-key-file", key, "-log-level", "loud"), 1, "-log-level"},
		{"retention bytes below a payload", append(agent, "-key-file", key, "-retention-bytes", "1000"), 1, "-retention-bytes must be at least 1048576"},
		{"zero retention", append(agent, "-key-file", key, "-retention", "0s"), 1, "-retention must be positive"},
		{"calm retention above the retention", append(agent, "-key-file", key, "-calm-retention", "40s"), 1, "-calm-retention must be between 0 (the default) and -retention (30s), got 40s"},
		{"zero resume ring", append(agent, "-key-file", key, "-resume-retain-bytes", "0"), 1, "-resume-retain-bytes must be positive"},
		{"idle timeout too short", append(agent, "-key-file", key, "-idle-timeout", "10ms"), 1, "-idle-timeout must be at least 100ms"},
		{"max silence below the idle timeout", append(agent, "-key-file", key, "-max-silence", "500ms"), 1, "-max-silence 500ms is below -idle-timeout 1s"},
		{"zero probe interval", append(agent, "-key-file", key, "-probe-interval", "0s"), 1, "-probe-interval and -probe-timeout must be positive"},
		{"minimum above the suspicion timeout", append(agent, "-key-file", key, "-suspicion-min-timeout", "10s"), 1, "-suspicion-min-timeout 10s exceeds -suspicion-timeout 5s"},
		{"no confirmation", append(agent, "-key-file", key, "-suspicion-confirmations", "0"), 1, "-suspicion-confirmations must be at least 1, got 0"},
		{"no agent", []string{"members", "-socket", filepath.Join(dir, "none.sock")}, 1, "no agent running at"},
		{"keygen over a key", []string{"keygen", "-out", openKey}, 1, "already exists"},
		{"broadcast without topic", []string{"broadcast", "-socket", sock, "x"}, 1, "-topic is required"},
	} {
		t.Run(tc.name, func(t *testing.T) { // in turn: several share the socket and key paths
			_, stderr, err := cli(t, tc.args...)
			require.Equal(t, tc.code, exitCode(err), stderr)
			require.Contains(t, stderr, tc.want)
		})
	}
}

func TestEnvironmentOverridesConfigFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	cfg := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte("log_level: debug\n"), 0o600))
	_, stderr, err := cliIn(t, dir, []string{"GOSSIPD_LOG_LEVEL=nonsense"}, "agent", "-config", cfg, "-key-file", filepath.Join(dir, "k"), "-grpc-socket", filepath.Join(dir, "s"), "-bind", "127.0.0.1:0")
	require.Equal(t, 1, exitCode(err))
	require.Contains(t, stderr, `-log-level "nonsense"`)
}

// The secret may come from the environment, and its errors name it.
func TestClusterSecretFromTheEnvironment(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	_, stderr, err := cliIn(t, dir, []string{clusterSecretEnv + "=CHANGE-ME"}, "agent", "-key-file", filepath.Join(dir, "k"), "-grpc-socket", filepath.Join(dir, "s"), "-bind", "127.0.0.1:0")
	require.Equal(t, 1, exitCode(err), stderr)
	require.Contains(t, stderr, "$GOSSIPD_CLUSTER_SECRET: secret on line 1 is 9 bytes")
}
