// Package audit is Laatu's audit stream: every view and every change of a company's objects,
// and every security event, becomes an Event that records who (user, principal kind and level,
// for a guest the grant that admitted it, session), when (server clock, UTC), from where
// (client IP, user agent, request id, GraphQL operation), and what (company, object, action,
// fields).
//
// # Guarantees
//
//   - Changes: the storage layer calls ChangeHook inside the writing transaction, so a change
//     and its event commit or roll back together.
//   - Views: FieldMiddleware collects the fields resolved on folders, documents, comments,
//     templates and memberships into the operation's Collector; Flush folds them to one VIEW
//     event per object and returns only once they are durable. Flushes of concurrent
//     operations share one transaction (group commit). The queue is bounded: when it is full a
//     caller waits, and gives up with an error when its context ends; nothing is ever dropped,
//     and an error means the caller must not send its response (fail closed).
//   - Guests: the events of a principal acting as a guest of the event's company name, in
//     GrantID, the grant that admitted it to the object (the rule is documented at
//     storage.Store.AdmittingGrants). Changes carry it from storage, which looks it up in
//     their own transaction; views ask Options.Grants once per company when they are folded,
//     and a failed lookup fails the flush like a failed write.
//   - Tamper evidence: each company's events form a hash chain (below). Verify walks it and
//     reports the first modified, deleted, inserted or reordered event. On PostgreSQL the
//     server's role may insert and read (its active company only) but not update or delete;
//     Prune, run as the table owner, removes old events and leaves a hashed checkpoint so the
//     rest still verifies.
//   - Stream: every durable event is also written as one JSON line to a zerolog logger
//     dedicated to audit, so operators can ship it elsewhere (which also anchors the chain
//     outside the database: a rewritten chain no longer matches the shipped hashes).
//
// # The chain
//
// Events of one company are numbered 1, 2, 3, ... (seq) with no gaps. Events outside any
// company (logins, failed logins) form the chain of the nil company id, NoCompany. Each event
// stores prev_hash, the hash of the event before it in its company (or, after pruning, the
// hash recorded in the latest checkpoint, or Genesis for the first event), and hash:
//
//	hash = lowercase hex of SHA-256(canonical encoding)
//
// The canonical encoding (version "laatu.audit.v1") is the compact JSON array, as produced by
// Go's encoding/json, of:
//
//	["laatu.audit.v1", company_id, seq, id, occurred_at, request_id, operation_type,
//	 operation_name, operation_hash, root_fields, actor_id, principal_kind, principal_level,
//	 grant_id, session_id, client_ip, user_agent, action, object_type, object_id, fields,
//	 prev_hash]
//
// where ids are lowercase UUID strings, occurred_at is UTC formatted as
// 2006-01-02T15:04:05.000000Z, actor_id is null when there is none, root_fields is an array of
// strings, and fields is the array of {"field","before","after","personal"} objects
// (before/after omitted when absent, personal omitted when false) with every number written as
// Go writes a float64 and object keys sorted. That normalization makes the encoding survive a
// round trip through PostgreSQL's jsonb unchanged.
//
// Text is hashed as it is stored: NUL and invalid UTF-8, which PostgreSQL refuses or the driver
// would change, become U+FFFD before an event is hashed.
//
// # Erasure
//
// An event names its actor by user id only, never by name or address, so erasing a user
// (storage.Store.EraseUser) leaves every chain intact: the user row is pseudonymized and the
// events now point at "Erased user". The client IP address and user agent are in the canonical
// encoding, though, so they cannot be blanked without breaking the chain; they stay until the
// company prunes the events (Prune). Hashing a commitment to them instead, kept beside an
// erasable copy, would need a new encoding version.
//
// # Storage: one row per run
//
// Events are stored in runs (rows.go): a row of audit_events holds consecutive events of one
// chain that share their context (the views of one response), the first in the row's own
// columns and the others in its more column. Readers expand rows into events, so the layout
// is invisible above this package, and every event keeps its own seq and hash.
//
// Appends to one company's chain are serialized: on PostgreSQL by a transaction-scoped
// advisory lock derived from the company id, on SQLite by its single writer.
//
// # The cost of a group commit
//
// View auditing adds a durable write to every read, so the writer keeps it to one round trip
// on PostgreSQL: it remembers where each chain ended when it last committed to it (and where
// the changes written through ChangeHook ended it), chains the batch after that in memory, and
// sends one query message, which PostgreSQL runs as one implicit transaction: per company,
// set the company for row-level security and take the chain's lock, then insert the events,
// written as SQL by hand, one row per run. If another writer
// extended a chain meanwhile (a change, another server), the first seq collides with the
// primary key and everything rolls back; the writer then writes the batch in a transaction
// that reads the chains' ends first, as it does for a company it has not written to yet (and
// always on SQLite). Remembering the end also makes a deletion of the newest events show: the
// chain continues after them, and Verify reports the gap.
//
// The writer holds a PostgreSQL connection of its own, so that operations waiting for the
// pool cannot hold up the writes they wait for.
package audit
