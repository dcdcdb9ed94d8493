package faultlab

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The NAT lab's checks of the paths between neighbours (docs/nat.md, "The
// NAT lab").

// paths returns every live agent's neighbours, by agent: the path to
// each, by agent; "" with the reason when some agent could not say.
func (l *natLab) paths() (map[int]map[int]string, string) {
	byID := map[string]int{}
	for _, a := range l.agents {
		byID[a.id] = a.i
	}
	out := map[int]map[int]string{}
	for _, a := range l.liveAgents() {
		v, err := l.nat(a.i)
		if err != nil {
			return nil, fmt.Sprintf("agent %d: %v", a.i, err)
		}
		out[a.i] = map[int]string{}
		for _, n := range v.Neighbours {
			j, ok := byID[n.ID]
			if !ok {
				return nil, fmt.Sprintf("agent %d has a neighbour the lab does not know: %s", a.i, n.ID)
			}
			out[a.i][j] = n.Path
		}
	}
	return out, ""
}

// linksTotal returns the agent's plumview_ice_links_total, summed over
// the path kinds.
func (l *natLab) linksTotal(i int) (float64, error) {
	body, err := get(l.http[i], "/metrics")
	if err != nil {
		return 0, err
	}
	total := 0.0
	for _, m := range linksTotalRE.FindAllStringSubmatch(body, -1) {
		v, err := strconv.ParseFloat(m[1], 64)
		if err != nil {
			return 0, err
		}
		total += v
	}
	return total, nil
}

var linksTotalRE = regexp.MustCompile(`(?m)^plumview_ice_links_total\{kind="\w+"\} (\S+)$`)

// wantPaths returns the paths a link between agents i and j may take,
// each as the pair of kinds /debug/nat.json shows at i and at j
// (docs/nat.md, "The NAT lab"). A link between two agents that can be
// dialled is a dialled connection. So is one that an agent behind a NAT
// dialled to a public agent, or to an agent on its own LAN whose record
// did not yet say that it cannot be dialled; otherwise the link is an ICE
// one: host candidates within a LAN; a public agent's negotiation with an
// agent behind a NAT, which sees two host candidates where the public
// agent sees the NAT's mapping; a hole punched between the two cone NATs;
// a relay when the symmetric NAT is on either side.
func wantPaths(i, j int) [][2]string {
	li, lj := lanOf(i), lanOf(j)
	switch {
	case li < 0 && lj < 0:
		return [][2]string{{"direct", "direct"}}
	case li < 0:
		return [][2]string{{"direct", "direct"}, {"srflx", "host"}}
	case lj < 0:
		return [][2]string{{"direct", "direct"}, {"host", "srflx"}}
	case li == lj:
		return [][2]string{{"direct", "direct"}, {"host", "host"}}
	case natLANs[li].random || natLANs[lj].random:
		return [][2]string{{"relay", "relay"}}
	}
	return [][2]string{{"srflx", "srflx"}}
}

// settledPaths returns every live agent's paths once every link is up at
// both ends and there is at least one hole-punched and one relayed link;
// otherwise what is missing.
func (l *natLab) settledPaths() (map[int]map[int]string, string) {
	ps, why := l.paths()
	if why != "" {
		return nil, why
	}
	var punched, relayed int // links between LAN1 and LAN2, between LAN3 and the others
	for i, ns := range ps {
		if len(ns) == 0 {
			return nil, fmt.Sprintf("agent %d has no neighbour", i)
		}
		for j, p := range ns {
			if p == "none" {
				return nil, fmt.Sprintf("agent %d: link to %d not up", i, j)
			}
			if _, ok := ps[j][i]; !ok {
				return nil, fmt.Sprintf("agent %d lists %d as a neighbour, not the other way round", i, j)
			}
			if li, lj := lanOf(i), lanOf(j); i < j && li >= 0 && lj >= 0 && li != lj {
				if natLANs[li].random || natLANs[lj].random {
					relayed++
				} else {
					punched++
				}
			}
		}
	}
	if punched == 0 || relayed == 0 {
		return nil, fmt.Sprintf("%d links between LAN1 and LAN2, %d between LAN3 and the others: want one of each", punched, relayed)
	}
	return ps, ""
}

// checkPaths checks that every link takes a path wantPaths allows, the
// same at both ends.
func (l *natLab) checkPaths(t *testing.T, ps map[int]map[int]string) {
	t.Helper()
	var lines []string
	for i := range natAgents {
		var js []int
		for j := range ps[i] {
			js = append(js, j)
		}
		sort.Ints(js)
		var row []string
		for _, j := range js {
			row = append(row, fmt.Sprintf("%d:%s", j, ps[i][j]))
			got := [2]string{ps[i][j], ps[j][i]}
			if want := wantPaths(i, j); i < j && !slices.Contains(want, got) {
				t.Errorf("agents %d and %d reach each other by %s and %s, want one of %v", i, j, got[0], got[1], want)
			}
		}
		lines = append(lines, fmt.Sprintf("agent %d: %s", i, strings.Join(row, " ")))
	}
	t.Logf("paths (neighbour:path):\n%s", strings.Join(lines, "\n"))
}

// relayLoss kills the relay and checks, until every relayed link has
// ended and for at least holdFor, that every hole-punched link stays up
// at both ends; then that neither end of one negotiated a link with the
// other again, and that plumview_ice_links_total grew on each by no more
// than the ICE links it logged since (a link opened for a request the
// peer refuses, or for a shuffle, counts too: the counter alone cannot
// tell the punched links were kept).
//
// The overlay may end a punched link of its own accord meanwhile: a
// high-priority NEIGHBOR request (a refresh, or a repair after the
// relay's own links died) makes a node with a full active view drop a
// random neighbour (S1 §4.3). A link that one end logged as dropped and
// the other as ended too, with neither end logging it failed or left
// since the relay's death (linkEnd), is such a decision, not a path that failed: it is named in
// the test's log and no longer watched, and checked again at the end. A
// link that ends any other way, or with no reason logged before the wait
// ends, fails the test with both ends' log lines about each other.
func (l *natLab) relayLoss(t *testing.T, before map[int]map[int]string) {
	t.Helper()
	const holdFor = 5 * time.Second
	type pair struct{ a, b int }
	var punched []pair
	ends := map[int]float64{}
	for i, ns := range before {
		for j, p := range ns {
			if li, lj := lanOf(i), lanOf(j); i < j && li >= 0 && lj >= 0 && li != lj && p == "srflx" {
				punched = append(punched, pair{i, j})
				ends[i], ends[j] = 0, 0
			}
		}
	}
	since := time.Now() // before the counters: a link logged before them is counted in them
	for i := range ends {
		n, err := l.linksTotal(i)
		if err != nil {
			t.Fatalf("agent %d /metrics: %v", i, err)
		}
		ends[i] = n
	}
	at := time.Now()
	if err := l.agents[natRelay].signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill the relay: %v", err)
	}
	dropped := map[pair]bool{} // punched links the overlay ended
	reasons := func(p pair) ([]string, []string) {
		return l.neighbourDownsSince(p.a, l.agents[p.b].id, at), l.neighbourDownsSince(p.b, l.agents[p.a].id, at)
	}
	lines := func(p pair) string {
		return l.linesAbout(p.a, l.agents[p.b].id, at) + "\n" + l.linesAbout(p.b, l.agents[p.a].id, at)
	}
	var waiting []pair // punched links down with nothing decisive logged yet
	d, why := l.waitFor(natSettle, func() string {
		waiting = nil
		ps, why := l.paths()
		if why != "" {
			return why
		}
		var states []string
		for _, p := range punched {
			if dropped[p] || ps[p.a][p.b] == "srflx" && ps[p.b][p.a] == "srflx" {
				continue
			}
			state := fmt.Sprintf("%.1fs after the relay's death, the hole-punched link between agents %d and %d reads %q at %d, %q at %d",
				time.Since(at).Seconds(), p.a, p.b, ps[p.a][p.b], p.a, ps[p.b][p.a], p.b)
			ra, rb := reasons(p)
			switch linkEnd(ra, rb) {
			case linkDropped:
				dropped[p] = true
				t.Logf("%s: the overlay dropped it (agent %d logged %v, agent %d %v), no longer watched", state, p.a, ra, p.b, rb)
			case linkFailed:
				t.Fatalf("%s: agent %d logged %v, agent %d %v; their lines about each other since:\n%s", state, p.a, ra, p.b, rb, lines(p))
			default:
				waiting = append(waiting, p)
				states = append(states, fmt.Sprintf("%s, no drop or failure logged at both ends yet (agent %d logged %v, agent %d %v)", state, p.a, ra, p.b, rb))
			}
		}
		if len(states) > 0 {
			return strings.Join(states, "; ")
		}
		for i, ns := range ps {
			for j, p := range ns {
				if p == "relay" {
					return fmt.Sprintf("agent %d still reaches %d through the relay", i, j)
				}
			}
		}
		if time.Since(at) < holdFor {
			return "holding"
		}
		return ""
	})
	if why != "" {
		for _, p := range waiting {
			why += fmt.Sprintf("; agents %d and %d, their lines about each other since:\n%s", p.a, p.b, lines(p))
		}
		t.Fatalf("after the relay's death: %s", why)
	}
	for p := range dropped {
		if ra, rb := reasons(p); linkEnd(ra, rb) != linkDropped {
			t.Errorf("agents %d and %d: the link the overlay dropped after the relay's death was logged %v at %d, %v at %d since; their lines about each other:\n%s", p.a, p.b, ra, p.a, rb, p.b, lines(p))
		}
	}
	if len(dropped) == len(punched) {
		t.Logf("relay killed: every hole-punched link was ended by the overlay before every relayed link had, so this run does not show one outliving the relay")
	} else {
		t.Logf("relay killed: %d hole-punched links stayed up for %.1fs, until every relayed link had ended (%d ended by the overlay)", len(punched)-len(dropped), d.Seconds(), len(dropped))
	}
	// The counters first, then the logs: a link that comes up in between
	// is logged, never counted and not logged.
	now := map[int]float64{}
	for i := range ends {
		n, err := l.linksTotal(i)
		if err != nil {
			t.Fatalf("agent %d /metrics: %v", i, err)
		}
		now[i] = n
	}
	logged := map[int][]string{}
	for i := range ends {
		logged[i] = l.iceLinksSince(i, since)
		if now[i]-ends[i] > float64(len(logged[i])) {
			t.Errorf("agent %d counted %.0f ICE links since the relay's death and logged %d", i, now[i]-ends[i], len(logged[i]))
		}
	}
	for _, p := range punched {
		if dropped[p] {
			continue // a new link after the overlay's drop is negotiated anew
		}
		if slices.Contains(logged[p.a], l.agents[p.b].id) || slices.Contains(logged[p.b], l.agents[p.a].id) {
			t.Errorf("agents %d and %d negotiated their link again after the relay's death", p.a, p.b)
		}
		// The logs are read right: each end logged the link once made.
		if !slices.Contains(l.iceLinksSince(p.a, time.Time{}), l.agents[p.b].id) || !slices.Contains(l.iceLinksSince(p.b, time.Time{}), l.agents[p.a].id) {
			t.Errorf("agents %d and %d did not log the ICE link between them", p.a, p.b)
		}
	}
	t.Logf("ICE links since the relay's death, by agent (peer IDs): %v", logged)
}

// neighbourDownLine is the agent's log line of each neighbour that left
// its active view (membership, at -log-level debug): its time, the
// peer's ID and the reason (hyparview.DownReason).
var neighbourDownLine = regexp.MustCompile(`^(\S+)\tDEBUG\t.*\tneighbour down\t.*"peer": "([0-9a-f]{16})", "reason": "(\w+)"`)

// neighbourDownsSince returns the reasons agent i logged, in order, for
// the peer with the given ID leaving its active view at or after since.
func (l *natLab) neighbourDownsSince(i int, id string, since time.Time) []string {
	return neighbourDowns(l.agents[i].cur().log.String(), id, since)
}

// neighbourDowns returns the reasons an agent's log gives, in order, for
// the peer with the given ID leaving the active view at or after since.
func neighbourDowns(log, id string, since time.Time) []string {
	var reasons []string
	for _, line := range strings.Split(log, "\n") {
		m := neighbourDownLine.FindStringSubmatch(line)
		if m == nil || m[2] != id {
			continue
		}
		if ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", m[1]); err == nil && !ts.Before(since.Truncate(time.Millisecond)) {
			reasons = append(reasons, m[3])
		}
	}
	return reasons
}

// What the two ends of a link logged of its end tell (linkEnd).
const (
	linkUnexplained = iota // nothing yet that says which
	linkDropped            // the overlay's decision: one end dropped the other
	linkFailed             // a failure, or a leave, at either end
)

// linkEnd reads the reasons the two ends of a link logged for its end
// (hyparview.DownReason's names). A failure or a leave at either end, at
// any time, decides: the link failed, whatever else was logged. A drop
// at one end is the overlay's decision once the other end has logged the
// link's end too (the Disconnect or the close it was sent: a drop always
// reaches the other end as one or the other, or as a failure if the path
// had died meanwhile, which must not be missed). A disconnect alone is
// not enough: a peer that closed the connection for a fault of its own
// (a send queue full) logged that as a failure, which may not be logged
// yet.
func linkEnd(a, b []string) int {
	all := append(slices.Clone(a), b...)
	switch {
	case slices.Contains(all, "failed") || slices.Contains(all, "left"):
		return linkFailed
	case slices.Contains(all, "dropped") && len(a) > 0 && len(b) > 0:
		return linkDropped
	}
	return linkUnexplained
}

// linesAbout returns, for a failure message, agent i's last few log
// lines naming the peer with the given ID at or after since.
func (l *natLab) linesAbout(i int, id string, since time.Time) string {
	var out []string
	for _, line := range strings.Split(l.agents[i].cur().log.String(), "\n") {
		ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", strings.SplitN(line, "\t", 2)[0])
		if err == nil && !ts.Before(since.Truncate(time.Millisecond)) && strings.Contains(line, `"peer": "`+id+`"`) {
			out = append(out, fmt.Sprintf("agent %d: %s", i, line))
		}
	}
	return strings.Join(out[max(0, len(out)-6):], "\n")
}

// iceLinkLine is the agent's log line of each ICE link it negotiated
// (membership, at -log-level debug): its time and the peer's ID.
var iceLinkLine = regexp.MustCompile(`^(\S+)\tDEBUG\t.*\tICE link\t.*"peer": "([0-9a-f]{16})"`)

// iceLinksSince returns the peers agent i logged an ICE link with at or
// after since, one entry per link.
func (l *natLab) iceLinksSince(i int, since time.Time) []string {
	var peers []string
	for _, line := range strings.Split(l.agents[i].cur().log.String(), "\n") {
		m := iceLinkLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if ts, err := time.Parse("2006-01-02T15:04:05.000Z0700", m[1]); err == nil && !ts.Before(since.Truncate(time.Millisecond)) {
			peers = append(peers, m[2])
		}
	}
	return peers
}
