package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/cmd/gossipd/internal/datadir"
)

// selfIncarnation returns the incarnation p reports for itself.
func selfIncarnation(t *testing.T, p *proc) uint64 {
	t.Helper()
	resp, err := p.client(t).Members(context.Background(), &gossipdv1.MembersRequest{})
	require.NoError(t, err)
	for _, m := range resp.GetMembers() {
		if m.GetSelf() {
			return m.GetIncarnation()
		}
	}
	t.Fatal("no self in the member list")
	return 0
}

// incarnationSeenBy returns the state and incarnation of the member at
// host:port addr in p's list.
func incarnationSeenBy(t *testing.T, p *proc, addr string) (string, uint64) {
	t.Helper()
	resp, err := p.client(t).Members(context.Background(), &gossipdv1.MembersRequest{})
	require.NoError(t, err)
	for _, m := range resp.GetMembers() {
		if strings.HasSuffix(m.GetAddr(), "@"+addr) {
			return stateName(m.GetState()), m.GetIncarnation()
		}
	}
	return "", 0
}

// broadcastSeq broadcasts from p and returns the sequence number of the
// message ID ("origin-sequence" in hexadecimal).
func broadcastSeq(t *testing.T, p *proc, payload string) uint64 {
	t.Helper()
	out, stderr, err := cli(t, "broadcast", "-socket", p.socket, "-topic", "t", payload)
	require.NoError(t, err, stderr)
	_, seq, ok := strings.Cut(strings.TrimSpace(out), "-")
	require.True(t, ok, out)
	n, err := strconv.ParseUint(seq, 16, 64)
	require.NoError(t, err)
	return n
}

// An agent with a data directory, restarted without seeds and with its
// wall clock set far back, rejoins the cluster through the members it
// saved, under an incarnation above its last one, and names its
// broadcasts above every message ID it used: after a crash (SIGKILL: the
// reservation made ahead of use) and after a graceful stop.
func TestDataDirRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	data := filepath.Join(dir, "data")
	a0 := startAgent(t, dir, "a0")
	a1 := startAgent(t, dir, "a1", "-seeds", a0.addr())
	port := freePort(t)
	a2 := startAgentAt(t, dir, "a2", port, "-seeds", a0.addr(), "-data-dir", data)
	ps := []*proc{a0, a1, a2}
	allAlive := func(ps []*proc) func() bool { return func() bool { return allListAlive(t, ps, len(ps)) } }
	waitFor(t, 30*time.Second, "3 alive members everywhere", allAlive(ps))
	// The data directory lists the two others once saved.
	waitFor(t, 30*time.Second, "a2 saved the two other members", func() bool {
		_, st, err := datadir.Open(data)
		return err == nil && st != nil && len(st.Members) == 2
	})

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sub, err := a0.client(t).Subscribe(ctx, &gossipdv1.SubscribeRequest{Topics: []string{"t"}})
	require.NoError(t, err)
	waitFor(t, 10*time.Second, "the subscription is registered", func() bool {
		st, err := a0.client(t).Status(ctx, &gossipdv1.StatusRequest{})
		return err == nil && st.GetCounters()["subscribers"] == 1
	})
	inc := selfIncarnation(t, a2)
	seq := broadcastSeq(t, a2, "before")
	for range 3 { // a few more, still within the first reservation
		seq = max(seq, broadcastSeq(t, a2, "before"))
	}
	for range 4 {
		ev, err := sub.Recv()
		require.NoError(t, err)
		require.Equal(t, "before", string(ev.GetMessage().GetPayload()))
	}

	// The wall clock now reads 1 ns after the epoch for a2.
	restart := func(sig syscall.Signal) *proc {
		t.Helper()
		_ = a2.stop(t, sig)
		p := startAgentEnv(t, dir, "a2", port, []string{wallClockEnv + "=1"}, "-data-dir", data) // no seeds
		waitFor(t, 60*time.Second, "the restarted a2 rejoined: 3 alive everywhere, its new incarnation known", func() bool {
			if !allAlive([]*proc{a0, a1, p})() {
				return false
			}
			mine := selfIncarnation(t, p)
			for _, q := range []*proc{a0, a1} {
				if st, i := incarnationSeenBy(t, q, p.addr()); st != "alive" || i != mine {
					return false
				}
			}
			return true
		})
		return p
	}
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		a2 = restart(sig)
		// The incarnation it started with, before any refutation (which
		// would raise it too, on hearing of its old record).
		m := regexp.MustCompile(`"incarnation": (\d+)`).FindStringSubmatch(a2.log.String())
		require.NotNil(t, m, "a2 logs its data directory")
		started, err := strconv.ParseUint(m[1], 10, 64)
		require.NoError(t, err)
		require.Greater(t, started, inc, "after %v: the incarnation went up though the clock went back", sig)
		require.Less(t, started, inc+1000, "after %v: it comes from the saved one, not the clock", sig)
		newInc := selfIncarnation(t, a2)
		require.GreaterOrEqual(t, newInc, started)
		newSeq := broadcastSeq(t, a2, "after "+sig.String())
		require.Greater(t, newSeq, seq, "after %v: the message ID is new though the clock went back", sig)
		ev, err := sub.Recv()
		require.NoError(t, err)
		require.Equal(t, "after "+sig.String(), string(ev.GetMessage().GetPayload()), "a0 delivers it: not taken for an old message")
		inc, seq = newInc, newSeq
	}
	_, err = os.Stat(filepath.Join(data, datadir.FileName))
	require.NoError(t, err)
}

// A corrupt state file stops the agent with a clear error naming it.
func TestDataDirCorruptRefused(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	data := filepath.Join(dir, "data")
	require.NoError(t, os.MkdirAll(data, 0o700))
	path := filepath.Join(data, datadir.FileName)
	require.NoError(t, os.WriteFile(path, []byte("{not json"), 0o600))
	_, stderr, err := cli(t, "agent", "-bind", "127.0.0.1:0", "-key-file", filepath.Join(dir, "k.key"),
		"-grpc-socket", filepath.Join(dir, "k.sock"), "-data-dir", data)
	require.Error(t, err)
	require.Contains(t, stderr, path)
	require.Contains(t, stderr, "corrupt")
}

// A subscriber that resumes after the agent restarted is told so, then
// gets what the new run retained; resuming within a run is unchanged.
func TestResumeAcrossAgentRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary")
	}
	t.Parallel()
	dir := shortDir(t)
	port := freePort(t)
	a := startAgentAt(t, dir, "a", port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	waitFor(t, 10*time.Second, "a joined", func() bool {
		st, err := a.client(t).Status(ctx, &gossipdv1.StatusRequest{})
		return err == nil && st.GetJoined()
	})
	for _, p := range []string{"one", "two"} {
		broadcastSeq(t, a, p)
	}
	st, err := a.client(t).Status(ctx, &gossipdv1.StatusRequest{})
	require.NoError(t, err)
	epoch, last := st.GetEpoch(), st.GetLastSequence()
	require.NotZero(t, epoch)
	require.Equal(t, uint64(2), last)
	// Within the epoch: the replay after 1.
	stream, err := a.client(t).Subscribe(ctx, &gossipdv1.SubscribeRequest{ResumeFrom: 1, ResumeEpoch: epoch})
	require.NoError(t, err)
	ev, err := stream.Recv()
	require.NoError(t, err)
	require.Equal(t, uint64(2), ev.GetMessage().GetSequence())
	require.Equal(t, epoch, ev.GetMessage().GetEpoch())

	require.NoError(t, a.stop(t, syscall.SIGTERM))
	a = startAgentAt(t, dir, "a", port)
	waitFor(t, 10*time.Second, "a joined again", func() bool {
		st, err := a.client(t).Status(ctx, &gossipdv1.StatusRequest{})
		return err == nil && st.GetJoined()
	})
	broadcastSeq(t, a, "three")
	stream, err = a.client(t).Subscribe(ctx, &gossipdv1.SubscribeRequest{ResumeFrom: last, ResumeEpoch: epoch})
	require.NoError(t, err)
	ev, err = stream.Recv()
	require.NoError(t, err)
	r := ev.GetRestarted()
	require.NotNil(t, r, "a restart notice first, got %v", ev)
	require.Equal(t, epoch, r.GetPreviousEpoch())
	require.NotEqual(t, epoch, r.GetEpoch())
	ev, err = stream.Recv()
	require.NoError(t, err)
	require.Equal(t, "three", string(ev.GetMessage().GetPayload()))
	require.Equal(t, uint64(1), ev.GetMessage().GetSequence())
	require.Equal(t, r.GetEpoch(), ev.GetMessage().GetEpoch())

	// The CLI says it too.
	out, stderr, err := cli(t, "subscribe", "-socket", a.socket, "-resume-from", "2", "-resume-epoch", strconv.FormatUint(epoch, 10), "-count", "1")
	require.NoError(t, err, stderr)
	require.Contains(t, out, "resumed across an agent restart")
	require.Contains(t, out, `"three"`)
}
