//! Destruction: erasure by crypto-shredding, legal holds, signed
//! destruction certificates, and the erasure ledger that keeps erased
//! customers erased when an older backup is restored.
//!
//! Erasing a customer deletes its row (wrapped data key, field ciphertexts,
//! blind-index entries), its portal credentials and request notes, in one
//! transaction with a tombstone (id, time, request, basis) and the audit
//! event; the writer then checkpoints and truncates the WAL so the old pages
//! go too, and freed pages are zeroed (`secure_delete`). Erasing single
//! fields re-seals the rest under a new data key, so the old key, and with
//! it every old copy of those fields, is gone.
//!
//! The ledger is a JSON-lines file outside the database (configurable, so
//! it can live apart from the backups), HMAC-chained with a key from the
//! master secret. At every open the vault reconciles the two: ledger
//! entries the database lacks are replayed (a restored backup), tombstones
//! the ledger lacks are appended (a crash between commit and append).

use crate::access::authz::Principal;
use crate::{now_ms, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::policy::Permission;
use custodia_core::rights::SuppressionKind;
use custodia_core::FieldType;
use custodia_core::{CustomerId, FieldName, Purpose};
use custodia_crypto::{AuditChain, DataKey};
use custodia_store::prelude::*;
use custodia_store::{
    Applied, CertificateRecord, HoldRecord, Mutation, RecipientNotice, RequestLogEntry, RequestRecord, StoredCustomer,
    Suppression, Tombstone,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom, Write};

/// How destruction is done, as certificates state it.
pub const METHOD: &str =
    "crypto-shredding: the customer's AES-256 data key (wrapped under the key-encryption key) was destroyed; \
the field ciphertexts, blind-index entries, portal credentials and request notes were deleted in the same transaction; \
freed database pages are zeroed (SQLite secure_delete) and the write-ahead log is checkpointed and truncated";

/// One customer (or some of its fields) named by a certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateSubject {
    /// The customer.
    pub customer: String,
    /// `customer` or `fields`.
    pub scope: String,
    /// The fields, for a field erasure.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// The tombstone kept.
    pub tombstone: String,
    /// SHA-256 of the wrapped data key destroyed.
    pub key_sha256: String,
    /// The identifiers put on the suppression list, by kind (as keyed
    /// hashes, never in clear).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub suppressed: Vec<String>,
}

/// What certificates say of the suppression list.
pub const SUPPRESSION_STATEMENT: &str =
    "the erased person's external id and identity-document and mobile numbers are kept only as keyed hashes (HMAC-SHA256 under a key derived from the master secret) on a suppression list, so that an import or sync from another system cannot collect them again unnoticed; no clear value is kept";

/// A destruction certificate (the payload of its JWS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestructionCertificate {
    /// Always `custodia-destruction-certificate`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Format version.
    pub version: u32,
    /// Certificate id (`dc_…`).
    pub id: String,
    /// When (RFC 3339).
    pub issued_at: String,
    /// The controller.
    pub issuer: String,
    /// What was destroyed.
    pub subjects: Vec<CertificateSubject>,
    /// How.
    pub method: String,
    /// Why: the request or retention rule.
    pub reason: String,
    /// Legal basis.
    pub basis: String,
    /// Who.
    pub by: String,
    /// What the suppression list keeps of the erased people, when it
    /// keeps anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suppression: Option<String>,
}

/// What an erasure did.
#[derive(Debug, Clone, Serialize)]
pub struct Erased {
    /// Tombstones written.
    pub tombstones: Vec<String>,
    /// The certificate id.
    pub certificate_id: String,
    /// The certificate (compact JWS).
    pub certificate_jws: String,
}

/// What a batch erasure did: tombstones written, customers left alone for
/// a legal hold, and the certificate covering the batch.
pub(crate) type BatchErased = (Vec<Tombstone>, Vec<CustomerId>, Option<CertificateRecord>);

/// A batch erasure handed to the writer, not yet committed.
pub(crate) struct SubmittedErasure {
    cert_id: String,
    tombstones: Vec<Tombstone>,
    pending: Option<custodia_store::Pending>,
}

/// A legal hold as shown.
#[derive(Debug, Clone, Serialize)]
pub struct HoldView {
    /// Id.
    pub id: String,
    /// Customer.
    pub customer: CustomerId,
    /// Reason.
    pub reason: String,
    /// Who set it.
    pub set_by: String,
    /// When (RFC 3339).
    pub set_at: String,
    /// When released (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub released_at: Option<String>,
}

impl From<&HoldRecord> for HoldView {
    fn from(h: &HoldRecord) -> Self {
        HoldView {
            id: h.id.clone(),
            customer: h.customer,
            reason: h.reason.clone(),
            set_by: h.set_by.clone(),
            set_at: crate::records::input::rfc3339(h.set_ms),
            released_at: h.released_ms.map(crate::records::input::rfc3339),
        }
    }
}

/// One line of the erasure ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LedgerLine {
    seq: u64,
    id: String,
    customer: String,
    erased_ms: i64,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    fields: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    request: Option<String>,
    basis: String,
    certificate: String,
    key_sha256: String,
    actor: String,
    /// Suppression-list entries, `kind:hex` (absent from lines written
    /// before the list existed, so their MACs still match).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    suppress: Vec<String>,
    #[serde(default)]
    prev: String,
    #[serde(default)]
    mac: String,
}

impl LedgerLine {
    fn from_tombstone(seq: u64, t: &Tombstone) -> LedgerLine {
        LedgerLine {
            seq,
            id: t.id.clone(),
            customer: t.customer.to_string(),
            erased_ms: t.erased_ms,
            fields: t.fields.clone(),
            request: t.request.clone(),
            basis: t.basis.clone(),
            certificate: t.certificate.clone(),
            key_sha256: t.key_sha256.clone(),
            actor: t.actor.clone(),
            suppress: t
                .suppress
                .iter()
                .map(|s| format!("{}:{}", s.kind, custodia_core::audit::to_hex(&s.digest)))
                .collect(),
            prev: String::new(),
            mac: String::new(),
        }
    }

    fn tombstone(&self) -> Result<Tombstone, String> {
        Ok(Tombstone {
            id: self.id.clone(),
            customer: self
                .customer
                .parse()
                .map_err(|e: custodia_core::IdError| e.to_string())?,
            erased_ms: self.erased_ms,
            fields: self.fields.clone(),
            request: self.request.clone(),
            basis: self.basis.clone(),
            certificate: self.certificate.clone(),
            key_sha256: self.key_sha256.clone(),
            actor: self.actor.clone(),
            suppress: self
                .suppress
                .iter()
                .map(|e| {
                    let (kind, hex) = e.split_once(':').ok_or("a suppression entry is not kind:hex")?;
                    Ok(Suppression {
                        kind: SuppressionKind::parse(kind).ok_or("a suppression entry of an unknown kind")?,
                        digest: custodia_core::audit::from_hex(hex).ok_or("a suppression entry's digest is not hex")?,
                    })
                })
                .collect::<Result<_, &str>>()?,
        })
    }

    /// The bytes the MAC covers: the line without `prev` and `mac`.
    fn canonical(&self) -> Vec<u8> {
        let mut c = self.clone();
        c.prev = String::new();
        c.mac = String::new();
        serde_json::to_vec(&c).expect("a ledger line serializes")
    }
}

fn hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    format!("{prefix}{}", custodia_core::audit::to_hex(&b))
}

/// Tombstone ids grow with time (UUIDv7), so tombstones append to their
/// table instead of landing on random pages (retention writes them by the
/// ten thousand).
fn tombstone_id() -> String {
    format!("er_{}", uuid::Uuid::now_v7().simple())
}

fn key_digest(wrapped: &[u8]) -> String {
    custodia_core::audit::to_hex(&Sha256::digest(wrapped))
}

const META_LEDGER: &str = "ledger_verified";

/// Result of checking the ledger.
#[derive(Debug, Clone, Serialize)]
pub struct LedgerReport {
    /// Where it is.
    pub path: String,
    /// Lines.
    pub entries: u64,
    /// Whether every MAC verified.
    pub ok: bool,
    /// The first problem, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Vault {
    fn ledger_chain(&self) -> AuditChain {
        AuditChain::new(&self.keys().derive_subkey("erasure-ledger-v1"))
    }

    fn ledger_file(&self) -> std::path::PathBuf {
        self.dir().ledger_path(self.config())
    }

    /// Read and verify the whole ledger.
    fn read_ledger(&self) -> Result<Vec<LedgerLine>, VaultError> {
        let path = self.ledger_file();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(VaultError::Io(format!("{}: {e}", path.display()))),
        };
        let chain = self.ledger_chain();
        let mut prev = [0u8; 32];
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let damaged = |why: &str| {
                VaultError::Config(format!(
                    "erasure ledger {} is damaged at line {}: {why}; restore it from its own copy (erased customers must stay erased)",
                    path.display(),
                    i + 1
                ))
            };
            let l: LedgerLine = serde_json::from_str(line).map_err(|_| damaged("not a ledger entry"))?;
            if l.seq != i as u64 + 1 {
                return Err(damaged("entries are missing or out of order"));
            }
            if hex32(&l.prev) != Some(prev) {
                return Err(damaged("it does not follow the line before"));
            }
            let mac = chain.link(&prev, &l.canonical());
            if hex32(&l.mac) != Some(mac) {
                return Err(damaged(
                    "its MAC does not match (altered, or written with another master secret)",
                ));
            }
            prev = mac;
            out.push(l);
        }
        Ok(out)
    }

    /// Check the whole ledger.
    pub fn verify_ledger(&self, p: &crate::access::authz::Principal) -> Result<LedgerReport, VaultError> {
        self.require_any_admin(
            p,
            &[
                custodia_core::policy::Permission::ManageKeys,
                custodia_core::policy::Permission::HandleRequests,
                custodia_core::policy::Permission::ReadAudit,
            ],
        )?;
        let path = self.ledger_file().display().to_string();
        Ok(match self.read_ledger() {
            Ok(l) => LedgerReport {
                path,
                entries: l.len() as u64,
                ok: true,
                problem: None,
            },
            Err(e) => LedgerReport {
                path,
                entries: 0,
                ok: false,
                problem: Some(e.to_string()),
            },
        })
    }

    /// Append tombstones to the ledger (locked against other processes,
    /// fsynced before returning).
    fn append_ledger(&self, tombstones: &[Tombstone]) -> Result<(), VaultError> {
        if tombstones.is_empty() {
            return Ok(());
        }
        let _guard = self.ledger.lock().expect("ledger lock");
        let path = self.ledger_file();
        let io = |e: std::io::Error| VaultError::Io(format!("erasure ledger {}: {e}", path.display()));
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode_private()
            .open(&path)
            .map_err(io)?;
        f.lock().map_err(io)?;
        let (mut seq, mut prev) = last_line(&mut f).map_err(io)?;
        let chain = self.ledger_chain();
        let mut buf = Vec::new();
        for t in tombstones {
            seq += 1;
            let mut l = LedgerLine::from_tombstone(seq, t);
            let mac = chain.link(&prev, &l.canonical());
            l.prev = custodia_core::audit::to_hex(&prev);
            l.mac = custodia_core::audit::to_hex(&mac);
            serde_json::to_writer(&mut buf, &l).expect("a ledger line serializes");
            buf.push(b'\n');
            prev = mac;
        }
        f.write_all(&buf).map_err(io)?;
        f.sync_data().map_err(io)?;
        let _ = f.unlock();
        Ok(())
    }

    /// Bring the database and this directory's erasure ledger into
    /// agreement now (it happens at every open; servers sharing a
    /// PostgreSQL database also run it periodically, so each ledger learns
    /// of the others' erasures). Returns how many entries were replayed.
    pub fn sync_erasure_ledger(&self, p: &crate::access::authz::Principal) -> Result<usize, VaultError> {
        self.require_job(p, crate::access::authz::Job::LedgerSync)?;
        self.reconcile_ledger()
    }

    /// Bring the database and the ledger into agreement (see the module
    /// documentation). Returns how many ledger entries were replayed.
    pub(crate) fn reconcile_ledger(&self) -> Result<usize, VaultError> {
        let path = self.ledger_file();
        // Fast path: the file is byte for byte the one verified and
        // reconciled last time (its SHA-256 is kept in the database).
        let marker = self.store().meta(META_LEDGER)?.and_then(|b| String::from_utf8(b).ok());
        let digest = file_digest(&path)?;
        if marker.is_some() && marker == digest {
            return Ok(0);
        }
        let ledger = self.read_ledger()?;
        let stored = self.store().tombstones()?;
        let known: BTreeSet<&str> = stored.iter().map(|t| t.id.as_str()).collect();
        let in_ledger: BTreeSet<&str> = ledger.iter().map(|l| l.id.as_str()).collect();
        let mut replayed = 0;
        for l in ledger.iter().filter(|l| !known.contains(l.id.as_str())) {
            let t = l
                .tombstone()
                .map_err(|e| VaultError::Config(format!("erasure ledger: {e}")))?;
            self.replay(&t)?;
            replayed += 1;
        }
        let missing: Vec<Tombstone> = stored
            .iter()
            .filter(|t| !in_ledger.contains(t.id.as_str()))
            .cloned()
            .collect();
        self.append_ledger(&missing)?;
        self.issue_missing_certificates()?;
        if let Some(d) = file_digest(&path)? {
            self.apply_one(vec![Mutation::SetMeta {
                key: META_LEDGER.into(),
                value: d.into_bytes(),
            }])?;
        }
        Ok(replayed)
    }

    /// Apply one ledger entry to a database that lacks it.
    fn replay(&self, t: &Tombstone) -> Result<(), VaultError> {
        let mut e = AuditEvent::new(now_ms(), "system:ledger_sync", Action::Delete);
        e.customer = Some(t.customer);
        e.detail = Some(format!(
            "erasure {} replayed from the erasure ledger ({})",
            t.id, t.basis
        ));
        let rec = self.store().get(&t.customer)?;
        let m = match (rec, t.fields.is_empty()) {
            (Some(_), true) => Mutation::Erase {
                tombstone: Box::new(t.clone()),
                certificate: None,
                rekeyed: None,
                request: None,
                replay: true,
                events: vec![e],
            },
            (Some(rec), false) => {
                let fields: Vec<FieldName> = t.fields.iter().filter_map(|f| FieldName::new(f).ok()).collect();
                let rekeyed = self.without_fields(&rec, &fields)?;
                Mutation::Erase {
                    tombstone: Box::new(t.clone()),
                    certificate: None,
                    rekeyed: Some(Box::new(rekeyed)),
                    request: None,
                    replay: true,
                    events: vec![e],
                }
            }
            (None, _) => Mutation::PutTombstone {
                tombstone: t.clone(),
                events: vec![],
            },
        };
        match self.apply_one(vec![m])?.pop() {
            Some(Applied::Done) | Some(Applied::NotFound) => Ok(()),
            other => Err(VaultError::Io(format!("replaying erasure {}: {other:?}", t.id))),
        }
    }

    /// Tombstones whose certificate is missing (a crash between the
    /// erasures of a batch and its certificate) get one now.
    fn issue_missing_certificates(&self) -> Result<(), VaultError> {
        let mut by_cert: BTreeMap<String, Vec<Tombstone>> = BTreeMap::new();
        for t in self.store().tombstones()? {
            by_cert.entry(t.certificate.clone()).or_default().push(t);
        }
        for (id, ts) in by_cert {
            if self.store().certificate(&id)?.is_some() {
                continue;
            }
            let basis = ts[0].basis.clone();
            let reason = ts[0]
                .request
                .as_ref()
                .map(|r| format!("data-subject request {r}"))
                .unwrap_or_else(|| basis.clone());
            let actor = ts[0].actor.clone();
            let cert = self.sign_certificate(&id, &ts, &reason, &basis, &actor);
            self.apply_one(vec![Mutation::PutCertificate {
                certificate: cert,
                events: vec![],
            }])?;
        }
        Ok(())
    }

    fn sign_certificate(&self, id: &str, ts: &[Tombstone], reason: &str, basis: &str, by: &str) -> CertificateRecord {
        let issuer = self
            .notices()
            .current()
            .map(|n| n.controller.name.clone())
            .unwrap_or_default();
        let now = now_ms();
        let cert = DestructionCertificate {
            kind: "custodia-destruction-certificate".into(),
            version: 1,
            id: id.into(),
            issued_at: crate::records::input::rfc3339(now),
            issuer,
            subjects: ts
                .iter()
                .map(|t| CertificateSubject {
                    customer: t.customer.to_string(),
                    scope: if t.fields.is_empty() { "customer" } else { "fields" }.into(),
                    fields: t.fields.clone(),
                    tombstone: t.id.clone(),
                    key_sha256: t.key_sha256.clone(),
                    suppressed: t
                        .suppress
                        .iter()
                        .map(|s| s.kind.as_str().to_owned())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .collect(),
                })
                .collect(),
            method: METHOD.into(),
            reason: reason.into(),
            basis: basis.into(),
            by: by.into(),
            suppression: ts
                .iter()
                .any(|t| !t.suppress.is_empty())
                .then(|| SUPPRESSION_STATEMENT.to_owned()),
        };
        let payload = serde_json::to_vec(&cert).expect("a certificate serializes");
        CertificateRecord {
            id: id.into(),
            jws: self.document_signer().sign(&payload),
            created_ms: now,
        }
    }

    /// A record without `fields`, its remaining fields re-sealed under a
    /// new data key (version + 1) wrapped under the current KEK.
    pub(crate) fn without_fields(
        &self,
        rec: &StoredCustomer,
        fields: &[FieldName],
    ) -> Result<StoredCustomer, VaultError> {
        let cipher = self.cipher_for(rec)?;
        let defs = self.schema().fields();
        let values: Vec<(u8, Vec<u8>)> = cipher
            .open_record(&rec.sealed, &|c| defs.get(c as usize).map(|f| &f.name))?
            .into_iter()
            .filter(|(c, _)| !fields.contains(&defs[*c as usize].name))
            .collect();
        let mut attrs: BTreeMap<String, String> = serde_json::from_str(&rec.attrs)
            .map_err(|_| VaultError::Store(custodia_store::StoreError::Corrupt("attributes".into())))?;
        for f in fields {
            attrs.remove(f.as_str());
        }
        let dk = DataKey::generate();
        let dk_version = rec.dk_version + 1;
        let new_cipher = dk.cipher(rec.id, dk_version);
        let kek = self.current_kek_version()?;
        let wrapped = self.keys().kek(kek)?.wrap(&rec.id, &dk);
        let items: Vec<(u8, &FieldName, &[u8])> = values
            .iter()
            .map(|(c, v)| (*c, &defs[*c as usize].name, v.as_slice()))
            .collect();
        Ok(StoredCustomer {
            sealed: new_cipher.seal_record(&items),
            attrs: serde_json::to_string(&attrs).expect("string map serializes"),
            blind: rec.blind.iter().filter(|(n, _)| !fields.contains(n)).cloned().collect(),
            wrapped_dk: wrapped.0,
            kek_version: kek,
            dk_version,
            updated_ms: now_ms(),
            ..rec.clone()
        })
    }

    /// The suppression list's keyed hash of one identifier.
    pub(crate) fn suppression_digest(&self, kind: SuppressionKind, normalized: &str) -> Vec<u8> {
        // A key of its own: "\0" is in no field name, so no blind index shares it.
        let tag = self
            .keys()
            .blind("\0suppression-list")
            .tag(&format!("{}\0{normalized}", kind.as_str()));
        tag[..16].to_vec()
    }

    /// The suppression list's entries for a person with these values
    /// (normalized, by field): the external id, identity documents and
    /// phone numbers.
    pub(crate) fn suppression_entries<'v>(
        &self,
        external_id: Option<&str>,
        values: impl IntoIterator<Item = (&'v FieldName, &'v str)>,
    ) -> Vec<Suppression> {
        let mut out: Vec<Suppression> = external_id
            .map(|e| Suppression {
                kind: SuppressionKind::ExternalId,
                digest: self.suppression_digest(SuppressionKind::ExternalId, e),
            })
            .into_iter()
            .collect();
        for (name, v) in values {
            let (kind, form) = match self.schema().field(name.as_str()).map(|d| d.kind) {
                Some(FieldType::CnNationalId | FieldType::IdDocument) => {
                    (SuppressionKind::IdDocument, custodia_core::iddoc::suppression_form(v))
                }
                Some(FieldType::Phone) => (SuppressionKind::Mobile, v.to_owned()),
                _ => continue,
            };
            out.push(Suppression {
                kind,
                digest: self.suppression_digest(kind, &form),
            });
        }
        out.sort();
        out.dedup();
        out
    }

    /// What erasing `fields` of `rec` (all of it when empty) puts on the
    /// suppression list: nothing for a field erasure, the person's
    /// identifiers for a whole-customer one.
    fn suppression_of(&self, rec: &StoredCustomer, fields: &[FieldName]) -> Result<Vec<Suppression>, VaultError> {
        if !fields.is_empty() {
            return Ok(Vec::new());
        }
        // A record that cannot be opened is still erased (its key goes);
        // only its external id is listed then.
        let mut clear = match self.decrypt(rec) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(customer = %rec.id, error = %e, "erasing a record that does not decrypt: only its external id is suppressed");
                BTreeMap::new()
            }
        };
        let named: Vec<(FieldName, &str)> = clear
            .iter()
            .filter_map(|(k, v)| FieldName::new(k).ok().map(|n| (n, v.as_str())))
            .collect();
        let out = self.suppression_entries(rec.external_id.as_deref(), named.iter().map(|(n, v)| (n, *v)));
        drop(named);
        for v in clear.values_mut() {
            zeroize::Zeroize::zeroize(v);
        }
        Ok(out)
    }

    fn hold_error(&self, cid: CustomerId) -> VaultError {
        let reasons = self
            .store()
            .holds(&cid)
            .unwrap_or_default()
            .into_iter()
            .filter(|h| h.released_ms.is_none())
            .map(|h| format!("{}: {}", h.id, h.reason))
            .collect::<Vec<_>>()
            .join("; ");
        VaultError::LegalHold {
            customer: cid.to_string(),
            reasons,
        }
    }

    /// Erase one whole customer; `basis` states why (a rule or article).
    /// Needs `delete` of the record for `purpose`.
    pub fn erase_customer(
        &self,
        p: &Principal,
        id: &str,
        basis: &str,
        purpose: &Purpose,
    ) -> Result<Erased, VaultError> {
        let (rec, _) = self.require_record(p, id, Permission::Delete, purpose)?;
        self.erase_one(&p.actor(), &rec, &[], None, basis, basis)
    }

    /// Delete a customer by crypto-shredding: the record, its wrapped data
    /// key and blind entries go, a tombstone and a signed destruction
    /// certificate stay, and the erasure ledger keeps it deleted through
    /// restores. Refused while a legal hold stands.
    pub fn delete(&self, p: &Principal, id: &str, purpose: &Purpose) -> Result<Erased, VaultError> {
        self.erase_customer(p, id, "deletion by an authorised operator", purpose)
    }

    /// Erase some fields of a customer (the rest is re-keyed). Needs
    /// `delete` of each field for `purpose`.
    pub fn erase_fields(
        &self,
        p: &Principal,
        id: &str,
        fields: &[String],
        basis: &str,
        purpose: &Purpose,
    ) -> Result<Erased, VaultError> {
        let (rec, attrs) = self.visible(p, id)?;
        let mut names = Vec::new();
        let mut problems = Vec::new();
        for f in fields {
            match self.schema().field(f) {
                Some(d) => names.push(d.name.clone()),
                None => problems.push(crate::unknown_field(f)),
            }
        }
        if !problems.is_empty() {
            return Err(VaultError::Invalid(problems));
        }
        if names.is_empty() {
            return Err(VaultError::Input("name the fields to erase".into()));
        }
        for n in &names {
            let def = self.schema().field(n.as_str()).expect("a schema field");
            self.require(
                p,
                Permission::Delete,
                Some(def),
                Some(&attrs),
                Some(purpose),
                Some(rec.id),
            )?;
        }
        if names
            .iter()
            .any(|n| self.schema().field(n.as_str()).is_some_and(|d| d.required))
        {
            return Err(VaultError::Input(
                "a required field cannot be erased alone; erase the whole customer".into(),
            ));
        }
        self.erase_one(&p.actor(), &rec, &names, None, basis, basis)
    }

    /// Erase the customer of an erasure request and complete the request,
    /// in one transaction.
    pub(crate) fn erase_customer_for_request(
        &self,
        actor: &str,
        r: &RequestRecord,
        recipients: &[RecipientNotice],
    ) -> Result<Erased, VaultError> {
        let cid = r
            .customer
            .ok_or_else(|| VaultError::RequestState(format!("request {} names no customer", r.id)))?;
        let rec = self
            .store()
            .get(&cid)?
            .ok_or_else(|| VaultError::RequestState(format!("customer {cid} is no longer stored")))?;
        let basis = match r.regime.as_str() {
            "gdpr" => "GDPR Art. 17(1)",
            "ccpa" => "CCPA Cal. Civ. Code §1798.105",
            _ => "PIPL Art. 47",
        };
        let now = now_ms();
        let mut done = r.clone();
        done.status = custodia_core::rights::RequestState::Completed.as_str().into();
        done.updated_ms = now;
        done.completed_ms = Some(now);
        let log = RequestLogEntry {
            ts_ms: now,
            actor: actor.into(),
            from_status: r.status.clone(),
            to_status: done.status.clone(),
            note: "customer erased (crypto-shredding); certificate issued".into(),
        };
        let out = self.erase_one(
            actor,
            &rec,
            &[],
            Some((done, log)),
            &format!("data-subject request {} ({})", r.id, r.regime),
            basis,
        )?;
        if !recipients.is_empty() {
            // The recipients to tell go with the request (a separate, guarded step).
            let current = self
                .store()
                .request(&r.id)?
                .ok_or_else(|| VaultError::NotFound(r.id.clone()))?;
            self.apply_one(vec![Mutation::PutRequest {
                request: Box::new(current.clone()),
                expect_status: Some(current.status.clone()),
                log: Vec::new(),
                recipients: recipients.to_vec(),
                clock: None,
                events: Vec::new(),
            }])?;
        }
        Ok(out)
    }

    fn erase_one(
        &self,
        actor: &str,
        rec: &StoredCustomer,
        fields: &[FieldName],
        request: Option<(RequestRecord, RequestLogEntry)>,
        reason: &str,
        basis: &str,
    ) -> Result<Erased, VaultError> {
        let cert_id = random_id("dc_");
        let t = Tombstone {
            id: tombstone_id(),
            customer: rec.id,
            erased_ms: now_ms(),
            fields: fields.iter().map(|f| f.to_string()).collect(),
            request: request.as_ref().map(|(r, _)| r.id.clone()),
            basis: basis.into(),
            certificate: cert_id.clone(),
            key_sha256: key_digest(&rec.wrapped_dk),
            actor: actor.into(),
            suppress: self.suppression_of(rec, fields)?,
        };
        let cert = self.sign_certificate(&cert_id, std::slice::from_ref(&t), reason, basis, actor);
        let rekeyed = if fields.is_empty() {
            None
        } else {
            Some(Box::new(self.without_fields(rec, fields)?))
        };
        let mut e = AuditEvent::new(t.erased_ms, actor, Action::Delete);
        e.customer = Some(rec.id);
        e.fields = fields.to_vec();
        e.detail = Some(format!(
            "{} erased by crypto-shredding; tombstone {} certificate {}; {basis}",
            if fields.is_empty() { "customer" } else { "fields" },
            t.id,
            cert_id
        ));
        let jws = cert.jws.clone();
        match self
            .apply_one(vec![Mutation::Erase {
                tombstone: Box::new(t.clone()),
                certificate: Some(cert),
                rekeyed,
                request: request.map(Box::new),
                replay: false,
                events: vec![e],
            }])?
            .pop()
        {
            Some(Applied::Done) => {}
            Some(Applied::Conflict) => return Err(self.hold_error(rec.id)),
            Some(Applied::NotFound) => {
                return Err(VaultError::Input(format!(
                    "customer {} changed or vanished meanwhile; try again",
                    rec.id
                )))
            }
            other => return Err(VaultError::Io(format!("unexpected store answer {other:?}"))),
        }
        self.append_ledger(std::slice::from_ref(&t))?;
        Ok(Erased {
            tombstones: vec![t.id],
            certificate_id: cert_id,
            certificate_jws: jws,
        })
    }

    /// Submit a batch erasure to the writer and return at once, so the
    /// caller can prepare the next batch while this one commits.
    pub(crate) fn erase_batch_submit(
        &self,
        actor: &str,
        items: &[(StoredCustomer, Vec<FieldName>)],
        basis: &str,
    ) -> Result<SubmittedErasure, VaultError> {
        if items.is_empty() {
            return Ok(SubmittedErasure {
                cert_id: String::new(),
                tombstones: Vec::new(),
                pending: None,
            });
        }
        let cert_id = random_id("dc_");
        let now = now_ms();
        let mut tombstones = Vec::with_capacity(items.len());
        let mut muts = Vec::with_capacity(items.len());
        for (rec, fields) in items {
            let t = Tombstone {
                id: tombstone_id(),
                customer: rec.id,
                erased_ms: now,
                fields: fields.iter().map(|f| f.to_string()).collect(),
                request: None,
                basis: basis.into(),
                certificate: cert_id.clone(),
                key_sha256: key_digest(&rec.wrapped_dk),
                actor: actor.into(),
                suppress: self.suppression_of(rec, fields)?,
            };
            let rekeyed = if fields.is_empty() {
                None
            } else {
                Some(Box::new(self.without_fields(rec, fields)?))
            };
            let mut e = AuditEvent::new(now, actor, Action::Delete);
            e.customer = Some(rec.id);
            e.fields = fields.clone();
            e.detail = Some(format!(
                "erased by crypto-shredding; tombstone {} certificate {cert_id}; {basis}",
                t.id
            ));
            muts.push(Mutation::Erase {
                tombstone: Box::new(t.clone()),
                certificate: None,
                rekeyed,
                request: None,
                replay: false,
                events: vec![e],
            });
            tombstones.push(t);
        }
        Ok(SubmittedErasure {
            cert_id,
            tombstones,
            pending: Some(self.store().submit(muts)),
        })
    }

    /// Wait for a submitted batch, then certify what was erased and write it
    /// to the ledger. Returns the erased tombstones, the customers left
    /// alone for a legal hold (set since the batch was prepared), and the
    /// certificate covering the batch (committed by the time any later
    /// write of this vault returns, the writer being first in, first out).
    pub(crate) fn erase_batch_finish(
        &self,
        actor: &str,
        submitted: SubmittedErasure,
        reason: &str,
        basis: &str,
    ) -> Result<BatchErased, VaultError> {
        let SubmittedErasure {
            cert_id,
            tombstones,
            pending,
        } = submitted;
        let Some(pending) = pending else {
            return Ok((Vec::new(), Vec::new(), None));
        };
        let results = pending.wait()?;
        let mut erased = Vec::new();
        let mut held = Vec::new();
        for (t, r) in tombstones.into_iter().zip(results) {
            match r? {
                Applied::Done => erased.push(t),
                Applied::Conflict => held.push(t.customer),
                _ => {}
            }
        }
        if erased.is_empty() {
            return Ok((erased, held, None));
        }
        let cert = self.sign_certificate(&cert_id, &erased, reason, basis, actor);
        // The certificate need not be durable before the ledger line: if it
        // is lost in a crash, the next open issues it again from the
        // tombstones. Not waiting keeps this thread off the writer's queue.
        drop(self.store().submit(vec![Mutation::PutCertificate {
            certificate: cert.clone(),
            events: Vec::new(),
        }]));
        self.append_ledger(&erased)?;
        Ok((erased, held, Some(cert)))
    }

    /// A destruction certificate by id. Needs `handle_requests` or
    /// `read_audit` (certificates name customers by id only).
    pub fn certificate(&self, p: &Principal, id: &str) -> Result<String, VaultError> {
        self.require_any_admin(p, &[Permission::HandleRequests, Permission::ReadAudit])?;
        self.store()
            .certificate(id)?
            .map(|c| c.jws)
            .ok_or_else(|| VaultError::NotFound(format!("certificate {:?}", id.chars().take(64).collect::<String>())))
    }

    /// Every tombstone of a customer. Needs `handle_requests` or `read_audit`.
    pub fn tombstones_of(&self, p: &Principal, customer: &str) -> Result<Vec<Tombstone>, VaultError> {
        self.require_any_admin(p, &[Permission::HandleRequests, Permission::ReadAudit])?;
        let cid = crate::parse_customer(customer)?;
        Ok(self
            .store()
            .tombstones()?
            .into_iter()
            .filter(|t| t.customer == cid)
            .collect())
    }

    /// A customer `p` handles requests for: `handle_requests`, and the
    /// customer in the caller's scope.
    fn handled_customer(&self, p: &Principal, customer: &str) -> Result<StoredCustomer, VaultError> {
        let (rec, _) = self.visible(p, customer)?;
        self.require(p, Permission::HandleRequests, None, None, None, Some(rec.id))?;
        Ok(rec)
    }

    /// Put a customer under legal hold: nothing of theirs is destroyed
    /// (erasure requests, retention) until it is released. Needs
    /// `handle_requests`.
    pub fn set_hold(&self, p: &Principal, customer: &str, reason: &str) -> Result<HoldView, VaultError> {
        let rec = self.handled_customer(p, customer)?;
        let actor = p.actor();
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 200 {
            return Err(VaultError::Input(
                "give the reason (a case or matter reference, at most 200 characters, no personal data)".into(),
            ));
        }
        let h = HoldRecord {
            id: random_id("hold_"),
            customer: rec.id,
            reason: reason.into(),
            set_by: actor.clone(),
            set_ms: now_ms(),
            released_ms: None,
            released_by: None,
        };
        let mut e = AuditEvent::new(h.set_ms, &actor, Action::Hold);
        e.customer = Some(rec.id);
        e.detail = Some(format!("legal hold {} set: {}", h.id, h.reason));
        self.apply_one(vec![Mutation::PutHold {
            hold: h.clone(),
            events: vec![e],
        }])?;
        Ok(HoldView::from(&h))
    }

    /// Release a legal hold. Needs `handle_requests`.
    pub fn release_hold(&self, p: &Principal, customer: &str, hold_id: &str) -> Result<HoldView, VaultError> {
        let rec = self.handled_customer(p, customer)?;
        let actor = p.actor();
        let mut h = self
            .store()
            .holds(&rec.id)?
            .into_iter()
            .find(|h| h.id == hold_id && h.released_ms.is_none())
            .ok_or_else(|| VaultError::NotFound(format!("active hold {hold_id:?} on {}", rec.id)))?;
        h.released_ms = Some(now_ms());
        h.released_by = Some(actor.clone());
        let mut e = AuditEvent::new(now_ms(), &actor, Action::Hold);
        e.customer = Some(rec.id);
        e.detail = Some(format!("legal hold {} released", h.id));
        self.apply_one(vec![Mutation::PutHold {
            hold: h.clone(),
            events: vec![e],
        }])?;
        Ok(HoldView::from(&h))
    }

    /// A customer's holds. Needs `handle_requests`.
    pub fn holds_of(&self, p: &Principal, customer: &str) -> Result<Vec<HoldView>, VaultError> {
        let rec = self.handled_customer(p, customer)?;
        Ok(self.store().holds(&rec.id)?.iter().map(HoldView::from).collect())
    }
}

/// Verify a destruction certificate (compact JWS) with a public key;
/// returns its content.
pub fn verify_certificate(jws: &str, public_key: &[u8; 32]) -> Result<DestructionCertificate, VaultError> {
    let payload = custodia_crypto::jws::verify(jws, public_key).map_err(|e| VaultError::Input(e.to_string()))?;
    let c: DestructionCertificate = serde_json::from_slice(&payload)
        .map_err(|_| VaultError::Input("the signed document is not a destruction certificate".into()))?;
    if c.kind != "custodia-destruction-certificate" {
        return Err(VaultError::Input(
            "the signed document is not a destruction certificate".into(),
        ));
    }
    Ok(c)
}

/// SHA-256 (hex) of a file's content, `None` when it does not exist.
fn file_digest(path: &std::path::Path) -> Result<Option<String>, VaultError> {
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(VaultError::Io(format!("{}: {e}", path.display()))),
    };
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| VaultError::Io(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(Some(custodia_core::audit::to_hex(&h.finalize())))
}

/// The sequence number and MAC of a ledger file's last line (0 and zeros
/// when empty).
fn last_line(f: &mut std::fs::File) -> std::io::Result<(u64, [u8; 32])> {
    let len = f.seek(SeekFrom::End(0))?;
    if len == 0 {
        return Ok((0, [0; 32]));
    }
    let back = len.min(8192);
    f.seek(SeekFrom::Start(len - back))?;
    let mut tail = Vec::with_capacity(back as usize);
    f.read_to_end(&mut tail)?;
    let text = String::from_utf8_lossy(&tail);
    let line = text.trim_end_matches('\n').rsplit('\n').next().unwrap_or_default();
    let l: LedgerLine = serde_json::from_str(line)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidData, "the last line is not a ledger entry"))?;
    let mac = hex32(&l.mac)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "the last line has no MAC"))?;
    Ok((l.seq, mac))
}

trait PrivateMode {
    fn mode_private(&mut self) -> &mut Self;
}

impl PrivateMode for std::fs::OpenOptions {
    fn mode_private(&mut self) -> &mut Self {
        std::os::unix::fs::OpenOptionsExt::mode(self, 0o600)
    }
}
