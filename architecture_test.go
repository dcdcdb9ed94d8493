package plumview_test

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
// pure stack at the bottom, transport beside it, the two drivers (the
// runtime and the simulator) side by side above, and imports that point
// one way, downwards.

const modulePath = "github.com/plumview/plumview"

// floors places every top-level package of the module on a floor. A
// package imports only packages on lower floors (and its own subpackages):
// never upwards, never sideways. The pure stack is floors 0 to 3;
// transport and the generated API sit on the ground floor beside it; the
// runtime and the simulator are siblings on floor 4, so neither imports the
// other; the daemon is on top.
var floors = map[string]int{
	"peer":       0, // the identity every pure package shares
	"transport":  0, // moves framed bytes; knows no protocol
	"api":        0, // generated gRPC code
	"hyparview":  1,
	"plumtree":   1,
	"fanout":     1, // bounded delivery to subscribers, with lag notices
	"roster":     2,
	"wire":       2,
	"ice":        2,
	"gossip":     3,
	"membership": 4,
	"sim":        4,
	"cmd":        5,
}

// pure lists the packages of the pure stack: no I/O, no concurrency, no
// wall clock, no global randomness.
var pure = []string{"peer", "hyparview", "plumtree", "roster", "wire", "gossip"}

// pureDeps are the packages outside the standard library and this module
// that a pure package may import: the wire codec's msgpack library.
var pureDeps = map[string][]string{"wire": {"github.com/hashicorp/go-msgpack/v2/codec"}}

// allowedInPure lifts a ban for one pure package: the codec pools its
// decoders (sync.Pool, safe for concurrent use, no goroutine), keeps a
// handle per value limits (sync.Map, sync.Mutex) and maps registered Go
// types to tags (reflect).
var allowedInPure = map[string][]string{"wire": {"sync", "reflect", "io"}}

// bannedInPure are standard packages a pure package must not import.
var bannedInPure = map[string]string{
	"net":            "sockets belong to transport/",
	"net/http":       "sockets belong to transport/",
	"io":             "no I/O in the pure stack",
	"os":             "no I/O in the pure stack",
	"sync":           "the pure stack is driven by one goroutine",
	"sync/atomic":    "the pure stack is driven by one goroutine",
	"log":            "observability comes out as counters and outputs",
	"log/slog":       "observability comes out as counters and outputs",
	"math/rand":      "use the injected *rand.Rand from math/rand/v2",
	"crypto/rand":    "use the injected *rand.Rand",
	"unsafe":         "no unsafe in the pure stack",
	"reflect":        "no reflection in the pure stack",
	"time/tzdata":    "no time zones in the pure stack",
	"runtime":        "no runtime tricks in the pure stack",
	"syscall":        "no I/O in the pure stack",
	"io/ioutil":      "no I/O in the pure stack",
	"path/filepath":  "no I/O in the pure stack",
	"os/exec":        "no I/O in the pure stack",
	"encoding/json":  "the wire codec is wire/",
	"encoding/gob":   "the wire codec is wire/",
	"context":        "the pure stack never blocks",
	"testing":        "tests only",
	"testing/quick":  "tests only",
	"net/netip":      "addresses are opaque bytes in the pure stack",
	"crypto/ed25519": "identities are opaque in the pure stack",
}

// allowedRandCalls are the package-level math/rand/v2 functions a core may
// call: constructors of seeded sources, never the global generator.
var allowedRandCalls = map[string]bool{"New": true, "NewPCG": true, "NewChaCha8": true}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(".")
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

// TestPureStackIsPure fails if a pure package imports a banned package, a
// package outside the standard library and the pure stack, or uses
// goroutines, channels, select, time.Now or the global random generator.
func TestPureStackIsPure(t *testing.T) {
	root := repoRoot(t)
	for _, pkg := range pure {
		t.Run(pkg, func(t *testing.T) {
			fset, files := parseDir(t, filepath.Join(root, pkg))
			require.NotEmpty(t, files, "pure package %s has no Go files", pkg)
			for _, f := range files {
				for _, p := range importsOf(f) {
					if why, bad := bannedInPure[p]; bad && !slices.Contains(allowedInPure[pkg], p) {
						t.Errorf("%s imports %q: %s", fset.Position(f.Package), p, why)
					}
					inModule := strings.HasPrefix(p, modulePath+"/")
					if inModule && !slices.Contains(pure, topLevel(strings.TrimPrefix(p, modulePath+"/"))) {
						t.Errorf("%s imports %q: the pure stack imports only itself", fset.Position(f.Package), p)
					}
					if !inModule && strings.Contains(p, ".") && !slices.Contains(pureDeps[pkg], p) {
						t.Errorf("%s imports %q: the pure stack imports only the standard library", fset.Position(f.Package), p)
					}
				}
				ast.Inspect(f, func(n ast.Node) bool {
					switch n := n.(type) {
					case *ast.GoStmt:
						t.Errorf("%s: go statement in the pure stack", fset.Position(n.Pos()))
					case *ast.ChanType:
						t.Errorf("%s: channel type in the pure stack", fset.Position(n.Pos()))
					case *ast.SelectStmt:
						t.Errorf("%s: select in the pure stack", fset.Position(n.Pos()))
					case *ast.SendStmt:
						t.Errorf("%s: channel send in the pure stack", fset.Position(n.Pos()))
					case *ast.SelectorExpr:
						x, ok := n.X.(*ast.Ident)
						if !ok {
							break
						}
						if x.Name == "time" && slices.Contains([]string{"Now", "Since", "Until", "Sleep", "After", "NewTimer", "Tick"}, n.Sel.Name) {
							t.Errorf("%s: time.%s in the pure stack: time is an input", fset.Position(n.Pos()), n.Sel.Name)
						}
						if x.Name == "rand" && n.Sel.Name != "Rand" && !allowedRandCalls[n.Sel.Name] {
							t.Errorf("%s: rand.%s uses the global generator: use the injected *rand.Rand", fset.Position(n.Pos()), n.Sel.Name)
						}
					}
					return true
				})
			}
		})
	}
}

// moduleGraph maps every package of the module (its path relative to the
// root, test files left out) to the module packages it imports.
func moduleGraph(t *testing.T) map[string][]string {
	t.Helper()
	root := repoRoot(t)
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
	graph := map[string][]string{}
	for dir := range dirs {
		rel, err := filepath.Rel(root, dir)
		require.NoError(t, err)
		rel = filepath.ToSlash(rel)
		graph[rel] = nil
		_, files := parseDir(t, dir)
		for _, f := range files {
			for _, p := range importsOf(f) {
				if target, ok := strings.CutPrefix(p, modulePath+"/"); ok && !slices.Contains(graph[rel], target) {
					graph[rel] = append(graph[rel], target)
				}
			}
		}
	}
	return graph
}

// TestImportsPointDown checks that every package sits on a floor and
// imports only packages on lower floors or below itself.
func TestImportsPointDown(t *testing.T) {
	graph := moduleGraph(t)
	edges := 0
	for pkg, imports := range graph {
		from, ok := floors[topLevel(pkg)]
		if !ok {
			t.Errorf("package %s has no floor: place it in floors", pkg)
			continue
		}
		for _, target := range imports {
			edges++
			if topLevel(target) == topLevel(pkg) {
				if under(pkg, target) {
					t.Errorf("%s imports %s, a package above it in its own tree", pkg, target)
				}
				continue
			}
			to, ok := floors[topLevel(target)]
			if ok && to >= from {
				t.Errorf("%s (floor %d) imports %s (floor %d): imports point down", pkg, from, target, to)
			}
		}
	}
	require.NotZero(t, edges, "no imports inside the module: the walk is broken")
	for _, pkg := range pure {
		require.Contains(t, graph, pkg, "pure package %s not found", pkg)
	}
}

// TestSimulatorLinksNoRuntime checks that nothing the simulator links,
// directly or not, opens a socket or belongs to the runtime: the runtime
// and the simulator are two drivers beside each other over the same pure
// stack.
func TestSimulatorLinksNoRuntime(t *testing.T) {
	graph := moduleGraph(t)
	found := false
	for pkg := range graph {
		if !under(pkg, "sim") {
			continue
		}
		found = true
		for _, dep := range transitive(graph, pkg) {
			for _, banned := range []string{"transport", "ice", "membership", "cmd"} {
				if under(dep, banned) {
					t.Errorf("%s depends on %s: the simulator links only the pure stack", pkg, dep)
				}
			}
		}
	}
	require.True(t, found, "no package under sim/")
}

// transitive lists what pkg imports, directly or not.
func transitive(graph map[string][]string, pkg string) []string {
	seen := map[string]bool{pkg: true}
	var out []string
	for stack := slices.Clone(graph[pkg]); len(stack) > 0; {
		p := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[p] {
			continue
		}
		seen[p] = true
		out = append(out, p)
		stack = append(stack, graph[p]...)
	}
	return out
}

func topLevel(pkg string) string {
	top, _, _ := strings.Cut(pkg, "/")
	return top
}

func under(path, pkg string) bool {
	return path == pkg || strings.HasPrefix(path, pkg+"/")
}
