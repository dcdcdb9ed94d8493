package harness

import (
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
)

// profiled runs one phase, under a CPU profile written to
// Options.ProfileDir/<system>-<phase>.pprof when that is set. A profile
// that cannot be written is reported as a progress line; the phase runs
// regardless.
func (r *run) profiled(phase string, run func()) {
	if r.o.ProfileDir == "" {
		run()
		return
	}
	name := strings.ReplaceAll(r.sys.Name()+"-"+phase, " ", "")
	f, err := os.Create(filepath.Join(r.o.ProfileDir, name+".pprof"))
	if err != nil {
		r.logf("profile %s: %v", name, err)
		run()
		return
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		r.logf("profile %s: %v", name, err)
		run()
		return
	}
	run()
	pprof.StopCPUProfile()
}

// heapProfiled writes a heap profile (in-use and allocated bytes, after a
// GC) to Options.ProfileDir/<system>-heap-<when>.pprof when that is set:
// where the bytes the heap rows count are held.
func (r *run) heapProfiled(when string) {
	if r.o.ProfileDir == "" {
		return
	}
	name := strings.ReplaceAll(r.sys.Name()+"-heap-"+when, " ", "")
	f, err := os.Create(filepath.Join(r.o.ProfileDir, name+".pprof"))
	if err != nil {
		r.logf("profile %s: %v", name, err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		r.logf("profile %s: %v", name, err)
	}
}
