package faultlab

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// nsPrefix starts the name of every namespace this run creates; the
// process ID tells a later run whether its creator still lives.
var nsPrefix = fmt.Sprintf("pvfl%d-", os.Getpid())

// staleNS matches the namespaces of any run of the lab.
var staleNS = regexp.MustCompile(`^pvfl([0-9]+)-`)

// registry holds what the lab created that must not outlive it, so that
// t.Cleanup and the signal handler can remove it. Once the signal handler
// has closed it, what the test goroutines go on creating is removed at
// once.
type registry struct {
	removing sync.Mutex // held for a whole removeAll, so that exit waits for it
	mu       sync.Mutex
	closed   bool
	pids     map[int]bool
	spaces   []string // in creation order
}

var reg = &registry{pids: map[int]bool{}}

// errClosed refuses what a test creates after an interruption.
var errClosed = errors.New("faultlab: interrupted, removing everything")

func (r *registry) addPID(pid int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		return
	}
	r.pids[pid] = true
}

func (r *registry) delPID(pid int) { r.mu.Lock(); delete(r.pids, pid); r.mu.Unlock() }

func (r *registry) addNS(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		_ = run("ip", "netns", "del", name)
		return errClosed
	}
	r.spaces = append(r.spaces, name)
	return nil
}

// removeAll kills every process the lab started and is still tracking,
// then deletes every namespace it created (iptables rules go with them).
// With close set, it also refuses whatever comes next.
func (r *registry) removeAll(close bool) {
	r.removing.Lock()
	defer r.removing.Unlock()
	r.mu.Lock()
	pids := r.pids
	spaces := r.spaces
	r.pids, r.spaces = map[int]bool{}, nil
	r.closed = r.closed || close
	r.mu.Unlock()
	for pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		_ = syscall.Kill(pid, syscall.SIGCONT)
	}
	for i := len(spaces) - 1; i >= 0; i-- {
		_ = run("ip", "netns", "del", spaces[i])
	}
}

// run runs a command and returns its error with its output.
func run(name string, args ...string) error {
	_, err := output(nil, name, args...)
	return err
}

// output runs a command, with stdin if given, and returns its standard
// output; an error carries the combined output.
func output(stdin []byte, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s%s", name, strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

// removeStale deletes the namespaces of earlier runs whose process is gone
// (killed before its cleanup ran), first killing the gossipd agents still
// inside them. It returns what it removed.
func removeStale() []string {
	out, err := output(nil, "ip", "netns", "list")
	if err != nil {
		return nil
	}
	var removed []string
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(line), " ")
		m := staleNS.FindStringSubmatch(name)
		if m == nil {
			continue
		}
		if pid, _ := strconv.Atoi(m[1]); pid == os.Getpid() || labRunning(pid) {
			continue
		}
		if pids, err := output(nil, "ip", "netns", "pids", name); err == nil {
			for _, f := range strings.Fields(pids) {
				if pid, err := strconv.Atoi(f); err == nil && comm(pid) == "gossipd" {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if run("ip", "netns", "del", name) == nil {
			removed = append(removed, name)
		}
	}
	return removed
}

// comm returns the command name of process pid, "" if there is none.
func comm(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// labRunning reports whether pid is a running test binary of the lab.
func labRunning(pid int) bool { return comm(pid) == "faultlab.test" }

// labChains are every agent namespace's rules: LAB_IN and LAB_OUT hold
// the scenario's fault rules, LAB_GATE the rule that keeps an agent off
// the network until the lab listens.
const labChains = "*filter\n:LAB_IN - [0:0]\n:LAB_OUT - [0:0]\n:LAB_GATE - [0:0]\n" +
	"-A INPUT -j LAB_GATE\n-A INPUT -j LAB_IN\n-A OUTPUT -j LAB_OUT\nCOMMIT\n"

// network is one scenario's network: a bridge in a namespace of its own and
// one namespace per agent, linked to the bridge by a veth pair, addressed
// in 10.213.0.0/16 (which exists only inside these namespaces).
type network struct {
	bridgeNS string
	agentNS  []string
	ips      []string
	// otherNS are namespaces beside the agents' and the bridge's (the
	// NAT lab's routers), removed before the bridge's.
	otherNS []string
}

// newNetwork creates the bridge namespace and n agent namespaces for
// scenario k. Every namespace is registered before anything is put in it.
func newNetwork(k, n int) (*network, error) {
	nw := &network{bridgeNS: fmt.Sprintf("%s%d-br", nsPrefix, k)}
	if err := addNS(nw.bridgeNS); err != nil {
		return nil, err
	}
	br := []string{"-n", nw.bridgeNS}
	if err := run("ip", append(br, "link", "add", "br0", "type", "bridge")...); err != nil {
		return nil, err
	}
	if err := run("ip", append(br, "link", "set", "br0", "up")...); err != nil {
		return nil, err
	}
	for i := range n {
		ns := fmt.Sprintf("%s%d-%d", nsPrefix, k, i)
		ip := fmt.Sprintf("10.213.%d.%d", i/250, i%250+1)
		if err := addNS(ns); err != nil {
			return nil, err
		}
		veth := fmt.Sprintf("v%d", i)
		for _, args := range [][]string{
			append(br, "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns),
			append(br, "link", "set", veth, "master", "br0", "up"),
			{"-n", ns, "addr", "add", ip + "/16", "dev", "eth0"},
			{"-n", ns, "link", "set", "eth0", "up"},
			{"-n", ns, "link", "set", "lo", "up"},
		} {
			if err := run("ip", args...); err != nil {
				return nil, err
			}
		}
		nw.agentNS = append(nw.agentNS, ns)
		nw.ips = append(nw.ips, ip)
		if err := nw.iptablesRestore(i, labChains); err != nil {
			return nil, err
		}
	}
	return nw, nil
}

func addNS(name string) error {
	if err := run("ip", "netns", "add", name); err != nil {
		return err
	}
	return reg.addNS(name)
}

// iptablesRestore applies rules (iptables-restore syntax, without
// flushing the other chains) in agent i's namespace, atomically.
func (nw *network) iptablesRestore(i int, rules string) error {
	_, err := output([]byte(rules), "ip", "netns", "exec", nw.agentNS[i], "iptables-restore", "-w", "5", "--noflush")
	return err
}

// setChain replaces the rules of chain (LAB_IN, LAB_OUT or LAB_GATE) in
// agent i's namespace by rules, each the arguments of one "-A chain".
func (nw *network) setChain(i int, chain string, rules ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*filter\n-F %s\n", chain)
	for _, r := range rules {
		fmt.Fprintf(&b, "-A %s %s\n", chain, r)
	}
	b.WriteString("COMMIT\n")
	return nw.iptablesRestore(i, b.String())
}

// remove deletes the scenario's namespaces (the lab's processes in them
// must be gone first, or the namespace outlives its name).
func (nw *network) remove() {
	for _, ns := range append(append(append([]string(nil), nw.agentNS...), nw.otherNS...), nw.bridgeNS) {
		_ = run("ip", "netns", "del", ns)
	}
}
