// Package testbin builds the gossipd binary once per test process, for the
// tests that run agents as processes (cmd/gossipd's end-to-end tests and
// the fault lab), and removes it when they are done.
package testbin

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

var (
	once sync.Once
	path string
	err  error
)

// Build builds the gossipd main package at pkg (a path relative to the
// test's working directory: "." in cmd/gossipd, ".." below it) into a
// temporary directory, once per process, and returns the binary's path.
func Build(pkg string) (string, error) {
	once.Do(func() {
		dir, e := os.MkdirTemp("", "gossipd-bin")
		if e != nil {
			err = e
			return
		}
		path = filepath.Join(dir, "gossipd")
		if out, e := exec.Command("go", "build", "-o", path, pkg).CombinedOutput(); e != nil {
			err = fmt.Errorf("go build: %v\n%s", e, out)
		}
	})
	return path, err
}

// Remove deletes the binary Build made, if any; call it from TestMain.
func Remove() {
	if path != "" {
		_ = os.RemoveAll(filepath.Dir(path))
	}
}
