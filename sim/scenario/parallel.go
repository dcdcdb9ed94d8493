package scenario

import (
	"runtime"
	"slices"
	"sync"
)

// forEach runs job(i) for every i in [0, n) on up to GOMAXPROCS goroutines
// and returns the error of the lowest i that failed. Each job must build and
// own its simulation and write only its own result slot, so the outcome does
// not depend on scheduling: the same seed gives the same bytes on one core or
// many. progress, if set, reports the phase: the jobs' runs add their
// events to progress.Meter() (engine.Config.EventMeter).
func forEach(n int, phase string, progress *Progress, job func(i int) error) error {
	weights := slices.Repeat([]float64{1}, n)
	return forEachWeighted(weights, phase, progress, func(i int, _ func(float64)) error { return job(i) })
}

// forEachWeighted is forEach for jobs of unequal size: weights[i] is job
// i's expected share of the work, and job i may call report with the share
// of its own work done (0 to 1), so that the progress line's estimate of
// the time left counts the work inside running jobs.
func forEachWeighted(weights []float64, phase string, progress *Progress, job func(i int, report func(done float64)) error) error {
	n := len(weights)
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	progress.StartWeightedJobs(phase, weights)
	for w := 0; w < min(n, runtime.GOMAXPROCS(0)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = job(i, func(done float64) { progress.JobProgress(i, done) })
				progress.JobDone(i)
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	progress.JobsDone()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
