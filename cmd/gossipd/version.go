package main

import (
	"flag"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"
)

// buildVersion is what gossipd version prints, from the build information
// the Go toolchain records in the binary.
type buildVersion struct {
	module, version string
	revision, time  string
	modified        bool
	goVersion, arch string
}

func readBuildVersion() buildVersion {
	v := buildVersion{goVersion: runtime.Version(), arch: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	v.module, v.version = bi.Main.Path, bi.Main.Version
	v.goVersion = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			v.revision = s.Value
		case "vcs.time":
			v.time = s.Value
		case "vcs.modified":
			v.modified = s.Value == "true"
		}
	}
	return v
}

func (v buildVersion) String() string {
	var b strings.Builder
	version := v.version
	if version == "" {
		version = "unknown"
	}
	fmt.Fprintf(&b, "gossipd %s\n", version)
	if v.module != "" {
		fmt.Fprintf(&b, "module:  %s\n", v.module)
	}
	switch {
	case v.revision != "":
		fmt.Fprintf(&b, "commit:  %s", v.revision)
		var notes []string
		if v.time != "" {
			notes = append(notes, v.time)
		}
		if v.modified {
			notes = append(notes, "with uncommitted changes")
		}
		if len(notes) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(notes, ", "))
		}
		b.WriteString("\n")
	default:
		b.WriteString("commit:  unknown (built without VCS information)\n")
	}
	fmt.Fprintf(&b, "go:      %s %s\n", v.goVersion, v.arch)
	return b.String()
}

// runVersion prints the module version, the commit and the Go version.
func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	_, err := io.WriteString(stdout, readBuildVersion().String())
	return err
}
