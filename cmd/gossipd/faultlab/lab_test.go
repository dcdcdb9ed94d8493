package faultlab

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/plumview/plumview/cmd/gossipd/internal/testbin"
)

var (
	nFlag        = flag.Int("faultlab.n", 8, "agents per scenario")
	rateFlag     = flag.Float64("faultlab.rate", 27, "broadcasts per second by the whole cluster, spread over its agents")
	scenarioFlag = flag.String("faultlab.scenarios", "", "regular expression choosing the scenarios to run (default all)")
	soakFlag     = flag.Duration("faultlab.soak", 6*time.Second, "length of the fault phases")
	settleFlag   = flag.Duration("faultlab.settle", 30*time.Second, "bound on every wait for a condition (convergence, detection, deliveries)")
	outFlag      = flag.String("faultlab.out", "", "Markdown `file` receiving the table of figures")
	logsFlag     = flag.String("faultlab.logs", "", "`directory` receiving the agents' logs of every failing scenario")
	allLogsFlag  = flag.Bool("faultlab.alllogs", false, "with -faultlab.logs, keep the agents' logs of every scenario, not only of failing ones")
)

// TestMain removes what the lab created when the test process is
// interrupted (SIGINT, SIGTERM) as well as when it ends.
func TestMain(m *testing.M) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "faultlab: %v: removing the lab's processes and namespaces\n", s)
		reg.removeAll(true)
		os.Exit(1)
	}()
	code := m.Run()
	reg.removeAll(true)
	testbin.Remove()
	os.Exit(code)
}

// binary builds gossipd once per run into a temporary directory.
func binary(t *testing.T) string {
	t.Helper()
	bin, err := testbin.Build("..")
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// requireLab skips the test unless the lab can run here.
func requireLab(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("faultlab: needs root (network namespaces, veth pairs, iptables): run as root, e.g. sudo go test ./cmd/gossipd/faultlab")
	}
	for _, tool := range []string{"ip", "iptables", "iptables-restore"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("faultlab: needs %s on the PATH (Debian: apt-get install iproute2 iptables)", tool)
		}
	}
}

// TestFaultLab runs every scenario (or those -faultlab.scenarios chooses),
// each on a fresh cluster of -faultlab.n agents.
func TestFaultLab(t *testing.T) {
	requireLab(t)
	if removed := removeStale(); len(removed) > 0 {
		t.Logf("removed %d namespaces left by an earlier run: %v", len(removed), removed)
	}
	filter, err := regexp.Compile(*scenarioFlag)
	if err != nil {
		t.Fatalf("-faultlab.scenarios: %v", err)
	}
	if !(*rateFlag > 0) || *nFlag < 4 {
		t.Fatalf("-faultlab.rate must be positive and -faultlab.n at least 4, got %v and %d", *rateFlag, *nFlag)
	}
	bin := binary(t)
	t.Cleanup(func() { reg.removeAll(false) })
	t.Logf("N=%d rate=%v/s soak=%v settle=%v\n%s", *nFlag, *rateFlag, *soakFlag, *settleFlag, tableHeader)
	for k, sc := range scenarios() {
		if !filter.MatchString(sc.name) {
			continue
		}
		t.Run(sc.name, func(t *testing.T) { runScenario(t, bin, k, sc) })
	}
}
