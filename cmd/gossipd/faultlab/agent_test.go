package faultlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	gossipdv1 "github.com/plumview/plumview/api/plumview/gossipd/v1"
)

// port is the QUIC port of every agent; each has an address of its own.
const port = 7946

// agent is one slot of the cluster: a namespace, an address, a key file
// and a member ID, and the processes that ran there one after the other.
type agent struct {
	c  *cluster
	i  int
	id string // member ID, stable across restarts (same key file)
	// args are added to this agent's command line after the cluster's
	// (the NAT lab's roles: a relay, its own metrics address).
	args []string

	mu      sync.Mutex
	procs   []*process
	paused  bool      // SIGSTOP sent and no SIGCONT yet
	down    bool      // no process runs (killed or between restarts)
	killed  time.Time // when SIGKILL was sent; zero if never
	driveMu sync.Mutex
	driving bool // whether the driver broadcasts from this agent
	counter int
}

// process is one run of gossipd in an agent's namespace.
type process struct {
	key        procKey
	cmd        *exec.Cmd
	log        *capBuf
	exited     chan struct{}
	expectExit atomic.Bool
	conn       *grpc.ClientConn
	cl         gossipdv1.GossipServiceClient
	cancel     context.CancelFunc
}

// capBuf is a log buffer that keeps the last logCap bytes.
type capBuf struct {
	mu sync.Mutex
	b  []byte
}

const logCap = 256 << 10

func (c *capBuf) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.b = append(c.b, p...)
	if len(c.b) > logCap {
		c.b = append([]byte(nil), c.b[len(c.b)-logCap:]...)
	}
	return len(p), nil
}

func (c *capBuf) String() string { c.mu.Lock(); defer c.mu.Unlock(); return string(c.b) }

func (a *agent) ns() string     { return a.c.nw.agentNS[a.i] }
func (a *agent) addr() string   { return fmt.Sprintf("%s:%d", a.c.nw.ips[a.i], port) }
func (a *agent) socket() string { return filepath.Join(a.c.dir, fmt.Sprintf("a%d.sock", a.i)) }

// cur returns the agent's latest process (nil before the first start).
func (a *agent) cur() *process {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.procs) == 0 {
		return nil
	}
	return a.procs[len(a.procs)-1]
}

// live reports whether the agent runs and is not paused.
func (a *agent) live() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.procs) > 0 && !a.down && !a.paused
}

// start runs a new gossipd process joining through seeds. The process
// stays off the network (LAB_GATE drops its input) until its subscriber and
// member watcher are in place, so that the lab sees every delivery and
// every event of it.
func (a *agent) start(seeds []string) error {
	c := a.c
	if err := c.nw.setChain(a.i, "LAB_GATE", "-j DROP"); err != nil {
		return err
	}
	a.mu.Lock()
	p := &process{key: procKey{a.i, len(a.procs)}, log: &capBuf{}, exited: make(chan struct{})}
	a.mu.Unlock()
	args := []string{"netns", "exec", a.ns(), c.bin, "agent", "-bind", a.addr(),
		"-key-file", filepath.Join(c.dir, fmt.Sprintf("a%d.key", a.i)), "-grpc-socket", a.socket(),
		"-cluster-secret-file", filepath.Join(c.dir, "secret"), "-log-format", "console", "-shutdown-timeout", "5s",
		// As an operator runs it: the data directory keeps the delivery
		// marks, so a restarted agent delivers nothing twice.
		"-data-dir", filepath.Join(c.dir, fmt.Sprintf("a%d.data", a.i))}
	if len(seeds) > 0 {
		args = append(args, "-seeds", strings.Join(seeds, ","))
	}
	args = append(append(args, c.agentArgs...), a.args...)
	p.cmd = exec.Command("ip", args...) // ip netns exec execs gossipd in place: same PID
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	// The agents die with the test process, even killed by the go test
	// timeout; the namespaces they leave are removed by the next run.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	pid := p.cmd.Process.Pid
	reg.addPID(pid)
	go func() {
		err := p.cmd.Wait()
		reg.delPID(pid)
		close(p.exited)
		if !p.expectExit.Load() {
			c.rec.problem(fmt.Sprintf("agent %d (process %d) exited unexpectedly: %v; log tail:\n%s", a.i, p.key.proc, err, tail(p.log.String(), 3000)))
		}
	}()
	a.mu.Lock()
	a.procs = append(a.procs, p)
	a.down = false
	a.mu.Unlock()
	if err := a.listen(p); err != nil {
		return err
	}
	if err := c.nw.setChain(a.i, "LAB_GATE"); err != nil {
		return err
	}
	c.hist.up(a.i, time.Now())
	return nil
}

// listen connects to the process's API, opens its member watcher and its
// subscriber, and waits until the agent counts the subscriber.
func (a *agent) listen(p *process) error {
	conn, err := grpc.NewClient("unix://"+a.socket(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	p.conn, p.cl = conn, gossipdv1.NewGossipServiceClient(conn)
	st, err := a.waitStatus(p, 20*time.Second, func(*gossipdv1.StatusResponse) bool { return true })
	if err != nil {
		return fmt.Errorf("agent %d does not answer: %w\n%s", a.i, err, tail(p.log.String(), 3000))
	}
	a.id = st.GetId()
	ctx, cancel := context.WithCancel(a.c.ctx)
	p.cancel = cancel
	watch, err := p.cl.WatchMembers(ctx, &gossipdv1.WatchMembersRequest{})
	if err != nil {
		return err
	}
	sub, err := p.cl.Subscribe(ctx, &gossipdv1.SubscribeRequest{})
	if err != nil {
		return err
	}
	rec := a.c.rec
	go func() {
		for {
			resp, err := watch.Recv()
			if err != nil {
				return
			}
			if l := resp.GetLagged(); l != nil {
				rec.lagEvents(l.GetMissed())
			} else if e := resp.GetMemberEvent(); e != nil {
				rec.event(p.key, e.GetKind(), e.GetMember().GetId())
			}
		}
	}()
	go func() {
		for {
			resp, err := sub.Recv()
			if err != nil {
				return
			}
			if m := resp.GetMessage(); m != nil {
				rec.deliver(p.key, string(m.GetPayload()))
			} else if origin, n, ok := missedOf(resp); ok {
				rec.miss(p.key, origin, n)
			}
		}
	}()
	_, err = a.waitStatus(p, 20*time.Second, func(st *gossipdv1.StatusResponse) bool {
		return st.GetCounters()["subscribers"] >= 1
	})
	return err
}

// waitStatus polls the process's Status until cond holds, the process
// exits or d passes.
func (a *agent) waitStatus(p *process, d time.Duration, cond func(*gossipdv1.StatusResponse) bool) (*gossipdv1.StatusResponse, error) {
	deadline := time.Now().Add(d)
	var last error
	for time.Now().Before(deadline) {
		select {
		case <-p.exited:
			return nil, errors.New("the process exited")
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		st, err := p.cl.Status(ctx, &gossipdv1.StatusRequest{})
		cancel()
		if err == nil && cond(st) {
			return st, nil
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
	return nil, fmt.Errorf("condition not met within %v (last error: %v)", d, last)
}

// setDriving turns the driver on or off for this agent; turning it off
// waits for the broadcast in flight, so that no broadcast straddles a
// signal.
func (a *agent) setDriving(on bool) {
	a.driveMu.Lock()
	a.driving = on
	a.driveMu.Unlock()
}

// signal pauses the driver and sends sig to the current process,
// recording in the history when the agent stops being reachable.
func (a *agent) signal(sig syscall.Signal) error {
	p := a.cur()
	if sig != syscall.SIGCONT {
		a.setDriving(false)
	}
	if sig == syscall.SIGKILL || sig == syscall.SIGTERM {
		p.expectExit.Store(true)
	}
	now := time.Now()
	a.mu.Lock()
	switch sig {
	case syscall.SIGSTOP:
		a.paused = true
	case syscall.SIGCONT:
		a.paused = false
	case syscall.SIGKILL:
		a.down, a.killed = true, now
	case syscall.SIGTERM:
		a.down = true
	}
	a.mu.Unlock()
	if sig == syscall.SIGCONT {
		a.c.hist.up(a.i, now)
	} else {
		a.c.hist.down(a.i, now)
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		return err
	}
	if sig == syscall.SIGCONT {
		a.setDriving(true)
	}
	if sig != syscall.SIGKILL && sig != syscall.SIGTERM {
		return nil
	}
	select {
	case <-p.exited:
	case <-time.After(20 * time.Second):
		return fmt.Errorf("agent %d did not exit within 20s of %v", a.i, sig)
	}
	p.cancel()
	_ = p.conn.Close()
	return nil
}

// restart stops the agent with SIGTERM (a graceful leave), starts it again
// with the same key file, waits until it has joined and turns the driver
// back on.
func (a *agent) restart(seeds []string) error {
	if err := a.signal(syscall.SIGTERM); err != nil {
		return err
	}
	if err := a.start(seeds); err != nil {
		return err
	}
	if _, err := a.waitStatus(a.cur(), a.c.settle, func(st *gossipdv1.StatusResponse) bool { return st.GetJoined() }); err != nil {
		return fmt.Errorf("agent %d did not rejoin: %w", a.i, err)
	}
	a.setDriving(true)
	return nil
}

// members returns the agent's member list: state by member ID.
func (a *agent) members() (map[string]gossipdv1.MemberState, error) {
	p := a.cur()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	out := map[string]gossipdv1.MemberState{}
	req := &gossipdv1.MembersRequest{}
	for {
		resp, err := p.cl.Members(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, m := range resp.GetMembers() {
			out[m.GetId()] = m.GetState()
		}
		if resp.GetNextAfterId() == 0 {
			return out, nil
		}
		req.AfterId = resp.GetNextAfterId()
	}
}

// sample returns the process's resident memory in KiB (from
// /proc/PID/status) and its goroutines (from Status; 0 if unknown).
func (a *agent) sample() (rssKiB int64, goroutines int64) {
	p := a.cur()
	if p == nil || !a.live() {
		return 0, 0
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				rssKiB, _ = strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			}
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if st, err := p.cl.Status(ctx, &gossipdv1.StatusRequest{}); err == nil {
		goroutines = st.GetCounters()["runtime_goroutines"]
	}
	return rssKiB, goroutines
}

// stopAll kills every process still running (SIGCONT first, for a paused
// one) and closes the lab's connections.
func (a *agent) stopAll() {
	a.mu.Lock()
	procs := append([]*process(nil), a.procs...)
	a.mu.Unlock()
	for _, p := range procs {
		p.expectExit.Store(true)
		_ = p.cmd.Process.Signal(syscall.SIGKILL)
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
		}
		if p.cancel != nil {
			p.cancel()
		}
		if p.conn != nil {
			_ = p.conn.Close()
		}
	}
}

// logs returns the logs of every process of the agent, for a failure.
func (a *agent) logs() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b bytes.Buffer
	for _, p := range a.procs {
		fmt.Fprintf(&b, "--- agent %d process %d ---\n%s\n", a.i, p.key.proc, tail(p.log.String(), 20000))
	}
	return b.String()
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}
