//! Records of the privacy programme: published notices, consent receipts,
//! privacy-portal tokens and customers' requests. None holds clear personal
//! data: customers appear by id, request details are sealed by the vault
//! under the customer's data key.

use crate::sql::{args, read, Row, Sql};
use crate::{Applied, Store, StoreError};
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
    /// For written consent: SHA-256 (hex) of the signed document
    /// (`consent_evidence`).
    pub document_sha256: Option<String>,
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

const RECEIPT_COLUMNS: &str = "r.id, r.customer, r.purpose, r.notice_version, r.given, r.ts_ms, r.channel, r.collector,
     r.text_sha256, r.kinds, r.given_by, r.language, e.document_sha256";

/// Receipts with their written-consent evidence, if any.
const RECEIPTS: &str = "consent_receipts r LEFT JOIN consent_evidence e ON e.receipt = r.id";

fn read_receipt(r: &mut Row) -> Result<ConsentRecord, StoreError> {
    Ok(ConsentRecord {
        id: r.text(0)?,
        customer: r.customer(1)?,
        purpose: r.text(2)?,
        notice_version: r.u32(3)?,
        given: r.bool(4)?,
        ts_ms: r.int(5)?,
        channel: r.text(6)?,
        collector: r.text(7)?,
        text_sha256: r.text(8)?,
        kinds: r.list(9)?,
        given_by: r.text(10)?,
        language: r.text(11)?,
        document_sha256: r.opt_text(12)?,
    })
}

/// Reading notices, consent receipts and portal credentials (every store).
pub trait PrivacyStore {
    /// Every published notice, oldest first.
    fn notices(&self) -> Result<Vec<NoticeRecord>, StoreError>;
    /// A customer's consent receipts in the order given.
    fn consents(&self, customer: &CustomerId) -> Result<Vec<ConsentRecord>, StoreError>;
    /// One receipt by id.
    fn consent_receipt(&self, id: &str) -> Result<Option<ConsentRecord>, StoreError>;
    /// The receipts in force (each customer's latest per purpose) of the
    /// customers still stored, counted by purpose, notice version and
    /// answer (an erased customer's receipts stay as proof, uncounted).
    fn consent_tallies(&self) -> Result<Vec<ConsentTally>, StoreError>;
    /// A portal credential by the SHA-256 of its secret.
    fn portal_token(&self, digest: &[u8]) -> Result<Option<PortalTokenRecord>, StoreError>;
}

impl<S: Store + ?Sized> PrivacyStore for S {
    fn notices(&self) -> Result<Vec<NoticeRecord>, StoreError> {
        read(self, |db| {
            db.many(
                "SELECT version, toml, published_ms, published_by FROM notices ORDER BY version",
                &[],
                |r| {
                    Ok(NoticeRecord {
                        version: r.u32(0)?,
                        toml: r.text(1)?,
                        published_ms: r.int(2)?,
                        published_by: r.text(3)?,
                    })
                },
            )
        })
    }

    fn consents(&self, customer: &CustomerId) -> Result<Vec<ConsentRecord>, StoreError> {
        let sql = format!("SELECT {RECEIPT_COLUMNS} FROM {RECEIPTS} WHERE r.customer = $1 ORDER BY r.seq");
        read(self, |db| db.many(&sql, &args![customer], read_receipt))
    }

    fn consent_receipt(&self, id: &str) -> Result<Option<ConsentRecord>, StoreError> {
        let sql = format!("SELECT {RECEIPT_COLUMNS} FROM {RECEIPTS} WHERE r.id = $1");
        read(self, |db| db.one(&sql, &args![id], read_receipt))
    }

    fn consent_tallies(&self) -> Result<Vec<ConsentTally>, StoreError> {
        read(self, |db| {
            db.many(
                "SELECT r.purpose, r.notice_version, r.given, count(*) FROM consent_receipts r
                 JOIN (SELECT max(seq) AS seq FROM consent_receipts GROUP BY customer, purpose) l ON l.seq = r.seq
                 JOIN customers c ON c.id = r.customer
                 GROUP BY r.purpose, r.notice_version, r.given ORDER BY r.purpose, r.notice_version, r.given DESC",
                &[],
                |r| {
                    Ok(ConsentTally {
                        purpose: r.text(0)?,
                        notice_version: r.u32(1)?,
                        given: r.bool(2)?,
                        customers: r.int(3)? as u64,
                    })
                },
            )
        })
    }

    fn portal_token(&self, digest: &[u8]) -> Result<Option<PortalTokenRecord>, StoreError> {
        read(self, |db| {
            db.one(
                "SELECT digest, customer, kind, csrf, created_ms, expires_ms, used, issued_by FROM portal_tokens
                 WHERE digest = $1",
                &args![digest],
                |r| {
                    Ok(PortalTokenRecord {
                        digest: r.bytes(0)?,
                        customer: r.customer(1)?,
                        kind: r.text(2)?,
                        csrf: r.text(3)?,
                        created_ms: r.int(4)?,
                        expires_ms: r.int(5)?,
                        used: r.bool(6)?,
                        issued_by: r.text(7)?,
                    })
                },
            )
        })
    }
}

/// Record consent receipts (with a new customer, or for an existing one).
pub(crate) fn insert_receipts(tx: &mut dyn Sql, receipts: &[ConsentRecord]) -> Result<(), StoreError> {
    for r in receipts {
        tx.exec(
            "INSERT INTO consent_receipts (id, customer, purpose, notice_version, given, ts_ms, channel, collector,
                text_sha256, kinds, given_by, language)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            &args![
                r.id,
                r.customer,
                r.purpose,
                r.notice_version,
                r.given,
                r.ts_ms,
                r.channel,
                r.collector,
                r.text_sha256,
                r.kinds.join(","),
                r.given_by,
                r.language
            ],
        )?;
        if let Some(doc) = &r.document_sha256 {
            tx.exec(
                "INSERT INTO consent_evidence (receipt, document_sha256) VALUES ($1, $2)",
                &args![r.id, doc],
            )?;
        }
    }
    Ok(())
}

/// Publish a notice version (Conflict when the version exists).
pub(crate) fn put_notice(tx: &mut dyn Sql, n: &NoticeRecord) -> Result<Applied, StoreError> {
    let inserted = tx.exec(
        "INSERT INTO notices (version, toml, published_ms, published_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (version) DO NOTHING",
        &args![n.version, n.toml, n.published_ms, n.published_by],
    )?;
    Ok(if inserted == 0 {
        Applied::Conflict
    } else {
        Applied::Done
    })
}

/// Receipts for an existing customer.
pub(crate) fn put_consents(
    tx: &mut dyn Sql,
    customer: &CustomerId,
    receipts: &[ConsentRecord],
) -> Result<Applied, StoreError> {
    if !crate::customers::exists(tx, customer)? {
        return Ok(Applied::NotFound);
    }
    insert_receipts(tx, receipts)?;
    Ok(Applied::Done)
}

pub(crate) fn put_portal_token(tx: &mut dyn Sql, t: &PortalTokenRecord) -> Result<Applied, StoreError> {
    tx.exec(
        "INSERT INTO portal_tokens (digest, customer, kind, csrf, created_ms, expires_ms, used, issued_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (digest) DO UPDATE SET created_ms = excluded.created_ms, expires_ms = excluded.expires_ms,
           used = excluded.used, issued_by = excluded.issued_by",
        &args![
            t.digest,
            t.customer,
            t.kind,
            t.csrf,
            t.created_ms,
            t.expires_ms,
            t.used,
            t.issued_by
        ],
    )?;
    // Credentials a day past their expiry are of no use to anyone.
    tx.exec(
        "DELETE FROM portal_tokens WHERE expires_ms < $1",
        &args![t.created_ms - 86_400_000],
    )?;
    Ok(Applied::Done)
}

/// Use a portal credential once (NotFound when used or expired), and
/// issue the next one with it.
pub(crate) fn use_portal_token(
    tx: &mut dyn Sql,
    digest: &[u8],
    now_ms: i64,
    then: Option<&PortalTokenRecord>,
) -> Result<Applied, StoreError> {
    let n = tx.exec(
        "UPDATE portal_tokens SET used = true WHERE digest = $1 AND NOT used AND expires_ms > $2",
        &args![digest, now_ms],
    )?;
    if n == 0 {
        return Ok(Applied::NotFound);
    }
    if let Some(t) = then {
        put_portal_token(tx, t)?;
    }
    Ok(Applied::Done)
}
