// Package gdpr holds Laatu's duties towards the people whose data it keeps: the export of a
// person's data (GDPR Art. 15 and 20), its erasure (Art. 17, in storage.Store.EraseUser), and
// the record of processing (Art. 30) generated from the schema's @personal declarations.
package gdpr

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/laatu/laatu/internal/audit"
	"github.com/laatu/laatu/internal/storage"
)

// ExportFormat names the layout of an export, so that a later one can be told apart.
const ExportFormat = "laatu.personal-data.v1"

// Export is everything the service holds about one person, as one JSON document.
type Export struct {
	Format     string    `json:"format"`
	ExportedAt time.Time `json:"exportedAt"`
	SubjectID  string    `json:"subjectId"`
	*storage.PersonalData
	// AuditEvents are the events in which the person acted, oldest first per company.
	AuditEvents []AuditEvent `json:"auditEvents"`
}

// AuditEvent is an audit event as an export shows it.
type AuditEvent struct {
	CompanyID      string        `json:"companyId"`
	Seq            int64         `json:"seq"`
	ID             string        `json:"id"`
	OccurredAt     time.Time     `json:"occurredAt"`
	Action         string        `json:"action"`
	ObjectType     string        `json:"objectType,omitempty"`
	ObjectID       string        `json:"objectId,omitempty"`
	PrincipalKind  string        `json:"principalKind"`
	PrincipalLevel string        `json:"principalLevel,omitempty"`
	SessionID      string        `json:"sessionId,omitempty"`
	ClientIP       string        `json:"clientIp,omitempty"`
	UserAgent      string        `json:"userAgent,omitempty"`
	RequestID      string        `json:"requestId,omitempty"`
	OperationType  string        `json:"operationType,omitempty"`
	OperationName  string        `json:"operationName,omitempty"`
	RootFields     []string      `json:"rootFields,omitempty"`
	Fields         []audit.Field `json:"fields,omitempty"`
}

// ExportData collects the personal data of userID (empty: the caller) that the caller may
// export (storage.Store.PersonalScope: the caller's own, everywhere; or, for an ADMIN, a
// member's within the ADMIN's company), and records the export as an EXPORT event in each
// company it covers (in the chain of no company for someone who belongs to none). An id the caller may not
// export is NOT_FOUND, as one that names no one.
func ExportData(ctx context.Context, store *storage.Store, auditor *audit.Auditor, userID string) (*Export, error) {
	subject, companies, self, err := store.PersonalScope(ctx, userID)
	if err != nil {
		return nil, err
	}
	data, err := store.PersonalData(ctx, subject, companies, self)
	if err != nil {
		return nil, err
	}
	out := &Export{Format: ExportFormat, ExportedAt: store.Now(), SubjectID: subject, PersonalData: data, AuditEvents: []AuditEvent{}}
	read := slices.Clone(companies)
	if self {
		read = append(read, audit.NoCompany)
	}
	for _, co := range read {
		events, err := auditor.EventsOfActor(ctx, co, subject)
		if err != nil {
			return nil, err
		}
		for _, e := range events {
			out.AuditEvents = append(out.AuditEvents, AuditEvent{CompanyID: e.CompanyID, Seq: e.Seq, ID: e.ID, OccurredAt: e.OccurredAt,
				Action: e.Action, ObjectType: e.ObjectType, ObjectID: e.ObjectID, PrincipalKind: e.PrincipalKind,
				PrincipalLevel: e.PrincipalLevel, SessionID: e.SessionID, ClientIP: e.ClientIP, UserAgent: e.UserAgent,
				RequestID: e.RequestID, OperationType: e.OperationType, OperationName: e.OperationName,
				RootFields: e.RootFields, Fields: e.Fields})
		}
	}
	// Each EXPORT event locks its chain until the operation commits: the companies' chains are
	// taken in one order (sorted, as EraseUser takes them), and the chain of no company, which
	// every login appends to, only for someone who belongs to no company.
	chains := slices.Sorted(slices.Values(companies))
	if len(chains) == 0 {
		chains = []string{audit.NoCompany}
	}
	for _, co := range chains {
		err := store.Emit(ctx, storage.Change{Kind: audit.ActionExport, CompanyID: co, ObjectType: audit.KindUser, ObjectID: subject})
		if err != nil {
			return nil, fmt.Errorf("export: audit: %w", err)
		}
	}
	return out, nil
}

// Map returns the export as a JSON object, for the GraphQL JSON scalar.
func (e *Export) Map() (map[string]any, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	return m, nil
}
