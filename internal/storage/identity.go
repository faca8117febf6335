package storage

import (
	"context"
	"fmt"
	"regexp"
	"time"

	"github.com/uptrace/bun"

	"github.com/laatu/laatu/internal/access"
	"github.com/laatu/laatu/internal/errs"
)

// SessionByTokenHash finds a session, its user and the user's memberships by the hash of its
// bearer token, in one transaction. The session and user are read as the system (the caller
// is not known until the session is), the memberships as the user, whom row-level security
// lets read its own. Whether the session is still live is the caller's to decide.
func (s *Store) SessionByTokenHash(ctx context.Context, hash []byte) (*Session, *User, []*Membership, error) {
	sess, user := new(Session), new(User)
	var ms []*Membership
	err := s.read(access.AsSystem(ctx, ""), func(c *conn) error {
		if err := c.db.NewSelect().Model(sess).Where("sess.token_hash = ?", hash).Scan(ctx); err != nil {
			return err
		}
		if err := c.db.NewSelect().Model(user).Where("usr.id = ?", sess.UserID).Scan(ctx); err != nil {
			return err
		}
		return c.actingAs(ctx, &access.Principal{UserID: user.ID}, func(c *conn) error {
			return c.from(membershipsTable, &ms).Where("membership.user_id = ?", user.ID).
				OrderExpr("membership.created_at, membership.company_id").Scan(ctx)
		})
	})
	if err != nil {
		return nil, nil, nil, notFound(err, "session")
	}
	return sess, user, ms, nil
}

// TouchSessions records when sessions were last used, for idle expiry: one statement per
// distinct time. Authentication calls it in the background, at most once a minute per session.
func (s *Store) TouchSessions(ctx context.Context, seen map[string]time.Time) error {
	byTime := map[time.Time][]string{}
	for id, at := range seen {
		if validID(id) {
			byTime[at] = append(byTime[at], id)
		}
	}
	return s.write(access.AsSystem(ctx, ""), func(c *conn) error {
		for at, ids := range byTime {
			_, err := c.db.NewUpdate().Table("sessions").Set("last_seen_at = ?", at).
				Where("id IN (?) AND last_seen_at < ?", bun.List(ids), at).Exec(ctx)
			if err != nil {
				return fmt.Errorf("touch sessions: %w", err)
			}
		}
		return nil
	})
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, sess *Session) error {
	return s.write(access.AsSystem(ctx, ""), func(c *conn) error {
		if _, err := c.db.NewInsert().Model(sess).Exec(ctx); err != nil {
			return fmt.Errorf("create session: %w", err)
		}
		return nil
	})
}

// RevokeSessions ends sessions of a user: the one with id, or all but keep (when id is empty;
// keep may be empty too, ending every session). It returns how many ended.
func (s *Store) RevokeSessions(ctx context.Context, userID, id, keep string) (int, error) {
	var n int64
	err := s.write(access.AsSystem(ctx, ""), func(c *conn) error {
		q := c.db.NewUpdate().Table("sessions").Set("revoked_at = ?", c.now).
			Where("user_id = ? AND revoked_at IS NULL", userID)
		if id != "" {
			q = q.Where("id = ?", id)
		}
		if keep != "" {
			q = q.Where("id <> ?", keep)
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return fmt.Errorf("revoke sessions: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return int(n), err
}

// SessionsOf lists a user's sessions that have not been revoked, newest first.
func (s *Store) SessionsOf(ctx context.Context, userID string) ([]*Session, error) {
	var rows []*Session
	err := s.read(access.AsSystem(ctx, ""), func(c *conn) error {
		return c.db.NewSelect().Model(&rows).Where("sess.user_id = ? AND sess.revoked_at IS NULL AND sess.expires_at > ?", userID, c.now).
			OrderExpr("sess.created_at DESC").Limit(100).Scan(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("sessions of user: %w", err)
	}
	return rows, nil
}

// Token purposes.
const (
	PurposeInvite = "INVITE"
	PurposeReset  = "RESET"
)

// IssueToken stores a single-use token for a user and queues the mail that carries it, in one
// transaction: either both exist or neither.
func (s *Store) IssueToken(ctx context.Context, t *UserToken, mail *OutboxEmail) error {
	return s.write(access.AsSystem(ctx, ""), func(c *conn) error {
		t.ID, t.CreatedAt = NewID(), c.now
		if _, err := c.db.NewInsert().Model(t).Exec(ctx); err != nil {
			return fmt.Errorf("issue token: %w", err)
		}
		return c.queueMail(ctx, mail)
	})
}

// UseToken consumes a live single-use token: it is marked used and returned, once.
func (s *Store) UseToken(ctx context.Context, purpose string, hash []byte) (*UserToken, error) {
	return s.useToken(ctx, purpose, hash, false)
}

// UseSignUpToken consumes a live sign-up confirmation: an invitation token that carries the
// password chosen at sign-up. Any other token is left alone and answered as invalid.
func (s *Store) UseSignUpToken(ctx context.Context, hash []byte) (*UserToken, error) {
	return s.useToken(ctx, PurposeInvite, hash, true)
}

func (s *Store) useToken(ctx context.Context, purpose string, hash []byte, withPassword bool) (*UserToken, error) {
	t := new(UserToken)
	err := s.write(access.AsSystem(ctx, ""), func(c *conn) error {
		q := c.db.NewUpdate().Table("user_tokens").Set("used_at = ?", c.now).
			Where("token_hash = ? AND purpose = ? AND used_at IS NULL AND expires_at > ?", hash, purpose, c.now)
		if withPassword {
			q = q.Where("password_hash IS NOT NULL")
		}
		res, err := q.Exec(ctx)
		if err != nil {
			return fmt.Errorf("use token: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errs.New(errs.BadUserInput, "the link is invalid, used or expired")
		}
		return c.db.NewSelect().Model(t).Where("utok.token_hash = ?", hash).Scan(ctx)
	})
	return t, err
}

func (c *conn) queueMail(ctx context.Context, m *OutboxEmail) error {
	if m == nil {
		return nil
	}
	m.ID, m.CreatedAt, m.SendAfter = NewID(), c.now, c.now
	if _, err := c.db.NewInsert().Model(m).Exec(ctx); err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	return nil
}

// QueueMail puts a mail in the outbox.
func (s *Store) QueueMail(ctx context.Context, m *OutboxEmail) error {
	return s.write(access.AsSystem(ctx, ""), func(c *conn) error { return c.queueMail(ctx, m) })
}

// PendingMail returns mail due for sending.
func (s *Store) PendingMail(ctx context.Context, limit int) ([]*OutboxEmail, error) {
	var rows []*OutboxEmail
	err := s.read(access.AsSystem(ctx, ""), func(c *conn) error {
		return c.db.NewSelect().Model(&rows).Where("mail.sent_at IS NULL AND mail.send_after <= ?", c.now).
			OrderExpr("mail.send_after, mail.id").Limit(int64(limit)).Scan(ctx)
	})
	return rows, err
}

// tokenInLink is the token of an invitation or reset link in a mail (auth puts it in the URL
// fragment as #token=...).
var tokenInLink = regexp.MustCompile(`#token=\S+`)

// MailSent records a delivery, and removes from the stored mail the token of its link: once
// delivered, the outbox row is a record of what was sent, and a token readable there would
// let whoever reads the database reset a password or accept an invitation.
func (s *Store) MailSent(ctx context.Context, id string) error {
	return s.write(access.AsSystem(ctx, ""), func(c *conn) error {
		var body string
		if err := c.db.NewSelect().Table("outbox_emails").Column("body").Where("id = ?", id).Scan(ctx, &body); err != nil {
			return fmt.Errorf("sent mail: %w", err)
		}
		_, err := c.db.NewUpdate().Table("outbox_emails").
			Set("sent_at = ?, attempts = attempts + 1, body = ?", c.now, tokenInLink.ReplaceAllString(body, "#token=(removed once sent)")).
			Where("id = ?", id).Exec(ctx)
		return err
	})
}

// MailFailed records a failed delivery and when to try again.
func (s *Store) MailFailed(ctx context.Context, id, reason string, retryAt time.Time) error {
	return s.write(access.AsSystem(ctx, ""), func(c *conn) error {
		_, err := c.db.NewUpdate().Table("outbox_emails").Set("attempts = attempts + 1, last_error = ?, send_after = ?", reason, retryAt).
			Where("id = ?", id).Exec(ctx)
		return err
	})
}

// Invite records a pending membership of userID in the active company, with its token and mail.
func (s *Store) Invite(ctx context.Context, userID string, level access.Level, t *UserToken, mail *OutboxEmail) error {
	return s.write(ctx, func(c *conn) error {
		if !c.p.Level.AtLeast(access.Admin) {
			return errs.New(errs.Forbidden, "only admins invite members")
		}
		member, err := c.from(membershipsTable, (*Membership)(nil)).
			Where("membership.company_id = ? AND membership.user_id = ?", c.p.CompanyID, userID).Exists(ctx)
		if err != nil {
			return fmt.Errorf("invite: %w", err)
		}
		if member {
			return errs.New(errs.Conflict, "that person is already a member")
		}
		inv := &Invitation{CompanyID: c.p.CompanyID, ID: NewID(), UserID: userID, Level: level, InvitedBy: &c.p.UserID, CreatedAt: c.now}
		if _, err := c.db.NewInsert().Model(inv).Exec(ctx); err != nil {
			return fmt.Errorf("invite: %w", err)
		}
		t.ID, t.CreatedAt = NewID(), c.now
		if _, err := c.db.NewInsert().Model(t).Exec(ctx); err != nil {
			return fmt.Errorf("invite: %w", err)
		}
		if err := c.queueMail(ctx, mail); err != nil {
			return err
		}
		return c.emit(ctx, Change{Kind: "MEMBER_INVITED", CompanyID: c.p.CompanyID, ObjectType: "USER", ObjectID: userID,
			Fields: []FieldChange{{Field: "level", After: level}}})
	})
}

// AcceptInvitations turns a user's pending invitations into memberships.
func (s *Store) AcceptInvitations(ctx context.Context, userID string) error {
	var pending []*Invitation
	err := s.read(access.NewContext(ctx, &access.Principal{UserID: userID}), func(c *conn) error {
		return c.from(invitationsTable, &pending).Where("invitation.user_id = ? AND invitation.accepted_at IS NULL", userID).Scan(ctx)
	})
	if err != nil {
		return fmt.Errorf("accept invitations: %w", err)
	}
	for _, inv := range pending {
		err := s.write(access.AsSystem(ctx, inv.CompanyID), func(c *conn) error {
			if _, err := c.db.NewUpdate().Table("invitations").Set("accepted_at = ?", c.now).
				Where("company_id = ? AND id = ?", inv.CompanyID, inv.ID).Exec(ctx); err != nil {
				return err
			}
			m := &Membership{CompanyID: inv.CompanyID, UserID: userID, Level: inv.Level, CreatedAt: c.now}
			if _, err := c.db.NewInsert().Model(m).On("CONFLICT (company_id, user_id) DO NOTHING").Exec(ctx); err != nil {
				return err
			}
			return c.emit(ctx, Change{Kind: "MEMBER_ADDED", CompanyID: inv.CompanyID, ObjectType: "USER", ObjectID: userID,
				Fields: []FieldChange{{Field: "level", After: inv.Level}}, UserIDs: []string{userID}})
		})
		if err != nil {
			return fmt.Errorf("accept invitation: %w", err)
		}
	}
	return nil
}

// SetName sets a user's display name.
func (s *Store) SetName(ctx context.Context, userID, name string) error {
	if err := validateName("name", name, 200); err != nil {
		return err
	}
	return s.write(access.AsSystem(ctx, ""), func(c *conn) error {
		_, err := c.db.NewUpdate().Table("users").Set("name = ?, updated_at = ?", name, c.now).Where("id = ?", userID).Exec(ctx)
		return err
	})
}

// DisableUser disables a member of the active company who belongs to no other company, and
// ends all its sessions in the same transaction.
func (s *Store) DisableUser(ctx context.Context, userID string) error {
	return s.write(ctx, func(c *conn) error {
		if !c.p.Level.AtLeast(access.Admin) {
			return errs.New(errs.Forbidden, "only admins disable users")
		}
		if !validID(userID) {
			return errs.NotFoundf("member")
		}
		if userID == c.p.UserID {
			return errs.Invalid("userId", "you cannot disable yourself")
		}
		var ms []*Membership
		if err := c.policyFacts(membershipsTable, []string{c.p.CompanyID}).Where("membership.user_id = ?", userID).Scan(ctx, &ms); err != nil {
			return fmt.Errorf("disable user: %w", err)
		}
		if len(ms) == 0 {
			return errs.NotFoundf("member")
		}
		others, err := s.otherCompanies(ctx, c, userID)
		if err != nil {
			return err
		}
		if others {
			return errs.New(errs.Forbidden, "that user also belongs to other companies; remove them from yours instead")
		}
		if ms[0].Level == access.Admin {
			if err := c.requireAnotherAdmin(ctx, userID); err != nil {
				return err
			}
		}
		if _, err := c.db.NewUpdate().Table("users").Set("disabled_at = ?", c.now).Where("id = ?", userID).Exec(ctx); err != nil {
			return fmt.Errorf("disable user: %w", err)
		}
		if _, err := c.db.NewUpdate().Table("sessions").Set("revoked_at = ?", c.now).Where("user_id = ? AND revoked_at IS NULL", userID).Exec(ctx); err != nil {
			return fmt.Errorf("disable user: %w", err)
		}
		return c.emit(ctx, Change{Kind: "USER_DISABLED", CompanyID: c.p.CompanyID, ObjectType: "USER", ObjectID: userID, UserIDs: []string{userID}})
	})
}

// otherCompanies tells whether a user belongs to a company other than the active one. It asks
// as that user, whom row-level security lets see its own memberships.
func (s *Store) otherCompanies(ctx context.Context, c *conn, userID string) (bool, error) {
	if err := s.setTenant(ctx, c.db, "", userID); err != nil {
		return false, err
	}
	defer func() { _ = s.setTenant(ctx, c.db, c.p.CompanyID, c.p.UserID) }()
	as := *c
	as.p = &access.Principal{UserID: userID}
	n, err := as.from(membershipsTable, (*Membership)(nil)).Where("membership.company_id <> ?", c.p.CompanyID).Count(ctx)
	return n > 0, err
}
