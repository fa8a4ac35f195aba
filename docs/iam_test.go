package docs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/anycompany/strangler/internal/awsiam"
)

const (
	iamBegin = "<!-- begin IAM table: generated from internal/awsiam/observed.json by TestIAMTable (go test ./docs -update) -->\n"
	iamEnd   = "<!-- end IAM table -->\n"
)

// runsAs says where each recorded part runs on AWS and which command it is
// on the local stack.
var runsAs = map[string]string{
	"orders":    "Lambda `orders` (`orders serve`)",
	"processor": "Lambda `processor` (`orders process`)",
	"outbox":    "Lambda `outbox` (`orders relay`'s pass)",
	"cdc":       "Fargate `cdc` (`cdc run`)",
	"proxy":     "Fargate `proxy` (`proxy serve`)",
	"backfill":  "Fargate `backfill` (`migrate init`, `backfill`, `verify`)",
}

// TestIAMTable checks the runbook's IAM table against the recorded calls
// (the same data as the template's policies); -update rewrites it.
func TestIAMTable(t *testing.T) {
	doc, err := os.ReadFile("runbook.md")
	if err != nil {
		t.Fatal(err)
	}
	i, j := strings.Index(string(doc), iamBegin), strings.Index(string(doc), iamEnd)
	if i < 0 || j < i {
		t.Fatalf("runbook.md has no %q ... %q section", iamBegin, iamEnd)
	}
	obs, err := awsiam.Load()
	if err != nil {
		t.Fatal(err)
	}
	want := awsiam.Markdown(obs.Grants, runsAs, []string{"orders", "processor", "outbox", "cdc", "proxy", "backfill"})
	if got := string(doc[i+len(iamBegin) : j]); got != want {
		if *update {
			out := string(doc[:i+len(iamBegin)]) + want + string(doc[j:])
			if err := os.WriteFile("runbook.md", []byte(out), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Errorf("runbook.md's IAM table is not internal/awsiam/observed.json's (go test ./docs -update rewrites it); want:\n%s", want)
	}
}
