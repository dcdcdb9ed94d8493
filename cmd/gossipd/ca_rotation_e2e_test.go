package main

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// writeCAFile writes agent name's -cluster-ca file in dir, one public key
// per line, and returns its path.
func writeCAFile(t *testing.T, dir, name string, pubs ...string) string {
	t.Helper()
	path := filepath.Join(dir, name+".ca")
	require.NoError(t, os.WriteFile(path, []byte(strings.Join(pubs, "\n")+"\n"), 0o644))
	return path
}

// counter returns one counter of p's status.
func counter(t *testing.T, p *proc, name string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := p.client(t).Status(ctx, &gossipdv1.StatusRequest{})
	require.NoError(t, err)
	return st.GetCounters()[name]
}

// subscribe opens a stream of topic on p, waits until p has registered it
// and returns the payloads it delivers.
func subscribe(t *testing.T, p *proc, topic string) <-chan string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	sub, err := p.client(t).Subscribe(ctx, &gossipdv1.SubscribeRequest{Topics: []string{topic}})
	require.NoError(t, err)
	payloads := make(chan string, 64)
	go func() {
		defer close(payloads)
		for {
			r, err := sub.Recv()
			if err != nil {
				return
			}
			if m := r.GetMessage(); m != nil {
				payloads <- string(m.GetPayload())
			}
		}
	}()
	waitFor(t, 20*time.Second, "the stream is registered", func() bool { return counter(t, p, "subscribers") >= 1 })
	return payloads
}

// awaitPayload waits (generously) until payloads delivers want, skipping
// earlier ones.
func awaitPayload(t *testing.T, payloads <-chan string, want, who string) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case got, ok := <-payloads:
			require.True(t, ok, "%s: the stream ended before %q arrived", who, want)
			if got == want {
				return
			}
		case <-timeout:
			t.Fatalf("%s: broadcast %q not delivered within 30s", who, want)
		}
	}
}

// A cluster CA rotation in three rollouts (docs/operations.md, "Rotating
// the cluster CA"), one agent restarted at a time: every CA file lists the
// old CA then the new one; every key is re-certified by the new CA (gossipd
// certify); every CA file lists the new CA alone. After every restart the
// three agents list each other alive under unchanged addresses and a
// broadcast from the restarted one reaches all three. An agent that skipped
// rollout 1 (its key certified by the new CA while the cluster trusts only
// the old one) is refused, and so is one that skipped rollout 2 once the
// cluster trusts only the new CA; the refusals are counted.
func TestClusterCARotationThroughTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	oldCA, oldPub := keygen(t, dir, "old-ca")
	newCA, newPub := keygen(t, dir, "new-ca")
	names := []string{"a", "b", "c"}
	agents := make([]*proc, len(names))
	subs := make([]<-chan string, len(names))
	want := map[string]string{} // every agent's full address, alive
	for i, name := range names {
		_, stderr, err := cli(t, "keygen", "-out", filepath.Join(dir, name+".key"), "-ca", oldCA)
		require.NoError(t, err, stderr)
		args := []string{"-cluster-ca", writeCAFile(t, dir, name, oldPub)}
		if i > 0 {
			args = append(args, "-seeds", agents[0].addr())
		}
		agents[i] = startAgent(t, dir, name, args...)
		subs[i] = subscribe(t, agents[i], "rotation")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		st, err := agents[i].client(t).Status(ctx, &gossipdv1.StatusRequest{})
		cancel()
		require.NoError(t, err)
		want[st.GetAddr()] = "alive"
	}

	// connected checks that every agent lists the three, alive, under the
	// addresses they had at the start, and that a broadcast from agents[from]
	// reaches every agent.
	connected := func(step string, from int) {
		t.Helper()
		waitFor(t, 60*time.Second, step+": the three agents list each other alive", func() bool {
			for _, p := range agents {
				if !maps.Equal(fullMembers(t, p), want) {
					return false
				}
			}
			return true
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := agents[from].client(t).Broadcast(ctx, &gossipdv1.BroadcastRequest{Topic: "rotation", Payload: []byte(step)})
		require.NoError(t, err, step)
		for i, name := range names {
			awaitPayload(t, subs[i], step, step+": agent "+name)
		}
	}
	// restart stops agent i gracefully and starts it again on the same
	// port with its CA file, seeded by the next agent.
	restart := func(i int, step string) {
		t.Helper()
		require.NoError(t, agents[i].stop(t, syscall.SIGTERM), "agent %s did not stop cleanly", names[i])
		agents[i] = startAgentAt(t, dir, names[i], agents[i].port,
			"-cluster-ca", filepath.Join(dir, names[i]+".ca"), "-seeds", agents[(i+1)%len(agents)].addr())
		subs[i] = subscribe(t, agents[i], "rotation")
		connected(step+", "+names[i]+" restarted", i)
	}
	connected("before the rotation", 0)

	// An agent that skipped rollout 1: its key certified by the new CA
	// while the others trust the old one only.
	_, stderr, err := cli(t, "keygen", "-out", filepath.Join(dir, "early.key"), "-ca", newCA)
	require.NoError(t, err, stderr)
	rejected := counter(t, agents[0], "transport_rejected")
	early := startAgent(t, dir, "early", "-cluster-ca", writeCAFile(t, dir, "early", oldPub, newPub), "-seeds", agents[0].addr())
	requireShutOut(t, early, agents...)
	waitFor(t, 30*time.Second, "a counts its refusals of the early agent", func() bool {
		return counter(t, agents[0], "transport_rejected") > rejected
	})
	require.NoError(t, early.stop(t, syscall.SIGTERM))

	for i, name := range names { // rollout 1: trust both CAs
		writeCAFile(t, dir, name, oldPub, newPub)
		restart(i, "rollout 1")
	}
	for i, name := range names { // rollout 2: re-certify every key by the new CA
		keyFile := filepath.Join(dir, name+".key")
		out, stderr, err := cli(t, "certify", "-key-file", keyFile, "-ca", newCA)
		require.NoError(t, err, stderr)
		pub, _, _ := strings.Cut(fullAddr(t, want, agents[i]), "@")
		require.Contains(t, out, "public key: "+pub, "certify changed the key")
		restart(i, "rollout 2")
	}

	// An agent that skipped rollout 2: its key still certified by the old
	// CA when rollout 3 starts. It is refused once the others trust only
	// the new CA.
	_, stderr, err = cli(t, "keygen", "-out", filepath.Join(dir, "late.key"), "-ca", oldCA)
	require.NoError(t, err, stderr)
	writeCAFile(t, dir, "late", oldPub, newPub)

	for i, name := range names { // rollout 3: trust the new CA alone
		writeCAFile(t, dir, name, newPub)
		restart(i, "rollout 3")
	}

	rejected = counter(t, agents[0], "transport_rejected")
	late := startAgent(t, dir, "late", "-cluster-ca", filepath.Join(dir, "late.ca"), "-seeds", agents[0].addr())
	requireShutOut(t, late, agents...)
	waitFor(t, 30*time.Second, "a counts its refusals of the late agent", func() bool {
		return counter(t, agents[0], "transport_rejected") > rejected
	})
	require.NoError(t, late.stop(t, syscall.SIGTERM))
}

// fullAddr returns the full address in want of agent p.
func fullAddr(t *testing.T, want map[string]string, p *proc) string {
	t.Helper()
	for addr := range want {
		if strings.HasSuffix(addr, "@"+p.addr()) {
			return addr
		}
	}
	t.Fatalf("no address for port %d", p.port)
	return ""
}
