package layout

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/hanode/hanode/"

// rule says what the packages under a prefix may import from the module
// (prefixes), in their code and additionally in their tests, and whether
// outside the standard library they are limited to protobuf.
type rule struct {
	under     string
	code      []string
	tests     []string
	pure      bool
	mayTestin bool // non-test code may import "testing"
}

// rules, most specific first.
var rules = []rule{
	{under: "messages", pure: true},
	{under: "node/machine/", code: []string{"messages", "node/machine/"}, tests: []string{"transports/frame", "transports"}, pure: true},
	{under: "node/host/", code: []string{"messages", "node/machine/", "node/host/"}, tests: []string{"internal/lab/"}},
	{under: "node/ops/", code: []string{"messages", "node/machine/", "node/ops/"}, tests: []string{"internal/lab/"}},
	{under: "node/config", code: []string{"messages", "node/machine/resource", "node/machine/addrspec", "transports/medium", "node/config", "node/ops/logging"}, tests: []string{"internal/lab/need"}},
	{under: "transports", code: []string{"messages", "transports"}, tests: []string{"internal/lab/"}},
	{under: "actors", code: []string{"messages", "node/machine/", "node/host/", "node/ops/", "transports", "actors"}, tests: []string{"internal/lab/", "node/config"}},
	{under: "internal/cli/", code: []string{"messages", "node/ops/control", "internal/cli/"}},
	{under: "internal/lab/", code: []string{"messages", "node/ops/", "internal/cli/", "internal/lab/"}, mayTestin: true},
	{under: "internal/layout", code: []string{}},
	{under: "internal/packaging", code: []string{}, tests: []string{"internal/lab/"}},
	{under: "node", code: []string{"messages", "node", "transports", "actors", "internal/lab/"}, tests: []string{"internal/"}},
	{under: "cmd/", code: []string{"messages", "node", "transports", "actors", "internal/"}},
}

// has says whether path (module-relative) is under prefix: "x/" covers
// x's subpackages, "x" covers x and its subpackages.
func has(prefix, path string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(path, prefix)
	}
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

func ruleFor(path string) (rule, bool) {
	for _, r := range rules {
		if has(r.under, path) {
			return r, true
		}
	}
	return rule{}, false
}

type pkg struct {
	ImportPath   string
	Imports      []string
	TestImports  []string
	XTestImports []string
}

func packages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", module+"...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// TestImportsFollowTheTree checks every package of the module, tests
// included, against the rules above (see the package comment).
func TestImportsFollowTheTree(t *testing.T) {
	pkgs := packages(t)
	if len(pkgs) < 30 {
		t.Fatalf("go list found %d packages: not the whole module", len(pkgs))
	}
	for _, p := range pkgs {
		path := strings.TrimPrefix(p.ImportPath, module)
		r, ok := ruleFor(path)
		if !ok {
			t.Errorf("%s: no rule says where it stands: add it to the layout", path)
			continue
		}
		check := func(imp string, allowed []string, inTest bool) {
			if imp == "testing" && !inTest && !r.mayTestin {
				t.Errorf("%s imports \"testing\" outside its tests: test harnesses belong in internal/lab", path)
			}
			if !strings.HasPrefix(imp, module) {
				if r.pure && strings.Contains(strings.Split(imp, "/")[0], ".") && !strings.HasPrefix(imp, "google.golang.org/protobuf/") && !inTest {
					t.Errorf("%s (pure) imports %s: only messages, protobuf and the standard library", path, imp)
				}
				return
			}
			rel := strings.TrimPrefix(imp, module)
			if has("cmd/", rel) {
				t.Errorf("%s imports %s: nothing imports the commands", path, rel)
				return
			}
			for _, a := range allowed {
				if has(a, rel) {
					return
				}
			}
			where := "its code"
			if inTest {
				where = "its tests"
			}
			t.Errorf("%s imports %s in %s: %s may import %v", path, rel, where, r.under, allowed)
		}
		for _, imp := range p.Imports {
			check(imp, r.code, false)
		}
		testAllowed := append(append([]string{r.under}, r.code...), r.tests...)
		for _, imp := range append(p.TestImports, p.XTestImports...) {
			check(imp, testAllowed, true)
		}
	}
}

// TestRulesBite: a made-up import of each forbidden kind is refused by the
// same checks.
func TestRulesBite(t *testing.T) {
	for _, c := range []struct{ from, imp string }{
		{"node/machine/placement", "node/host/agents"},
		{"node/machine/reliable", "transports/frame"},
		{"transports", "node/config"},
		{"node/host/agents", "actors"},
		{"internal/cli/clstatus", "node"},
	} {
		r, _ := ruleFor(c.from)
		allowed := false
		for _, a := range r.code {
			allowed = allowed || has(a, c.imp)
		}
		if allowed {
			t.Errorf("%s may import %s: the rules do not bite", c.from, c.imp)
		}
	}
}
