package harness

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// Machine describes where the comparison ran.
type Machine struct {
	// CPUs is the number of logical CPUs usable by the process (nproc).
	CPUs int
	// Model is the CPU model name from /proc/cpuinfo, or "unknown".
	Model string
	// GoVersion is the Go runtime's version.
	GoVersion string
	// OS and Arch are the runtime's GOOS and GOARCH.
	OS, Arch string
}

// ThisMachine describes the machine the process runs on.
func ThisMachine() Machine {
	return Machine{
		CPUs:      runtime.NumCPU(),
		Model:     cpuModel("/proc/cpuinfo"),
		GoVersion: runtime.Version(),
		OS:        runtime.GOOS,
		Arch:      runtime.GOARCH,
	}
}

// String prints the machine on one line.
func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs (nproc), %s, %s/%s, %s", m.CPUs, m.Model, m.OS, m.Arch, m.GoVersion)
}

// cpuModel returns the first "model name" of a cpuinfo file.
func cpuModel(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// CPUTime returns the user plus system CPU time the process has used so
// far, over all its threads.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// PeakRSS returns the process's peak resident set size in bytes (Linux
// reports ru_maxrss in KiB).
func PeakRSS() uint64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return uint64(ru.Maxrss) * 1024
}

// HeapInUse returns the bytes in in-use heap spans after a garbage
// collection, so that it measures live data rather than garbage.
func HeapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}
