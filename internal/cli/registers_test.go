package cli

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/laatu/laatu/graph"
)

// personalFields walks the executable schema itself: every field declared @personal, with its
// category.
func personalFields(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, typ := range graph.NewExecutableSchema(graph.Config{}).Schema().Types {
		for _, f := range typ.Fields {
			if d := f.Directives.ForName("personal"); d != nil {
				out[typ.Name+"."+f.Name] = d.Arguments.ForName("category").Value.Raw
			}
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d @personal fields in the schema", len(out))
	}
	return out
}

// TestRegisters: laatu registers prints the record of processing in both formats, with the
// configured controller and processors and every @personal field with its category.
func TestRegisters(t *testing.T) {
	env := map[string]string{"LAATU_CONTROLLER": "Acme Construction Oy", "LAATU_CONTROLLER_CONTACT": "dpo@acme.test",
		"LAATU_PROCESSORS": "hosting:UpCloud Finland,mail:Postmark EU"}
	fields := personalFields(t)

	code, out, errOut := laatu(t, env, "registers", "--format", "json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var r struct {
		Format     string
		Controller struct{ Name, Contact string }
		Processors []struct{ Role, Name string }
		Purposes   []string
		Categories []string
		Security   []string
		Items      []struct{ Type, Field, Category, Purpose, Retention string }
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("json format does not parse: %v\n%s", err, out)
	}
	if r.Format != "laatu.register.v1" || r.Controller.Name != "Acme Construction Oy" || r.Controller.Contact != "dpo@acme.test" {
		t.Errorf("head: %+v", r)
	}
	if len(r.Processors) != 2 || r.Processors[0].Role != "hosting" || r.Processors[1].Name != "Postmark EU" {
		t.Errorf("processors %+v", r.Processors)
	}
	if len(r.Purposes) == 0 || len(r.Security) == 0 {
		t.Error("no purposes or security measures")
	}
	got := map[string]string{}
	for _, it := range r.Items {
		got[it.Type+"."+it.Field] = it.Category
		if it.Purpose == "" || it.Retention == "" {
			t.Errorf("%s.%s without purpose or retention", it.Type, it.Field)
		}
	}
	for name, cat := range fields {
		if got[name] != cat {
			t.Errorf("json: %s has category %q, the schema says %q", name, got[name], cat)
		}
	}

	code, md, errOut := laatu(t, env, "registers")
	if code != 0 {
		t.Fatalf("md: exit %d: %s", code, errOut)
	}
	if !strings.HasPrefix(md, "# Record of processing activities (GDPR Art. 30)\n") {
		t.Errorf("md does not open with its title:\n%s", md)
	}
	for _, h := range []string{"## Controller", "## Purposes of the processing", "## Categories of data subjects",
		"## Categories of personal data", "## Recipients", "## Processors", "## Transfers to third countries",
		"## Retention", "## Security measures (Art. 32)", "## Fields holding personal data", "- Name: Acme Construction Oy", "- mail: Postmark EU"} {
		if !strings.Contains(md, "\n"+h) {
			t.Errorf("md lacks %q", h)
		}
	}
	// The table: a header, its rule, then one row of four cells per item.
	rows := 0
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| `") {
			rows++
			if cells := strings.Count(strings.ReplaceAll(line, "\\|", ""), "|"); cells != 5 {
				t.Errorf("table row with %d separators: %s", cells, line)
			}
		}
	}
	if rows != len(r.Items) {
		t.Errorf("md table has %d rows, json %d items", rows, len(r.Items))
	}
	for name, cat := range fields {
		if !strings.Contains(md, "| `"+name+"` | "+cat+" |") {
			t.Errorf("md lacks the row of %s (%s)", name, cat)
		}
	}

	if code, _, errOut := laatu(t, env, "registers", "--format", "pdf"); code != 2 || !strings.Contains(errOut, "md or json") {
		t.Errorf("--format pdf: exit %d, %s", code, errOut)
	}
}
