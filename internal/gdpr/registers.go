package gdpr

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
)

// RegisterFormat names the layout of the JSON record, so that a later one can be told apart.
const RegisterFormat = "laatu.register.v1"

// Controller is who answers for the personal data, from the configuration.
type Controller struct {
	Name    string `json:"name"`
	Contact string `json:"contact"`
}

// Processor is one processor acting for the controller (hosting, mail, ...), from the
// configuration: "role:name".
type Processor struct {
	Role string `json:"role"`
	Name string `json:"name"`
}

// Item is one field of the schema declared @personal.
type Item struct {
	Type      string `json:"type"`
	Field     string `json:"field"`
	Category  string `json:"category"`
	Purpose   string `json:"purpose"`
	Retention string `json:"retention"`
}

// Register is the record of processing activities (GDPR Art. 30(1)) of a Laatu installation,
// generated from the schema's @personal declarations and the configuration, so that it cannot
// drift from what the service keeps.
type Register struct {
	Format       string      `json:"format"`
	Controller   Controller  `json:"controller"`
	Purposes     []string    `json:"purposes"`
	DataSubjects []string    `json:"dataSubjects"`
	Categories   []string    `json:"categories"`
	Recipients   []string    `json:"recipients"`
	Processors   []Processor `json:"processors"`
	Transfers    string      `json:"transfers"`
	Retention    []string    `json:"retention"`
	Security     []string    `json:"security"`
	Rights       []string    `json:"rights"`
	Items        []Item      `json:"items"`
}

// The parts of the record that follow from how Laatu is built, not from configuration.
var (
	dataSubjects = []string{
		"users of the service: members of customer companies at every level",
		"guests: people outside a company with whom it shares folders or documents",
		"people invited by email who have not yet accepted",
		"people named or pictured in documents, where a template marks a field personal",
	}
	recipients = []string{
		"members of the same company, as their level and grants allow (email addresses only to fellow members)",
		"guests, for the folders and documents shared with them by name",
		"the company's ADMINs, for the audit log of their company",
		"the processors listed below",
	}
	security = []string{
		"each company in its own walled environment: a scoped storage layer, PostgreSQL row-level security (enabled and forced) and composite foreign keys",
		"access levels and per-object rights enforced on every request; objects one may not see answer as absent",
		"passwords hashed with argon2id; session tokens stored only as hashes; mailed tokens removed once delivered",
		"every view and change recorded in a per-company, hash-chained, append-only audit log, anchored outside the database",
		"deleted objects kept in a trash before purging; every change versioned; portable backups with checksums and optional age encryption",
		"TLS for clients (or a TLS-terminating proxy); cross-site requests refused; rate limits on logins",
	}
	rights = []string{
		"access and portability: the exportMyData mutation returns everything held about the caller as one JSON document (ADMINs: a member's, within their company)",
		"erasure: the eraseUser mutation pseudonymizes the person and deletes sessions, tokens, mail, memberships and grants; audit events keep the user id, IP address and user agent until pruned, because the hash chain covers them",
		"rectification: names and addresses are changed through the account",
	}
)

// storedOnly is personal data that the service keeps but does not serve through the schema,
// so that no @personal declaration can carry it; the record lists it all the same.
var storedOnly = []Item{
	{Type: "(stored) outbox_emails", Field: "recipient, body", Category: "contact details: email address; mail text",
		Purpose:   "delivering invitation, sharing and password-reset mail",
		Retention: "kept after delivery as a record of what was sent (the link's token removed); deleted on erasure"},
	{Type: "(stored) invitations, user_tokens", Field: "user_id, level, token_hash",
		Category:  "identifiers: pending invitations and single-use tokens",
		Purpose:   "inviting people to a company and resetting passwords",
		Retention: "tokens until used or expired (7 days, 30 minutes for resets); deleted on erasure"},
}

// NewRegister builds the record from the @personal declarations of schema, the controller
// and the processors ("role:name", as configured). It fails when no field is declared
// personal, which would mean the schema was not loaded whole, or when a declaration lacks one
// of its arguments.
func NewRegister(schema *ast.Schema, controller Controller, processors []string) (*Register, error) {
	r := &Register{Format: RegisterFormat, Controller: controller, DataSubjects: dataSubjects, Recipients: recipients,
		Security: security, Rights: rights, Processors: []Processor{},
		Transfers: "Laatu makes no transfer itself; data stays where it is hosted and with the processors listed, " +
			"whose locations the controller states above (in the processor's entry)."}
	if r.Controller.Name == "" {
		r.Controller.Name = "(not configured: set --controller)"
	}
	if r.Controller.Contact == "" {
		r.Controller.Contact = "(not configured: set --controller-contact)"
	}
	for _, p := range processors {
		role, name, ok := strings.Cut(p, ":")
		if !ok {
			role, name = "processor", p
		}
		r.Processors = append(r.Processors, Processor{Role: strings.TrimSpace(role), Name: strings.TrimSpace(name)})
	}
	names := make([]string, 0, len(schema.Types))
	for n := range schema.Types {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		typ := schema.Types[n]
		for _, f := range typ.Fields {
			d := f.Directives.ForName("personal")
			if d == nil {
				continue
			}
			it := Item{Type: typ.Name, Field: f.Name, Category: arg(d, "category"), Purpose: arg(d, "purpose"), Retention: arg(d, "retention")}
			if it.Category == "" || it.Purpose == "" || it.Retention == "" {
				return nil, fmt.Errorf("registers: %s.%s: @personal needs category, purpose and retention", typ.Name, f.Name)
			}
			r.Items = append(r.Items, it)
			r.Purposes = appendNew(r.Purposes, it.Purpose)
			r.Categories = appendNew(r.Categories, it.Category)
			r.Retention = appendNew(r.Retention, it.Category+": "+it.Retention)
		}
	}
	if len(r.Items) == 0 {
		return nil, fmt.Errorf("registers: no field of the schema is declared @personal")
	}
	for _, it := range storedOnly {
		r.Items = append(r.Items, it)
		r.Purposes = appendNew(r.Purposes, it.Purpose)
		r.Categories = appendNew(r.Categories, it.Category)
		r.Retention = appendNew(r.Retention, it.Category+": "+it.Retention)
	}
	return r, nil
}

func arg(d *ast.Directive, name string) string {
	if a := d.Arguments.ForName(name); a != nil && a.Value != nil {
		return strings.TrimSpace(a.Value.Raw)
	}
	return ""
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// JSON returns the record as indented JSON.
func (r *Register) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("registers: %w", err)
	}
	return append(b, '\n'), nil
}

// Markdown returns the record as a Markdown document a data protection officer can file.
func (r *Register) Markdown() string {
	var b strings.Builder
	list := func(title string, items []string) {
		fmt.Fprintf(&b, "\n## %s\n\n", title)
		for _, it := range items {
			fmt.Fprintf(&b, "- %s\n", it)
		}
	}
	b.WriteString("# Record of processing activities (GDPR Art. 30)\n\n")
	b.WriteString("Generated by `laatu registers` from the schema's `@personal` declarations and the configuration.\n")
	fmt.Fprintf(&b, "\n## Controller\n\n- Name: %s\n- Contact: %s\n", r.Controller.Name, r.Controller.Contact)
	list("Purposes of the processing", r.Purposes)
	list("Categories of data subjects", r.DataSubjects)
	list("Categories of personal data", r.Categories)
	list("Recipients", r.Recipients)
	b.WriteString("\n## Processors\n\n")
	if len(r.Processors) == 0 {
		b.WriteString("- none configured (set --processors, e.g. hosting:Provider Finland,mail:Provider EU)\n")
	}
	for _, p := range r.Processors {
		fmt.Fprintf(&b, "- %s: %s\n", p.Role, p.Name)
	}
	fmt.Fprintf(&b, "\n## Transfers to third countries\n\n%s\n", r.Transfers)
	list("Retention", r.Retention)
	list("Security measures (Art. 32)", r.Security)
	list("Data subjects' rights", r.Rights)
	b.WriteString("\n## Fields holding personal data\n\n| field | category | purpose | retention |\n|---|---|---|---|\n")
	for _, it := range r.Items {
		fmt.Fprintf(&b, "| `%s.%s` | %s | %s | %s |\n", it.Type, it.Field, cell(it.Category), cell(it.Purpose), cell(it.Retention))
	}
	return b.String()
}

func cell(s string) string { return strings.ReplaceAll(s, "|", "\\|") }
