package scenario

import (
	"bytes"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// A phase of parallel jobs shows, once a second, the jobs done, the events
// per second the runs reported and an estimate of the time left, and ends
// with its duration.
func TestProgressOfParallelJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		p := NewProgress(&out)
		p.StartJobs("sweep", 4)
		p.Meter().Add(3_000_000)
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		require.Contains(t, out.String(), "sweep")
		require.Contains(t, out.String(), "0/4       jobs")
		require.Contains(t, out.String(), "3.00M events/s")
		require.Contains(t, out.String(), "eta -")

		p.JobDone(0)
		p.Meter().Add(1_000_000)
		time.Sleep(time.Second)
		synctest.Wait()
		require.Contains(t, out.String(), "1/4       jobs")
		require.Contains(t, out.String(), "2.00M events/s")
		require.Contains(t, out.String(), "eta 6s")

		p.JobsDone()
		require.Contains(t, out.String(), "sweep                    done in 2.5s")
	})
}

// With jobs of unequal size, the estimate of the time left weighs each job
// and counts the work reported inside running jobs.
func TestProgressWeighsJobs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var out bytes.Buffer
		p := NewProgress(&out)
		p.StartWeightedJobs("sweep", []float64{3, 1})
		p.JobProgress(0, 1.0/3) // a quarter of all the work
		time.Sleep(1500 * time.Millisecond)
		synctest.Wait()
		require.Contains(t, out.String(), "0/2       jobs")
		require.Contains(t, out.String(), "eta 3s")

		p.JobDone(1) // half of all the work
		time.Sleep(time.Second)
		synctest.Wait()
		require.Contains(t, out.String(), "1/2       jobs")
		require.Contains(t, out.String(), "eta 2s")

		p.JobProgress(0, 7) // out of range: counted as all done
		p.JobProgress(5, 1) // no such job: ignored
		time.Sleep(time.Second)
		synctest.Wait()
		require.Contains(t, out.String(), "eta 0s")
		p.JobsDone()
	})
}

// A nil Progress is silent and its Meter is nil, so runs need not check.
func TestNilProgressIsSilent(t *testing.T) {
	var p *Progress
	require.Nil(t, p.Meter())
	p.StartJobs("x", 1)
	p.JobProgress(0, 0.5)
	p.JobDone(0)
	p.JobsDone()
}
