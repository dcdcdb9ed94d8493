package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// listenUnix listens on a Unix socket at path with owner-only permissions.
// An existing socket is removed only if nothing answers on it (a stale one
// left by a crashed agent); a live agent's socket, or a file that is not a
// socket, is an error.
func listenUnix(path string) (net.Listener, error) {
	info, err := os.Lstat(path)
	switch {
	case err == nil:
		if info.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("gossipd: %s exists and is not a socket; refusing to remove it", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("gossipd: socket %s is in use by a running agent", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("gossipd: remove stale socket: %w", err)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("gossipd: socket %s: %w", path, err)
	}
	old := syscall.Umask(0o077)
	lis, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("gossipd: listen on socket: %w", err)
	}
	lis.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		_ = lis.Close()
		return nil, fmt.Errorf("gossipd: socket permissions: %w", err)
	}
	return lis, nil
}

// listenLoopback listens on a TCP address, which must be a loopback one.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("gossipd: -grpc-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("gossipd: -grpc-addr %q is not a loopback address; the API has no authentication, so it listens on loopback only", addr)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gossipd: listen on -grpc-addr: %w", err)
	}
	return lis, nil
}
