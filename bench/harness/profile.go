package harness

import (
	"os"
	"path/filepath"
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
