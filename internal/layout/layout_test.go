// Package layout tests the repository's import rules from `go list`, so the
// layout cannot drift (make layout, which make lint runs):
//
//   - a part (cdc, migrator, legacy, orders, proxy, syncback, devstack, each
//     with its subpackages) imports no other part: parts meet over the wire
//     and through the contracts in internal/;
//   - internal/ imports no part.
//
// Tests aside: a test may drive another part (the stack tests run the
// legacy schema, the backfill or the local bus beside the part they test).
// cmd/ and scripts/ wire the parts together and may import anything.
//
// It also keeps every function of cdc/, migrator/ and internal/ (tests
// aside) within maxLines lines.
package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const module = "github.com/anycompany/strangler/"

// parts are the top-level folders that are parts.
var parts = map[string]bool{
	"cdc": true, "migrator": true, "legacy": true, "orders": true,
	"proxy": true, "syncback": true, "devstack": true,
}

// pkg is the part of `go list -json` the rules read.
type pkg struct {
	ImportPath string
	Imports    []string
}

// top is the top-level folder of a package of the module ("" for others).
func top(path string) string {
	rest, ok := strings.CutPrefix(path, module)
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

// violation is the rule p's import of imp breaks, or "".
func violation(p, imp string) string {
	from, to := top(p), top(imp)
	switch {
	case !parts[to] || from == to:
		return ""
	case parts[from]:
		return "a part imports no other part: parts meet over the wire and through the contracts in internal/"
	case from == "internal":
		return "internal/ imports no part: it holds what parts share, so a part's code cannot be reached through it"
	}
	return ""
}

func TestViolation(t *testing.T) {
	for _, c := range []struct {
		from, imp string
		broken    bool
	}{
		{"cdc", "migrator", true},
		{"syncback", "orders/outbox", true},
		{"orders/relay", "devstack/eventbus", true},
		{"internal/events", "devstack/eventbus", true},
		{"orders/relay", "orders/outbox", false},
		{"cdc", "internal/control", false},
		{"internal/events", "internal/control", false},
		{"cmd/strangler", "cdc", false},
		{"scripts/bench/cdcbench", "migrator", false},
	} {
		got := violation(module+c.from, module+c.imp) != ""
		if got != c.broken {
			t.Errorf("%s importing %s: broken %v, want %v", c.from, c.imp, got, c.broken)
		}
	}
	if r := violation(module+"cdc", "github.com/go-mysql-org/go-mysql/replication"); r != "" {
		t.Errorf("an import outside the module broke %q", r)
	}
}

// TestImportRules checks every package's non-test imports.
func TestImportRules(t *testing.T) {
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports", module+"...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reading go list's output: %v", err)
		}
		n++
		for _, imp := range p.Imports {
			if rule := violation(p.ImportPath, imp); rule != "" {
				t.Errorf("%s imports %s\n\trule: %s", strings.TrimPrefix(p.ImportPath, module), strings.TrimPrefix(imp, module), rule)
			}
		}
	}
	if n < 20 {
		t.Fatalf("go list found %d packages; expected the whole module", n)
	}
}

// maxLines is the longest a function may be, its signature and closing
// brace included.
const maxLines = 100

// TestFunctionLength checks the non-test functions of cdc/, migrator/ and
// internal/.
func TestFunctionLength(t *testing.T) {
	fset := token.NewFileSet()
	files := 0
	for _, dir := range []string{"cdc", "migrator", "internal"} {
		err := filepath.WalkDir(filepath.Join("..", "..", dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			f, err := parser.ParseFile(fset, path, nil, 0)
			if err != nil {
				return err
			}
			files++
			for _, decl := range f.Decls {
				if fn, ok := decl.(*ast.FuncDecl); ok {
					from, to := fset.Position(fn.Pos()), fset.Position(fn.End())
					if n := to.Line - from.Line + 1; n > maxLines {
						t.Errorf("%s:%d: %s is %d lines\n\trule: no function in cdc/, migrator/ or internal/ exceeds %d lines; split it into named steps", filepath.ToSlash(strings.TrimPrefix(path, "../../")), from.Line, fn.Name.Name, n, maxLines)
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if files < 20 {
		t.Fatalf("found %d files; expected the whole of cdc/, migrator/ and internal/", files)
	}
}
