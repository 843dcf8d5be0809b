//! Staff access: accounts, training, API tokens, sessions, access-review
//! campaigns, sign-in counters, one-time account links and approvals. The
//! records, the statements and the reads, written once for both stores
//! (see [`crate::sql`] for the shared dialect).

use crate::sql::{args, read, Arg, Db, Row, Sql};
use crate::{Applied, Store, StoreError};
pub use custodia_core::accounts::{AccountKind, ApprovalKind, ApprovalState, LinkKind};

/// Columns added after the first layout: (table, name, type). New
/// databases have them from `CREATE TABLE`; older ones get them at open.
pub(crate) const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("accounts", "email", "bytea"),
    ("accounts", "deleted_ms", "bigint"),
    ("sessions", "mfa_at_ms", "bigint"),
];

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
/// Replace an account only if nobody changed it since it was read (a
/// sign-in must not write back a row an administrator just disabled). The
/// same parameters as [`ACCOUNT_PUT`], then the expected `updated_ms`.
pub(crate) const ACCOUNT_PUT_IF: &str = "UPDATE accounts SET kind = $2, password = $3, roles = $4, mfa_secret = $5,
     mfa_pending = $6, mfa_last_step = $7, recovery = $8, disabled = $9, created_ms = $10, updated_ms = $11,
     email = $12, deleted_ms = $13
     WHERE name = $1 AND updated_ms = $14";
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

/// A staff or service account (identity data of employees, not customers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Login name.
    pub name: String,
    /// A person or an application.
    pub kind: AccountKind,
    /// Argon2id PHC string (staff), `None` for service accounts.
    pub password: Option<String>,
    /// Assigned role ids.
    pub roles: Vec<String>,
    /// Sealed TOTP secret once MFA is confirmed.
    pub mfa_secret: Option<Vec<u8>>,
    /// Sealed TOTP secret awaiting its first code.
    pub mfa_pending: Option<Vec<u8>>,
    /// Last accepted TOTP time step (replay protection).
    pub mfa_last_step: Option<i64>,
    /// SHA-256 (hex) of each unused recovery code.
    pub recovery: Vec<String>,
    /// Disabled accounts cannot log in.
    pub disabled: bool,
    /// Creation time, ms.
    pub created_ms: i64,
    /// Last change, ms.
    pub updated_ms: i64,
    /// The staff member's e-mail address, sealed (one-time links go there).
    pub email: Option<Vec<u8>>,
    /// When the account was deleted: the row stays so its name is never
    /// reused and the audit trail keeps pointing at one account.
    pub deleted_ms: Option<i64>,
}

/// One completed training.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainingRecord {
    /// Account name.
    pub account: String,
    /// Course id.
    pub course: String,
    /// Completion date (YYYY-MM-DD).
    pub completed: String,
    /// Score (0-100).
    pub score: i64,
    /// Expiry date (YYYY-MM-DD).
    pub expires: String,
    /// Who recorded it.
    pub recorded_by: String,
}

/// An API token of a service account (only its SHA-256 is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    /// Public identifier (shown in listings and audit events).
    pub id: String,
    /// The account it acts as.
    pub account: String,
    /// SHA-256 of the token.
    pub digest: Vec<u8>,
    /// Permissions the token may use (a subset of the account's roles').
    pub scopes: Vec<String>,
    /// Expiry, ms since the epoch.
    pub expires_ms: i64,
    /// Revoked tokens never authenticate again.
    pub revoked: bool,
    /// Creation time, ms.
    pub created_ms: i64,
}

/// A staff member's signed-in session (only a digest of its id is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session id.
    pub digest: Vec<u8>,
    /// Account.
    pub account: String,
    /// Whether the second factor was verified in this session.
    pub mfa_ok: bool,
    /// Anti-CSRF token for the session's forms.
    pub csrf: String,
    /// Creation time, ms.
    pub created_ms: i64,
    /// Expiry, ms.
    pub expires_ms: i64,
    /// Revoked (signed out).
    pub revoked: bool,
    /// When a second-factor code was last confirmed in this session, ms.
    pub mfa_at_ms: Option<i64>,
}

/// One item of an access-review campaign: an account's role to certify or revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewItem {
    /// Campaign id.
    pub campaign: String,
    /// Account.
    pub account: String,
    /// Role.
    pub role: String,
    /// `certify`, `revoke`, or `None` while open.
    pub decision: Option<String>,
    /// Reviewer.
    pub decided_by: Option<String>,
    /// Decision time, ms.
    pub decided_ms: Option<i64>,
    /// Reviewer's note.
    pub note: Option<String>,
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
    /// What the link lets its holder do.
    pub kind: LinkKind,
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
    /// What the change does.
    pub kind: ApprovalKind,
    /// The account changed.
    pub account: String,
    /// For `grant_roles`: the roles to add.
    pub roles: Vec<String>,
    /// Who asked for it.
    pub requested_by: String,
    /// When, ms.
    pub requested_ms: i64,
    /// Where it stands.
    pub state: ApprovalState,
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

const ACCOUNT_COLUMNS: &str =
    "name, kind, password, roles, mfa_secret, mfa_pending, mfa_last_step, recovery, disabled, \
     created_ms, updated_ms, email, deleted_ms";
const TOKEN_COLUMNS: &str = "id, account, digest, scopes, expires_ms, revoked, created_ms";
const LINK_COLUMNS: &str = "digest, account, kind, created_ms, expires_ms, used, created_by";

fn read_account(r: &mut Row) -> Result<AccountRecord, StoreError> {
    Ok(AccountRecord {
        name: r.text(0)?,
        kind: r.parsed(1, AccountKind::parse)?,
        password: r.opt_text(2)?,
        roles: r.list(3)?,
        mfa_secret: r.opt_bytes(4)?,
        mfa_pending: r.opt_bytes(5)?,
        mfa_last_step: r.opt_int(6)?,
        recovery: r.list(7)?,
        disabled: r.bool(8)?,
        created_ms: r.int(9)?,
        updated_ms: r.int(10)?,
        email: r.opt_bytes(11)?,
        deleted_ms: r.opt_int(12)?,
    })
}

fn read_token(r: &mut Row) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: r.text(0)?,
        account: r.text(1)?,
        digest: r.bytes(2)?,
        scopes: r.list(3)?,
        expires_ms: r.int(4)?,
        revoked: r.bool(5)?,
        created_ms: r.int(6)?,
    })
}

fn read_counter(r: &mut Row) -> Result<CounterRecord, StoreError> {
    Ok(CounterRecord {
        key: r.text(0)?,
        failures: r.u32(1)?,
        window_start_ms: r.int(2)?,
        locked_until_ms: r.int(3)?,
    })
}

fn read_link(r: &mut Row) -> Result<AccountLinkRecord, StoreError> {
    Ok(AccountLinkRecord {
        digest: r.bytes(0)?,
        account: r.text(1)?,
        kind: r.parsed(2, LinkKind::parse)?,
        created_ms: r.int(3)?,
        expires_ms: r.int(4)?,
        used: r.bool(5)?,
        created_by: r.text(6)?,
    })
}

fn read_approval(r: &mut Row) -> Result<ApprovalRecord, StoreError> {
    Ok(ApprovalRecord {
        id: r.text(0)?,
        kind: r.parsed(1, ApprovalKind::parse)?,
        account: r.text(2)?,
        roles: r.list(3)?,
        requested_by: r.text(4)?,
        requested_ms: r.int(5)?,
        state: r.parsed(6, ApprovalState::parse)?,
        decided_by: r.opt_text(7)?,
        decided_ms: r.opt_int(8)?,
        note: r.opt_text(9)?,
        payload: r.opt_bytes(10)?,
    })
}

/// Reading staff access records (every store).
pub trait AccessStore {
    /// One account by name.
    fn account(&self, name: &str) -> Result<Option<AccountRecord>, StoreError>;
    /// Every account, by name.
    fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError>;
    /// Training records of one account, or of all; newest first per account.
    fn trainings(&self, account: Option<&str>) -> Result<Vec<TrainingRecord>, StoreError>;
    /// An API token by the SHA-256 of its secret.
    fn token_by_digest(&self, digest: &[u8]) -> Result<Option<TokenRecord>, StoreError>;
    /// Every API token, newest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// A session by the SHA-256 of its cookie.
    fn session(&self, digest: &[u8]) -> Result<Option<SessionRecord>, StoreError>;
    /// A failure counter.
    fn counter(&self, key: &str) -> Result<Option<CounterRecord>, StoreError>;
    /// A one-time account link by the SHA-256 of its secret.
    fn account_link(&self, digest: &[u8]) -> Result<Option<AccountLinkRecord>, StoreError>;
    /// One approval.
    fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError>;
    /// Every approval, newest first.
    fn approvals(&self) -> Result<Vec<ApprovalRecord>, StoreError>;
    /// The items of an access-review campaign.
    fn review_items(&self, campaign: &str) -> Result<Vec<ReviewItem>, StoreError>;
    /// Every campaign with its items decided and in all, newest first.
    fn review_campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError>;
}

/// An access-review campaign at a glance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CampaignSummary {
    /// Campaign id.
    pub id: String,
    /// Who opened it.
    pub created_by: String,
    /// When, ms.
    pub created_ms: i64,
    /// Items decided.
    pub decided: i64,
    /// Items in all.
    pub items: i64,
}

impl<S: Store + ?Sized> AccessStore for S {
    fn account(&self, name: &str) -> Result<Option<AccountRecord>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1");
        read(self, |db| db.one(&sql, &args![name], read_account))
    }

    fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY name");
        read(self, |db| db.many(&sql, &[], read_account))
    }

    fn trainings(&self, account: Option<&str>) -> Result<Vec<TrainingRecord>, StoreError> {
        read(self, |db: &mut Db<'_>| {
            db.many(
                "SELECT account, course, completed, score, expires, recorded_by FROM training
                 WHERE CAST($1 AS text) IS NULL OR account = $1 ORDER BY account, completed DESC",
                &args![account],
                |r| {
                    Ok(TrainingRecord {
                        account: r.text(0)?,
                        course: r.text(1)?,
                        completed: r.text(2)?,
                        score: r.int(3)?,
                        expires: r.text(4)?,
                        recorded_by: r.text(5)?,
                    })
                },
            )
        })
    }

    fn token_by_digest(&self, digest: &[u8]) -> Result<Option<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE digest = $1");
        read(self, |db| db.one(&sql, &args![digest], read_token))
    }

    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_ms DESC");
        read(self, |db| db.many(&sql, &[], read_token))
    }

    fn session(&self, digest: &[u8]) -> Result<Option<SessionRecord>, StoreError> {
        read(self, |db| {
            db.one(
                "SELECT digest, account, mfa_ok, csrf, created_ms, expires_ms, revoked, mfa_at_ms FROM sessions WHERE digest = $1",
                &args![digest],
                |r| {
                    Ok(SessionRecord {
                        digest: r.bytes(0)?,
                        account: r.text(1)?,
                        mfa_ok: r.bool(2)?,
                        csrf: r.text(3)?,
                        created_ms: r.int(4)?,
                        expires_ms: r.int(5)?,
                        revoked: r.bool(6)?,
                        mfa_at_ms: r.opt_int(7)?,
                    })
                },
            )
        })
    }

    fn counter(&self, key: &str) -> Result<Option<CounterRecord>, StoreError> {
        read(self, |db| db.one(COUNTER_GET, &args![key], read_counter))
    }

    fn account_link(&self, digest: &[u8]) -> Result<Option<AccountLinkRecord>, StoreError> {
        let sql = format!("SELECT {LINK_COLUMNS} FROM account_links WHERE digest = $1");
        read(self, |db| db.one(&sql, &args![digest], read_link))
    }

    fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError> {
        let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1");
        read(self, |db| db.one(&sql, &args![id], read_approval))
    }

    fn approvals(&self) -> Result<Vec<ApprovalRecord>, StoreError> {
        let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals ORDER BY requested_ms DESC, id");
        read(self, |db| db.many(&sql, &[], read_approval))
    }

    fn review_campaigns(&self) -> Result<Vec<CampaignSummary>, StoreError> {
        read(self, |db| {
            db.many(
                "SELECT c.id, c.created_by, c.created_ms,
                        (SELECT count(*) FROM review_items i WHERE i.campaign = c.id AND i.decision IS NOT NULL),
                        (SELECT count(*) FROM review_items i WHERE i.campaign = c.id)
                 FROM review_campaigns c ORDER BY c.created_ms DESC, c.id",
                &[],
                |r| {
                    Ok(CampaignSummary {
                        id: r.text(0)?,
                        created_by: r.text(1)?,
                        created_ms: r.int(2)?,
                        decided: r.int(3)?,
                        items: r.int(4)?,
                    })
                },
            )
        })
    }

    fn review_items(&self, campaign: &str) -> Result<Vec<ReviewItem>, StoreError> {
        read(self, |db| {
            db.many(
                "SELECT campaign, account, role, decision, decided_by, decided_ms, note FROM review_items
                 WHERE campaign = $1 ORDER BY account, role",
                &args![campaign],
                |r| {
                    Ok(ReviewItem {
                        campaign: r.text(0)?,
                        account: r.text(1)?,
                        role: r.text(2)?,
                        decision: r.opt_text(3)?,
                        decided_by: r.opt_text(4)?,
                        decided_ms: r.opt_int(5)?,
                        note: r.opt_text(6)?,
                    })
                },
            )
        })
    }
}

/// An account's columns in the order of [`ACCOUNT_CREATE`], [`ACCOUNT_PUT`]
/// and [`ACCOUNT_PUT_IF`] (`roles` and `recovery` joined by the caller).
fn account_args<'a>(a: &'a AccountRecord, roles: &'a str, recovery: &'a str) -> Vec<Arg<'a>> {
    let mut v = args![a.name, a.kind, a.password].to_vec();
    v.push(Arg::Text(roles));
    v.extend(args![a.mfa_secret, a.mfa_pending, a.mfa_last_step]);
    v.push(Arg::Text(recovery));
    v.extend(args![a.disabled, a.created_ms, a.updated_ms, a.email, a.deleted_ms]);
    v
}

/// Insert (refusing an existing name when `create`) or replace an account.
pub(crate) fn put_account(tx: &mut dyn Sql, a: &AccountRecord, create: bool) -> Result<Applied, StoreError> {
    let sql = if create { ACCOUNT_CREATE } else { ACCOUNT_PUT };
    let (roles, recovery) = (a.roles.join(","), a.recovery.join(","));
    let n = tx.exec(sql, &account_args(a, &roles, &recovery))?;
    Ok(if n > 0 { Applied::Done } else { Applied::AccountExists })
}

/// Replace an account only if nobody changed it since it was read.
pub(crate) fn put_account_if(tx: &mut dyn Sql, a: &AccountRecord, expect: i64) -> Result<bool, StoreError> {
    let (roles, recovery) = (a.roles.join(","), a.recovery.join(","));
    let mut p = account_args(a, &roles, &recovery);
    p.push(Arg::Int(expect));
    Ok(tx.exec(ACCOUNT_PUT_IF, &p)? > 0)
}

/// One more failure on a counter; the counter and whether it just locked.
pub(crate) fn count_failure(
    tx: &mut dyn Sql,
    key: &str,
    now_ms: i64,
    window_ms: i64,
    limit: u32,
    lock_ms: i64,
) -> Result<Applied, StoreError> {
    let old = tx.one(COUNTER_GET, &args![key], read_counter)?;
    let (n, locked) = next_counter(old, key, now_ms, window_ms, limit, lock_ms);
    tx.exec(
        COUNTER_PUT,
        &args![n.key, n.failures, n.window_start_ms, n.locked_until_ms],
    )?;
    if prune_now() {
        tx.exec(COUNTER_PRUNE, &args![now_ms - 7 * 86_400_000])?;
    }
    Ok(Applied::Counted(n, locked))
}

pub(crate) fn clear_counters(tx: &mut dyn Sql, keys: &[String], prefixes: &[String]) -> Result<Applied, StoreError> {
    for k in keys {
        tx.exec(COUNTER_DELETE, &args![k])?;
    }
    for k in prefixes {
        tx.exec(COUNTER_DELETE_PREFIX, &args![k])?;
    }
    Ok(Applied::Done)
}

pub(crate) fn put_link(tx: &mut dyn Sql, l: &AccountLinkRecord) -> Result<Applied, StoreError> {
    tx.exec(LINK_DROP_OLDER, &args![l.account, l.kind])?;
    tx.exec(
        LINK_INSERT,
        &args![
            l.digest,
            l.account,
            l.kind,
            l.created_ms,
            l.expires_ms,
            l.used,
            l.created_by
        ],
    )?;
    Ok(Applied::Done)
}

/// Use a link and write the account it changes, both or neither.
pub(crate) fn use_link(
    tx: &mut dyn Sql,
    digest: &[u8],
    now_ms: i64,
    account: &AccountRecord,
    expect_updated_ms: i64,
) -> Result<Applied, StoreError> {
    if !tx.any(LINK_USABLE, &args![digest, now_ms])? || !put_account_if(tx, account, expect_updated_ms)? {
        return Ok(Applied::NotFound);
    }
    tx.exec(LINK_USE, &args![digest, now_ms])?;
    Ok(Applied::Done)
}

pub(crate) fn drop_links(tx: &mut dyn Sql, account: &str) -> Result<Applied, StoreError> {
    tx.exec(LINK_DROP_ACCOUNT, &args![account])?;
    Ok(Applied::Done)
}

pub(crate) fn put_approval(tx: &mut dyn Sql, a: &ApprovalRecord) -> Result<Applied, StoreError> {
    tx.exec(
        APPROVAL_INSERT,
        &args![
            a.id,
            a.kind,
            a.account,
            a.roles.join(","),
            a.requested_by,
            a.requested_ms,
            a.state,
            a.decided_by,
            a.decided_ms,
            a.note,
            a.payload
        ],
    )?;
    Ok(Applied::Done)
}

/// Decide a pending approval (NotFound when it is not pending).
pub(crate) fn decide_approval(tx: &mut dyn Sql, a: &ApprovalRecord) -> Result<Applied, StoreError> {
    let n = tx.exec(
        APPROVAL_DECIDE,
        &args![a.state, a.decided_by, a.decided_ms, a.note, a.id],
    )?;
    Ok(if n == 0 { Applied::NotFound } else { Applied::Done })
}

pub(crate) fn revoke_sessions(tx: &mut dyn Sql, account: &str) -> Result<Applied, StoreError> {
    tx.exec(SESSIONS_REVOKE, &args![account])?;
    Ok(Applied::Done)
}

pub(crate) fn put_session(tx: &mut dyn Sql, x: &SessionRecord) -> Result<Applied, StoreError> {
    tx.exec(
        "INSERT INTO sessions (digest, account, mfa_ok, csrf, created_ms, expires_ms, revoked, mfa_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (digest) DO UPDATE SET mfa_ok = excluded.mfa_ok, expires_ms = excluded.expires_ms, revoked = excluded.revoked, mfa_at_ms = excluded.mfa_at_ms",
        &args![x.digest, x.account, x.mfa_ok, x.csrf, x.created_ms, x.expires_ms, x.revoked, x.mfa_at_ms],
    )?;
    // Expired sessions are of no use to anyone: drop them as we go.
    tx.exec(
        "DELETE FROM sessions WHERE expires_ms < $1",
        &args![x.created_ms.min(x.expires_ms) - 86_400_000],
    )?;
    Ok(Applied::Done)
}

pub(crate) fn put_campaign(
    tx: &mut dyn Sql,
    id: &str,
    created_by: &str,
    created_ms: i64,
    items: &[ReviewItem],
) -> Result<Applied, StoreError> {
    tx.exec(
        "INSERT INTO review_campaigns (id, created_by, created_ms) VALUES ($1, $2, $3)",
        &args![id, created_by, created_ms],
    )?;
    for it in items {
        tx.exec(
            "INSERT INTO review_items (campaign, account, role) VALUES ($1, $2, $3)",
            &args![id, it.account, it.role],
        )?;
    }
    Ok(Applied::Done)
}

/// Decide an undecided review item, and change the account's roles with it.
pub(crate) fn decide_review(
    tx: &mut dyn Sql,
    item: &ReviewItem,
    account: Option<&AccountRecord>,
) -> Result<Applied, StoreError> {
    let n = tx.exec(
        "UPDATE review_items SET decision = $1, decided_by = $2, decided_ms = $3, note = $4
         WHERE campaign = $5 AND account = $6 AND role = $7 AND decision IS NULL",
        &args![
            item.decision,
            item.decided_by,
            item.decided_ms,
            item.note,
            item.campaign,
            item.account,
            item.role
        ],
    )?;
    if n == 0 {
        return Ok(Applied::NotFound);
    }
    if let Some(a) = account {
        tx.exec(
            "UPDATE accounts SET roles = $1, updated_ms = $2 WHERE name = $3",
            &args![a.roles.join(","), a.updated_ms, a.name],
        )?;
    }
    Ok(Applied::Done)
}

pub(crate) fn put_token(tx: &mut dyn Sql, t: &TokenRecord) -> Result<Applied, StoreError> {
    tx.exec(
        "INSERT INTO api_tokens (id, account, digest, scopes, expires_ms, revoked, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &args![t.id, t.account, t.digest, t.scopes.join(","), t.expires_ms, t.revoked, t.created_ms],
    )?;
    Ok(Applied::Done)
}

pub(crate) fn revoke_token(tx: &mut dyn Sql, id: &str) -> Result<Applied, StoreError> {
    let n = tx.exec("UPDATE api_tokens SET revoked = true WHERE id = $1", &args![id])?;
    Ok(if n == 0 { Applied::NotFound } else { Applied::Done })
}

pub(crate) fn put_training(tx: &mut dyn Sql, t: &TrainingRecord) -> Result<Applied, StoreError> {
    tx.exec(
        "INSERT INTO training (account, course, completed, score, expires, recorded_by) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (account, course, completed) DO UPDATE SET score = excluded.score, expires = excluded.expires,
           recorded_by = excluded.recorded_by",
        &args![t.account, t.course, t.completed, t.score, t.expires, t.recorded_by],
    )?;
    Ok(Applied::Done)
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
