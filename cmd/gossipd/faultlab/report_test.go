package faultlab

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// measure is a time a scenario measured: unset ("-"), how long a
// condition took to hold, or that it did not hold within the bound
// (">bound").
type measure struct {
	d      time.Duration
	set    bool
	missed bool
}

func took(d time.Duration, why string) measure { return measure{d: d, set: true, missed: why != ""} }

func (m measure) String() string {
	switch {
	case !m.set:
		return "-"
	case m.missed:
		return fmt.Sprintf(">%.0fs", m.d.Seconds())
	}
	return fmt.Sprintf("%.1fs", m.d.Seconds())
}

// figures are one scenario's measurements.
type figures struct {
	name                              string
	n                                 int
	join, detect, reconv              measure
	accepted, refused                 int
	expected, delivered, reported     int
	missing                           map[int]int
	missingByOrigin                   map[int]map[string]int
	lostWithOrigin, dups, redelivered int
	unexplained                       int // owed deliveries missing and not reported missed
	falseFail, falseSuspect           int
	unknownEvents, eventsLagged       int
	suspects                          string // a sample of the false suspect events
	p50, p99                          time.Duration
	maxRSS, maxGoroutines             int64
	failed                            []string
	wall                              time.Duration
}

func newFigures(name string, n int) *figures {
	return &figures{name: name, n: n, missing: map[int]int{}, missingByOrigin: map[int]map[string]int{}}
}

const tableHeader = "| scenario | N | join | detect | reconverge | delivered / expected | reported missed | lost with origin | dup | redelivered after restart | false fail | false suspect | p50 | p99 | max RSS | max goroutines | wall | failing checks |\n" +
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"

func (f *figures) row() string {
	failed := strings.Join(f.failed, ", ")
	if failed == "" {
		failed = "none"
	}
	return fmt.Sprintf("| %s | %d | %v | %v | %v | %d / %d | %d | %d | %d | %d | %d | %d | %v | %v | %d MiB | %d | %.0fs | %s |\n",
		f.name, f.n, f.join, f.detect, f.reconv, f.delivered, f.expected, f.reported, f.lostWithOrigin, f.dups, f.redelivered,
		f.falseFail, f.falseSuspect, f.p50.Round(time.Millisecond), f.p99.Round(time.Millisecond), f.maxRSS>>10, f.maxGoroutines,
		f.wall.Seconds(), failed)
}

// table collects the rows and writes them to -faultlab.out as they come,
// so that an interrupted run keeps what it measured.
type table struct {
	mu   sync.Mutex
	rows []string
}

var results = &table{}

func (tb *table) add(row string) error {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.rows = append(tb.rows, row)
	if *outFlag == "" {
		return nil
	}
	return os.WriteFile(*outFlag, []byte(tableHeader+strings.Join(tb.rows, "")), 0o644)
}
