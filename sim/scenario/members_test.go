package scenario

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/plumview/plumview/gossip"
)

// With the member list on, every node comes to list every node after a
// burst of joins, a metadata change reaches every node within a second,
// and a crash of a tenth of the nodes is suspected and then declared
// failed everywhere, after the suspicion timeout (5 s) and within a few
// seconds more; no live node is falsely suspected, and a false failure
// declaration is refuted everywhere within the suspicion timeout; the
// join burst spends no peer's budget. Invariants hold
// throughout, and the same seed gives the same table.
func TestMembersConvergeAndDetectFailures(t *testing.T) {
	o := PaperlessMembersOptions(150)
	o.Seed, o.Check = 1, true
	r, err := RunMembers(o)
	require.NoError(t, err)
	require.Equal(t, 15, r.Crashed)
	require.GreaterOrEqual(t, r.Joined, time.Duration(0), "the lists agree after the joins")
	require.GreaterOrEqual(t, r.MetaSpread, time.Duration(0))
	require.Less(t, r.MetaSpread, time.Second)
	require.GreaterOrEqual(t, r.Suspected, time.Duration(0))
	require.GreaterOrEqual(t, r.Failed, 5*time.Second, "not before the suspicion timeout")
	require.Less(t, r.Failed, 15*time.Second)
	require.Equal(t, uint64(1), r.Refutations, "only the false declaration's: no honest node was suspected")
	require.GreaterOrEqual(t, r.Refuted, time.Duration(0), "the false declaration is refuted")
	require.Less(t, r.Refuted, 5*time.Second, "within the suspicion timeout")
	require.Zero(t, r.OverBudget, "an honest burst stays within every budget")
	require.Zero(t, r.Evictions)
	require.Positive(t, r.QuietBytesPerNodeSecond)
	for name, c := range map[string]struct {
		curve []float64
		took  time.Duration
	}{"join": {r.JoinCurve, r.Joined}, "fail": {r.FailCurve, r.Failed}} {
		require.Len(t, c.curve, int(c.took/MemberCheckEvery)+1, "%s: a share per check until the last", name)
		require.Equal(t, 1.0, c.curve[len(c.curve)-1], name)
		for i, v := range c.curve[:len(c.curve)-1] {
			require.True(t, v >= 0 && v < 1, "%s: share %v at check %d before agreement", name, v, i)
		}
	}
	require.Zero(t, r.FailCurve[0], "nobody lists the crashed failed at the crash")

	var a, b bytes.Buffer
	require.NoError(t, WriteMembersTable(&a, o, r))
	o.Check = false
	again, err := RunMembers(o)
	require.NoError(t, err)
	require.NoError(t, WriteMembersTable(&b, o, again))
	require.Equal(t, a.String(), b.String())
}

func TestMembersRejectsBadOptions(t *testing.T) {
	for _, o := range []MembersOptions{
		{Nodes: 3, Fail: 0.1, Limit: time.Minute, Quiet: time.Second},
		{Nodes: 10, Fail: 1, Limit: time.Minute, Quiet: time.Second},
		{Nodes: 10, Fail: 0.1, Quiet: time.Second},
		{Nodes: 10, Fail: 0.1, Limit: time.Minute},
		{Nodes: MaxMembersNodes + 1, Fail: 0.1, Limit: time.Minute, Quiet: time.Second},
	} {
		_, err := RunMembers(o)
		require.Error(t, err, "%+v", o)
	}
}

// The table names the budgets that requests went over, in the budgets'
// order, and says nothing more when none did.
func TestMembersTableNamesTheBudgetsOverrun(t *testing.T) {
	o := PaperlessMembersOptions(10)
	r := MembersResult{Nodes: 10, Crashed: 1, OverBudget: 7, OverBudgetBy: map[gossip.Budget]uint64{gossip.BudgetRecords: 3, gossip.BudgetForwardJoin: 4}}
	var b bytes.Buffer
	require.NoError(t, WriteMembersTable(&b, o, r))
	require.Contains(t, b.String(), "requests over a peer's budget: 7 (forward-join 4, records 3); peers evicted: 0\n")
	r.OverBudget, r.OverBudgetBy = 0, nil
	b.Reset()
	require.NoError(t, WriteMembersTable(&b, o, r))
	require.Contains(t, b.String(), "requests over a peer's budget: 0; peers evicted: 0\n")
}
