//! Records of the privacy programme: published notices, consent receipts,
//! privacy-portal tokens and customers' requests. None holds clear personal
//! data: customers appear by id, request details are sealed by the vault
//! under the customer's data key.

use custodia_core::CustomerId;

/// One published version of the privacy notice (immutable once stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoticeRecord {
    /// Version number.
    pub version: u32,
    /// The notice as published (TOML).
    pub toml: String,
    /// Publication time, ms.
    pub published_ms: i64,
    /// Who published it.
    pub published_by: String,
}

/// One consent receipt: a customer's answer for one purpose. Append-only;
/// the latest receipt of a (customer, purpose) is in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentRecord {
    /// Receipt id (`rcpt_…`).
    pub id: String,
    /// Whose.
    pub customer: CustomerId,
    /// Purpose id.
    pub purpose: String,
    /// Notice version shown.
    pub notice_version: u32,
    /// Given (true) or withdrawn (false).
    pub given: bool,
    /// When, ms.
    pub ts_ms: i64,
    /// Channel (`web`, `app`, `paper`, `phone`, `in_person`).
    pub channel: String,
    /// Who collected it (the actor: staff, service, portal).
    pub collector: String,
    /// SHA-256 (hex) of the exact text shown.
    pub text_sha256: String,
    /// Kinds of consent the answer satisfies (`general`, `separate`, `guardian`).
    pub kinds: Vec<String>,
    /// `subject` or `guardian`.
    pub given_by: String,
    /// Language of the text shown (`en`, `zh`).
    pub language: String,
}

/// A privacy-portal credential: a single-use entry link/code, or the
/// session it was exchanged for. Only a digest of the secret is kept. A
/// `contact_hold` row is no credential: it records that staff changed a
/// contact portal codes go to (no code goes there until it expires).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalTokenRecord {
    /// SHA-256 of the secret.
    pub digest: Vec<u8>,
    /// Whose portal it opens.
    pub customer: CustomerId,
    /// `entry` (single use), `session`, or `contact_hold`.
    pub kind: String,
    /// Anti-CSRF token of a session's forms (empty for entries).
    pub csrf: String,
    /// Issue time, ms.
    pub created_ms: i64,
    /// Expiry, ms.
    pub expires_ms: i64,
    /// Used (entries) or ended (sessions).
    pub used: bool,
    /// Who issued it.
    pub issued_by: String,
}

/// A customer's request about their data (access, correction, deletion, …).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestRecord {
    /// Request id (`req_…`).
    pub id: String,
    /// Whose.
    pub customer: Option<CustomerId>,
    /// Kind (`access`, `rectification`, `erasure`, …).
    pub kind: String,
    /// State (`received`, `verified`, …).
    pub status: String,
    /// Channel it came through (`portal`, `api`, `cli`, `email`, `phone`, …).
    pub channel: String,
    /// The law whose clock applies (`pipl`, `gdpr`, `ccpa`).
    pub regime: String,
    /// Received, ms.
    pub created_ms: i64,
    /// Last change, ms.
    pub updated_ms: i64,
    /// Identity verified, ms.
    pub verified_ms: Option<i64>,
    /// Who verified it.
    pub verified_by: Option<String>,
    /// How (`portal_code`, `id_document`, `in_person`, …).
    pub verification: Option<String>,
    /// Receipt confirmed to the person, ms.
    pub acknowledged_ms: Option<i64>,
    /// Extended once.
    pub extended: bool,
    /// Reason of an extension or denial (told to the person; no personal data).
    pub reason: Option<String>,
    /// Finished, ms.
    pub completed_ms: Option<i64>,
    /// Caller's idempotency key.
    pub idem_key: Option<String>,
    /// The customer's own words, sealed under their data key (may hold
    /// personal data, such as the corrected value).
    pub detail: Option<Vec<u8>>,
}

/// Latest answers per purpose and notice version (for statistics).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsentTally {
    /// Purpose id.
    pub purpose: String,
    /// Notice version of the latest answers counted.
    pub notice_version: u32,
    /// Given (true) or withdrawn (false).
    pub given: bool,
    /// How many customers.
    pub customers: u64,
}
