package scenario

import (
	"runtime"
	"sync"
)

// forEach runs job(i) for every i in [0, n) on up to GOMAXPROCS goroutines
// and returns the error of the lowest i that failed. Each job must build and
// own its simulation and write only its own result slot, so the outcome does
// not depend on scheduling: the same seed gives the same bytes on one core or
// many. progress, if set, reports the phase: the jobs' runs add their
// events to progress.Meter() (engine.Config.EventMeter).
func forEach(n int, phase string, progress *Progress, job func(i int) error) error {
	errs := make([]error, n)
	next := make(chan int)
	var wg sync.WaitGroup
	progress.StartJobs(phase, n)
	for w := 0; w < min(n, runtime.GOMAXPROCS(0)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = job(i)
				progress.JobDone()
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
