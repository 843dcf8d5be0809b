//! Records of data-subject requests, destruction and retention: request
//! history, recipients to notify, erasure tombstones, destruction
//! certificates, legal holds and per-customer lifecycle dates. None holds
//! clear personal data.

use custodia_core::CustomerId;

/// One step in a request's history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLogEntry {
    /// When, ms.
    pub ts_ms: i64,
    /// Who.
    pub actor: String,
    /// State before.
    pub from_status: String,
    /// State after.
    pub to_status: String,
    /// Why (method of verification, reason of an extension or denial); no personal data.
    pub note: String,
}

/// A recipient that must be told of a rectification, erasure or restriction (GDPR Art. 19).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientNotice {
    /// Recipient name (from the notice).
    pub recipient: String,
    /// When it was told, ms.
    pub notified_ms: Option<i64>,
    /// Who recorded it.
    pub notified_by: Option<String>,
}

/// An erasure tombstone: what remains of an erased customer (or of erased
/// fields), and why. Also the erasure ledger's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tombstone {
    /// Tombstone id (`er_…`).
    pub id: String,
    /// The customer.
    pub customer: CustomerId,
    /// When, ms.
    pub erased_ms: i64,
    /// Empty: the whole customer; else the fields erased.
    pub fields: Vec<String>,
    /// The request that asked for it, if any.
    pub request: Option<String>,
    /// Legal basis or rule (e.g. `GDPR Art. 17(1)(a)`, `retention: marketing 24 months`).
    pub basis: String,
    /// The destruction certificate.
    pub certificate: String,
    /// SHA-256 (hex) of the wrapped data key destroyed.
    pub key_sha256: String,
    /// Who.
    pub actor: String,
}

/// A signed destruction certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateRecord {
    /// Certificate id (`dc_…`).
    pub id: String,
    /// The compact JWS.
    pub jws: String,
    /// Issued, ms.
    pub created_ms: i64,
}

/// A legal hold: the customer's data may not be destroyed while it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldRecord {
    /// Hold id (`hold_…`).
    pub id: String,
    /// The customer.
    pub customer: CustomerId,
    /// Why (a case or matter reference; no personal data).
    pub reason: String,
    /// Who set it.
    pub set_by: String,
    /// When, ms.
    pub set_ms: i64,
    /// When released, ms.
    pub released_ms: Option<i64>,
    /// Who released it.
    pub released_by: Option<String>,
}

/// Dates and flags that retention and processing decisions need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Lifecycle {
    /// The customer.
    pub customer: Option<CustomerId>,
    /// When the contract ended, ms.
    pub contract_end_ms: Option<i64>,
    /// Last activity the company recorded, ms.
    pub last_activity_ms: Option<i64>,
    /// Last data-quality review, ms.
    pub reviewed_ms: Option<i64>,
}

/// A vault token: a stand-in for a value found in free text or tokenized
/// in an export; the value itself is sealed under its customer's data key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultToken {
    /// The token (`tok_…`).
    pub token: String,
    /// Whose value.
    pub customer: CustomerId,
    /// The field it came from.
    pub field: String,
    /// What it is (a detector kind, e.g. `cn_mobile`).
    pub kind: String,
    /// The value, sealed under the customer's data key.
    pub sealed: Vec<u8>,
    /// Created, ms.
    pub created_ms: i64,
}
