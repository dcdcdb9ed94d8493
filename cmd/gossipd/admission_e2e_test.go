package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// keygen makes a key file in dir and returns its public key.
func keygen(t *testing.T, dir, name string) (file, pub string) {
	t.Helper()
	file = filepath.Join(dir, name+".key")
	out, stderr, err := cli(t, "keygen", "-out", file)
	require.NoError(t, err, stderr)
	m := regexp.MustCompile(`public key:\s+(\S+)`).FindStringSubmatch(out)
	require.NotNil(t, m, "keygen printed no public key: %q", out)
	return file, m[1]
}

// With -allow, agents admit only the listed keys: two agents that list
// each other form a cluster, and a third with an unlisted key is refused
// and never appears in their member lists.
func TestAdmissionThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	_, pubA := keygen(t, dir, "a")
	_, pubB := keygen(t, dir, "b")
	a := startAgent(t, dir, "a", "-allow", pubB)
	b := startAgent(t, dir, "b", "-allow", pubA, "-seeds", a.addr())
	waitFor(t, 20*time.Second, "a and b see each other", func() bool {
		return a.members(t)[b.addr()] == "alive" && b.members(t)[a.addr()] == "alive"
	})

	c := startAgent(t, dir, "c", "-seeds", a.addr())
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) { // c retries its join all along
		require.NotContains(t, a.members(t), c.addr(), "a admitted an unlisted key")
		require.NotContains(t, b.members(t), c.addr(), "b learned of an unlisted key")
		require.Len(t, c.members(t), 1, "c got into the cluster")
		time.Sleep(200 * time.Millisecond)
	}
	out, stderr, err := cli(t, "status", "-socket", a.socket)
	require.NoError(t, err, stderr)
	require.Regexp(t, `transport_rejected:\s+[1-9]`, out, "refusals are counted")
}

// With -cluster-ca, agents admit only peers whose key file carries a
// certificate signed by the cluster CA (made by keygen -ca): two certified
// agents form a cluster, an uncertified one is refused.
func TestClusterCAThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	caKey, caPub := keygen(t, dir, "ca")
	caPubFile := filepath.Join(dir, "ca.pub")
	require.NoError(t, os.WriteFile(caPubFile, []byte(caPub+"\n"), 0o600))
	for _, name := range []string{"a", "b"} {
		_, stderr, err := cli(t, "keygen", "-out", filepath.Join(dir, name+".key"), "-ca", caKey)
		require.NoError(t, err, stderr)
	}
	a := startAgent(t, dir, "a", "-cluster-ca", caPubFile)
	b := startAgent(t, dir, "b", "-cluster-ca", caPubFile, "-seeds", a.addr())
	waitFor(t, 20*time.Second, "a and b see each other", func() bool {
		return a.members(t)[b.addr()] == "alive" && b.members(t)[a.addr()] == "alive"
	})
	c := startAgent(t, dir, "c", "-cluster-ca", caPubFile, "-seeds", a.addr()) // its key has no certificate
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		require.NotContains(t, a.members(t), c.addr(), "a admitted an uncertified key")
		require.Len(t, c.members(t), 1, "c got into the cluster")
		time.Sleep(200 * time.Millisecond)
	}
}

// writeSecret writes a cluster secret file (one secret per line) in dir.
func writeSecret(t *testing.T, dir, name string, secrets ...string) string {
	t.Helper()
	path := filepath.Join(dir, name+".secret")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(secrets, "\n")+"\n"), 0o600))
	return path
}

// requireShutOut checks, for a few seconds while out keeps retrying its
// join, that no agent of in lists out and that out lists only itself.
func requireShutOut(t *testing.T, out *proc, in ...*proc) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range in {
			require.NotContains(t, p.members(t), out.addr(), "an agent admitted another cluster's agent")
		}
		require.Len(t, out.members(t), 1, "an agent with another secret got into the cluster")
		time.Sleep(200 * time.Millisecond)
	}
}

// Two agents given the same cluster secret, one through a file and one
// through the environment, form a cluster; an agent with another secret is
// refused.
func TestClusterSecretThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	const secret = "the-cluster-secret-of-this-test"
	a := startAgent(t, dir, "a", "-cluster-secret-file", writeSecret(t, dir, "a", secret))
	c := startAgent(t, dir, "c", "-cluster-secret-file", writeSecret(t, dir, "c", "another-cluster-secret-entirely"), "-seeds", a.addr())
	b := startAgentEnv(t, dir, "b", freePort(t), []string{clusterSecretEnv + "=" + secret}, "-seeds", a.addr())
	waitFor(t, 20*time.Second, "a and b see each other", func() bool {
		return a.members(t)[b.addr()] == "alive" && b.members(t)[a.addr()] == "alive"
	})
	requireShutOut(t, c, a, b)
	out, stderr, err := cli(t, "status", "-socket", c.socket) // c, dialling, refuses a's certificate first
	require.NoError(t, err, stderr)
	require.Regexp(t, `transport_rejected:\s+[1-9]`, out, "refusals are counted")
}

// A rotation in three rollouts (docs/operations.md, "Rotating the cluster
// secret") mixes, during its second rollout, agents that sign with the old
// secret and trust both (a) with agents that sign with the new one and
// trust both (b): they form a cluster.
func TestClusterSecretRotationThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	const oldSecret, newSecret = "the-old-cluster-secret-0123", "the-new-cluster-secret-4567"
	a := startAgent(t, dir, "a", "-cluster-secret-file", writeSecret(t, dir, "a", oldSecret, newSecret))
	b := startAgent(t, dir, "b", "-cluster-secret-file", writeSecret(t, dir, "b", newSecret, oldSecret), "-seeds", a.addr())
	waitFor(t, 20*time.Second, "a and b see each other", func() bool {
		return a.members(t)[b.addr()] == "alive" && b.members(t)[a.addr()] == "alive"
	})
}
