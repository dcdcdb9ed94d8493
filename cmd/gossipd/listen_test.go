package main

import (
	"flag"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/cmd/gossipd/internal/testbin"
)

// endToEndParallel is how many tests run at once when -parallel is not
// given (its default is GOMAXPROCS, 2 on a small machine): the tests that
// run agents as processes spend their time waiting on those agents (joins,
// failure detection, "never" checks that watch for seconds), not
// computing, so more of them overlap well.
const endToEndParallel = 4

func TestMain(m *testing.M) {
	flag.Parse()
	given := false
	flag.Visit(func(f *flag.Flag) { given = given || f.Name == "test.parallel" })
	if !given && runtime.GOMAXPROCS(0) < endToEndParallel {
		_ = flag.Set("test.parallel", strconv.Itoa(endToEndParallel))
	}
	code := m.Run()
	testbin.Remove()
	os.Exit(code)
}

func TestListenUnixRemovesOnlyStaleSockets(t *testing.T) {
	dir := shortDir(t)
	path := filepath.Join(dir, "s.sock")
	// A stale socket: its listener closed without removing it.
	stale, err := net.Listen("unix", path)
	require.NoError(t, err)
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	require.NoError(t, stale.Close())
	lis, err := listenUnix(path)
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	// A live one is refused and left alone.
	_, err = listenUnix(path)
	require.ErrorContains(t, err, "in use by a running agent")
	require.NoError(t, lis.Close())
	_, err = os.Stat(path)
	require.True(t, os.IsNotExist(err), "closing removes the socket")
	// A regular file is never removed.
	require.NoError(t, os.WriteFile(path, []byte("data"), 0o600))
	_, err = listenUnix(path)
	require.ErrorContains(t, err, "is not a socket")
}

func TestListenLoopback(t *testing.T) {
	lis, err := listenLoopback("127.0.0.1:0")
	require.NoError(t, err)
	require.NoError(t, lis.Close())
	for _, addr := range []string{"0.0.0.0:1", "10.0.0.1:1", ":1", "example.com:1"} {
		_, err := listenLoopback(addr)
		require.ErrorContains(t, err, "not a loopback address", addr)
	}
}
