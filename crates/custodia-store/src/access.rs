//! Sign-in counters, one-time account links and approvals: the records,
//! the tables and the statements, written once for both stores.
//!
//! The SQL here runs unchanged on SQLite and PostgreSQL: `$N` parameters
//! (SQLite numbers them by first appearance, so each statement names them
//! in order), and column types both understand (`bytea` and `boolean` get
//! SQLite's numeric affinity, which keeps blobs as blobs and stores
//! booleans as 0/1).

/// The tables (both stores create them at open; `IF NOT EXISTS` makes it
/// safe on an existing database).
pub(crate) const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS counters (
    key             text PRIMARY KEY,
    failures        bigint NOT NULL,
    window_start_ms bigint NOT NULL,
    locked_until_ms bigint NOT NULL
);
CREATE TABLE IF NOT EXISTS account_links (
    digest     bytea PRIMARY KEY,
    account    text NOT NULL,
    kind       text NOT NULL,
    created_ms bigint NOT NULL,
    expires_ms bigint NOT NULL,
    used       boolean NOT NULL,
    created_by text NOT NULL
);
CREATE INDEX IF NOT EXISTS account_links_account ON account_links (account, kind);
CREATE TABLE IF NOT EXISTS approvals (
    id           text PRIMARY KEY,
    kind         text NOT NULL,
    account      text NOT NULL,
    roles        text NOT NULL,
    requested_by text NOT NULL,
    requested_ms bigint NOT NULL,
    state        text NOT NULL,
    decided_by   text,
    decided_ms   bigint,
    note         text,
    payload      bytea
);
CREATE INDEX IF NOT EXISTS counters_window ON counters (window_start_ms);
";

/// Columns added to `accounts` after the first layout: (name, type).
pub(crate) const ACCOUNT_ADDED_COLUMNS: &[(&str, &str)] = &[("email", "bytea"), ("deleted_ms", "bigint")];

/// Create an account unless the name is taken (deleted accounts keep it).
pub(crate) const ACCOUNT_CREATE: &str = "INSERT INTO accounts (name, kind, password, roles, mfa_secret, mfa_pending, mfa_last_step, recovery, disabled, created_ms, updated_ms, email, deleted_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) ON CONFLICT (name) DO NOTHING";
/// Create or replace an account.
pub(crate) const ACCOUNT_PUT: &str = "INSERT INTO accounts (name, kind, password, roles, mfa_secret, mfa_pending, mfa_last_step, recovery, disabled, created_ms, updated_ms, email, deleted_ms)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, password = excluded.password, roles = excluded.roles,
       mfa_secret = excluded.mfa_secret, mfa_pending = excluded.mfa_pending, mfa_last_step = excluded.mfa_last_step,
       recovery = excluded.recovery, disabled = excluded.disabled, updated_ms = excluded.updated_ms,
       email = excluded.email, deleted_ms = excluded.deleted_ms";

/// Replace an account only if nobody changed it since it was read (a
/// sign-in must not write back a row an administrator just disabled).
pub(crate) const ACCOUNT_PUT_IF: &str = "UPDATE accounts SET kind = $1, password = $2, roles = $3, mfa_secret = $4,
     mfa_pending = $5, mfa_last_step = $6, recovery = $7, disabled = $8, updated_ms = $9, email = $10, deleted_ms = $11
     WHERE name = $12 AND updated_ms = $13";
pub(crate) const LINK_USABLE: &str =
    "SELECT digest FROM account_links WHERE digest = $1 AND NOT used AND expires_ms > $2";

pub(crate) const COUNTER_GET: &str =
    "SELECT key, failures, window_start_ms, locked_until_ms FROM counters WHERE key = $1";
pub(crate) const COUNTER_PUT: &str = "INSERT INTO counters (key, failures, window_start_ms, locked_until_ms)
     VALUES ($1, $2, $3, $4) ON CONFLICT (key) DO UPDATE SET failures = excluded.failures,
     window_start_ms = excluded.window_start_ms, locked_until_ms = excluded.locked_until_ms";
pub(crate) const COUNTER_DELETE: &str = "DELETE FROM counters WHERE key = $1";
pub(crate) const COUNTER_DELETE_PREFIX: &str = "DELETE FROM counters WHERE substr(key, 1, length($1)) = $1";
/// Counters whose window and lock are both over carry nothing.
pub(crate) const COUNTER_PRUNE: &str = "DELETE FROM counters WHERE window_start_ms < $1 AND locked_until_ms < $1";

pub(crate) const LINK_GET: &str =
    "SELECT digest, account, kind, created_ms, expires_ms, used, created_by FROM account_links WHERE digest = $1";
/// A new link replaces the account's unused links of the same kind.
pub(crate) const LINK_DROP_OLDER: &str = "DELETE FROM account_links WHERE account = $1 AND kind = $2 AND NOT used";
pub(crate) const LINK_INSERT: &str =
    "INSERT INTO account_links (digest, account, kind, created_ms, expires_ms, used, created_by)
     VALUES ($1, $2, $3, $4, $5, $6, $7)";
pub(crate) const LINK_USE: &str =
    "UPDATE account_links SET used = true WHERE digest = $1 AND NOT used AND expires_ms > $2";
/// Links of a deleted or reset account stop working.
pub(crate) const LINK_DROP_ACCOUNT: &str = "DELETE FROM account_links WHERE account = $1 AND NOT used";

pub(crate) const APPROVAL_COLUMNS: &str =
    "id, kind, account, roles, requested_by, requested_ms, state, decided_by, decided_ms, note, payload";
pub(crate) const APPROVAL_INSERT: &str =
    "INSERT INTO approvals (id, kind, account, roles, requested_by, requested_ms, state, decided_by, decided_ms, note, payload)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)";
pub(crate) const APPROVAL_DECIDE: &str = "UPDATE approvals SET state = $1, decided_by = $2, decided_ms = $3, note = $4
     WHERE id = $5 AND state = 'pending'";

pub(crate) const SESSIONS_REVOKE: &str = "UPDATE sessions SET revoked = true WHERE account = $1";

/// Whether this counted failure also prunes old counters: one in 64, so
/// a flood of failures does not scan the table on every write.
pub(crate) fn prune_now() -> bool {
    rand::random::<u8>() < 4
}

/// A failure counter (sign-in, second factor, portal codes), shared by
/// every server on the same database and kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CounterRecord {
    /// What is counted, e.g. `pw:alice:203.0.113.7`.
    pub key: String,
    /// Failures in the current window.
    pub failures: u32,
    /// When the window began, ms.
    pub window_start_ms: i64,
    /// Locked until then, ms (0 when never locked).
    pub locked_until_ms: i64,
}

/// The counter after one more failure at `now_ms`, and whether this
/// failure locked it: a window of `window_ms` from the first failure, and
/// a lock of `lock_ms` once `limit` failures fall in one window
/// (`limit == 0` counts without ever locking).
pub fn next_counter(
    old: Option<CounterRecord>,
    key: &str,
    now_ms: i64,
    window_ms: i64,
    limit: u32,
    lock_ms: i64,
) -> (CounterRecord, bool) {
    let mut c = old.unwrap_or(CounterRecord {
        key: key.to_owned(),
        failures: 0,
        window_start_ms: now_ms,
        locked_until_ms: 0,
    });
    if now_ms - c.window_start_ms > window_ms {
        c.failures = 0;
        c.window_start_ms = now_ms;
    }
    c.failures = c.failures.saturating_add(1);
    let lock = limit > 0 && c.failures >= limit && c.locked_until_ms <= now_ms;
    if lock {
        c.locked_until_ms = now_ms + lock_ms;
    }
    (c, lock)
}

/// A one-time link sent to a staff member's own e-mail address: set up
/// the account (choose a password, enroll MFA), reset a forgotten
/// password, or enroll MFA again after a reset. Only its SHA-256 is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountLinkRecord {
    /// SHA-256 of the link's secret.
    pub digest: Vec<u8>,
    /// The account.
    pub account: String,
    /// `setup`, `password` or `mfa`.
    pub kind: String,
    /// Creation, ms.
    pub created_ms: i64,
    /// Expiry, ms.
    pub expires_ms: i64,
    /// Used links never work again.
    pub used: bool,
    /// Who had it sent (an administrator, or `anonymous` for a forgotten
    /// password).
    pub created_by: String,
}

/// A change to an account that waits for a second person's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRecord {
    /// Id (`apr_…`).
    pub id: String,
    /// `grant_roles` or `reset_mfa`.
    pub kind: String,
    /// The account changed.
    pub account: String,
    /// For `grant_roles`: the roles to add.
    pub roles: Vec<String>,
    /// Who asked for it.
    pub requested_by: String,
    /// When, ms.
    pub requested_ms: i64,
    /// `pending`, `approved`, `rejected` or `cancelled`.
    pub state: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When, ms.
    pub decided_ms: Option<i64>,
    /// The decider's note.
    pub note: Option<String>,
    /// What the change carries beyond roles, sealed by the vault (a new
    /// e-mail address).
    pub payload: Option<Vec<u8>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_lock_at_the_limit_and_reset_after_the_window() {
        let w = 1000;
        let mut c = None;
        for i in 1..=4 {
            let (n, lock) = next_counter(c.take(), "k", 10, w, 5, 500);
            assert_eq!(n.failures, i);
            assert!(!lock);
            c = Some(n);
        }
        let (n, lock) = next_counter(c.take(), "k", 20, w, 5, 500);
        assert!(lock);
        assert_eq!(n.locked_until_ms, 520);
        // While locked, more failures do not extend the lock.
        let (n, lock) = next_counter(Some(n), "k", 30, w, 5, 500);
        assert!(!lock);
        assert_eq!(n.locked_until_ms, 520);
        // After the window, counting starts again.
        let (n, lock) = next_counter(Some(n), "k", 2000, w, 5, 500);
        assert_eq!(n.failures, 1);
        assert!(!lock);
        assert_eq!(n.window_start_ms, 2000);
    }

    #[test]
    fn a_zero_limit_counts_without_locking() {
        let mut c = None;
        for _ in 0..100 {
            let (n, lock) = next_counter(c.take(), "k", 0, 1000, 0, 500);
            assert!(!lock);
            c = Some(n);
        }
        assert_eq!(c.unwrap().failures, 100);
    }
}
