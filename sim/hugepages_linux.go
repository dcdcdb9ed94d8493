//go:build linux && (amd64 || arm64)

package main

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A simulation of thousands of nodes reads its memory at random: with 4 KiB
// pages nearly every event misses the TLB, and the page walk costs as much
// as the cache miss behind it. With 2 MiB pages the translations of a
// 10,000-node run fit in the TLB (the failure sweep runs about 20 % faster,
// docs/benchmarks.md). Many kernels give transparent huge pages only to
// memory a process asks them for ("madvise"), and the Go runtime never asks,
// so the simulator asks for its heap.

const (
	// hugePageSize is the size of a transparent huge page on amd64 and
	// arm64 (with 4 KiB base pages).
	hugePageSize = 2 << 20
	// minHugeMapping is the smallest anonymous mapping worth advising:
	// the Go heap grows by mappings of several megabytes.
	minHugeMapping = 4 << 20
	// maxHeapReserve caps the heap mapped up front (see startHugePages).
	maxHeapReserve = 3 << 30
)

// thpMode returns the kernel's transparent huge page policy: "always",
// "madvise", "never", or "" when it cannot be read.
func thpMode() string {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		return ""
	}
	s := string(b)
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return ""
	}
	return s[i+1 : j]
}

// hugePager advises the process's large anonymous private mappings (the Go
// heap) to use huge pages, each mapping once.
type hugePager struct {
	mu   sync.Mutex
	seen map[[2]uintptr]bool
	// advised counts the mappings advised; refused those whose advice the
	// kernel refused.
	advised, refused int
}

// scan advises every large anonymous private mapping not seen before.
func (h *hugePager) scan() {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.seen == nil {
		h.seen = make(map[[2]uintptr]bool)
	}
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		start, end, ok := anonymousMapping(sc.Text())
		if !ok {
			continue
		}
		start = (start + hugePageSize - 1) &^ (hugePageSize - 1)
		end &^= hugePageSize - 1
		key := [2]uintptr{start, end}
		if end <= start || end-start < minHugeMapping || h.seen[key] {
			continue
		}
		h.seen[key] = true
		if err := madvise(start, end, unix.MADV_HUGEPAGE); err != nil {
			h.refused++
			continue
		}
		h.advised++
	}
}

// anonymousMapping parses one line of /proc/self/maps and returns the
// range of a private read-write mapping backed by no file: unnamed, the
// brk heap, or named by the process (the Go runtime names its heap
// "[anon: Go: heap]" where the kernel allows it); not the stack.
func anonymousMapping(line string) (start, end uintptr, ok bool) {
	f := strings.Fields(line)
	if len(f) < 5 || f[1] != "rw-p" || f[4] != "0" {
		return 0, 0, false
	}
	if name := strings.Join(f[5:], " "); name != "" && name != "[heap]" && !strings.HasPrefix(name, "[anon:") {
		return 0, 0, false
	}
	return addressRange(f[0])
}

// addressRange parses the "start-end" field of /proc/self/maps.
func addressRange(field string) (start, end uintptr, ok bool) {
	lo, hi, found := strings.Cut(field, "-")
	if !found {
		return 0, 0, false
	}
	a, err1 := strconv.ParseUint(lo, 16, 64)
	b, err2 := strconv.ParseUint(hi, 16, 64)
	if err1 != nil || err2 != nil || b <= a {
		return 0, 0, false
	}
	return uintptr(a), uintptr(b), true
}

// madvise gives advice on the address range [start, end).
func madvise(start, end uintptr, advice int) error {
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, start, end-start, uintptr(advice)); errno != 0 {
		return errno
	}
	return nil
}

// heapReserve returns how much heap to map up front: a quarter of the
// machine's memory, at most maxHeapReserve, and nothing where the kernel
// does not overcommit (the reserve would count against its limit).
func heapReserve() int {
	if b, err := os.ReadFile("/proc/sys/vm/overcommit_memory"); err != nil || strings.TrimSpace(string(b)) == "2" {
		return 0
	}
	var info unix.Sysinfo_t
	if err := unix.Sysinfo(&info); err != nil {
		return 0
	}
	return int(min(uint64(info.Totalram)*uint64(info.Unit)/4, maxHeapReserve))
}

// startHugePages asks for huge pages for the heap when the kernel gives
// them only on request, then keeps asking every interval as the heap grows,
// for the rest of the process. Where the kernel gives them anyway, or never,
// it does nothing. Calls after the first do nothing.
//
// Pages touched before the advice stay small, so it first maps a large part
// of the heap that nothing has touched yet: the runtime does not zero memory
// fresh from the kernel, so allocating the reserve faults no page in, and
// once collected its pages serve the simulation's allocations. (A reserve
// allocated later, from memory used before, would be zeroed: hence once.)
func startHugePages(interval time.Duration) {
	hugePagesOnce.Do(func() {
		if thpMode() != "madvise" {
			return
		}
		h := &hugePager{}
		reserve := make([]byte, heapReserve())
		h.scan()
		runtime.KeepAlive(reserve)
		reserve = nil
		runtime.GC()
		go func() {
			for range time.Tick(interval) {
				h.scan()
			}
		}()
	})
}

var hugePagesOnce sync.Once
