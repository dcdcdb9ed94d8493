package membership

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// This file enforces the layering described in docs/architecture.md: the
// protocol cores are pure, and imports point one way.

const modulePath = "github.com/plumview/plumview"

// pureCores are the packages that must stay free of I/O, concurrency,
// wall-clock time and global randomness.
var pureCores = []string{"hyparview", "plumtree", "membership/roster"}

// coreDeps are the only packages of this module a pure core may import:
// other pure cores whose identities it shares (roster names members by
// hyparview.PeerID).
var coreDeps = map[string][]string{"membership/roster": {"hyparview"}}

// bannedInCores are standard packages a pure core must not import.
var bannedInCores = map[string]string{
	"net":            "sockets belong to transport/",
	"net/http":       "sockets belong to transport/",
	"os":             "no I/O in a core",
	"sync":           "a core is driven by one goroutine",
	"sync/atomic":    "a core is driven by one goroutine",
	"log":            "observability comes out as counters and outputs",
	"log/slog":       "observability comes out as counters and outputs",
	"math/rand":      "use the injected *rand.Rand from math/rand/v2",
	"crypto/rand":    "use the injected *rand.Rand",
	"unsafe":         "no unsafe in a core",
	"reflect":        "no reflection in a core",
	"time/tzdata":    "no time zones in a core",
	"runtime":        "no runtime tricks in a core",
	"syscall":        "no I/O in a core",
	"io/ioutil":      "no I/O in a core",
	"path/filepath":  "no I/O in a core",
	"os/exec":        "no I/O in a core",
	"encoding/json":  "the wire codec lives in transport/",
	"encoding/gob":   "the wire codec lives in transport/",
	"context":        "a core never blocks",
	"testing":        "tests only",
	"testing/quick":  "tests only",
	"net/netip":      "addresses are opaque bytes in a core",
	"crypto/ed25519": "identities are opaque in a core",
}

// allowedRandCalls are the package-level math/rand/v2 functions a core may
// call: constructors of seeded sources, never the global generator.
var allowedRandCalls = map[string]bool{"New": true, "NewPCG": true, "NewChaCha8": true}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "expected go.mod at the repository root")
	return root
}

// parseDir parses the non-test Go files of one directory.
func parseDir(t *testing.T, dir string) (*token.FileSet, []*ast.File) {
	t.Helper()
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		files = append(files, f)
	}
	return fset, files
}

func importsOf(f *ast.File) []string {
	var out []string
	for _, imp := range f.Imports {
		p, _ := strconv.Unquote(imp.Path.Value)
		out = append(out, p)
	}
	return out
}

// TestCoresArePure fails if a core imports a banned package, another package
// of this module, or uses goroutines, channels, select, time.Now or the
// global random generator.
func TestCoresArePure(t *testing.T) {
	root := repoRoot(t)
	for _, core := range pureCores {
		t.Run(core, func(t *testing.T) {
			fset, files := parseDir(t, filepath.Join(root, core))
			require.NotEmpty(t, files, "core %s has no Go files", core)
			for _, f := range files {
				for _, p := range importsOf(f) {
					if why, bad := bannedInCores[p]; bad {
						t.Errorf("%s imports %q: %s", fset.Position(f.Package), p, why)
					}
					if slices.Contains(coreDeps[core], strings.TrimPrefix(p, modulePath+"/")) {
						continue
					}
					if strings.HasPrefix(p, modulePath) || strings.Contains(p, ".") {
						t.Errorf("%s imports %q: a core imports only the standard library", fset.Position(f.Package), p)
					}
				}
				ast.Inspect(f, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.GoStmt:
						t.Errorf("%s: go statement in a pure core", fset.Position(n.Pos()))
					case *ast.ChanType:
						t.Errorf("%s: channel type in a pure core", fset.Position(n.Pos()))
					case *ast.SelectStmt:
						t.Errorf("%s: select in a pure core", fset.Position(n.Pos()))
					case *ast.SendStmt:
						t.Errorf("%s: channel send in a pure core", fset.Position(n.Pos()))
					case *ast.SelectorExpr:
						pkg, ok := n.X.(*ast.Ident)
						if !ok {
							break
						}
						if pkg.Name == "time" && (n.Sel.Name == "Now" || n.Sel.Name == "Since" || n.Sel.Name == "Until" ||
							n.Sel.Name == "Sleep" || n.Sel.Name == "After" || n.Sel.Name == "NewTimer" || n.Sel.Name == "Tick") {
							t.Errorf("%s: time.%s in a pure core: time is an input", fset.Position(n.Pos()), n.Sel.Name)
						}
						if pkg.Name == "rand" && n.Sel.Name != "Rand" && !allowedRandCalls[n.Sel.Name] {
							t.Errorf("%s: rand.%s uses the global generator: use the injected *rand.Rand", fset.Position(n.Pos()), n.Sel.Name)
						}
					}
					return true
				})
			}
		})
	}
}

// TestImportDirection checks the one-way arrows of docs/architecture.md
// across every package of the module.
func TestImportDirection(t *testing.T) {
	root := repoRoot(t)
	type rule struct {
		from, to, why string
	}
	rules := []rule{
		{"hyparview", "plumtree", "the cores are independent"},
		{"plumtree", "hyparview", "the cores are independent"},
		{"sim", "transport", "the simulator never opens a socket"},
		{"sim", "ice", "the simulator never opens a socket"},
		{"membership/protocol", "transport", "the pure composition never opens a socket"},
		{"membership/roster", "transport", "the member list is pure"},
		{"membership", "cmd", "nothing below cmd/ imports cmd/"},
		{"transport", "membership", "transport moves bytes and knows no protocol state"},
	}
	dirs := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bench") && path != root {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go") {
			dirs[filepath.Dir(path)] = true
		}
		return nil
	})
	require.NoError(t, err)
	checked := 0
	graph := map[string][]string{} // package -> module packages it imports
	for dir := range dirs {
		rel, err := filepath.Rel(root, dir)
		require.NoError(t, err)
		rel = filepath.ToSlash(rel)
		fset, files := parseDir(t, dir)
		for _, f := range files {
			for _, p := range importsOf(f) {
				if !strings.HasPrefix(p, modulePath+"/") {
					continue
				}
				target := strings.TrimPrefix(p, modulePath+"/")
				graph[rel] = append(graph[rel], target)
				checked++
				if !strings.HasPrefix(rel, "cmd") && strings.HasPrefix(target, "cmd/") {
					t.Errorf("%s imports %s: nothing below cmd/ imports cmd/", fset.Position(f.Package), p)
				}
				for _, r := range rules {
					if under(rel, r.from) && under(target, r.to) {
						t.Errorf("%s imports %s: %s", fset.Position(f.Package), p, r.why)
					}
				}
			}
		}
	}
	require.NotZero(t, checked, "no intra-module imports found: the walk is broken")

	// The simulator must not link a socket even indirectly.
	for pkg := range graph {
		if !under(pkg, "sim") {
			continue
		}
		seen := map[string]bool{}
		stack := []string{pkg}
		for len(stack) > 0 {
			p := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[p] {
				continue
			}
			seen[p] = true
			if under(p, "transport") || under(p, "ice") {
				t.Errorf("%s depends on %s: the simulator never links a socket", pkg, p)
			}
			stack = append(stack, graph[p]...)
		}
	}
}

func under(path, pkg string) bool {
	return path == pkg || strings.HasPrefix(path, pkg+"/")
}
