//! Records of data-subject requests, destruction and retention: request
//! history, recipients to notify, erasure tombstones, destruction
//! certificates, legal holds and per-customer lifecycle dates. None holds
//! clear personal data.

use crate::sql::{args, read, Row, Sql};
use crate::{Applied, RequestRecord, Store, StoreError, StoredCustomer};
use custodia_core::rights::SuppressionKind;
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

/// The deadlines a request was given (and told to the requester): a later
/// calendar never moves them later, only earlier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestClock {
    /// Answer by (YYYY-MM-DD, without extension).
    pub respond_by: String,
    /// Confirm receipt by.
    pub acknowledge_by: Option<String>,
    /// Whether the holiday data did not cover it when computed.
    pub calendar_gap: bool,
    /// Last set, ms.
    pub updated_ms: i64,
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
    /// The suppression list's entries this erasure adds (whole-customer
    /// erasures only): keyed hashes of the person's identifiers.
    pub suppress: Vec<Suppression>,
}

/// One entry of the suppression list of erased people: a keyed hash
/// (HMAC-SHA256 under a key derived from the master secret, truncated to
/// 16 bytes) of one identifier; never the identifier itself.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Suppression {
    /// Which identifier.
    pub kind: SuppressionKind,
    /// The keyed hash.
    pub digest: Vec<u8>,
}

/// What a suppression-list match names: the erasure it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuppressionHit {
    /// Which identifier matched.
    pub kind: SuppressionKind,
    /// The erasure's tombstone.
    pub tombstone: String,
    /// Its destruction certificate.
    pub certificate: String,
    /// When the person was erased, ms.
    pub erased_ms: i64,
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

/// What a full erasure clears besides the customer's row, each statement
/// taking the customer's id. The list is the one place that knows which
/// tables hold a customer's data; a table with a `customer` column is
/// either here or in [`KEPT_AFTER_ERASURE`] (a test checks it).
pub(crate) const ERASURE_CASCADE: &[&str] = &[
    "DELETE FROM portal_tokens WHERE customer = $1",
    "UPDATE requests SET detail = NULL WHERE customer = $1 AND detail IS NOT NULL",
    "DELETE FROM lifecycle WHERE customer = $1",
    "DELETE FROM vault_tokens WHERE customer = $1",
];

/// Tables that keep a customer's id after erasure, and why: none of them
/// holds the person's data, only the proof of what was done.
#[cfg(test)]
pub(crate) const KEPT_AFTER_ERASURE: &[(&str, &str)] = &[
    ("audit", "the chained log is evidence and holds no field values"),
    ("consent_receipts", "proof of what was consented to, under which notice"),
    (
        "requests",
        "the request's history stays; its sealed detail is cleared above",
    ),
    ("tombstones", "the erasure ledger itself"),
    ("legal_holds", "a hold's record outlives the data it held"),
];

fn status_of(tx: &mut dyn Sql, id: &str) -> Result<Option<String>, StoreError> {
    tx.one("SELECT status FROM requests WHERE id = $1", &args![id], |r| r.text(0))
}

fn put_request_row(tx: &mut dyn Sql, r: &RequestRecord) -> Result<(), StoreError> {
    tx.exec(
        "INSERT INTO requests (id, customer, kind, status, channel, regime, created_ms, updated_ms, verified_ms, verified_by,
            verification, acknowledged_ms, extended, reason, completed_ms, idem_key, detail)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
         ON CONFLICT (id) DO UPDATE SET status = excluded.status, updated_ms = excluded.updated_ms,
            verified_ms = excluded.verified_ms, verified_by = excluded.verified_by, verification = excluded.verification,
            acknowledged_ms = excluded.acknowledged_ms, extended = excluded.extended, reason = excluded.reason,
            completed_ms = excluded.completed_ms",
        &args![
            r.id,
            r.customer,
            r.kind,
            r.status,
            r.channel,
            r.regime,
            r.created_ms,
            r.updated_ms,
            r.verified_ms,
            r.verified_by,
            r.verification,
            r.acknowledged_ms,
            r.extended,
            r.reason,
            r.completed_ms,
            r.idem_key,
            r.detail
        ],
    )?;
    Ok(())
}

fn append_log(tx: &mut dyn Sql, request: &str, log: &[RequestLogEntry]) -> Result<(), StoreError> {
    for l in log {
        tx.exec(
            "INSERT INTO request_log (request, ts_ms, actor, from_status, to_status, note) VALUES ($1, $2, $3, $4, $5, $6)",
            &args![request, l.ts_ms, l.actor, l.from_status, l.to_status, l.note],
        )?;
    }
    Ok(())
}

/// Create a request (`expect` None: Conflict when its id or idempotency key
/// exists) or move it on from status `expect` (Conflict when it moved
/// since, NotFound when it does not exist), with its log and recipients.
pub(crate) fn put_request(
    tx: &mut dyn Sql,
    request: &RequestRecord,
    expect: Option<&str>,
    log: &[RequestLogEntry],
    recipients: &[RecipientNotice],
    clock: Option<&RequestClock>,
) -> Result<Applied, StoreError> {
    match (expect, status_of(tx, &request.id)?.as_deref()) {
        (Some(want), Some(now)) if want != now => return Ok(Applied::Conflict),
        (Some(_), None) => return Ok(Applied::NotFound),
        (None, Some(_)) => return Ok(Applied::Conflict),
        _ => {}
    }
    if let (None, Some(key)) = (expect, &request.idem_key) {
        if tx.any("SELECT 1 FROM requests WHERE idem_key = $1", &args![key])? {
            return Ok(Applied::Conflict);
        }
    }
    put_request_row(tx, request)?;
    append_log(tx, &request.id, log)?;
    if let Some(c) = clock {
        tx.exec(
            "INSERT INTO request_clocks (request, respond_by, acknowledge_by, calendar_gap, updated_ms)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (request) DO UPDATE SET respond_by = excluded.respond_by,
               acknowledge_by = excluded.acknowledge_by, calendar_gap = excluded.calendar_gap,
               updated_ms = excluded.updated_ms",
            &args![request.id, c.respond_by, c.acknowledge_by, c.calendar_gap, c.updated_ms],
        )?;
    }
    for r in recipients {
        tx.exec(
            "INSERT INTO request_recipients (request, recipient, notified_ms, notified_by) VALUES ($1, $2, $3, $4)
             ON CONFLICT (request, recipient) DO UPDATE SET notified_ms = excluded.notified_ms,
               notified_by = excluded.notified_by",
            &args![request.id, r.recipient, r.notified_ms, r.notified_by],
        )?;
    }
    Ok(Applied::Done)
}

pub(crate) fn put_tombstone(tx: &mut dyn Sql, t: &Tombstone) -> Result<Applied, StoreError> {
    tx.exec(
        "INSERT INTO tombstones (id, customer, erased_ms, fields, request, basis, certificate, key_sha256, actor)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (id) DO NOTHING",
        &args![
            t.id,
            t.customer,
            t.erased_ms,
            t.fields.join(","),
            t.request,
            t.basis,
            t.certificate,
            t.key_sha256,
            t.actor
        ],
    )?;
    for s in &t.suppress {
        // A second erasure of the same identifier keeps the first entry.
        tx.exec(
            "INSERT INTO suppressions (digest, kind, tombstone) VALUES ($1, $2, $3) ON CONFLICT (digest) DO NOTHING",
            &args![s.digest, s.kind.as_str(), t.id],
        )?;
    }
    Ok(Applied::Done)
}

fn read_kind(r: &mut Row, i: usize) -> Result<SuppressionKind, StoreError> {
    r.parsed(i, SuppressionKind::parse)
}

const HIT_COLUMNS: &str = "s.kind, s.tombstone, t.certificate, t.erased_ms";

fn read_hit(r: &mut Row) -> Result<SuppressionHit, StoreError> {
    Ok(SuppressionHit {
        kind: read_kind(r, 0)?,
        tombstone: r.text(1)?,
        certificate: r.text(2)?,
        erased_ms: r.int(3)?,
    })
}

pub(crate) fn put_certificate(tx: &mut dyn Sql, c: &CertificateRecord) -> Result<Applied, StoreError> {
    tx.exec(
        "INSERT INTO certificates (id, jws, created_ms) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
        &args![c.id, c.jws, c.created_ms],
    )?;
    Ok(Applied::Done)
}

/// What an erasure writes (see [`crate::Mutation::Erase`]).
pub(crate) struct Erasure<'a> {
    pub(crate) tombstone: &'a Tombstone,
    pub(crate) certificate: Option<&'a CertificateRecord>,
    pub(crate) rekeyed: Option<&'a StoredCustomer>,
    pub(crate) request: Option<&'a (RequestRecord, RequestLogEntry)>,
    pub(crate) replay: bool,
}

/// Erase a customer, in full (the row and [`ERASURE_CASCADE`]) or some
/// fields (the re-keyed row without them, and their vault tokens); then the
/// ledger entry, the certificate and the request it completes. A legal
/// hold refuses it (Conflict) except when a restore replays the ledger.
pub(crate) fn erase(tx: &mut dyn Sql, codes: &crate::codes::Codes, e: Erasure<'_>) -> Result<Applied, StoreError> {
    let customer = &e.tombstone.customer;
    if !e.replay
        && tx.any(
            "SELECT 1 FROM legal_holds WHERE customer = $1 AND released_ms IS NULL",
            &args![customer],
        )?
    {
        return Ok(Applied::Conflict);
    }
    match e.rekeyed {
        None => {
            if tx.exec("DELETE FROM customers WHERE id = $1", &args![customer])? == 0 {
                return Ok(Applied::NotFound);
            }
            for sql in ERASURE_CASCADE {
                tx.exec(sql, &args![customer])?;
            }
        }
        Some(cu) => {
            if !crate::customers::rekey(tx, codes, cu)? {
                return Ok(Applied::NotFound);
            }
            for f in &e.tombstone.fields {
                tx.exec(
                    "DELETE FROM vault_tokens WHERE customer = $1 AND field = $2",
                    &args![customer, f],
                )?;
            }
        }
    }
    put_tombstone(tx, e.tombstone)?;
    if let Some(cert) = e.certificate {
        put_certificate(tx, cert)?;
    }
    if let Some((r, l)) = e.request {
        put_request_row(tx, r)?;
        append_log(tx, &r.id, std::slice::from_ref(l))?;
    }
    Ok(Applied::Done)
}

/// Replace a customer's vault tokens for the `replace` fields with `tokens`.
pub(crate) fn put_vault_tokens(
    tx: &mut dyn Sql,
    customer: &CustomerId,
    replace: &[String],
    tokens: &[VaultToken],
) -> Result<Applied, StoreError> {
    if !crate::customers::exists(tx, customer)? {
        return Ok(Applied::NotFound);
    }
    for f in replace {
        tx.exec(
            "DELETE FROM vault_tokens WHERE customer = $1 AND field = $2",
            &args![customer, f],
        )?;
    }
    for t in tokens {
        tx.exec(
            "INSERT INTO vault_tokens (token, customer, field, kind, sealed, created_ms) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (token) DO NOTHING",
            &args![t.token, customer, t.field, t.kind, t.sealed, t.created_ms],
        )?;
    }
    Ok(Applied::Done)
}

pub(crate) fn put_hold(tx: &mut dyn Sql, h: &HoldRecord) -> Result<Applied, StoreError> {
    tx.exec(
        "INSERT INTO legal_holds (id, customer, reason, set_by, set_ms, released_ms, released_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (id) DO UPDATE SET released_ms = excluded.released_ms, released_by = excluded.released_by",
        &args![
            h.id,
            h.customer,
            h.reason,
            h.set_by,
            h.set_ms,
            h.released_ms,
            h.released_by
        ],
    )?;
    Ok(Applied::Done)
}

pub(crate) fn put_lifecycle(tx: &mut dyn Sql, l: &Lifecycle) -> Result<Applied, StoreError> {
    let Some(customer) = l.customer else {
        return Ok(Applied::NotFound);
    };
    if !crate::customers::exists(tx, &customer)? {
        return Ok(Applied::NotFound);
    }
    tx.exec(
        "INSERT INTO lifecycle (customer, contract_end_ms, last_activity_ms, reviewed_ms)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (customer) DO UPDATE SET contract_end_ms = excluded.contract_end_ms,
            last_activity_ms = excluded.last_activity_ms, reviewed_ms = excluded.reviewed_ms",
        &args![customer, l.contract_end_ms, l.last_activity_ms, l.reviewed_ms],
    )?;
    Ok(Applied::Done)
}

/// An open request as a queue sorts and filters it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// Id.
    pub id: String,
    /// Whose.
    pub customer: Option<CustomerId>,
    /// Kind (stored name).
    pub kind: String,
    /// State (stored name).
    pub status: String,
    /// Regime (stored name).
    pub regime: String,
    /// Received, ms.
    pub created_ms: i64,
    /// Whether the deadline was extended.
    pub extended: bool,
}

/// The deadlines and recipients of the open requests, by request id.
#[derive(Debug, Clone, Default)]
pub struct OpenDetails {
    /// Each request's clock.
    pub clocks: std::collections::HashMap<String, RequestClock>,
    /// Each request's recipients, in order.
    pub recipients: std::collections::HashMap<String, Vec<RecipientNotice>>,
}

const REQUEST_COLUMNS: &str = "id, customer, kind, status, channel, regime, created_ms, updated_ms, verified_ms, \
     verified_by, verification, acknowledged_ms, extended, reason, completed_ms, idem_key, detail";
const LIFECYCLE_COLUMNS: &str = "customer, contract_end_ms, last_activity_ms, reviewed_ms";

fn read_request(r: &mut Row) -> Result<RequestRecord, StoreError> {
    Ok(RequestRecord {
        id: r.text(0)?,
        customer: r.opt_customer(1)?,
        kind: r.text(2)?,
        status: r.text(3)?,
        channel: r.text(4)?,
        regime: r.text(5)?,
        created_ms: r.int(6)?,
        updated_ms: r.int(7)?,
        verified_ms: r.opt_int(8)?,
        verified_by: r.opt_text(9)?,
        verification: r.opt_text(10)?,
        acknowledged_ms: r.opt_int(11)?,
        extended: r.bool(12)?,
        reason: r.opt_text(13)?,
        completed_ms: r.opt_int(14)?,
        idem_key: r.opt_text(15)?,
        detail: r.opt_bytes(16)?,
    })
}

fn read_lifecycle(r: &mut Row) -> Result<Lifecycle, StoreError> {
    Ok(Lifecycle {
        customer: Some(r.customer(0)?),
        contract_end_ms: r.opt_int(1)?,
        last_activity_ms: r.opt_int(2)?,
        reviewed_ms: r.opt_int(3)?,
    })
}

/// Reading requests, the erasure ledger, certificates, holds, lifecycle
/// dates and vault tokens (every store).
pub trait RightsStore {
    /// A customer's requests, oldest first.
    fn requests(&self, customer: &CustomerId) -> Result<Vec<RequestRecord>, StoreError>;
    /// One request.
    fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError>;
    /// The request created with this idempotency key.
    fn request_by_key(&self, key: &str) -> Result<Option<RequestRecord>, StoreError>;
    /// Requests neither completed nor denied, oldest first.
    fn open_requests(&self) -> Result<Vec<RequestRecord>, StoreError>;
    /// What a queue sorts and filters the open requests by, oldest first.
    fn open_request_heads(&self) -> Result<Vec<RequestHead>, StoreError>;
    /// Completed or denied requests created before `before_ms`.
    fn finished_requests_before(&self, before_ms: i64) -> Result<Vec<RequestRecord>, StoreError>;
    /// A request's history.
    fn request_log(&self, id: &str) -> Result<Vec<RequestLogEntry>, StoreError>;
    /// The recipients a request's outcome is to be passed on to.
    fn request_recipients(&self, id: &str) -> Result<Vec<RecipientNotice>, StoreError>;
    /// The deadlines a request was given.
    fn request_clock(&self, id: &str) -> Result<Option<RequestClock>, StoreError>;
    /// The deadlines and recipients of the requests, by request id (two
    /// reads for the whole queue instead of two per request; the caller
    /// looks up the requests it lists).
    fn open_request_details(&self) -> Result<OpenDetails, StoreError>;
    /// The erasure ledger, oldest first.
    fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError>;
    /// The suppression list's entry with this keyed hash.
    fn suppressed(&self, digest: &[u8]) -> Result<Option<SuppressionHit>, StoreError>;
    /// The whole suppression list (for an import to look rows up in).
    fn suppression_list(&self) -> Result<Vec<(Vec<u8>, SuppressionHit)>, StoreError>;
    /// A destruction certificate.
    fn certificate(&self, id: &str) -> Result<Option<CertificateRecord>, StoreError>;
    /// A customer's legal holds.
    fn holds(&self, customer: &CustomerId) -> Result<Vec<HoldRecord>, StoreError>;
    /// A customer's lifecycle dates.
    fn lifecycle(&self, customer: &CustomerId) -> Result<Option<Lifecycle>, StoreError>;
    /// Every customer's lifecycle dates.
    fn lifecycles(&self) -> Result<Vec<Lifecycle>, StoreError>;
    /// Customers under an unreleased hold.
    fn held_customers(&self) -> Result<Vec<CustomerId>, StoreError>;
    /// Customers with at least one consent receipt.
    fn customers_with_consents(&self) -> Result<Vec<CustomerId>, StoreError>;
    /// A vault token.
    fn vault_token(&self, token: &str) -> Result<Option<VaultToken>, StoreError>;
}

impl<S: Store + ?Sized> RightsStore for S {
    fn requests(&self, customer: &CustomerId) -> Result<Vec<RequestRecord>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE customer = $1 ORDER BY created_ms, id");
        read(self, |db| db.many(&sql, &args![customer], read_request))
    }

    fn request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE id = $1");
        read(self, |db| db.one(&sql, &args![id], read_request))
    }

    fn request_by_key(&self, key: &str) -> Result<Option<RequestRecord>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE idem_key = $1");
        read(self, |db| db.one(&sql, &args![key], read_request))
    }

    fn open_request_heads(&self) -> Result<Vec<RequestHead>, StoreError> {
        let mut out = read(self, |db| {
            db.many(
                "SELECT id, customer, kind, status, regime, created_ms, extended FROM requests
                 WHERE status <> 'completed' AND status <> 'denied'",
                &[],
                |r| {
                    Ok(RequestHead {
                        id: r.text(0)?,
                        customer: r.opt_customer(1)?,
                        kind: r.text(2)?,
                        status: r.text(3)?,
                        regime: r.text(4)?,
                        created_ms: r.int(5)?,
                        extended: r.bool(6)?,
                    })
                },
            )
        })?;
        out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(out)
    }

    fn open_requests(&self) -> Result<Vec<RequestRecord>, StoreError> {
        // Written so SQLite scans the table: while most requests are open,
        // a scan reads each page once where the partial index
        // `requests_open` looks every row up again. Sorted here.
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE status <> 'completed' AND status <> 'denied'");
        let mut out = read(self, |db| db.many(&sql, &[], read_request))?;
        out.sort_by(|a, b| (a.created_ms, &a.id).cmp(&(b.created_ms, &b.id)));
        Ok(out)
    }

    fn finished_requests_before(&self, before_ms: i64) -> Result<Vec<RequestRecord>, StoreError> {
        let sql = format!(
            "SELECT {REQUEST_COLUMNS} FROM requests WHERE status IN ('completed', 'denied') AND created_ms < $1
             ORDER BY created_ms, id"
        );
        read(self, |db| db.many(&sql, &args![before_ms], read_request))
    }

    fn request_log(&self, id: &str) -> Result<Vec<RequestLogEntry>, StoreError> {
        read(self, |db| {
            db.many(
                "SELECT ts_ms, actor, from_status, to_status, note FROM request_log WHERE request = $1 ORDER BY seq",
                &args![id],
                |r| {
                    Ok(RequestLogEntry {
                        ts_ms: r.int(0)?,
                        actor: r.text(1)?,
                        from_status: r.text(2)?,
                        to_status: r.text(3)?,
                        note: r.text(4)?,
                    })
                },
            )
        })
    }

    fn request_recipients(&self, id: &str) -> Result<Vec<RecipientNotice>, StoreError> {
        read(self, |db| {
            db.many(
                "SELECT recipient, notified_ms, notified_by FROM request_recipients WHERE request = $1 ORDER BY recipient",
                &args![id],
                |r| {
                    Ok(RecipientNotice {
                        recipient: r.text(0)?,
                        notified_ms: r.opt_int(1)?,
                        notified_by: r.opt_text(2)?,
                    })
                },
            )
        })
    }

    fn open_request_details(&self) -> Result<OpenDetails, StoreError> {
        read(self, |db| {
            let mut out = OpenDetails::default();
            // Every clock in one scan, the caller taking the open ones: a
            // scan reads each page once, where a join looks each open
            // request's clock up (three times slower at 10,000 open
            // requests). It grows with finished requests, which are kept.
            for (id, clock) in db.many(
                "SELECT request, respond_by, acknowledge_by, calendar_gap, updated_ms FROM request_clocks",
                &[],
                |r| {
                    Ok((
                        r.text(0)?,
                        RequestClock {
                            respond_by: r.text(1)?,
                            acknowledge_by: r.opt_text(2)?,
                            calendar_gap: r.bool(3)?,
                            updated_ms: r.int(4)?,
                        },
                    ))
                },
            )? {
                out.clocks.insert(id, clock);
            }
            for (id, n) in db.many(
                "SELECT request, recipient, notified_ms, notified_by FROM request_recipients
                 ORDER BY request, recipient",
                &[],
                |r| {
                    Ok((
                        r.text(0)?,
                        RecipientNotice {
                            recipient: r.text(1)?,
                            notified_ms: r.opt_int(2)?,
                            notified_by: r.opt_text(3)?,
                        },
                    ))
                },
            )? {
                out.recipients.entry(id).or_default().push(n);
            }
            Ok(out)
        })
    }

    fn request_clock(&self, id: &str) -> Result<Option<RequestClock>, StoreError> {
        read(self, |db| {
            db.one(
                "SELECT respond_by, acknowledge_by, calendar_gap, updated_ms FROM request_clocks WHERE request = $1",
                &args![id],
                |r| {
                    Ok(RequestClock {
                        respond_by: r.text(0)?,
                        acknowledge_by: r.opt_text(1)?,
                        calendar_gap: r.bool(2)?,
                        updated_ms: r.int(3)?,
                    })
                },
            )
        })
    }

    fn tombstones(&self) -> Result<Vec<Tombstone>, StoreError> {
        read(self, |db| {
            let mut suppress: std::collections::HashMap<String, Vec<Suppression>> = Default::default();
            for (tombstone, s) in db.many(
                "SELECT tombstone, kind, digest FROM suppressions ORDER BY tombstone, kind, digest",
                &[],
                |r| {
                    Ok((
                        r.text(0)?,
                        Suppression {
                            kind: read_kind(r, 1)?,
                            digest: r.bytes(2)?,
                        },
                    ))
                },
            )? {
                suppress.entry(tombstone).or_default().push(s);
            }
            db.many(
                "SELECT id, customer, erased_ms, fields, request, basis, certificate, key_sha256, actor FROM tombstones
                 ORDER BY erased_ms, id",
                &[],
                |r| {
                    let id = r.text(0)?;
                    Ok(Tombstone {
                        suppress: suppress.remove(&id).unwrap_or_default(),
                        id,
                        customer: r.customer(1)?,
                        erased_ms: r.int(2)?,
                        fields: r.list(3)?,
                        request: r.opt_text(4)?,
                        basis: r.text(5)?,
                        certificate: r.text(6)?,
                        key_sha256: r.text(7)?,
                        actor: r.text(8)?,
                    })
                },
            )
        })
    }

    fn suppressed(&self, digest: &[u8]) -> Result<Option<SuppressionHit>, StoreError> {
        let sql = format!(
            "SELECT {HIT_COLUMNS} FROM suppressions s JOIN tombstones t ON t.id = s.tombstone WHERE s.digest = $1"
        );
        read(self, |db| db.one(&sql, &args![digest], read_hit))
    }

    fn suppression_list(&self) -> Result<Vec<(Vec<u8>, SuppressionHit)>, StoreError> {
        let sql = format!("SELECT {HIT_COLUMNS}, s.digest FROM suppressions s JOIN tombstones t ON t.id = s.tombstone");
        read(self, |db| db.many(&sql, &[], |r| Ok((r.bytes(4)?, read_hit(r)?))))
    }

    fn certificate(&self, id: &str) -> Result<Option<CertificateRecord>, StoreError> {
        read(self, |db| {
            db.one(
                "SELECT id, jws, created_ms FROM certificates WHERE id = $1",
                &args![id],
                |r| {
                    Ok(CertificateRecord {
                        id: r.text(0)?,
                        jws: r.text(1)?,
                        created_ms: r.int(2)?,
                    })
                },
            )
        })
    }

    fn holds(&self, customer: &CustomerId) -> Result<Vec<HoldRecord>, StoreError> {
        read(self, |db| {
            db.many(
                "SELECT id, customer, reason, set_by, set_ms, released_ms, released_by FROM legal_holds
                 WHERE customer = $1 ORDER BY set_ms, id",
                &args![customer],
                |r| {
                    Ok(HoldRecord {
                        id: r.text(0)?,
                        customer: r.customer(1)?,
                        reason: r.text(2)?,
                        set_by: r.text(3)?,
                        set_ms: r.int(4)?,
                        released_ms: r.opt_int(5)?,
                        released_by: r.opt_text(6)?,
                    })
                },
            )
        })
    }

    fn lifecycle(&self, customer: &CustomerId) -> Result<Option<Lifecycle>, StoreError> {
        let sql = format!("SELECT {LIFECYCLE_COLUMNS} FROM lifecycle WHERE customer = $1");
        read(self, |db| db.one(&sql, &args![customer], read_lifecycle))
    }

    fn lifecycles(&self) -> Result<Vec<Lifecycle>, StoreError> {
        let sql = format!("SELECT {LIFECYCLE_COLUMNS} FROM lifecycle");
        read(self, |db| db.many(&sql, &[], read_lifecycle))
    }

    fn held_customers(&self) -> Result<Vec<CustomerId>, StoreError> {
        read(self, |db| {
            db.many(
                "SELECT DISTINCT customer FROM legal_holds WHERE released_ms IS NULL",
                &[],
                |r| r.customer(0),
            )
        })
    }

    fn customers_with_consents(&self) -> Result<Vec<CustomerId>, StoreError> {
        read(self, |db| {
            db.many("SELECT DISTINCT customer FROM consent_receipts", &[], |r| r.customer(0))
        })
    }

    fn vault_token(&self, token: &str) -> Result<Option<VaultToken>, StoreError> {
        read(self, |db| {
            db.one(
                "SELECT token, customer, field, kind, sealed, created_ms FROM vault_tokens WHERE token = $1",
                &args![token],
                |r| {
                    Ok(VaultToken {
                        token: r.text(0)?,
                        customer: r.customer(1)?,
                        field: r.text(2)?,
                        kind: r.text(3)?,
                        sealed: r.bytes(4)?,
                        created_ms: r.int(5)?,
                    })
                },
            )
        })
    }
}
