//! # custodia-store
//!
//! Where Custodia keeps its bytes. The [`Store`] trait is the whole contract
//! the vault relies on; [`sqlite::SqliteStore`] is the embedded
//! implementation (one file, WAL, group commit) and [`pg::PgStore`]
//! the scale-out one (several servers on one PostgreSQL database);
//! [`open::open_store`] picks one from a storage URL. Everything that reaches a
//! store is already encrypted, blind-indexed or free of personal data; the
//! store never sees keys or clear values.
//!
//! Writes are [`Mutation`]s applied atomically with their audit events and
//! acknowledged only once durable (fsync), so an acknowledged write survives
//! a crash and the audit log never disagrees with the data.

pub mod access;
mod codes;
pub mod migrate;
pub mod open;
pub mod pg;
pub mod privacy;
pub mod rights;
pub mod sqlite;

#[cfg(test)]
mod conformance;

pub use access::{next_counter, AccountLinkRecord, ApprovalRecord, CounterRecord};
pub use privacy::{ConsentRecord, ConsentTally, NoticeRecord, PortalTokenRecord, RequestRecord};
pub use rights::{CertificateRecord, HoldRecord, Lifecycle, RecipientNotice, RequestLogEntry, Tombstone, VaultToken};

use custodia_core::audit::{AuditEvent, ChainedEvent};
use custodia_core::{CustomerId, FieldName};

/// Why a storage operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The database engine reported an error.
    #[error("database error: {0}")]
    Database(String),
    /// The database is busy or unreachable; retrying later may work.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// The writer has shut down.
    #[error("the store is closed")]
    Closed,
    /// Stored bytes do not have the expected shape.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The backend cannot do this (e.g. file snapshots of PostgreSQL).
    #[error("{0}")]
    Unsupported(String),
    /// The database was created by a newer or unknown layout.
    #[error("database layout version {found} is not supported (this build knows {known})")]
    Layout {
        /// What the database says.
        found: i64,
        /// What this build writes.
        known: i64,
    },
}

/// One customer record as stored: no clear personal data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCustomer {
    /// Stable id.
    pub id: CustomerId,
    /// The company's own key for the record (internal, not personal).
    pub external_id: Option<String>,
    /// Incremented on every update (optimistic concurrency).
    pub version: i64,
    /// Version of the key-encryption key wrapping `wrapped_dk`.
    pub kek_version: u32,
    /// Version of the data key (bound into every field ciphertext).
    pub dk_version: u32,
    /// The data key, wrapped.
    pub wrapped_dk: Vec<u8>,
    /// Field ciphertexts, encoded by the vault.
    pub sealed: Vec<u8>,
    /// Internal (non-personal) fields as JSON.
    pub attrs: String,
    /// Blind-index entries of this record.
    pub blind: Vec<(FieldName, i64)>,
    /// Creation time, ms since the epoch.
    pub created_ms: i64,
    /// Last update time, ms since the epoch.
    pub updated_ms: i64,
    /// Processing flags ([`FLAG_RESTRICTED`], [`FLAG_OPTED_OUT`]); kept on
    /// the record so every read sees them without another query.
    pub flags: u32,
}

/// The customer asked for processing to be restricted (GDPR Art. 18; PIPL Art. 44).
pub const FLAG_RESTRICTED: u32 = 1;
/// The customer objected / opted out of sale or sharing (GDPR Art. 21; CCPA §1798.120).
pub const FLAG_OPTED_OUT: u32 = 2;

/// A staff or service account (identity data of employees, not customers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Login name.
    pub name: String,
    /// `staff` or `service`.
    pub kind: String,
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

/// A change, applied atomically together with its audit events.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Insert a customer; with an `external_id` that already exists the
    /// insert is skipped (and its events dropped) and the existing id
    /// reported.
    Insert {
        /// The new record.
        customer: Box<StoredCustomer>,
        /// Consents given with it, stored only if the insert happens.
        consents: Vec<ConsentRecord>,
        /// Events recorded only if the insert happens.
        events: Vec<AuditEvent>,
    },
    /// Replace a record's sealed fields, attributes and blind entries if its
    /// version is still `expected_version`.
    Update {
        /// The record with its new content; `version` is the expected one.
        customer: Box<StoredCustomer>,
        /// Events recorded if the update happens.
        events: Vec<AuditEvent>,
    },
    /// Delete a record, its wrapped data key and its blind entries.
    Delete {
        /// Which record.
        id: CustomerId,
        /// Events recorded if the delete happens.
        events: Vec<AuditEvent>,
    },
    /// Replace a wrapped data key if it is still wrapped under `from_kek`.
    Rewrap {
        /// Which record.
        id: CustomerId,
        /// KEK version it must still be under.
        from_kek: u32,
        /// New KEK version.
        to_kek: u32,
        /// The rewrapped key.
        wrapped_dk: Vec<u8>,
    },
    /// Append events that go with no data change (reads, searches, denials).
    Audit(Vec<AuditEvent>),
    /// Count one failure against `key` (see [`next_counter`]); answers
    /// [`Applied::Counted`].
    CountFailure {
        /// What is counted.
        key: String,
        /// Now, ms.
        now_ms: i64,
        /// Window length, ms.
        window_ms: i64,
        /// Failures in one window that lock (0: never).
        limit: u32,
        /// Lock length, ms.
        lock_ms: i64,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Forget counters: these keys, and every key starting with one of
    /// the prefixes.
    ClearCounters {
        /// Exact keys.
        keys: Vec<String>,
        /// Key prefixes.
        prefixes: Vec<String>,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Store a one-time account link, replacing the account's unused links
    /// of the same kind.
    PutAccountLink {
        /// The link.
        link: AccountLinkRecord,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Mark a link used if it is unused and unexpired at `now_ms`, and
    /// store the account as the link leaves it, if the account is still at
    /// `expect_updated_ms`; `NotFound` (and nothing changed) otherwise.
    UseAccountLink {
        /// The link's digest.
        digest: Vec<u8>,
        /// Now, ms.
        now_ms: i64,
        /// The account afterwards.
        account: Box<AccountRecord>,
        /// The account's `updated_ms` when it was read.
        expect_updated_ms: i64,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Replace an account if it is still at `expect_updated_ms`;
    /// `NotFound` if someone changed it meanwhile.
    PutAccountIf {
        /// The account afterwards.
        account: Box<AccountRecord>,
        /// Its `updated_ms` when it was read.
        expect_updated_ms: i64,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Drop an account's unused links (deletion, MFA reset).
    DropAccountLinks {
        /// The account.
        account: String,
    },
    /// Record a change waiting for approval.
    PutApproval {
        /// The approval (pending).
        approval: ApprovalRecord,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Decide a pending approval; `NotFound` if it is no longer pending.
    DecideApproval {
        /// The approval with its decision filled in.
        approval: ApprovalRecord,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Sign an account out everywhere.
    RevokeSessions {
        /// The account.
        account: String,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Create or replace an account. With `create`, refuse if the name exists.
    PutAccount {
        /// The account.
        account: Box<AccountRecord>,
        /// Refuse to overwrite.
        create: bool,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Record a training.
    PutTraining {
        /// The record.
        training: TrainingRecord,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Store a new API token.
    PutToken {
        /// The token.
        token: TokenRecord,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Revoke an API token.
    RevokeToken {
        /// Its id.
        id: String,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Create or replace a session.
    PutSession {
        /// The session.
        session: SessionRecord,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Open an access-review campaign with its items.
    PutCampaign {
        /// Campaign id.
        id: String,
        /// Who opened it.
        created_by: String,
        /// Opening time, ms.
        created_ms: i64,
        /// Items (undecided).
        items: Vec<ReviewItem>,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Record a decision on an open item (and, for a revocation, the
    /// account without the role), only if the item is still open.
    DecideReview {
        /// The item with its decision filled in.
        item: ReviewItem,
        /// The account as it must be after the decision.
        account: Option<Box<AccountRecord>>,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Start a bulk load: if there are no customers yet, drop the
    /// blind-index indexes (they are built once, sorted, by `EndBulkLoad`,
    /// or when the store is next opened). Answers `NotFound` when the table
    /// is not empty and nothing was dropped.
    BeginBulkLoad,
    /// Build any missing blind-index indexes.
    EndBulkLoad,
    /// Publish a notice version; `Conflict` if the version exists.
    PutNotice {
        /// The notice.
        notice: NoticeRecord,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Append consent receipts; `NotFound` if the customer does not exist.
    PutConsents {
        /// The customer all receipts are about.
        customer: CustomerId,
        /// The receipts.
        receipts: Vec<ConsentRecord>,
        /// Events recorded with them.
        events: Vec<AuditEvent>,
    },
    /// Store a portal credential (or replace the one with the same digest:
    /// a contact hold is renewed in place).
    PutPortalToken {
        /// The credential.
        token: PortalTokenRecord,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Mark a portal credential used if it is unused and unexpired at
    /// `now_ms`, and store `then` (the session it is exchanged for) in the
    /// same transaction; `NotFound` otherwise.
    UsePortalToken {
        /// Digest of the credential.
        digest: Vec<u8>,
        /// The time of use.
        now_ms: i64,
        /// Stored on success.
        then: Option<PortalTokenRecord>,
        /// Events recorded on success.
        events: Vec<AuditEvent>,
    },
    /// Create or advance a customer's request. A new request whose
    /// idempotency key is taken is not stored (`Conflict`); with
    /// `expect_status`, the change applies only if the stored status is
    /// still that one (`Conflict` otherwise).
    PutRequest {
        /// The request as it must be after the change.
        request: Box<RequestRecord>,
        /// The status it must have now (None: a new request, or no check).
        expect_status: Option<String>,
        /// History entries to append.
        log: Vec<RequestLogEntry>,
        /// Recipients to record (added or updated).
        recipients: Vec<RecipientNotice>,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Erase a whole customer (`rekeyed` None: the record, its wrapped data
    /// key, blind entries, portal credentials and request notes go) or some
    /// fields (`rekeyed`: the record without them, re-sealed under a new
    /// data key, applied if its version is still the one read). Refused
    /// with `Conflict` while a legal hold stands; `NotFound` when the
    /// record is gone. The tombstone, certificate and request completion are
    /// written in the same transaction.
    Erase {
        /// What remains.
        tombstone: Box<Tombstone>,
        /// The certificate, when one is issued per erasure.
        certificate: Option<CertificateRecord>,
        /// For a field erasure, the record as it must become.
        rekeyed: Option<Box<StoredCustomer>>,
        /// The request it completes, and the history entry.
        request: Option<Box<(RequestRecord, RequestLogEntry)>>,
        /// Replaying the erasure ledger: the erasure happened already, so
        /// holds in a restored database do not stop it.
        replay: bool,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Record a tombstone without erasing (replaying the erasure ledger
    /// into a database that never held the customer).
    PutTombstone {
        /// The tombstone.
        tombstone: Tombstone,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Set a customer's processing flags; `NotFound` if the customer does not exist.
    SetFlags {
        /// Which record.
        id: CustomerId,
        /// The new flags.
        flags: u32,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Store vault tokens (a token that exists is kept as it is), first
    /// dropping the customer's tokens of the `replace` fields (their text
    /// was rewritten); `NotFound` when the customer does not exist.
    PutVaultTokens {
        /// The customer they all belong to.
        customer: CustomerId,
        /// Fields whose earlier tokens go.
        replace: Vec<String>,
        /// The tokens.
        tokens: Vec<VaultToken>,
        /// Events recorded with them.
        events: Vec<AuditEvent>,
    },
    /// Store a certificate (e.g. one covering a retention run).
    PutCertificate {
        /// The certificate.
        certificate: CertificateRecord,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Set or release a legal hold.
    PutHold {
        /// The hold as it must be.
        hold: HoldRecord,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Set a customer's lifecycle dates and flags; `NotFound` if the customer does not exist.
    PutLifecycle {
        /// The dates and flags (customer set).
        lifecycle: Lifecycle,
        /// Events recorded with it.
        events: Vec<AuditEvent>,
    },
    /// Set a metadata entry.
    SetMeta {
        /// Key.
        key: String,
        /// Value.
        value: Vec<u8>,
    },
}

/// What a mutation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// Done.
    Done,
    /// Insert skipped: this external id belongs to an existing record.
    ExternalIdExists(CustomerId),
    /// No such record (update, delete, rewrap).
    NotFound,
    /// Update refused: the record changed since it was read; the current
    /// version is given.
    VersionConflict(i64),
    /// Rewrap skipped: the key is no longer under `from_kek`.
    AlreadyRewrapped,
    /// Account creation refused: the name is taken.
    AccountExists,
    /// Creation refused: the key (e.g. a notice version) exists.
    Conflict,
    /// A failure was counted: the counter now, and whether it just locked.
    Counted(CounterRecord, bool),
}

/// The storage contract.
pub trait Store: Send + Sync + 'static {
    /// Apply mutations, each atomically, and return once all are durable.
    /// One failing mutation does not affect the others.
    fn apply(&self, muts: Vec<Mutation>) -> Result<Vec<Result<Applied, StoreError>>, StoreError>;

    /// Start applying mutations and return at once; [`Pending::wait`]
    /// returns the results once durable. Lets callers overlap work with
    /// commits (imports).
    fn submit(&self, muts: Vec<Mutation>) -> Pending;

    /// One record by id.
    fn get(&self, id: &CustomerId) -> Result<Option<StoredCustomer>, StoreError>;

    /// Records with blind-index entry `hash` for `field`.
    fn find_blind(&self, field: &FieldName, hash: i64) -> Result<Vec<StoredCustomer>, StoreError>;

    /// Up to `limit` records in creation order after cursor `after`
    /// (0 for the start); returns the records and the next cursor.
    fn scan(&self, after: i64, limit: usize) -> Result<(Vec<StoredCustomer>, i64), StoreError>;

    /// Up to `limit` records wrapped under a KEK older than `kek_version`,
    /// after cursor `after`.
    fn scan_kek_below(
        &self,
        kek_version: u32,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<StoredCustomer>, i64), StoreError>;

    /// Number of records, and number wrapped under a KEK older than `kek`.
    fn counts(&self, kek: u32) -> Result<(u64, u64), StoreError>;

    /// Audit events with `seq >= from`, at most `limit`.
    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<ChainedEvent>, StoreError>;

    /// The last audit event's sequence number and MAC (0 and zeros if none).
    fn audit_head(&self) -> Result<(u64, [u8; 32]), StoreError>;

    /// A metadata entry.
    fn meta(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// One account.
    fn account(&self, name: &str) -> Result<Option<AccountRecord>, StoreError>;

    /// Every account, by name.
    fn accounts(&self) -> Result<Vec<AccountRecord>, StoreError>;

    /// Trainings of one account (all accounts when `None`), newest first.
    fn trainings(&self, account: Option<&str>) -> Result<Vec<TrainingRecord>, StoreError>;

    /// The token with this SHA-256 digest.
    fn token_by_digest(&self, digest: &[u8]) -> Result<Option<TokenRecord>, StoreError>;

    /// Every token, newest first.
    fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;

    /// The session with this digest.
    fn session(&self, digest: &[u8]) -> Result<Option<SessionRecord>, StoreError>;

    /// A failure counter.
    fn counter(&self, key: &str) -> Result<Option<CounterRecord>, StoreError>;

    /// A one-time account link by digest.
    fn account_link(&self, digest: &[u8]) -> Result<Option<AccountLinkRecord>, StoreError>;

    /// One approval.
    fn approval(&self, id: &str) -> Result<Option<ApprovalRecord>, StoreError>;

    /// Every approval, newest first.
    fn approvals(&self) -> Result<Vec<ApprovalRecord>, StoreError>;

    /// Items of a campaign (empty if there is no such campaign).
    fn review_items(&self, campaign: &str) -> Result<Vec<ReviewItem>, StoreError>;

    /// Every published notice, oldest first.
    fn notices(&self) -> Result<Vec<NoticeRecord>, StoreError>;

    /// A customer's consent receipts, oldest first.
    fn consents(&self, customer: &CustomerId) -> Result<Vec<ConsentRecord>, StoreError>;

    /// One consent receipt by id.
    fn consent_receipt(&self, id: &str) -> Result<Option<ConsentRecord>, StoreError>;

    /// The latest answer of every (customer, purpose), counted by purpose,
    /// notice version and answer.
    fn consent_tallies(&self) -> Result<Vec<ConsentTally>, StoreError>;

    /// A portal credential by digest.
    fn portal_token(&self, digest: &[u8]) -> Result<Option<PortalTokenRecord>, StoreError>;

    /// A customer's requests, oldest first.
    fn requests(&self, customer: &CustomerId) -> Result<Vec<RequestRecord>, StoreError>;

    /// One request.
    fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError>;

    /// The request with this idempotency key.
    fn request_by_key(&self, key: &str) -> Result<Option<RequestRecord>, StoreError>;

    /// Every request not yet completed or denied, oldest first.
    fn open_requests(&self) -> Result<Vec<RequestRecord>, StoreError>;

    /// Requests received before `before_ms` that finished (for pruning after
    /// the keeping period), oldest first.
    fn finished_requests_before(&self, before_ms: i64) -> Result<Vec<RequestRecord>, StoreError>;

    /// A request's history, oldest first.
    fn request_log(&self, id: &str) -> Result<Vec<RequestLogEntry>, StoreError>;

    /// Recipients to tell about a request.
    fn request_recipients(&self, id: &str) -> Result<Vec<RecipientNotice>, StoreError>;

    /// Every erasure tombstone, oldest first.
    fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError>;

    /// A destruction certificate.
    fn certificate(&self, id: &str) -> Result<Option<CertificateRecord>, StoreError>;

    /// A customer's legal holds (released ones included), oldest first.
    fn holds(&self, customer: &CustomerId) -> Result<Vec<HoldRecord>, StoreError>;

    /// A customer's lifecycle dates and flags.
    fn lifecycle(&self, customer: &CustomerId) -> Result<Option<Lifecycle>, StoreError>;

    /// Every customer's lifecycle row (for retention runs).
    fn lifecycles(&self) -> Result<Vec<Lifecycle>, StoreError>;

    /// Customers with an active legal hold.
    fn held_customers(&self) -> Result<Vec<CustomerId>, StoreError>;

    /// Customers with at least one consent receipt.
    fn customers_with_consents(&self) -> Result<Vec<CustomerId>, StoreError>;

    /// Audit events about one customer, oldest first, at most `limit`
    /// (a full scan of the log: for access requests, not hot paths).
    fn audit_of(&self, customer: &CustomerId, limit: usize) -> Result<Vec<ChainedEvent>, StoreError>;

    /// A vault token.
    fn vault_token(&self, token: &str) -> Result<Option<VaultToken>, StoreError>;

    /// Write a consistent copy of the whole database to `dest` (a new
    /// file) while writers continue; returns its size in bytes.
    fn snapshot(&self, dest: &std::path::Path) -> Result<u64, StoreError>;
}

/// What a group of mutations produced.
pub type Outcomes = Result<Vec<Result<Applied, StoreError>>, StoreError>;

/// Results of submitted mutations, not yet waited for.
pub struct Pending(pub(crate) tokio::sync::oneshot::Receiver<Outcomes>);

impl Pending {
    /// Block until the mutations are durable (or failed). Not for async
    /// code: use [`Pending::wait_async`] there.
    pub fn wait(self) -> Outcomes {
        self.0.blocking_recv().unwrap_or(Err(StoreError::Closed))
    }

    /// Wait without blocking a thread: the HTTP server awaits audit commits
    /// this way instead of parking a blocking thread per request.
    pub async fn wait_async(self) -> Outcomes {
        self.0.await.unwrap_or(Err(StoreError::Closed))
    }
}

/// Computes the audit chain MAC of an event from its predecessor's MAC and
/// its canonical bytes (implemented with the master secret's chain key).
pub type ChainLinker = std::sync::Arc<dyn Fn(&[u8; 32], &[u8]) -> [u8; 32] + Send + Sync>;
