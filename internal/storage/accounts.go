package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// ErrEmailTaken is returned when an address already has an account. Sign-up answers it like
// success and mails the address's owner instead (see auth), so that it cannot be used to find
// out who has an account.
var ErrEmailTaken = errors.New("email already registered")

// NewUser is the input of CreateUser.
type NewUser struct {
	Email, Name, Language string
	// PasswordHash is empty for an invited user who has not set a password yet.
	PasswordHash string
}

// CreateUser adds a user. Users are global; creating one is the system's act (sign-up,
// invitation, seeding).
func (s *Store) CreateUser(ctx context.Context, in NewUser) (*User, error) {
	if err := validateName("name", in.Name, 200); err != nil {
		return nil, err
	}
	email := NormalizeEmail(in.Email)
	if !ValidEmail(email) {
		return nil, errs.Invalid("email", "that is not an email address")
	}
	lang := in.Language
	if lang == "" {
		lang = "en"
	}
	u := &User{ID: NewID(), Email: email, Name: strings.TrimSpace(in.Name), Language: lang}
	if in.PasswordHash != "" {
		u.PasswordHash = &in.PasswordHash
	}
	err := s.write(access.AsSystem(ctx, ""), func(c *conn) error {
		u.CreatedAt, u.UpdatedAt = c.now, c.now
		exists, err := c.db.NewSelect().Model((*User)(nil)).Where("usr.email = ?", email).Exists(ctx)
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		if exists {
			return ErrEmailTaken
		}
		if _, err := c.db.NewInsert().Model(u).Exec(ctx); err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// SignUp creates a user without a password and a company with the user as its first ADMIN.
// The whole input is checked before the address is looked up, so that a taken address
// (ErrEmailTaken) and a fresh one differ in nothing else.
func (s *Store) SignUp(ctx context.Context, in NewUser, companyName string) (*User, error) {
	if err := validateName("companyName", companyName, 200); err != nil {
		return nil, err
	}
	in.PasswordHash = ""
	u, err := s.CreateUser(ctx, in)
	if err != nil {
		return nil, err
	}
	if _, err := s.CreateCompany(ctx, companyName, u.ID); err != nil {
		return nil, err
	}
	return u, nil
}

// SetPassword stores a new password hash for a user.
func (s *Store) SetPassword(ctx context.Context, userID, hash string) error {
	return s.write(access.AsSystem(ctx, ""), func(c *conn) error {
		_, err := c.db.NewUpdate().Table("users").Set("password_hash = ?, updated_at = ?", hash, c.now).Where("id = ?", userID).Exec(ctx)
		if err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		return nil
	})
}

// CreateCompany creates a company with its first ADMIN.
func (s *Store) CreateCompany(ctx context.Context, name, adminID string) (*Company, error) {
	if err := validateName("companyName", name, 200); err != nil {
		return nil, err
	}
	co := &Company{ID: NewID(), Name: strings.TrimSpace(name)}
	err := s.write(access.AsSystem(ctx, co.ID), func(c *conn) error {
		co.CreatedAt, co.UpdatedAt = c.now, c.now
		if _, err := c.db.NewInsert().Model(co).Exec(ctx); err != nil {
			return fmt.Errorf("create company: %w", err)
		}
		m := &Membership{CompanyID: co.ID, UserID: adminID, Level: access.Admin, CreatedAt: c.now}
		if _, err := c.db.NewInsert().Model(m).Exec(ctx); err != nil {
			return fmt.Errorf("create company: %w", err)
		}
		return c.emit(ctx, Change{Kind: "MEMBER_ADDED", CompanyID: co.ID, ObjectType: "USER", ObjectID: adminID,
			Fields: []FieldChange{{Field: "level", After: access.Admin}}, UserIDs: []string{adminID}})
	})
	if err != nil {
		return nil, err
	}
	return co, nil
}

// AddMember makes a user a member of a company, as the system (accepting an invitation, seeding).
func (s *Store) AddMember(ctx context.Context, companyID, userID string, level access.Level) error {
	return s.write(access.AsSystem(ctx, companyID), func(c *conn) error {
		m := &Membership{CompanyID: companyID, UserID: userID, Level: level, CreatedAt: c.now}
		if _, err := c.db.NewInsert().Model(m).On("CONFLICT (company_id, user_id) DO NOTHING").Exec(ctx); err != nil {
			return fmt.Errorf("add member: %w", err)
		}
		return c.emit(ctx, Change{Kind: "MEMBER_ADDED", CompanyID: companyID, ObjectType: "USER", ObjectID: userID,
			Fields: []FieldChange{{Field: "level", After: level}}, UserIDs: []string{userID}})
	})
}

// ValidEmail reports whether e looks like an email address.
func ValidEmail(e string) bool {
	at := strings.LastIndexByte(e, '@')
	return len(e) <= 254 && at > 0 && at < len(e)-1 && !strings.ContainsAny(e, " \t\r\n<>\"") && strings.Contains(e[at:], ".")
}
