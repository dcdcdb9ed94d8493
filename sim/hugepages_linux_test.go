//go:build linux && (amd64 || arm64)

package main

import (
	"bufio"
	"errors"
	"os"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestAnonymousMappingKeepsPrivateWritableMemoryWithoutFile(t *testing.T) {
	for _, tc := range []struct {
		line       string
		start, end uintptr
		ok         bool
	}{
		{"c000000000-c004000000 rw-p 00000000 00:00 0 ", 0xc000000000, 0xc004000000, true},
		{"7f3a1c000000-7f3a1c021000 rw-p 00000000 00:00 0", 0x7f3a1c000000, 0x7f3a1c021000, true},
		{"01a6e000-01a8f000 rw-p 00000000 00:00 0                                  [heap]", 0x01a6e000, 0x01a8f000, true},
		{"c000000000-c004000000 rw-p 00000000 00:00 0                              [anon: Go: heap]", 0xc000000000, 0xc004000000, true},
		{"7ffd4b1e1000-7ffd4b202000 rw-p 00000000 00:00 0                          [stack]", 0, 0, false},
		{"7f3a1c000000-7f3a1c021000 rw-p 00000000 00:05 0    /memfd:buffer (deleted)", 0, 0, false},
		{"00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/sim", 0, 0, false},
		{"00651000-00652000 rw-p 00051000 08:02 173521      /usr/bin/sim", 0, 0, false},
		{"7f3a1c000000-7f3a1c021000 r--p 00000000 00:00 0", 0, 0, false},
		{"7f3a1c000000-7f3a1c021000 rw-s 00000000 00:05 1234", 0, 0, false},
		{"zz-7f3a1c021000 rw-p 00000000 00:00 0", 0, 0, false},
		{"7f3a1c021000-7f3a1c000000 rw-p 00000000 00:00 0", 0, 0, false},
		{"", 0, 0, false},
	} {
		start, end, ok := anonymousMapping(tc.line)
		require.Equal(t, tc.ok, ok, tc.line)
		require.Equal(t, tc.start, start, tc.line)
		require.Equal(t, tc.end, end, tc.line)
	}
}

// TestHugePagerAdvisesTheHeap checks that a scan marks the mapping holding a
// large heap object for huge pages (the "hg" flag in /proc/self/smaps),
// and that scans settle.
func TestHugePagerAdvisesTheHeap(t *testing.T) {
	if err := madvise(0, 0, unix.MADV_HUGEPAGE); errors.Is(err, unix.EINVAL) {
		t.Skip("this kernel has no transparent huge pages")
	}
	block := make([]byte, 64<<20)
	h := &hugePager{}
	h.scan()
	require.Positive(t, h.advised)
	require.Zero(t, h.refused)
	addr := uintptr(unsafe.Pointer(&block[32<<20]))
	require.Contains(t, vmFlags(t, addr), " hg", "the heap mapping was not advised")

	// Advice splits a mapping at huge page boundaries, and the heap may
	// grow meanwhile: scans find less and less to advise, then nothing.
	settled := false
	for i := 0; i < 10 && !settled; i++ {
		advised := h.advised
		h.scan()
		settled = h.advised == advised
	}
	require.True(t, settled, "scans never stopped advising")
}

// vmFlags returns the VmFlags line of the mapping that holds addr.
func vmFlags(t *testing.T, addr uintptr) string {
	f, err := os.Open("/proc/self/smaps")
	require.NoError(t, err)
	defer f.Close()
	inside := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) > 0 {
			if start, end, ok := addressRange(f[0]); ok {
				inside = start <= addr && addr < end
				continue
			}
		}
		if inside && strings.HasPrefix(line, "VmFlags:") {
			return line
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("no mapping holds %#x", addr)
	return ""
}
