package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
	"github.com/plumview/plumview/cmd/gossipd/internal/testbin"
)

// binary builds gossipd once per test run.
func binary(t *testing.T) string {
	t.Helper()
	bin, err := testbin.Build(".")
	require.NoError(t, err)
	return bin
}

// proc is one agent process.
type proc struct {
	cmd    *exec.Cmd
	socket string
	port   int
	log    *lockedBuffer
	done   chan error
}

// lockedBuffer is a process's output, which a test may read while the
// process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// freePort returns a UDP port free on loopback now.
func freePort(t *testing.T) int {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).Port
}

// shortDir returns a temporary directory short enough for socket paths.
func shortDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gd")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// startAgent starts agent name in dir with extra flags.
func startAgent(t *testing.T, dir, name string, extra ...string) *proc {
	t.Helper()
	return startAgentAt(t, dir, name, freePort(t), extra...)
}

// startAgentAt starts agent name in dir on UDP port port of loopback with
// extra flags; a restarted agent keeps its port, so its address.
func startAgentAt(t *testing.T, dir, name string, port int, extra ...string) *proc {
	t.Helper()
	return startAgentEnv(t, dir, name, port, nil, extra...)
}

// startAgentEnv is startAgentAt with extra environment variables
// ("NAME=value") for this agent alone: tests that run in parallel must not
// share theirs through the test process's environment (t.Setenv).
func startAgentEnv(t *testing.T, dir, name string, port int, env []string, extra ...string) *proc {
	t.Helper()
	p := &proc{socket: filepath.Join(dir, name+".sock"), port: port, log: &lockedBuffer{}, done: make(chan error, 1)}
	args := append([]string{"agent", "-bind", fmt.Sprintf("127.0.0.1:%d", p.port),
		"-key-file", filepath.Join(dir, name+".key"), "-grpc-socket", p.socket, "-log-format", "console",
		"-shutdown-timeout", "5s"}, extra...)
	p.cmd = exec.Command(binary(t), args...)
	if env != nil {
		p.cmd.Env = append(os.Environ(), env...)
	}
	p.cmd.Stderr = p.log
	p.cmd.Stdout = p.log
	require.NoError(t, p.cmd.Start())
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(10 * time.Second):
		}
		if t.Failed() {
			t.Logf("log of %s:\n%s", name, p.log.String())
		}
	})
	waitFor(t, 10*time.Second, "agent "+name+" answers", func() bool {
		_, _, err := cli(t, "status", "-socket", p.socket)
		return err == nil
	})
	return p
}

// stop sends sig and waits (bounded) for the process to exit.
func (p *proc) stop(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(sig))
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(15 * time.Second):
		t.Fatalf("agent did not exit within 15s of %v", sig)
		return nil
	}
}

// cli runs the binary with args and returns its stdout and stderr.
func cli(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	bin := binary(t) // built before the call's deadline starts: the build may take longer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// members returns the state of every member p lists, by host:port.
func (p *proc) members(t *testing.T) map[string]string {
	t.Helper()
	got := map[string]string{}
	for addr, st := range fullMembers(t, p) {
		_, hostport, _ := strings.Cut(addr, "@")
		got[hostport] = st
	}
	return got
}

// allListAlive reports whether every agent of ps lists exactly n members
// alive.
func allListAlive(t *testing.T, ps []*proc, n int) bool {
	t.Helper()
	for _, p := range ps {
		alive := 0
		for _, st := range p.members(t) {
			if st == "alive" {
				alive++
			}
		}
		if alive != n {
			return false
		}
	}
	return true
}

// fullMembers returns the state of every member p lists, by full address
// (key@host:port), as `gossipd members -o json` prints them.
func fullMembers(t *testing.T, p *proc) map[string]string {
	t.Helper()
	out, stderr, err := cli(t, "members", "-socket", p.socket, "-o", "json")
	require.NoError(t, err, stderr)
	var resp struct {
		Members []struct{ Addr, State string }
	}
	require.NoError(t, json.Unmarshal([]byte(out), &resp))
	got := map[string]string{}
	for _, m := range resp.Members {
		got[m.Addr] = strings.ToLower(strings.TrimPrefix(m.State, "MEMBER_STATE_"))
	}
	return got
}

func (p *proc) addr() string { return fmt.Sprintf("127.0.0.1:%d", p.port) }

// conn returns a gRPC connection to p's API.
func (p *proc) conn(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+p.socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// client returns a gRPC client of p's API.
func (p *proc) client(t *testing.T) gossipdv1.GossipServiceClient {
	return gossipdv1.NewGossipServiceClient(p.conn(t))
}

// waitFor polls cond until it holds or d passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for: %s", d, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
