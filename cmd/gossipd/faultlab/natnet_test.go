package faultlab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// The NAT lab's network (docs/nat.md, "The NAT lab"): a public segment, a
// bridge in a namespace of its own, holding the two public agents and one
// leg of each of three routers; behind each router a LAN, a bridge in the
// router's namespace, holding agents whose default route is the router.
// The routers NAT their LAN with iptables and let nothing in that the LAN
// did not ask for. Every address exists only inside these namespaces, and
// nothing routes to the host's.
const (
	natPublicNet = "203.0.113" // /24: the "internet" (TEST-NET-3)
	natSeed      = 0           // agent 0: the seed, public
	natRelay     = 1           // agent 1: the STUN and TURN relay, public
	natAgents    = 7
	relayPort    = 3478
	httpAddr     = "127.0.0.1:9464" // each agent's -metrics-addr, on its namespace's loopback
)

// natLAN is one private LAN behind a router.
type natLAN struct {
	name   string
	net    string // its /24, e.g. "192.168.1"
	random bool   // --random-fully: a fresh port for every destination (symmetric)
	agents []int
}

// natLANs are the three LANs: two behind port-restricted cone NATs (Linux
// MASQUERADE keeps the source port when it can and lets in only replies
// from the address and port a packet went to), one behind a symmetric NAT.
var natLANs = []natLAN{
	{name: "LAN1", net: "192.168.1", agents: []int{2, 3}},
	{name: "LAN2", net: "192.168.2", agents: []int{4, 5}},
	{name: "LAN3", net: "192.168.3", random: true, agents: []int{6}},
}

// lanOf returns the index in natLANs of agent i's LAN, -1 for a public
// agent.
func lanOf(i int) int {
	for k, l := range natLANs {
		for _, a := range l.agents {
			if a == i {
				return k
			}
		}
	}
	return -1
}

// routerRules make a router a NAT: outgoing connections leave with the
// router's public address; from the public leg, only what belongs to a
// connection the LAN opened comes in, forwarded or to the router itself.
// Dropping the rest on INPUT as well keeps an unsolicited packet (a peer's
// first hole-punching check arriving before this side sent its own) from
// leaving a conntrack entry that would make the NAT give the LAN's next
// packet to that peer another port.
func routerRules(random bool) string {
	masq := "-A POSTROUTING -o wan -j MASQUERADE"
	if random {
		masq += " --random-fully"
	}
	return "*nat\n" + masq + "\nCOMMIT\n" +
		"*filter\n" +
		"-A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n-A INPUT -i wan -j DROP\n" +
		"-A FORWARD -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT\n-A FORWARD -i wan -j DROP\n" +
		"COMMIT\n"
}

// newNATNetwork creates the NAT lab's namespaces, links, addresses,
// routes and NAT rules. Agent i's namespace is agentNS[i], its address
// ips[i]. Every namespace is registered before anything is put in it.
func newNATNetwork() (*network, error) {
	p := nsPrefix + "nat-"
	nw := &network{bridgeNS: p + "pub", agentNS: make([]string, natAgents), ips: make([]string, natAgents)}
	if err := addNS(nw.bridgeNS); err != nil {
		return nil, err
	}
	pub := []string{"-n", nw.bridgeNS}
	steps := [][]string{append(pub, "link", "add", "br0", "type", "bridge"), append(pub, "link", "set", "br0", "up")}
	// leg puts a veth pair between a bridge (in brNS) and namespace ns,
	// named dev there, with address addr.
	leg := func(brNS, br, veth, ns, dev, addr string) {
		steps = append(steps,
			[]string{"-n", brNS, "link", "add", veth, "type", "veth", "peer", "name", dev, "netns", ns},
			[]string{"-n", brNS, "link", "set", veth, "master", br, "up"},
			[]string{"-n", ns, "addr", "add", addr + "/24", "dev", dev},
			[]string{"-n", ns, "link", "set", dev, "up"},
			[]string{"-n", ns, "link", "set", "lo", "up"})
	}
	newAgentNS := func(i int, ip string) error {
		nw.agentNS[i], nw.ips[i] = fmt.Sprintf("%sa%d", p, i), ip
		return addNS(nw.agentNS[i])
	}
	for _, i := range []int{natSeed, natRelay} {
		if err := newAgentNS(i, fmt.Sprintf("%s.%d", natPublicNet, 2+i)); err != nil {
			return nil, err
		}
		leg(nw.bridgeNS, "br0", fmt.Sprintf("s%d", i), nw.agentNS[i], "eth0", nw.ips[i])
	}
	for k, l := range natLANs {
		r := fmt.Sprintf("%sr%d", p, k+1)
		if err := addNS(r); err != nil {
			return nil, err
		}
		nw.otherNS = append(nw.otherNS, r)
		leg(nw.bridgeNS, "br0", fmt.Sprintf("r%d", k+1), r, "wan", fmt.Sprintf("%s.%d", natPublicNet, 11+k))
		steps = append(steps,
			[]string{"-n", r, "link", "add", "lan", "type", "bridge"},
			[]string{"-n", r, "addr", "add", l.net + ".1/24", "dev", "lan"},
			[]string{"-n", r, "link", "set", "lan", "up"})
		for j, i := range l.agents {
			if err := newAgentNS(i, fmt.Sprintf("%s.%d", l.net, 2+j)); err != nil {
				return nil, err
			}
			leg(r, "lan", fmt.Sprintf("a%d", i), nw.agentNS[i], "eth0", nw.ips[i])
			steps = append(steps, []string{"-n", nw.agentNS[i], "route", "add", "default", "via", l.net + ".1"})
		}
	}
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			return nil, err
		}
	}
	for k, l := range natLANs {
		r := nw.otherNS[k]
		if err := run("ip", "netns", "exec", r, "sysctl", "-qw", "net.ipv4.ip_forward=1"); err != nil {
			return nil, err
		}
		if _, err := output([]byte(routerRules(l.random)), "ip", "netns", "exec", r, "iptables-restore", "-w", "5"); err != nil {
			return nil, err
		}
	}
	for i := range nw.agentNS {
		if err := nw.iptablesRestore(i, labChains); err != nil {
			return nil, err
		}
	}
	return nw, nil
}

// inNS runs f on an OS thread that has joined network namespace ns, so
// that the sockets f opens belong to ns, then takes the thread back to
// the namespace it was in. The thread must not end instead: the agents
// die with the thread that started them (Pdeathsig, agent.start), and any
// thread may have. Should the way back fail, the thread stays locked to
// a goroutine parked for good rather than serve others in ns.
func inNS(ns string, f func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		back, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(back)
		fd, err := unix.Open("/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		err = unix.Setns(fd, unix.CLONE_NEWNET)
		_ = unix.Close(fd)
		if err == nil {
			err = f()
		} else {
			err = fmt.Errorf("setns %s: %w", ns, err)
		}
		if unix.Setns(back, unix.CLONE_NEWNET) != nil {
			errc <- err
			select {} // this thread is lost to the runtime, and kept
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}

// nsHTTP is an HTTP client whose connections are opened in namespace ns:
// it reaches the agent's -metrics-addr on that namespace's loopback.
func nsHTTP(ns string) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNS(ns, func() (err error) {
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
	return &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DialContext: dial, MaxIdleConnsPerHost: 1}}
}

// get fetches path from the agent's HTTP server.
func get(cl *http.Client, path string) (string, error) {
	resp, err := cl.Get("http://" + httpAddr + path)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", path, resp.Status)
	}
	return string(b), err
}
