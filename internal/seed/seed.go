// Package seed loads the demo data of dev mode: two companies, seven users, templates, folders,
// a few dozen documents each, and the grants that show sharing. The data is fixed so that people
// and scripts can rely on it; seeding again does nothing.
package seed

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
	"github.com/laatu/laatu/internal/storage"
)

// Password is every demo account's password.
const Password = "laatu-demo-password"

// Account is a demo login.
type Account struct {
	Email, Name, Company string
	Level                access.Level
}

// Accounts are the demo logins, in the order the server prints them.
var Accounts = []Account{
	{"admin@acme.test", "Aino Admin", "Acme Construction", access.Admin},
	{"manager@acme.test", "Matti Manager", "Acme Construction", access.Manager},
	{"member@acme.test", "Meri Member", "Acme Construction", access.Member},
	{"limited@acme.test", "Lauri Limited", "Acme Construction", access.Limited},
	{"admin@beta.test", "Bea Admin", "Beta Builders", access.Admin},
	{"member@beta.test", "Ben Member", "Beta Builders", access.Member},
	{"guest@partner.test", "Greta Guest", "", ""},
}

// Hasher hashes the demo password.
type Hasher interface {
	Hash(ctx context.Context, plain string) (string, error)
}

// Result tells what Demo did.
type Result struct {
	Created   bool
	Companies map[string]string // name → id
}

// Demo loads the demo data unless it is there already.
func Demo(ctx context.Context, store *storage.Store, hasher Hasher) (Result, error) {
	res := Result{Companies: map[string]string{}}
	if _, err := store.UserByEmail(access.AsSystem(ctx, ""), Accounts[0].Email); err == nil {
		return res, nil
	} else if errs.KindOf(err) != errs.NotFound {
		return res, err
	}
	hash, err := hasher.Hash(ctx, Password)
	if err != nil {
		return res, err
	}
	users := map[string]*access.Principal{}
	// Accounts, companies and memberships are made by the system: their audit events say so.
	sys := access.AsSystem(ctx, "")
	for _, a := range Accounts {
		u, err := store.CreateUser(sys, storage.NewUser{Email: a.Email, Name: a.Name, Language: "en", PasswordHash: hash})
		if err != nil {
			return res, fmt.Errorf("demo user %s: %w", a.Email, err)
		}
		users[a.Email] = &access.Principal{UserID: u.ID, Memberships: map[string]access.Level{}}
		if a.Company == "" {
			continue
		}
		if a.Level == access.Admin {
			co, err := store.CreateCompany(sys, a.Company, u.ID)
			if err != nil {
				return res, err
			}
			res.Companies[a.Company] = co.ID
		} else if err := store.AddMember(sys, res.Companies[a.Company], u.ID, a.Level); err != nil {
			return res, err
		}
		p := users[a.Email]
		p.CompanyID, p.Level = res.Companies[a.Company], a.Level
		p.Memberships[p.CompanyID] = a.Level
	}
	as := func(email string) context.Context { return access.NewContext(ctx, users[email]) }

	acme, err := company(as("admin@acme.test"), store, as("manager@acme.test"), acmePlan)
	if err != nil {
		return res, fmt.Errorf("demo Acme: %w", err)
	}
	beta, err := company(as("admin@beta.test"), store, as("admin@beta.test"), betaPlan)
	if err != nil {
		return res, fmt.Errorf("demo Beta: %w", err)
	}
	guest := users["guest@partner.test"].UserID
	grants := []struct {
		ctx context.Context
		g   storage.NewGrant
	}{
		{as("manager@acme.test"), storage.NewGrant{ObjectID: acme.folders["Harbour Tower"], GranteeID: guest, Level: access.View}},
		{as("admin@beta.test"), storage.NewGrant{ObjectID: beta.firstDoc, GranteeID: guest, Level: access.Edit}},
		{as("manager@acme.test"), storage.NewGrant{ObjectID: acme.folders["Riverside School/Inspections"], GranteeID: users["limited@acme.test"].UserID, Level: access.Edit}},
	}
	for _, g := range grants {
		if _, err := store.Share(g.ctx, g.g); err != nil {
			return res, fmt.Errorf("demo grant: %w", err)
		}
	}
	res.Created = true
	return res, nil
}

type folderPlan struct {
	path       string
	restricted bool
	docs       int
}

var acmePlan = []folderPlan{
	{"Harbour Tower", false, 4}, {"Harbour Tower/Foundations", false, 8}, {"Harbour Tower/Structure", false, 8},
	{"Riverside School", false, 2}, {"Riverside School/Inspections", false, 8}, {"HR & Safety", true, 4},
}

var betaPlan = []folderPlan{
	{"Hillside Homes", false, 4}, {"Hillside Homes/Plot 1", false, 10}, {"Hillside Homes/Plot 2", false, 10},
	{"Office Renovation", false, 6},
}

type built struct {
	folders  map[string]string
	firstDoc string
}

// company creates templates (as its admin), then folders and documents (as creator).
func company(admin context.Context, store *storage.Store, creator context.Context, plan []folderPlan) (built, error) {
	b := built{folders: map[string]string{}}
	inspection, err := store.CreateTemplate(admin, storage.NewTemplate{Name: "Site inspection", Description: "Daily site inspection checklist.",
		Fields: []storage.FieldDef{
			{Key: "inspector", Label: "Inspector", Type: storage.FieldText, Required: true, Personal: true},
			{Key: "date", Label: "Date", Type: storage.FieldDate, Required: true},
			{Key: "weather", Label: "Weather", Type: storage.FieldChoice, Options: []string{"Sunny", "Cloudy", "Rain", "Snow"}},
			{Key: "temperature", Label: "Temperature (°C)", Type: storage.FieldNumber},
			{Key: "scaffoldingOk", Label: "Scaffolding checked", Type: storage.FieldCheckbox, Required: true},
			{Key: "notes", Label: "Notes", Type: storage.FieldText},
			{Key: "signature", Label: "Signature", Type: storage.FieldSignature},
		}})
	if err != nil {
		return b, err
	}
	pour, err := store.CreateTemplate(admin, storage.NewTemplate{Name: "Concrete pour report", Description: "Record of a concrete pour.",
		Fields: []storage.FieldDef{
			{Key: "pourDate", Label: "Pour date", Type: storage.FieldDate, Required: true},
			{Key: "volume", Label: "Volume (m³)", Type: storage.FieldNumber, Required: true},
			{Key: "supplier", Label: "Supplier", Type: storage.FieldText},
			{Key: "slumpOk", Label: "Slump test passed", Type: storage.FieldCheckbox},
			{Key: "photo", Label: "Photo", Type: storage.FieldPhoto},
		}})
	if err != nil {
		return b, err
	}
	statuses := []storage.Status{storage.Draft, storage.Submitted, storage.Approved, storage.Draft, storage.Archived}
	day := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	n := 0
	for _, fp := range plan {
		in := storage.NewFolder{Name: leaf(fp.path), Restricted: fp.restricted}
		if parent := parentOf(fp.path); parent != "" {
			id := b.folders[parent]
			in.ParentID = &id
		}
		ctx := creator
		if fp.restricted {
			ctx = admin
		}
		f, err := store.CreateFolder(ctx, in)
		if err != nil {
			return b, err
		}
		b.folders[fp.path] = f.ID
		for i := 0; i < fp.docs; i++ {
			n++
			date := day.AddDate(0, 0, n).Format("2006-01-02")
			var d *storage.Document
			if n%3 == 0 {
				d, err = store.CreateDocument(ctx, storage.NewDocument{FolderID: f.ID, TemplateID: pour.ID,
					Title:  fmt.Sprintf("Pour %d — %s", n, leaf(fp.path)),
					Values: map[string]any{"pourDate": date, "volume": float64(10 + n), "supplier": "Nordic Concrete", "slumpOk": n%2 == 0}})
			} else {
				d, err = store.CreateDocument(ctx, storage.NewDocument{FolderID: f.ID, TemplateID: inspection.ID,
					Title: fmt.Sprintf("Inspection %d — %s", n, leaf(fp.path)),
					Values: map[string]any{"inspector": "Site Inspector", "date": date, "weather": []string{"Sunny", "Cloudy", "Rain"}[n%3],
						"temperature": float64(n%25 - 5), "scaffoldingOk": true, "notes": "No remarks."}})
			}
			if err != nil {
				return b, err
			}
			if b.firstDoc == "" {
				b.firstDoc = d.ID
			}
			if st := statuses[n%len(statuses)]; st != storage.Draft {
				for _, next := range path(st) {
					if d, err = store.UpdateDocument(admin, d.ID, storage.DocumentPatch{ExpectedVersion: d.Version, Status: &next}); err != nil {
						return b, err
					}
				}
			}
			if n%4 == 0 {
				if _, err := store.AddComment(ctx, d.ID, "Checked on site, looks good."); err != nil {
					return b, err
				}
			}
		}
	}
	return b, nil
}

// path is the chain of transitions from DRAFT to a status.
func path(to storage.Status) []storage.Status {
	switch to {
	case storage.Submitted:
		return []storage.Status{storage.Submitted}
	case storage.Approved:
		return []storage.Status{storage.Submitted, storage.Approved}
	case storage.Archived:
		return []storage.Status{storage.Submitted, storage.Approved, storage.Archived}
	}
	return nil
}

func leaf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

func parentOf(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return ""
}

// ErrNotDev is returned when demo data is asked for outside dev mode.
var ErrNotDev = errors.New("demo data is loaded only in dev mode (--mode dev)")
