//! Customer records: one write pipeline (validate → scan free text →
//! blind-index → seal) shared by create, batch and import, and one
//! caller-aware read used by point reads, searches and exports.
//!
//! Every operation here takes its caller and decides: a customer outside
//! the caller's scope is "not found"; fields the caller may not read even
//! masked are left out; a reveal needs `reveal` of each field for the
//! declared purpose, and the purpose must be usable for the customer under
//! the notice in force (consent, restriction, objection).

pub mod deid;
pub mod export;
pub mod import;
pub mod input;

#[cfg(test)]
mod deid_tests;

use crate::access::authz::{attrs_of, Principal};
use crate::error::FieldProblem;
use crate::privacy::notice;
use crate::records::input::rfc3339;
use crate::{check_external_id, now_ms, unknown_field, CustomerView, RecordInput, RecordPatch, Vault, VaultError};
use custodia_core::accounts::{AccountKind, ApprovalState};
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::policy::Permission;
use custodia_core::{Classification, CustomerId, FieldName, Purpose, RecordContext, Validator};
use custodia_crypto::{DataKey, FieldCipher, WrappedKey};
use custodia_store::prelude::*;
use custodia_store::{Applied, Mutation, StoredCustomer};
use std::collections::BTreeMap;

/// Most records in one batch create.
pub const MAX_BATCH: usize = 1000;
/// Most records a search returns.
pub const MAX_SEARCH: usize = 1000;

/// Which values of a record are shown in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reveal {
    /// None: every personal value masked per the schema.
    None,
    /// Every field the purpose may see.
    All,
    /// Only these fields (minimum necessary).
    Fields(Vec<FieldName>),
}

/// How a record is accessed: always for a declared purpose from the
/// catalog, masked unless a reveal is asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The declared purpose.
    pub purpose: Purpose,
    /// What is shown in clear.
    pub reveal: Reveal,
    /// Why, in the reader's words (checked by [`Vault::reveal_reason`]:
    /// short, no personal data); kept in the audit event.
    pub reason: Option<String>,
}

impl Access {
    /// A masked read for `purpose`.
    pub fn masked(purpose: Purpose) -> Access {
        Access {
            purpose,
            reveal: Reveal::None,
            reason: None,
        }
    }

    /// Whether clear values are asked for.
    pub fn reveals(&self) -> bool {
        self.reveal != Reveal::None
    }
}

/// A new record, validated and sealed, ready to insert.
#[derive(Debug, Clone)]
pub(crate) struct Sealed {
    /// The stored form.
    pub customer: StoredCustomer,
    /// The fields it holds.
    pub fields: Vec<FieldName>,
    /// Consent receipts given with it.
    pub consents: Vec<custodia_store::ConsentRecord>,
    /// Vault tokens for personal information found in its free text.
    pub tokens: Vec<custodia_store::VaultToken>,
    /// Its identifiers as the suppression list of erased people keys them.
    pub suppress: Vec<custodia_store::Suppression>,
}

fn field_problem(field: &str, code: &str, message: impl Into<String>) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        code: code.into(),
        message: message.into(),
    }
}

impl Vault {
    /// A validator for today's date and the schema's region.
    pub fn validator(&self) -> Validator {
        Validator::new(self.schema().default_region(), chrono::Utc::now().date_naive())
    }

    /// Accept a purpose only if the catalog lists it; the refusal lists the
    /// accepted ones.
    pub fn purpose(&self, p: &str) -> Result<Purpose, VaultError> {
        match self.schema().purpose(p) {
            Some(d) => Ok(d.id.clone()),
            None => Err(VaultError::UnknownPurpose {
                given: p.chars().take(64).collect(),
                accepted: self.schema().purposes().iter().map(|d| d.id.to_string()).collect(),
            }),
        }
    }

    /// A declared purpose, required.
    pub fn required_purpose(&self, p: Option<&str>) -> Result<Purpose, VaultError> {
        self.purpose(p.filter(|p| !p.is_empty()).ok_or(VaultError::PurposeRequired)?)
    }

    /// Build an [`Access`] from the usual request parameters: a purpose
    /// (required), whether to reveal, and which fields (comma-separated;
    /// all when omitted).
    pub fn access(&self, purpose: Option<&str>, reveal: bool, fields: Option<&str>) -> Result<Access, VaultError> {
        let purpose = self.required_purpose(purpose)?;
        let fields = fields.filter(|f| !f.is_empty());
        if !reveal {
            if fields.is_some() {
                return Err(VaultError::Input(
                    "fields names what to reveal: it goes with reveal".into(),
                ));
            }
            return Ok(Access::masked(purpose));
        }
        let reveal = match fields {
            None => Reveal::All,
            Some(list) => {
                let mut out = Vec::new();
                let mut problems = Vec::new();
                for name in list.split(',').map(str::trim) {
                    match self.schema().field(name) {
                        Some(f) => out.push(f.name.clone()),
                        None => problems.push(unknown_field(name)),
                    }
                }
                if !problems.is_empty() {
                    return Err(VaultError::Invalid(problems));
                }
                Reveal::Fields(out)
            }
        };
        Ok(Access {
            purpose,
            reveal,
            reason: None,
        })
    }

    /// Check a reveal's stated reason: 4 to 200 characters, no control
    /// characters, and no personal information (it is kept in the audit
    /// log, which erasure never touches).
    pub fn reveal_reason(&self, reason: &str) -> Result<String, VaultError> {
        let r = reason.trim();
        let n = r.chars().count();
        let bad = |code: &str, message: String| VaultError::Invalid(vec![field_problem("reason", code, message)]);
        if n < 4 {
            return Err(bad("required", "say in a few words why you need the value".into()));
        }
        if n > 200 {
            return Err(bad("too_long", "is longer than 200 characters".into()));
        }
        if r.chars().any(char::is_control) {
            return Err(bad("control_characters", "holds control characters".into()));
        }
        no_personal_data("reason", r, "give the reason")?;
        Ok(r.to_owned())
    }

    /// The purposes for which `p`'s roles may reveal `field` for some
    /// customer in their scope: what a refusal tells the caller about their
    /// own grants (never about a customer).
    pub fn reveal_purposes(&self, p: &Principal, field: &str) -> Vec<Purpose> {
        let Some(def) = self.schema().field(field) else {
            return Vec::new();
        };
        self.schema()
            .purposes()
            .iter()
            .filter(|pd| {
                self.decide_anywhere(p, Permission::Reveal, Some(def), Some(&pd.id))
                    .allowed
            })
            .map(|pd| pd.id.clone())
            .collect()
    }

    pub(crate) fn event(&self, actor: &str, action: Action, customer: Option<CustomerId>) -> AuditEvent {
        let mut e = AuditEvent::new(now_ms(), actor, action);
        e.customer = customer;
        e
    }

    /// The internal attributes a new record will have (the scope its
    /// grants are decided in).
    fn input_attrs(&self, input: &RecordInput) -> BTreeMap<String, String> {
        input
            .fields
            .iter()
            .filter(|(k, _)| self.schema().field(k).is_some_and(|f| !f.classification.is_encrypted()))
            .map(|(k, v)| (k.clone(), v.trim().to_owned()))
            .collect()
    }

    /// Whether `p` may create `input` for `purpose`: `write` of every
    /// field it sets within the new record's scope, `record_consent` when
    /// consents come with it, and a purpose the notice describes (with its
    /// consent, when it rests on one). Pure: nothing is audited, so bulk
    /// callers can aggregate refusals.
    pub(crate) fn check_new(&self, p: &Principal, input: &RecordInput, purpose: &Purpose) -> Result<(), VaultError> {
        let attrs = self.input_attrs(input);
        for name in input.fields.keys() {
            if let Some(def) = self.schema().field(name) {
                let d = self.decide(p, Permission::Write, Some(def), Some(&attrs), Some(purpose));
                if !d.allowed {
                    return Err(self.refusal(p, Permission::Write, Some(def), Some(purpose), &d));
                }
            }
        }
        if !input.consents.is_empty() {
            let d = self.decide(p, Permission::RecordConsent, None, Some(&attrs), Some(purpose));
            if !d.allowed {
                return Err(self.refusal(p, Permission::RecordConsent, None, Some(purpose), &d));
            }
            // Each consent given needs record_consent for its own purpose.
            for given in self.given_purposes(&input.consents) {
                let d = self.decide(p, Permission::RecordConsent, None, Some(&attrs), Some(&given));
                if !d.allowed {
                    return Err(self.refusal(p, Permission::RecordConsent, None, Some(&given), &d));
                }
            }
        }
        self.check_create_purpose(input, purpose)
    }

    /// Refuse a caller who may write no field at all for `purpose` (before
    /// looking at what they sent).
    pub(crate) fn require_some_write(&self, p: &Principal, purpose: &Purpose) -> Result<(), VaultError> {
        let d = self.decide_anywhere(p, Permission::Write, None, Some(purpose));
        let any = d.allowed
            || self.schema().fields().iter().any(|f| {
                self.decide_anywhere(p, Permission::Write, Some(f), Some(purpose))
                    .allowed
            });
        if any {
            return Ok(());
        }
        let e = self.refusal(p, Permission::Write, None, Some(purpose), &d);
        self.audit_refusal(p, None, Some(purpose), &e);
        Err(e)
    }

    /// Create one customer, collected for `purpose`.
    pub fn create(&self, p: &Principal, input: &RecordInput, purpose: &Purpose) -> Result<CustomerView, VaultError> {
        let mut r = self.create_batch(p, std::slice::from_ref(input), purpose)?;
        r.pop().expect("one result per input")
    }

    /// Create up to [`MAX_BATCH`] customers collected for `purpose`; each
    /// succeeds or fails alone (its own authorization, validation and
    /// consent). A record whose external id exists already is reported as
    /// a conflict naming the existing customer.
    pub fn create_batch(
        &self,
        p: &Principal,
        inputs: &[RecordInput],
        purpose: &Purpose,
    ) -> Result<Vec<Result<CustomerView, VaultError>>, VaultError> {
        if inputs.len() > MAX_BATCH {
            return Err(VaultError::BatchTooLarge {
                max: MAX_BATCH,
                got: inputs.len(),
            });
        }
        self.require_some_write(p, purpose)?;
        let actor = p.actor();
        let validator = self.validator();
        let kek = self.current_kek()?;
        let now = now_ms();
        let notices = self.notices();
        type Checked = (Sealed, Vec<String>, Option<String>);
        let sealed: Vec<Result<Checked, VaultError>> = inputs
            .iter()
            .map(|i| {
                self.check_new(p, i, purpose).inspect_err(|e| {
                    if matches!(
                        e,
                        VaultError::Forbidden(_) | VaultError::MfaRequired(_) | VaultError::TrainingRequired { .. }
                    ) {
                        self.audit_refusal(p, None, Some(purpose), e);
                    }
                })?;
                let s = self.seal_new(i, &validator, kek, now, &notices, &actor, true)?;
                let hits = s
                    .suppress
                    .iter()
                    .map(|e| self.store().suppressed(&e.digest))
                    .filter_map(Result::transpose)
                    .collect::<Result<Vec<_>, _>>()?;
                let (warnings, readmitted) = self.erased_before(p, i, purpose, &hits).inspect_err(|e| {
                    if matches!(e, VaultError::ErasedBefore { .. }) {
                        self.audit_refusal(p, None, Some(purpose), e)
                    }
                })?;
                Ok((s, warnings, readmitted))
            })
            .collect();
        let mut muts = Vec::new();
        for (s, _, readmitted) in sealed.iter().flatten() {
            let mut e = self.event(&actor, Action::Create, Some(s.customer.id));
            e.fields = s.fields.clone();
            e.purpose = Some(purpose.clone());
            let mut events = vec![e];
            events.extend(readmitted.iter().map(|r| {
                let mut e = self.event(&actor, Action::Create, Some(s.customer.id));
                e.purpose = Some(purpose.clone());
                e.detail = Some(r.clone());
                e
            }));
            events.extend(self.consent_events(&actor, &s.consents));
            muts.push(Mutation::Insert {
                customer: Box::new(s.customer.clone()),
                consents: s.consents.clone(),
                events,
            });
        }
        // Tokens follow their records (a skipped insert leaves them out:
        // the store refuses tokens of a customer it does not hold).
        let token_muts: Vec<Mutation> = sealed
            .iter()
            .flatten()
            .map(|(s, _, _)| s)
            .filter(|s| !s.tokens.is_empty())
            .map(|s| Mutation::PutVaultTokens {
                customer: s.customer.id,
                replace: Vec::new(),
                tokens: s.tokens.clone(),
                events: Vec::new(),
            })
            .collect();
        let n_records = muts.len();
        muts.extend(token_muts);
        let mut applied = if muts.is_empty() {
            Vec::new()
        } else {
            let mut all = self.store().apply(muts)?;
            all.truncate(n_records);
            all
        }
        .into_iter();
        let mut out = Vec::with_capacity(inputs.len());
        for s in sealed {
            out.push(match s {
                Err(e) => Err(e),
                Ok((Sealed { customer: rec, .. }, warnings, _)) => {
                    match applied.next().expect("one result per mutation") {
                        Ok(Applied::Done) => self.written_view(p, &rec, purpose).map(|mut v| {
                            v.warnings = warnings;
                            v
                        }),
                        Ok(Applied::ExternalIdExists(existing)) => {
                            // Only a customer the caller may know of is named.
                            let known = self
                                .store()
                                .get(&existing)?
                                .and_then(|r| attrs_of(&r).ok().map(|a| self.sees(p, r.id, &a)))
                                .unwrap_or(false);
                            Err(VaultError::Invalid(vec![field_problem(
                                "external_id",
                                "duplicate_external_id",
                                if known {
                                    format!("belongs to existing customer {existing}")
                                } else {
                                    "belongs to an existing customer".to_owned()
                                },
                            )]))
                        }
                        Ok(other) => Err(VaultError::Io(format!("unexpected store answer {other:?}"))),
                        Err(e) => Err(e.into()),
                    }
                }
            });
        }
        Ok(out)
    }

    /// Decide a new record whose identifiers matched the suppression list
    /// of erased people (`hits`): a match on an external id or identity
    /// document refuses it, unless the input states a new collection basis
    /// and the caller may `readmit_erased` for the purpose; a match on a
    /// mobile number alone is a warning (numbers are reassigned). Returns
    /// the warnings and, for a readmission, the audit detail to record.
    pub(crate) fn erased_before(
        &self,
        p: &Principal,
        input: &RecordInput,
        purpose: &Purpose,
        hits: &[custodia_store::SuppressionHit],
    ) -> Result<(Vec<String>, Option<String>), VaultError> {
        let refusing: Vec<&custodia_store::SuppressionHit> = hits.iter().filter(|h| h.kind.refuses()).collect();
        let warnings = hits
            .iter()
            .filter(|h| !h.kind.refuses())
            .map(|h| {
                format!(
                    "{} matches that of a person erased before (tombstone {}); numbers are reassigned, so the record was created: check it is not the same person",
                    h.kind, h.tombstone
                )
            })
            .collect();
        let Some(first) = refusing.first() else {
            return Ok((warnings, None));
        };
        let mut matched: Vec<String> = refusing.iter().map(|h| h.kind.as_str().to_owned()).collect();
        matched.dedup();
        let basis = input
            .new_collection_basis
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty());
        let Some(basis) = basis else {
            return Err(VaultError::ErasedBefore {
                matched,
                tombstone: first.tombstone.clone(),
                certificate: first.certificate.clone(),
            });
        };
        if basis.chars().count() > 500 {
            return Err(VaultError::Invalid(vec![field_problem(
                "new_collection_basis",
                "too_long",
                "is longer than 500 characters",
            )]));
        }
        no_personal_data("new_collection_basis", basis, "state the basis")?;
        let attrs = self.input_attrs(input);
        let d = self.decide(p, Permission::ReadmitErased, None, Some(&attrs), Some(purpose));
        if !d.allowed {
            let e = self.refusal(p, Permission::ReadmitErased, None, Some(purpose), &d);
            self.audit_refusal(p, None, Some(purpose), &e);
            return Err(e);
        }
        Ok((
            warnings,
            Some(format!(
                "readmitted a person erased before (matched on {}; tombstone {}, certificate {}); new collection basis: {basis}",
                matched.join(", "),
                first.tombstone,
                first.certificate
            )),
        ))
    }

    /// What a writer gets back: the record masked, without the fields the
    /// caller may not read even masked for the purpose.
    fn written_view(&self, p: &Principal, rec: &StoredCustomer, purpose: &Purpose) -> Result<CustomerView, VaultError> {
        let attrs = attrs_of(rec)?;
        let mut view = self.masked_view(rec)?;
        view.fields.retain(|name, _| {
            self.schema().field(name).is_some_and(|def| {
                self.decide(p, Permission::ReadMasked, Some(def), Some(&attrs), Some(purpose))
                    .allowed
                    || self
                        .decide(p, Permission::Write, Some(def), Some(&attrs), Some(purpose))
                        .allowed
            })
        });
        Ok(view)
    }

    /// Validate and encrypt a new record, with the consents given with it
    /// (and, when `suppress`, its keys on the suppression list).
    /// Pure CPU work (no store access), so imports run it on every core.
    /// Applies the minimum-necessary rule: every personal field must be
    /// needed by a purpose of `notices` in force for this customer.
    // What one batch shares, passed as it is; a bundle would only move it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn seal_new(
        &self,
        input: &RecordInput,
        validator: &Validator,
        kek: u32,
        now: i64,
        notices: &notice::NoticeState,
        actor: &str,
        suppress: bool,
    ) -> Result<Sealed, VaultError> {
        let mut problems = Vec::new();
        let mut clear: Vec<(usize, &custodia_core::FieldDef, String)> = Vec::with_capacity(input.fields.len());
        let ctx = RecordContext::from_values(|k| input.fields.get(k).map(String::as_str));
        for (name, raw) in &input.fields {
            match self.schema().index_of(name) {
                None => problems.push(unknown_field(name)),
                Some(i) => {
                    let def = &self.schema().fields()[i];
                    if raw.trim().is_empty() {
                        continue;
                    }
                    match checked(validator, def, raw, &ctx) {
                        Ok(v) => clear.push((i, def, v)),
                        Err(p) => problems.push(p),
                    }
                }
            }
        }
        for def in self.schema().fields() {
            if def.required
                && !clear.iter().any(|(_, d, _)| d.name == def.name)
                && !problems.iter().any(|p| p.field == def.name.as_str())
            {
                problems.push(FieldProblem {
                    field: def.name.to_string(),
                    code: "required".into(),
                    message: "is required".into(),
                });
            }
        }
        let external_id = match &input.external_id {
            Some(e) => match check_external_id(e) {
                Ok(v) => Some(v),
                Err(p) => {
                    problems.push(p);
                    None
                }
            },
            None => None,
        };
        let mut random = [0u8; 10];
        rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut random);
        let id = CustomerId::from_parts(now as u64, random);
        let mut receipts = Vec::with_capacity(input.consents.len());
        if problems.is_empty() {
            // Age matters only for the consents given with the record.
            let age = notices.current().filter(|_| !input.consents.is_empty()).and_then(|n| {
                let values: BTreeMap<String, String> =
                    clear.iter().map(|(_, d, v)| (d.name.to_string(), v.clone())).collect();
                self.age_of(n, &values)
            });
            for (i, c) in input.consents.iter().enumerate() {
                match self.prepare_receipt(notices, id, age, c, &format!("consents[{i}]"), actor, now) {
                    Ok(r) if r.given => receipts.push(r),
                    Ok(_) => problems.push(FieldProblem {
                        field: format!("consents[{i}].action"),
                        code: "withdraw_on_create".into(),
                        message: "a new customer has no consent to withdraw".into(),
                    }),
                    Err(p) => problems.push(p),
                }
            }
            let given: Vec<&str> = receipts.iter().map(|r| r.purpose.as_str()).collect();
            let names: Vec<&FieldName> = clear.iter().map(|(_, d, _)| &d.name).collect();
            problems.extend(self.unnecessary(notices, &names, &|p| given.contains(&p.as_str())));
        }
        if !problems.is_empty() {
            return Err(VaultError::Invalid(problems));
        }
        let dk = DataKey::generate();
        let cipher = dk.cipher(id, 1);
        let wrapped = self.keys().kek(kek)?.wrap(&id, &dk);
        let tokens = self.scan_values(id, &cipher, clear.iter_mut().map(|(_, d, v)| (*d, v)), now)?;
        let mut placed = Placed::default();
        for (i, def, v) in &clear {
            self.place(&mut placed, *i, def, v);
        }
        let names = clear.iter().map(|(_, d, _)| d.name.clone()).collect();
        // Only when there is a list to look them up in.
        let suppress = if suppress {
            self.suppression_entries(
                external_id.as_deref(),
                clear.iter().map(|(_, d, v)| (&d.name, v.as_str())),
            )
        } else {
            Vec::new()
        };
        Ok(Sealed {
            customer: StoredCustomer {
                id,
                external_id,
                version: 1,
                kek_version: kek,
                dk_version: 1,
                wrapped_dk: wrapped.0,
                sealed: placed.seal(&cipher, self.schema().fields()),
                attrs: serde_json::to_string(&placed.attrs).expect("string map serializes"),
                blind: placed.blind,
                created_ms: now,
                updated_ms: now,
                flags: 0,
            },
            fields: names,
            consents: receipts,
            tokens,
            suppress,
        })
    }

    pub(crate) fn cipher_for(&self, rec: &StoredCustomer) -> Result<FieldCipher, VaultError> {
        let kek = self.keys().kek(rec.kek_version)?;
        let dk = kek.unwrap_key(&rec.id, &WrappedKey(rec.wrapped_dk.clone()))?;
        Ok(dk.cipher(rec.id, rec.dk_version))
    }

    /// Decrypt a stored record into clear values (normalized form).
    pub(crate) fn decrypt(&self, rec: &StoredCustomer) -> Result<BTreeMap<String, String>, VaultError> {
        let mut out = attrs_of(rec)?;
        let cipher = self.cipher_for(rec)?;
        let fields = self.schema().fields();
        for (code, pt) in cipher.open_record(&rec.sealed, &|c| fields.get(c as usize).map(|f| &f.name))? {
            let v = String::from_utf8(pt).map_err(|_| custodia_crypto::CryptoError::Decrypt)?;
            out.insert(fields[code as usize].name.to_string(), v);
        }
        Ok(out)
    }

    fn view_from(
        &self,
        rec: &StoredCustomer,
        clear: &BTreeMap<String, String>,
        reveal: &Reveal,
        purpose: Option<&Purpose>,
    ) -> CustomerView {
        let mut fields = BTreeMap::new();
        let mut revealed = Vec::new();
        for def in self.schema().fields() {
            let Some(v) = clear.get(def.name.as_str()) else {
                continue;
            };
            let internal = def.classification == Classification::Internal;
            let show = internal
                || match reveal {
                    Reveal::None => false,
                    Reveal::All => true,
                    Reveal::Fields(f) => f.contains(&def.name),
                };
            if show && !internal {
                revealed.push(def.name.clone());
            }
            fields.insert(def.name.to_string(), if show { v.clone() } else { def.mask.apply(v) });
        }
        CustomerView {
            id: rec.id,
            external_id: rec.external_id.clone(),
            version: rec.version,
            created_at: rfc3339(rec.created_ms),
            updated_at: rfc3339(rec.updated_ms),
            fields,
            revealed,
            purpose: purpose.filter(|_| !matches!(reveal, Reveal::None)).cloned(),
            warnings: Vec::new(),
        }
    }

    /// Every field masked (internal fields in clear), with no purpose gate:
    /// what a writer gets back, before caller filtering.
    pub(crate) fn masked_view(&self, rec: &StoredCustomer) -> Result<CustomerView, VaultError> {
        let clear = self.decrypt(rec)?;
        Ok(self.view_from(rec, &clear, &Reveal::None, None))
    }

    /// The view of a record under `access`, with no caller checks: the
    /// purpose must be described in the notice in force and, when it rests
    /// on consent, consented to; the view holds only the personal fields the
    /// notice lists for it (purpose limitation).
    pub(crate) fn view(&self, rec: &StoredCustomer, access: &Access) -> Result<CustomerView, VaultError> {
        let mut clear = self.decrypt(rec)?;
        let p = &access.purpose;
        let allowed = self.gate(rec.id, rec.flags, &clear, p)?;
        if let Reveal::Fields(asked) = &access.reveal {
            let outside: Vec<String> = asked
                .iter()
                .filter(|f| !allowed.contains(*f))
                .filter(|f| {
                    self.schema()
                        .field(f.as_str())
                        .is_some_and(|d| d.classification.is_encrypted())
                })
                .map(|f| f.to_string())
                .collect();
            if !outside.is_empty() {
                return Err(VaultError::PurposeLimitation {
                    purpose: p.to_string(),
                    version: self.notices().current().map(|n| n.version).unwrap_or(0),
                    fields: outside,
                });
            }
        }
        let schema = self.schema();
        clear.retain(|name, _| {
            schema
                .field(name)
                .is_some_and(|d| !d.classification.is_encrypted() || allowed.contains(&d.name))
        });
        Ok(self.view_from(rec, &clear, &access.reveal, Some(p)))
    }

    /// The refusal for a caller who may use none of a record's fields for
    /// the purpose: an MFA or training gate if one stands in the way, else
    /// "no grant".
    fn refuse_record(
        &self,
        p: &Principal,
        attrs: &BTreeMap<String, String>,
        access: &Access,
        id: CustomerId,
    ) -> VaultError {
        let purpose = Some(&access.purpose);
        let gated = self.schema().fields().iter().find_map(|f| {
            [Permission::ReadMasked, Permission::Reveal]
                .into_iter()
                .find_map(|perm| {
                    let d = self.decide(p, perm, Some(f), Some(attrs), purpose);
                    d.rule.is_some().then_some((perm, f, d))
                })
        });
        let e = match gated {
            Some((perm, f, d)) => self.refusal(p, perm, Some(f), purpose, &d),
            None => {
                let d = self.decide(p, Permission::ReadMasked, None, Some(attrs), purpose);
                self.refusal(p, Permission::ReadMasked, None, purpose, &d)
            }
        };
        self.audit_refusal(p, Some(id), purpose, &e);
        e
    }

    /// A record's view as `p` may see it: fields without `read_masked` are
    /// left out, reveals are checked field by field (any refusal fails the
    /// whole request, naming the field). The caller must see the record
    /// (see [`Vault::visible`]); authorization comes before consent, so a
    /// caller the policy does not let use the purpose learns nothing about
    /// the customer's consents.
    pub(crate) fn view_as(
        &self,
        p: &Principal,
        rec: &StoredCustomer,
        attrs: &BTreeMap<String, String>,
        access: &Access,
    ) -> Result<CustomerView, VaultError> {
        let purpose = Some(&access.purpose);
        let may = |perm, f| self.decide(p, perm, Some(f), Some(attrs), purpose).allowed;
        let any = self
            .schema()
            .fields()
            .iter()
            .any(|f| may(Permission::ReadMasked, f) || may(Permission::Reveal, f));
        if !any {
            return Err(self.refuse_record(p, attrs, access, rec.id));
        }
        let mut view = self.view(rec, access)?;
        for name in &view.revealed {
            let def = self.schema().field(name.as_str()).expect("a schema field");
            self.require(p, Permission::Reveal, Some(def), Some(attrs), purpose, Some(rec.id))?;
        }
        let revealed = view.revealed.clone();
        view.fields.retain(|name, _| {
            revealed.iter().any(|r| r.as_str() == name)
                || self
                    .schema()
                    .field(name)
                    .is_some_and(|def| may(Permission::ReadMasked, def))
        });
        if view.fields.is_empty() {
            return Err(self.refuse_record(p, attrs, access, rec.id));
        }
        Ok(view)
    }

    pub(crate) fn read_event(&self, actor: &str, access: &Access, view: &CustomerView) -> AuditEvent {
        let mut e = if access.reveals() {
            let mut e = self.event(actor, Action::Reveal, Some(view.id));
            e.fields = view.revealed.clone();
            e
        } else {
            self.event(actor, Action::Read, Some(view.id))
        };
        e.purpose = Some(access.purpose.clone());
        if let Some(r) = &access.reason {
            e.detail = Some(format!("reason: {r}"));
        }
        e
    }

    /// Read one customer as `p`.
    pub fn get(&self, p: &Principal, id: &str, access: &Access) -> Result<CustomerView, VaultError> {
        let (view, pending) = self.get_submitted(p, id, access)?;
        for r in pending.wait()? {
            r?;
        }
        Ok(view)
    }

    /// Read one customer as `p` and submit its audit event; the caller must
    /// wait for the returned [`custodia_store::Pending`] before showing the
    /// view to anyone (the event must be durable first).
    pub fn get_submitted(
        &self,
        p: &Principal,
        id: &str,
        access: &Access,
    ) -> Result<(CustomerView, custodia_store::Pending), VaultError> {
        let (rec, attrs) = self.visible(p, id)?;
        let view = self.view_as(p, &rec, &attrs, access).inspect_err(|e| {
            if !matches!(
                e,
                VaultError::Forbidden(_) | VaultError::MfaRequired(_) | VaultError::TrainingRequired { .. }
            ) {
                // Consent, purpose and notice refusals are audited here
                // (policy refusals were audited where they were decided).
                self.audit_refusal(p, Some(rec.id), Some(&access.purpose), e);
            }
        })?;
        let pending = self
            .store()
            .submit(vec![Mutation::Audit(vec![self.read_event(&p.actor(), access, &view)])]);
        Ok((view, pending))
    }

    /// Exact-match search on a searchable field as `p`. Customers outside
    /// the caller's scope, and those the purpose may not be used for (no
    /// consent, restriction, objection), are not found: a search is no
    /// oracle and no way around a missing consent.
    pub fn find(
        &self,
        p: &Principal,
        field: &str,
        value: &str,
        access: &Access,
        limit: usize,
    ) -> Result<Vec<CustomerView>, VaultError> {
        Ok(self.find_from(p, field, value, access, 0, limit)?.0)
    }

    /// [`Vault::find`] from the `skip`-th customer the caller may see on:
    /// a later page of the same search (each page is audited as shown,
    /// with where it starts), and whether more customers follow (looked
    /// for, not read: only what is returned is audited as read).
    pub fn find_from(
        &self,
        p: &Principal,
        field: &str,
        value: &str,
        access: &Access,
        skip: usize,
        limit: usize,
    ) -> Result<(Vec<CustomerView>, bool), VaultError> {
        let cap = limit.clamp(1, MAX_SEARCH);
        let mut more = false;
        let def = self
            .schema()
            .field(field)
            .ok_or_else(|| VaultError::Invalid(vec![unknown_field(field)]))?
            .clone();
        if !def.searchable {
            return Err(VaultError::NotSearchable(field.into()));
        }
        let purpose = &access.purpose;
        let d = self.decide_anywhere(p, Permission::ReadMasked, Some(&def), Some(purpose));
        if !d.allowed {
            let e = self.refusal(p, Permission::ReadMasked, Some(&def), Some(purpose), &d);
            self.audit_refusal(p, None, Some(purpose), &e);
            return Err(e);
        }
        let actor = p.actor();
        let mut search = self.event(&actor, Action::Search, None);
        search.fields = vec![def.name.clone()];
        search.purpose = Some(purpose.clone());
        let mut out = Vec::new();
        let mut without_consent = 0;
        let mut skipped = 0;
        let forms = self.search_forms(&def, value);
        let invalid = forms.is_empty();
        let mut seen = std::collections::HashSet::new();
        'forms: for normalized in forms {
            for rec in self.lookup(&def, &normalized)? {
                if !seen.insert(rec.id) {
                    continue;
                }
                let attrs = attrs_of(&rec)?;
                if !self.sees(p, rec.id, &attrs)
                    || !self
                        .decide(p, Permission::ReadMasked, Some(&def), Some(&attrs), Some(purpose))
                        .allowed
                {
                    continue;
                }
                if skipped < skip {
                    // Shown on an earlier page (and audited there); still
                    // checked, so a page boundary is no way around a rule.
                    match self.view_as(p, &rec, &attrs, access) {
                        Ok(_) => skipped += 1,
                        Err(VaultError::ConsentRequired { .. } | VaultError::ProcessingStopped { .. }) => {}
                        Err(e) => return Err(e),
                    }
                    continue;
                }
                let full = out.len() >= cap;
                match self.view_as(p, &rec, &attrs, access) {
                    // One more the caller may see: not returned, not read.
                    Ok(_) if full => {
                        more = true;
                        break 'forms;
                    }
                    Ok(v) => out.push(v),
                    Err(VaultError::ConsentRequired { .. } | VaultError::ProcessingStopped { .. }) => {
                        if !full {
                            without_consent += 1;
                        }
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        // An invalid value cannot be stored, so it matches nothing.
        let from = if skip > 0 {
            format!(" from={skip}")
        } else {
            String::new()
        };
        search.detail = Some(match (invalid, without_consent) {
            (true, _) => "matches=0 invalid_value".into(),
            (false, 0) => format!("matches={}{from}", out.len()),
            (false, n) => format!("matches={}{from} left_out_without_consent={n}", out.len()),
        });
        let mut events = vec![search];
        events.extend(out.iter().map(|v| self.read_event(&actor, access, v)));
        self.audit(events)?;
        Ok((out, more))
    }

    /// The records whose `def` field equals the normalized value: blind-index
    /// candidates, confirmed by decrypting (indexes may collide). Not audited
    /// and not authorized: callers decide and record the access.
    pub(crate) fn lookup(
        &self,
        def: &custodia_core::FieldDef,
        normalized: &str,
    ) -> Result<Vec<StoredCustomer>, VaultError> {
        use custodia_core::normalize::search_key;
        let key = search_key(def.kind, normalized);
        let hash = self.keys().blind(def.name.as_str()).index(&key);
        let mut out = Vec::new();
        for rec in self.store().find_blind(&def.name, hash)? {
            let stored = if def.classification.is_encrypted() {
                let code = self.schema().index_of(def.name.as_str()).expect("a schema field") as u8;
                self.cipher_for(&rec)?
                    .open_field(&rec.sealed, code, &def.name)?
                    .map(|b| zeroize::Zeroizing::new(String::from_utf8_lossy(&b).into_owned()))
            } else {
                self.decrypt(&rec)?
                    .get(def.name.as_str())
                    .cloned()
                    .map(zeroize::Zeroizing::new)
            };
            let same = stored.is_some_and(|v| search_key(def.kind, &v) == key);
            if same {
                out.push(rec);
            }
        }
        Ok(out)
    }

    /// The stored forms a searched value may have: its normalized form, or
    /// for an identity document one per kind that reads it (a search has
    /// no record to say the kind). Empty when no form is valid.
    fn search_forms(&self, def: &custodia_core::FieldDef, value: &str) -> Vec<String> {
        if def.kind == custodia_core::FieldType::IdDocument {
            let folded = custodia_core::normalize::fold_width(value);
            return custodia_core::iddoc::search_forms(&folded, chrono::Utc::now().date_naive());
        }
        self.validator().check(def, value).into_iter().collect()
    }

    /// Normalize and validate a value for `field` (as a write would).
    pub fn normalize(&self, field: &str, value: &str) -> Result<String, VaultError> {
        let def = self
            .schema()
            .field(field)
            .ok_or_else(|| VaultError::Invalid(vec![unknown_field(field)]))?;
        self.validator()
            .check(def, value)
            .map_err(|e| VaultError::Invalid(vec![field_problem(field, e.code(), e.to_string())]))
    }

    /// Record counts: customers, and customers under an old KEK. Needs
    /// `manage_keys` or `read_audit`.
    pub fn counts(&self, p: &Principal) -> Result<(u64, u64), VaultError> {
        self.require_any_admin(p, &[Permission::ManageKeys, Permission::ReadAudit])?;
        let kek = self.refresh_kek()?;
        Ok(self.store().counts(kek)?)
    }

    /// Change fields of a customer for a declared purpose. With
    /// `expected_version`, refuse if the record changed since the caller
    /// read it. The caller needs `write` of every field named; the purpose
    /// must be usable for this customer and list every personal field set;
    /// and whatever the purpose, each field set must be needed by a purpose
    /// in force for the customer (minimum necessary).
    pub fn update(
        &self,
        p: &Principal,
        id: &str,
        patch: &RecordPatch,
        expected_version: Option<i64>,
        purpose: &Purpose,
    ) -> Result<CustomerView, VaultError> {
        let id = crate::parse_customer(id)?;
        let validator = self.validator();
        let mut problems = Vec::new();
        let mut named: Vec<(&custodia_core::FieldDef, Option<&str>)> = Vec::new();
        for (name, value) in patch {
            match self.schema().field(name) {
                None => problems.push(unknown_field(name)),
                Some(def) => match value.as_deref().map(str::trim) {
                    None | Some("") if def.required => problems.push(FieldProblem {
                        field: name.clone(),
                        code: "required".into(),
                        message: "is required and cannot be removed".into(),
                    }),
                    None | Some("") => named.push((def, None)),
                    Some(raw) => named.push((def, Some(raw))),
                },
            }
        }
        if !problems.is_empty() {
            return Err(VaultError::Invalid(problems));
        }
        if named.is_empty() {
            return Err(VaultError::Input("the update names no fields".into()));
        }
        let (rec, old_attrs) = self.visible(p, &id.to_string())?;
        // Values are read in the record as it will be: its country, locale
        // and document kind after the change.
        let ctx = RecordContext::from_values(|k| match patch.get(k) {
            Some(v) => v.as_deref(),
            None => old_attrs.get(k).map(String::as_str),
        });
        let mut changes: Vec<(&custodia_core::FieldDef, Option<String>)> = Vec::new();
        for (def, raw) in named {
            match raw.map(|r| checked(&validator, def, r, &ctx)).transpose() {
                Ok(v) => changes.push((def, v)),
                Err(p) => problems.push(p),
            }
        }
        if !problems.is_empty() {
            return Err(VaultError::Invalid(problems));
        }
        // The caller must be allowed to write every field named, in the
        // customer's scope before and after the change (an update cannot
        // move a customer out of reach, or into someone else's).
        let mut new_attrs = old_attrs.clone();
        for (def, v) in &changes {
            if !def.classification.is_encrypted() {
                match v {
                    Some(v) => new_attrs.insert(def.name.to_string(), v.clone()),
                    None => new_attrs.remove(def.name.as_str()),
                };
            }
        }
        for (def, _) in &changes {
            for attrs in [&old_attrs, &new_attrs] {
                self.require(p, Permission::Write, Some(def), Some(attrs), Some(purpose), Some(id))?;
            }
        }
        if let Some(v) = expected_version {
            if v != rec.version {
                return Err(VaultError::VersionConflict { current: rec.version });
            }
        }
        let set: Vec<&FieldName> = changes
            .iter()
            .filter(|(_, v)| v.is_some())
            .map(|(d, _)| &d.name)
            .collect();
        // Contacts portal codes go to whose value really changes, with the
        // value they had (to tell the customer there).
        let contact_changed: Vec<(custodia_core::FieldType, Option<zeroize::Zeroizing<String>>)>;
        let warnings;
        {
            let current = self.decrypt(&rec)?;
            contact_changed = changes
                .iter()
                .filter(|(d, v)| {
                    matches!(
                        d.kind,
                        custodia_core::FieldType::Email | custodia_core::FieldType::Phone
                    ) && current.get(d.name.as_str()) != v.as_ref()
                })
                .map(|(d, _)| {
                    (
                        d.kind,
                        current.get(d.name.as_str()).cloned().map(zeroize::Zeroizing::new),
                    )
                })
                .collect();
            let limited = self.gate(id, rec.flags, &current, purpose).and_then(|allowed| {
                let outside: Vec<String> = set
                    .iter()
                    .filter(|f| !allowed.contains(**f))
                    .filter(|f| {
                        self.schema
                            .field(f.as_str())
                            .is_some_and(|d| d.classification.is_encrypted())
                    })
                    .map(|f| f.to_string())
                    .collect();
                if outside.is_empty() {
                    Ok(())
                } else {
                    Err(VaultError::PurposeLimitation {
                        purpose: purpose.to_string(),
                        version: self.notices().current().map(|n| n.version).unwrap_or(0),
                        fields: outside,
                    })
                }
            });
            if let Err(e) = limited {
                self.audit_refusal(p, Some(id), Some(purpose), &e);
                return Err(e);
            }
            let notices = self.notices();
            // The customer's consents are looked up only when a field is not
            // needed by a purpose that rests on something else.
            if !self.unnecessary(&notices, &set, &|_| false).is_empty() {
                let age = notices.current().and_then(|n| self.age_of(n, &current));
                let consented = self.consented_purposes(&notices, id, age)?;
                let problems = self.unnecessary(&notices, &set, &|p| consented.contains(p));
                if !problems.is_empty() {
                    return Err(VaultError::Invalid(problems));
                }
            }
            // A change of country, locale or document kind reads the
            // record's identity documents again, as it will be.
            if patch.keys().any(|k| RecordContext::depends_on(k)) {
                let mut again = Vec::new();
                for def in self
                    .schema()
                    .fields()
                    .iter()
                    .filter(|d| d.kind == custodia_core::FieldType::IdDocument)
                    .filter(|d| !changes.iter().any(|(c, _)| c.name == d.name))
                {
                    if let Some(v) = current.get(def.name.as_str()) {
                        if let Err(mut e) = checked(&validator, def, v, &ctx) {
                            e.message = format!(
                                "{}, read as the record will be after this change (set it in the same update)",
                                e.message
                            );
                            again.push(e);
                        }
                    }
                }
                if !again.is_empty() {
                    return Err(VaultError::Invalid(again));
                }
            }
            // An identifier of a person erased before is not put on a
            // record by an update either (a new record may be readmitted).
            let entries = self.suppression_entries(
                None,
                changes.iter().filter_map(|(d, v)| v.as_deref().map(|v| (&d.name, v))),
            );
            let hits = entries
                .iter()
                .map(|e| self.store().suppressed(&e.digest))
                .filter_map(Result::transpose)
                .collect::<Result<Vec<_>, _>>()?;
            let as_input = RecordInput {
                fields: new_attrs.clone(),
                ..Default::default()
            };
            warnings = self
                .erased_before(p, &as_input, purpose, &hits)
                .inspect_err(|e| {
                    if matches!(e, VaultError::ErasedBefore { .. }) {
                        self.audit_refusal(p, Some(id), Some(purpose), e)
                    }
                })?
                .0;
        }
        // Every field is re-sealed under a fresh base nonce (see the record
        // format in custodia-crypto), so the current values are opened first.
        let cipher = self.cipher_for(&rec)?;
        let fields = self.schema().fields();
        let mut placed = Placed {
            sealed: cipher
                .open_record(&rec.sealed, &|c| fields.get(c as usize).map(|f| &f.name))?
                .into_iter()
                .collect(),
            attrs: old_attrs,
            blind: rec.blind.clone(),
        };
        // Free text is scanned as on creation; the field's earlier tokens
        // go with its earlier text.
        let now = now_ms();
        let rescanned: Vec<String> = changes
            .iter()
            .filter(|(d, _)| d.scan.is_some())
            .map(|(d, _)| d.name.to_string())
            .collect();
        let tokens = self.scan_values(
            id,
            &cipher,
            changes.iter_mut().filter_map(|(d, v)| v.as_mut().map(|v| (*d, v))),
            now,
        )?;
        for (def, value) in &changes {
            let code = self.schema().index_of(def.name.as_str()).expect("a schema field");
            placed.remove(code, def);
            if let Some(v) = value {
                self.place(&mut placed, code, def, v);
            }
        }
        let updated = StoredCustomer {
            sealed: placed.seal(&cipher, fields),
            attrs: serde_json::to_string(&placed.attrs).expect("string map serializes"),
            blind: placed.blind,
            updated_ms: now,
            ..rec.clone()
        };
        let mut e = self.event(&p.actor(), Action::Update, Some(id));
        e.fields = changes.iter().map(|(d, _)| d.name.clone()).collect();
        e.purpose = Some(purpose.clone());
        let mut muts = vec![Mutation::Update {
            customer: Box::new(updated.clone()),
            events: vec![e],
        }];
        if !rescanned.is_empty() {
            muts.push(Mutation::PutVaultTokens {
                customer: id,
                replace: rescanned,
                tokens,
                events: Vec::new(),
            });
        }
        // Staff changed a contact portal codes go to: none goes there for a
        // while, never one from whoever set it, and the customer is told
        // at the contact they had; or whoever may edit contacts could send
        // a customer's portal to an address of their own.
        let mut notify = Vec::new();
        if p.customer().is_none() {
            for channel in crate::privacy::delivery::Channel::ALL {
                let Some((_, old)) = contact_changed.iter().find(|(k, _)| *k == channel.field_type()) else {
                    continue;
                };
                muts.extend(self.contact_change_rows(p, id, channel, now));
                if let Some(old) = old {
                    notify.push((channel, old.clone()));
                }
            }
        }
        let applied = self.apply_one(muts)?.into_iter().next();
        if matches!(applied, Some(Applied::Done)) {
            for (channel, old) in notify {
                self.notify_contact_change(&p.actor(), id, channel, &old);
            }
        }
        match applied {
            Some(Applied::Done) => self
                .written_view(
                    p,
                    &StoredCustomer {
                        version: rec.version + 1,
                        ..updated
                    },
                    purpose,
                )
                .map(|mut v| {
                    v.warnings = warnings;
                    v
                }),
            Some(Applied::VersionConflict(current)) => Err(VaultError::VersionConflict { current }),
            Some(Applied::NotFound) => Err(VaultError::NotFound(id.to_string())),
            other => Err(VaultError::Io(format!("unexpected store answer {other:?}"))),
        }
    }
}

/// One value checked and normalized by its field's definition: the first
/// step of the write pipeline that creation, batches, imports and updates
/// share (check → scan free text → blind-index → seal).
fn checked(
    validator: &Validator,
    def: &custodia_core::FieldDef,
    raw: &str,
    ctx: &RecordContext,
) -> Result<String, FieldProblem> {
    validator.check_in(def, raw, ctx).map_err(|e| FieldProblem {
        field: def.name.to_string(),
        code: e.code().into(),
        message: e.to_string(),
    })
}

/// A record's values where they are stored: personal and sensitive ones
/// sealed (by field code), internal ones in clear, searchable ones also
/// blind-indexed.
#[derive(Default)]
struct Placed {
    sealed: BTreeMap<u8, Vec<u8>>,
    attrs: BTreeMap<String, String>,
    blind: Vec<(FieldName, i64)>,
}

impl Placed {
    /// Forget field `code`'s value (before it is set again or removed).
    fn remove(&mut self, code: usize, def: &custodia_core::FieldDef) {
        self.sealed.remove(&(code as u8));
        self.attrs.remove(def.name.as_str());
        self.blind.retain(|(n, _)| n != &def.name);
    }

    /// The sealed values as one record ciphertext.
    fn seal(&self, cipher: &FieldCipher, fields: &[custodia_core::FieldDef]) -> Vec<u8> {
        let items: Vec<(u8, &FieldName, &[u8])> = self
            .sealed
            .iter()
            .map(|(c, v)| (*c, &fields[*c as usize].name, v.as_slice()))
            .collect();
        cipher.seal_record(&items)
    }
}

impl Vault {
    /// Scan free-text values as the schema says (personal information in
    /// them redacted, tokenized or refused); the tokens made, or every
    /// refusal at once.
    fn scan_values<'a>(
        &self,
        id: CustomerId,
        cipher: &FieldCipher,
        values: impl Iterator<Item = (&'a custodia_core::FieldDef, &'a mut String)>,
        now: i64,
    ) -> Result<Vec<custodia_store::VaultToken>, VaultError> {
        let mut tokens = Vec::new();
        let mut problems = Vec::new();
        for (def, v) in values {
            let Some(action) = def.scan else { continue };
            match self.scan_free_text(id, cipher, &def.name, action, v, now) {
                Ok((text, t)) => {
                    *v = text;
                    tokens.extend(t);
                }
                Err(p) => problems.push(p),
            }
        }
        if problems.is_empty() {
            Ok(tokens)
        } else {
            Err(VaultError::Invalid(problems))
        }
    }

    /// Put field `code`'s checked value where it is stored.
    fn place(&self, placed: &mut Placed, code: usize, def: &custodia_core::FieldDef, v: &str) {
        if let Some(b) = self.blind_at(code) {
            let key = custodia_core::normalize::search_key(def.kind, v);
            placed.blind.push((def.name.clone(), b.index(&key)));
        }
        if def.classification.is_encrypted() {
            placed.sealed.insert(code as u8, v.as_bytes().to_vec());
        } else {
            placed.attrs.insert(def.name.to_string(), v.to_owned());
        }
    }
}

/// Any one of these lets a caller read `custodia status` (and what it is
/// made of, such as the calendars' coverage).
pub(crate) const STATUS_PERMISSIONS: &[Permission] = &[
    Permission::ManageKeys,
    Permission::ReadAudit,
    Permission::ManageAccounts,
    Permission::ManagePolicy,
    Permission::HandleRequests,
];

/// Refuse a text bound for the audit log (which erasure never touches)
/// when the PII detector finds personal information in it; `how` starts
/// the advice ("give the reason", "state the basis").
fn no_personal_data(field: &str, text: &str, how: &str) -> Result<(), VaultError> {
    let found: Vec<&str> = custodia_deid::detect(text)
        .iter()
        .filter(|f| f.score >= 0.5)
        .map(|f| f.kind.as_str())
        .collect();
    if found.is_empty() {
        return Ok(());
    }
    Err(VaultError::Invalid(vec![field_problem(
        field,
        "personal_data",
        format!(
            "holds personal information ({}); {how} without it (it is kept in the audit log)",
            found.join(", ")
        ),
    )]))
}

/// What `custodia status` shows: counts, keys, and the state of the
/// controls a reviewer asks about first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Status {
    /// The data directory.
    pub data_dir: String,
    /// Customers held.
    pub customers: u64,
    /// The KEK version new keys are wrapped under.
    pub kek_version: u32,
    /// Customers whose data key is still wrapped under an older KEK.
    pub customers_under_old_kek: u64,
    /// Audit events.
    pub audit_events: u64,
    /// The notice version in force.
    pub notice_version: Option<u32>,
    /// Where the bootstrap token stands.
    pub bootstrap_token: crate::operations::bootstrap::BootstrapStatus,
    /// Break-glass tokens that still work.
    pub break_glass_tokens_active: Vec<String>,
    /// Request kinds whose verifier may not also complete them; empty
    /// means the control is off.
    pub verifier_cannot_complete: Vec<String>,
    /// Warnings worth acting on.
    pub warnings: Vec<String>,
}

impl Vault {
    /// The data directory's status. Needs one of `manage_keys`,
    /// `read_audit`, `manage_accounts`, `manage_policy`, `handle_requests`.
    pub fn status(&self, p: &Principal) -> Result<Status, VaultError> {
        self.require_any_admin(p, STATUS_PERMISSIONS)?;
        let kek = self.refresh_kek()?;
        let (customers, stale) = self.store().counts(kek)?;
        let (events, _) = self.store().audit_head()?;
        let now = now_ms();
        let break_glass: Vec<String> = self
            .store()
            .tokens()?
            .into_iter()
            .filter(|t| {
                !t.revoked
                    && t.expires_ms > now
                    && t.scopes.iter().any(|s| s == crate::access::authz::BREAK_GLASS_SCOPE)
            })
            .map(|t| t.id)
            .collect();
        let sod: Vec<String> = self
            .policy()
            .separation()
            .verifier_cannot_complete
            .iter()
            .map(|k| k.as_str().to_owned())
            .collect();
        let mut warnings = Vec::new();
        if sod.is_empty() {
            warnings.push(
                "separation of duties is off: the person who verifies a requester may also complete access and erasure requests ([separation_of_duties] in policy.toml)"
                    .into(),
            );
        }
        if !break_glass.is_empty() {
            warnings.push(format!("{} break-glass token(s) are open", break_glass.len()));
        }
        let accounts = self.store().accounts()?;
        let no_address: Vec<&str> = accounts
            .iter()
            .filter(|a| a.kind == AccountKind::Staff && a.deleted_ms.is_none() && !a.disabled && a.email.is_none())
            .map(|a| a.name.as_str())
            .collect();
        if !no_address.is_empty() {
            warnings.push(format!(
                "{} staff account(s) have no e-mail address on file ({}): their first password was set by whoever created them and they enroll MFA on their own after signing in; record an address (custodia user email NAME ADDRESS) so links reach the person",
                no_address.len(),
                no_address.iter().take(5).copied().collect::<Vec<_>>().join(", ")
            ));
        }
        let pending = self
            .store()
            .approvals()?
            .into_iter()
            .filter(|a| a.state == ApprovalState::Pending)
            .count();
        if pending > 0 {
            warnings.push(format!(
                "{pending} change(s) wait for a second person's approval (custodia user approvals)"
            ));
        }
        warnings.extend(self.legal_warnings()?);
        let bootstrap = self.bootstrap_status()?;
        if bootstrap == crate::operations::bootstrap::BootstrapStatus::Active {
            warnings
                .push("no administrator exists yet: create one with the bootstrap token (POST /v1/accounts)".into());
        }
        Ok(Status {
            data_dir: self.dir().root().display().to_string(),
            customers,
            kek_version: kek,
            customers_under_old_kek: stale,
            audit_events: events,
            notice_version: self.notices().current().map(|n| n.version),
            bootstrap_token: bootstrap,
            break_glass_tokens_active: break_glass,
            verifier_cannot_complete: sod,
            warnings,
        })
    }
}

impl Vault {
    /// Customer ids in creation order from the opaque `cursor` (0: the
    /// start; at most `limit`, 10,000), among the customers the caller
    /// sees, with the cursor to continue from: for paging through the
    /// records one may read. Needs `read_masked` for `purpose` in some
    /// scope; audited as a search (no personal data is returned).
    pub fn list_customers(
        &self,
        p: &Principal,
        purpose: &Purpose,
        cursor: i64,
        limit: usize,
    ) -> Result<(Vec<CustomerId>, i64), VaultError> {
        let d = self.decide_anywhere(p, Permission::ReadMasked, None, Some(purpose));
        let some_field = d.allowed
            || self.schema().fields().iter().any(|f| {
                self.decide_anywhere(p, Permission::ReadMasked, Some(f), Some(purpose))
                    .allowed
            });
        if !some_field {
            let e = self.refusal(p, Permission::ReadMasked, None, Some(purpose), &d);
            self.audit_refusal(p, None, Some(purpose), &e);
            return Err(e);
        }
        let limit = limit.clamp(1, 10_000);
        let mut cursor = cursor.max(0);
        let mut out = Vec::with_capacity(limit);
        while out.len() < limit {
            let (page, next) = self.store().scan(cursor, limit - out.len())?;
            if page.is_empty() {
                break;
            }
            cursor = next;
            for r in page {
                if self.sees(p, r.id, &attrs_of(&r)?) {
                    out.push(r.id);
                }
            }
        }
        let mut e = self.event(&p.actor(), Action::Search, None);
        e.purpose = Some(purpose.clone());
        e.detail = Some(format!("list of customer ids: {}", out.len()));
        self.audit(vec![e])?;
        Ok((out, cursor))
    }
}
