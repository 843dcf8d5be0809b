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
pub mod audit_search;
mod codes;
pub mod customers;
pub mod migrate;
pub mod open;
pub mod pg;
pub mod privacy;
pub mod rights;
mod schema;
pub mod sql;
pub mod sqlite;
mod write;

#[cfg(test)]
mod conformance;

pub use access::{
    next_counter, AccessStore, AccountKind, AccountLinkRecord, AccountRecord, ApprovalKind, ApprovalRecord,
    ApprovalState, CampaignSummary, CounterRecord, LinkKind, ReviewItem, SessionRecord, TokenRecord, TrainingRecord,
};
pub use customers::CustomerStore;
pub use privacy::{ConsentRecord, ConsentTally, NoticeRecord, PortalTokenRecord, PrivacyStore, RequestRecord};
pub use rights::{
    CertificateRecord, HoldRecord, Lifecycle, OpenDetails, RecipientNotice, RequestClock, RequestHead, RequestLogEntry,
    RightsStore, Suppression, SuppressionHit, Tombstone, VaultToken,
};

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
/// Flag: the customer asked to limit the use of sensitive personal
/// information (CCPA §1798.121).
pub const FLAG_LIMITED: u32 = 4;

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
        /// The deadlines given (set or replaced).
        clock: Option<RequestClock>,
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

    /// Run `f` on a reading connection. The reads of every concern
    /// ([`CustomerStore`], [`AccessStore`], [`PrivacyStore`],
    /// [`RightsStore`]) are written once on top of it.
    #[doc(hidden)]
    fn read(&self, f: &mut dyn FnMut(&mut sql::Db<'_>) -> Result<(), StoreError>) -> Result<(), StoreError>;

    /// Up to `limit` audit events from sequence number `from`, in order.
    fn audit_range(&self, from: u64, limit: usize) -> Result<Vec<ChainedEvent>, StoreError>;

    /// The audit log's last sequence number and MAC (0 and zeros when empty).
    fn audit_head(&self) -> Result<(u64, [u8; 32]), StoreError>;

    /// Up to `limit` audit events about `customer`, oldest first.
    fn audit_of(&self, customer: &CustomerId, limit: usize) -> Result<Vec<ChainedEvent>, StoreError>;

    /// One page of the audit events passing `filter` before the cursor
    /// `before` (see [`audit_search`]).
    fn audit_search(
        &self,
        filter: &custodia_core::audit::AuditFilter,
        before: Option<u64>,
        limit: usize,
    ) -> Result<audit_search::AuditPage, StoreError>;

    /// Write a consistent copy of the whole database to `dest` (a new
    /// file); returns its size. Stores that cannot say so.
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

/// The store traits, for `use custodia_store::prelude::*`.
pub mod prelude {
    pub use crate::{AccessStore, CustomerStore, PrivacyStore, RightsStore, Store};
}
