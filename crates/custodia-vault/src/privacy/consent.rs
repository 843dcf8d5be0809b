//! Consent: recording answers as append-only receipts, deciding whether a
//! purpose may be used for a customer, the minimum-necessary rule on
//! writes, signed receipts a third party can verify, and statistics.
//!
//! The rules themselves (which kind of consent a processing needs, when a
//! notice change is material) live in `custodia-core`; this module applies
//! them to stored records.

use crate::access::authz::Principal;
use crate::error::FieldProblem;
use crate::privacy::notice::NoticeState;
use crate::{now_ms, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::consent::receipt::{PiiController, Receipt, ReceiptPurpose, ReceiptService, RECEIPT_VERSION};
use custodia_core::consent::{
    self, Asked, Channel, ConsentFact, ConsentKind, ConsentState, GivenBy, Regime, Requirement,
};
use custodia_core::notice::{Language, Notice};
use custodia_core::policy::Permission;
use custodia_core::{Classification, CustomerId, FieldName, Purpose};
use custodia_crypto::jws::DocumentSigner;
use custodia_store::prelude::*;
use custodia_store::{Applied, ConsentRecord, Mutation, StoredCustomer};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// Give or withdraw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ConsentAction {
    /// Give consent.
    #[default]
    Give,
    /// Withdraw it.
    Withdraw,
}

/// A consent answer as a caller reports it.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    /// The purpose (from the notice).
    pub purpose: String,
    /// `give` (default) or `withdraw`.
    #[serde(default)]
    pub action: ConsentAction,
    /// `web`, `app`, `paper`, `phone` or `in_person`.
    pub channel: String,
    /// Language of the text the person saw (`en` or `zh`).
    pub language: String,
    /// The purpose was presented on its own (separate consent, 单独同意).
    #[serde(default)]
    pub separate: bool,
    /// `subject` (default) or `guardian`.
    #[serde(default)]
    pub by: Option<String>,
    /// SHA-256 (hex) of the exact text shown, when the caller showed its
    /// own wording; default: Custodia's text for the purpose.
    #[serde(default)]
    pub text_sha256: Option<String>,
    /// Notice version shown (default: the current one).
    #[serde(default)]
    pub notice_version: Option<u32>,
    /// For written consent (书面同意): SHA-256 (hex) of the signed document.
    #[serde(default)]
    pub document_sha256: Option<String>,
}

/// Where a customer stands for one purpose of the current notice.
#[derive(Debug, Clone, Serialize)]
pub struct PurposeConsent {
    /// Purpose id.
    pub purpose: Purpose,
    /// English name.
    pub name_en: String,
    /// Chinese name.
    pub name_zh: String,
    /// Legal basis.
    pub basis: custodia_core::notice::LegalBasis,
    /// Whether consent is asked for this purpose (its basis is consent, or
    /// an opt-in the law requires whatever the basis).
    pub offered: bool,
    /// Kinds of consent required now (empty: none).
    pub required: Vec<ConsentKind>,
    /// Citations of the rules requiring them.
    pub citations: Vec<&'static str>,
    /// The state.
    pub state: ConsentState,
    /// The receipt in force (latest answer), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receipt: Option<String>,
    /// When it was recorded (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<String>,
    /// Notice version it was given under.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notice_version: Option<u32>,
}

/// A customer's consents under the current notice.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentOverview {
    /// The customer.
    pub customer: CustomerId,
    /// The notice version in force.
    pub notice_version: u32,
    /// Age used for the requirements, when the record holds a birth date.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age: Option<u32>,
    /// One entry per purpose of the notice.
    pub purposes: Vec<PurposeConsent>,
}

/// A receipt and its signature.
#[derive(Debug, Clone, Serialize)]
pub struct SignedReceipt {
    /// The receipt (Kantara CR v1.1 / ISO/IEC TS 27560 fields).
    pub receipt: Receipt,
    /// The receipt signed as a compact JWS (EdDSA); its payload is the receipt.
    pub jws: String,
}

/// Answers in force per purpose and notice version.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConsentStat {
    /// Purpose.
    pub purpose: String,
    /// Notice version the answers were given under.
    pub notice_version: u32,
    /// Consents in force.
    pub given: u64,
    /// Withdrawals in force.
    pub withdrawn: u64,
    /// Consents given under a version older than the purpose's last material change.
    pub pending_renewal: u64,
}

/// What was given or withdrawn.
#[derive(Debug, Clone, Serialize)]
pub struct RecordedConsent {
    /// Receipt id.
    pub receipt: String,
    /// Purpose.
    pub purpose: String,
    /// `given` or `withdrawn`.
    pub action: &'static str,
    /// Kinds satisfied.
    pub kinds: Vec<String>,
    /// Notice version shown.
    pub notice_version: u32,
    /// SHA-256 of the text shown.
    pub text_sha256: String,
}

impl From<&ConsentRecord> for RecordedConsent {
    fn from(r: &ConsentRecord) -> Self {
        RecordedConsent {
            receipt: r.id.clone(),
            purpose: r.purpose.clone(),
            action: if r.given { "given" } else { "withdrawn" },
            kinds: r.kinds.clone(),
            notice_version: r.notice_version,
            text_sha256: r.text_sha256.clone(),
        }
    }
}

fn problem(field: &str, code: &str, message: String) -> FieldProblem {
    FieldProblem {
        field: field.into(),
        code: code.into(),
        message,
    }
}

/// SHA-256 (hex) of a consent text as shown (lines joined by `\n`).
pub fn text_digest(lines: &[String]) -> String {
    custodia_core::audit::to_hex(&Sha256::digest(lines.join("\n").as_bytes()))
}

fn random_id(prefix: &str) -> String {
    let mut b = [0u8; 12];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut b);
    format!("{prefix}{}", custodia_core::audit::to_hex(&b))
}

fn fact(r: &ConsentRecord) -> ConsentFact {
    ConsentFact {
        given: r.given,
        notice_version: r.notice_version,
        kinds: r.kinds.iter().filter_map(|k| ConsentKind::parse(k)).collect(),
    }
}

/// The latest receipt per purpose.
pub(crate) fn latest(receipts: &[ConsentRecord]) -> BTreeMap<&str, &ConsentRecord> {
    let mut out = BTreeMap::new();
    for r in receipts {
        out.insert(r.purpose.as_str(), r);
    }
    out
}

impl Vault {
    /// The customer's age from the notice's birth-date field, if present.
    pub(crate) fn age_of(&self, notice: &Notice, clear: &BTreeMap<String, String>) -> Option<u32> {
        let field = notice.birth_date_field.as_ref()?;
        let birth = chrono::NaiveDate::parse_from_str(clear.get(field.as_str())?, "%Y-%m-%d").ok()?;
        Some(consent::age_on(birth, chrono::Utc::now().date_naive()))
    }

    /// Validate one answer and build its receipt (no store access).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn prepare_receipt(
        &self,
        state: &NoticeState,
        customer: CustomerId,
        age: Option<u32>,
        input: &ConsentInput,
        at: &str,
        actor: &str,
        now: i64,
    ) -> Result<ConsentRecord, FieldProblem> {
        let field = format!("{at}.purpose");
        let current = state
            .current()
            .ok_or_else(|| problem(at, "no_notice", VaultError::NoNotice.to_string()))?;
        let purpose_name: String = input.purpose.chars().take(64).collect();
        let pn = current.purpose(&input.purpose).ok_or_else(|| {
            problem(
                &field,
                "purpose_not_in_notice",
                format!(
                    "purpose {purpose_name:?} is not described in the privacy notice (version {})",
                    current.version
                ),
            )
        })?;
        if !current.consent_may_apply(pn) {
            return Err(problem(
                &field,
                "consent_not_applicable",
                format!(
                    "purpose {} rests on {}, not consent, and no opt-in applies to it: there is no consent to give or withdraw",
                    pn.id,
                    pn.basis.as_str()
                ),
            ));
        }
        let channel = Channel::parse(&input.channel).ok_or_else(|| {
            problem(
                &format!("{at}.channel"),
                "unknown_channel",
                "must be web, app, paper, phone or in_person".into(),
            )
        })?;
        let lang = Language::parse(&input.language)
            .filter(|_| input.language.len() <= 8)
            .ok_or_else(|| problem(&format!("{at}.language"), "unknown_language", "must be en or zh".into()))?;
        let by = match input.by.as_deref() {
            None => GivenBy::Subject,
            Some(b) => GivenBy::parse(b).ok_or_else(|| {
                problem(
                    &format!("{at}.by"),
                    "unknown_giver",
                    "must be subject or guardian".into(),
                )
            })?,
        };
        let version = input.notice_version.unwrap_or(current.version);
        let shown = state.version(version).ok_or_else(|| {
            problem(
                &format!("{at}.notice_version"),
                "unknown_notice_version",
                format!("notice version {version} was never published"),
            )
        })?;
        let floor = state.floor(&pn.id);
        let give = input.action == ConsentAction::Give;
        if give && version < floor {
            return Err(problem(
                &format!("{at}.notice_version"),
                "notice_out_of_date",
                format!(
                    "notice version {version} is out of date for purpose {}: version {floor} changed it; show the current notice",
                    pn.id
                ),
            ));
        }
        let text_sha256 = match &input.text_sha256 {
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => h.to_ascii_lowercase(),
            Some(_) => {
                return Err(problem(
                    &format!("{at}.text_sha256"),
                    "bad_digest",
                    "must be 64 hexadecimal digits (SHA-256)".into(),
                ))
            }
            None => {
                let lines = shown.consent_text(pn.id.as_str(), self.schema(), lang).ok_or_else(|| {
                    problem(
                        &format!("{at}.notice_version"),
                        "purpose_not_in_notice",
                        format!("notice version {version} does not describe purpose {}", pn.id),
                    )
                })?;
                text_digest(&lines)
            }
        };
        let document = match &input.document_sha256 {
            Some(h) if h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()) => {
                if channel == Channel::Phone {
                    return Err(problem(
                        &format!("{at}.channel"),
                        "not_written",
                        "a consent by phone is not written: record the signed document's channel (paper, web, app, in_person)".into(),
                    ));
                }
                Some(h.to_ascii_lowercase())
            }
            Some(_) => {
                return Err(problem(
                    &format!("{at}.document_sha256"),
                    "bad_digest",
                    "must be 64 hexadecimal digits (SHA-256 of the signed document)".into(),
                ))
            }
            None => None,
        };
        let kinds = if give {
            let req = current
                .requirement_for(pn.id.as_str(), self.schema(), age)
                .expect("the purpose is in the notice");
            consent::check_offer(
                &req,
                Asked {
                    separately: input.separate,
                    by,
                    written: document.is_some(),
                },
            )
            .map_err(|d| {
                let code = match d {
                    consent::ConsentDefect::NotSeparate => "separate_consent_required",
                    consent::ConsentDefect::NotGuardian => "guardian_consent_required",
                    consent::ConsentDefect::NotWritten => "written_consent_required",
                };
                problem(&field, code, format!("{d} ({})", req.citations().join(", ")))
            })?
        } else {
            BTreeSet::new()
        };
        Ok(ConsentRecord {
            id: random_id("rcpt_"),
            customer,
            purpose: pn.id.to_string(),
            notice_version: version,
            given: give,
            ts_ms: now,
            channel: channel.as_str().into(),
            collector: actor.into(),
            text_sha256,
            kinds: kinds.iter().map(|k| k.as_str().to_owned()).collect(),
            given_by: by.as_str().into(),
            language: lang.as_str().into(),
            document_sha256: document,
        })
    }

    fn consent_event(&self, actor: &str, r: &ConsentRecord) -> AuditEvent {
        let mut e = AuditEvent::new(r.ts_ms, actor, Action::Consent);
        e.customer = Some(r.customer);
        e.purpose = Purpose::new(&r.purpose).ok();
        e.detail = Some(format!(
            "{} {} notice=v{} kinds={} by={} channel={}",
            if r.given { "given" } else { "withdrawn" },
            r.id,
            r.notice_version,
            r.kinds.join(","),
            r.given_by,
            r.channel
        ));
        e
    }

    /// Audit events for receipts stored with a new record.
    pub(crate) fn consent_events(&self, actor: &str, receipts: &[ConsentRecord]) -> Vec<AuditEvent> {
        receipts.iter().map(|r| self.consent_event(actor, r)).collect()
    }

    /// Record answers (give or withdraw) for an existing customer, given
    /// through staff or an application. Needs `record_consent` of the whole
    /// record for `purpose` (why the caller is acting: e.g. customer
    /// service taking a call) and, for each consent given, for the purpose
    /// consented to (so nobody opens a customer to a purpose their roles do
    /// not take consents for; withdrawing is never harder than that).
    /// Every answer is checked first; one bad answer refuses them all.
    pub fn record_consents(
        &self,
        p: &Principal,
        id: &str,
        inputs: &[ConsentInput],
        purpose: &Purpose,
    ) -> Result<Vec<RecordedConsent>, VaultError> {
        let (rec, attrs) = self.require_record(p, id, Permission::RecordConsent, purpose)?;
        self.require_consent_purposes(p, inputs, &attrs, Some(rec.id))?;
        self.record_consents_for(&p.actor(), &rec, inputs)
    }

    /// Require `record_consent` for the purpose of every consent given in
    /// `inputs`, for a customer with `attrs` (refusals audited).
    pub(crate) fn require_consent_purposes(
        &self,
        p: &Principal,
        inputs: &[ConsentInput],
        attrs: &BTreeMap<String, String>,
        customer: Option<CustomerId>,
    ) -> Result<(), VaultError> {
        for given in self.given_purposes(inputs) {
            self.require(p, Permission::RecordConsent, None, Some(attrs), Some(&given), customer)?;
        }
        Ok(())
    }

    /// The purposes consents in `inputs` are given to (those the notice
    /// knows: anything else is reported with the answer's other problems).
    pub(crate) fn given_purposes(&self, inputs: &[ConsentInput]) -> Vec<Purpose> {
        let state = self.notices();
        let Some(current) = state.current() else {
            return Vec::new();
        };
        inputs
            .iter()
            .filter(|i| i.action == ConsentAction::Give)
            .filter_map(|i| Purpose::new(i.purpose.trim()).ok())
            .filter(|pu| current.purpose(pu.as_str()).is_some())
            .collect()
    }

    /// Record answers for `rec` on behalf of `actor`, whose right to do so
    /// the caller has checked.
    pub(crate) fn record_consents_for(
        &self,
        actor: &str,
        rec: &StoredCustomer,
        inputs: &[ConsentInput],
    ) -> Result<Vec<RecordedConsent>, VaultError> {
        let cid = rec.id;
        if inputs.is_empty() {
            return Err(VaultError::Input("name at least one consent".into()));
        }
        let state = self.notices();
        let current = state.current().ok_or(VaultError::NoNotice)?;
        let clear = self.decrypt(rec)?;
        let age = self.age_of(current, &clear);
        let now = now_ms();
        let mut receipts = Vec::new();
        let mut problems = Vec::new();
        for (i, input) in inputs.iter().enumerate() {
            match self.prepare_receipt(&state, cid, age, input, &format!("consents[{i}]"), actor, now) {
                Ok(r) => receipts.push(r),
                Err(p) => problems.push(p),
            }
        }
        if !problems.is_empty() {
            return Err(VaultError::Invalid(problems));
        }
        let events = self.consent_events(actor, &receipts);
        match self
            .apply_one(vec![Mutation::PutConsents {
                customer: cid,
                receipts: receipts.clone(),
                events,
            }])?
            .pop()
        {
            Some(Applied::Done) => Ok(receipts.iter().map(RecordedConsent::from).collect()),
            _ => Err(VaultError::NotFound(cid.to_string())),
        }
    }

    /// A customer whose consents `p` may read for `purpose`: `read_masked`
    /// or `record_consent` of the whole record.
    fn consent_reader(&self, p: &Principal, id: &str, purpose: &Purpose) -> Result<StoredCustomer, VaultError> {
        let (rec, attrs) = self.visible(p, id)?;
        if self
            .decide(p, Permission::RecordConsent, None, Some(&attrs), Some(purpose))
            .allowed
        {
            return Ok(rec);
        }
        self.require(
            p,
            Permission::ReadMasked,
            None,
            Some(&attrs),
            Some(purpose),
            Some(rec.id),
        )?;
        Ok(rec)
    }

    /// The state of one purpose for a customer, with what it requires.
    fn purpose_state(
        &self,
        state: &NoticeState,
        purpose: &Purpose,
        age: Option<u32>,
        receipts: &BTreeMap<&str, &ConsentRecord>,
    ) -> Option<(ConsentState, Requirement)> {
        let current = state.current()?;
        let req = current.requirement_for(purpose.as_str(), self.schema(), age)?;
        let latest = receipts.get(purpose.as_str()).map(|r| fact(r));
        Some((consent::evaluate(&req, state.floor(purpose), latest.as_ref()), req))
    }

    /// Decide whether `purpose` may be used for this customer now; on
    /// success, the fields the notice lists for it. Refusals name the
    /// missing consent.
    pub(crate) fn gate(
        &self,
        customer: CustomerId,
        flags: u32,
        clear: &BTreeMap<String, String>,
        purpose: &Purpose,
    ) -> Result<BTreeSet<FieldName>, VaultError> {
        let state = self.notices();
        let current = state.current().ok_or(VaultError::NoNotice)?;
        let pn = current
            .purpose(purpose.as_str())
            .ok_or_else(|| VaultError::PurposeNotInNotice {
                purpose: purpose.to_string(),
                version: current.version,
            })?;
        if flags & custodia_store::FLAG_RESTRICTED != 0 && !pn.allowed_when_restricted {
            return Err(VaultError::ProcessingStopped {
                purpose: purpose.to_string(),
                why: "the customer has processing restricted; only storage and the purposes the notice allows under restriction go on (GDPR Art. 18(2); PIPL Art. 44)".into(),
            });
        }
        if flags & custodia_store::FLAG_OPTED_OUT != 0 && (pn.objectable || pn.shares()) {
            return Err(VaultError::ProcessingStopped {
                purpose: purpose.to_string(),
                why: "the customer objected / opted out of sale or sharing (GDPR Art. 21; CCPA §1798.120)".into(),
            });
        }
        if flags & custodia_store::FLAG_LIMITED != 0
            && !pn.limit_exempt
            && pn.uses(self.schema(), custodia_core::Classification::Sensitive)
        {
            return Err(VaultError::ProcessingStopped {
                purpose: purpose.to_string(),
                why: "the customer asked to limit the use of their sensitive personal information; only the uses 11 CCR §7027(m) allows go on (Cal. Civ. Code §1798.121)".into(),
            });
        }
        let age = self.age_of(current, clear);
        let needed = current
            .requirement_for(purpose.as_str(), self.schema(), age)
            .is_some_and(|r| r.needed());
        if needed {
            let receipts = self.store().consents(&customer)?;
            let latest = latest(&receipts);
            let (st, req) = self
                .purpose_state(&state, purpose, age, &latest)
                .expect("the purpose is in the notice");
            if !st.allows() {
                return Err(VaultError::ConsentRequired {
                    purpose: purpose.to_string(),
                    state: st.code().into(),
                    kinds: req.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
                    citations: req.citations().into_iter().map(str::to_owned).collect(),
                    reason: st.reason_en(),
                });
            }
        }
        Ok(pn.fields.iter().cloned().collect())
    }

    /// A new record may be created under `purpose` only if the notice
    /// describes it and, when it rests on consent, the record brings that
    /// consent with it.
    pub fn check_create_purpose(&self, input: &crate::RecordInput, purpose: &Purpose) -> Result<(), VaultError> {
        let state = self.notices();
        let current = state.current().ok_or(VaultError::NoNotice)?;
        if current.purpose(purpose.as_str()).is_none() {
            return Err(VaultError::PurposeNotInNotice {
                purpose: purpose.to_string(),
                version: current.version,
            });
        }
        let brought = input
            .consents
            .iter()
            .any(|c| c.purpose == purpose.as_str() && c.action == ConsentAction::Give);
        let req = current
            .requirement_for(purpose.as_str(), self.schema(), None)
            .expect("the purpose is in the notice");
        if req.needed() && !brought {
            return Err(VaultError::ConsentRequired {
                purpose: purpose.to_string(),
                state: ConsentState::NeverGiven.code().into(),
                kinds: req.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
                citations: req.citations().into_iter().map(str::to_owned).collect(),
                reason: "a new customer has given none: send it in \"consents\"".into(),
            });
        }
        Ok(())
    }

    /// Consent-based purposes in force for a customer.
    pub(crate) fn consented_purposes(
        &self,
        state: &NoticeState,
        customer: CustomerId,
        age: Option<u32>,
    ) -> Result<BTreeSet<Purpose>, VaultError> {
        let receipts = self.store().consents(&customer)?;
        let latest = latest(&receipts);
        let Some(current) = state.current() else {
            return Ok(BTreeSet::new());
        };
        Ok(current
            .purposes
            .iter()
            .filter(|p| p.basis.needs_consent())
            .filter(|p| {
                self.purpose_state(state, &p.id, age, &latest)
                    .is_some_and(|(s, _)| s.allows())
            })
            .map(|p| p.id.clone())
            .collect())
    }

    /// The minimum-necessary rule: every personal or sensitive field in
    /// `fields` must be needed by a collecting purpose of the notice whose
    /// basis is not consent, or by one in `consented`.
    pub(crate) fn unnecessary(
        &self,
        state: &NoticeState,
        fields: &[&FieldName],
        consented: &dyn Fn(&Purpose) -> bool,
    ) -> Vec<FieldProblem> {
        let personal: Vec<&&FieldName> = fields
            .iter()
            .filter(|f| !state.necessary_base.contains(**f))
            .filter(|f| {
                self.schema()
                    .field(f.as_str())
                    .is_some_and(|d| d.classification.is_encrypted())
            })
            .collect();
        if personal.is_empty() {
            return Vec::new();
        }
        let Some(current) = state.current() else {
            return personal
                .into_iter()
                .map(|f| problem(f.as_str(), "no_notice", VaultError::NoNotice.to_string()))
                .collect();
        };
        let needed = current.necessary_fields(consented);
        personal
            .into_iter()
            .filter(|f| !needed.contains(**f))
            .map(|f| {
                problem(
                    f.as_str(),
                    "not_necessary",
                    format!(
                        "no purpose of the privacy notice (version {}) in force for this customer needs it (minimum necessary, PIPL Art. 6)",
                        current.version
                    ),
                )
            })
            .collect()
    }

    /// A customer's consents under the current notice. Needs `read_masked`
    /// or `record_consent` of the whole record for `purpose`.
    pub fn customer_consents(&self, p: &Principal, id: &str, purpose: &Purpose) -> Result<ConsentOverview, VaultError> {
        let rec = self.consent_reader(p, id, purpose)?;
        self.consent_overview(rec.id, &self.decrypt(&rec)?)
    }

    pub(crate) fn consent_overview(
        &self,
        cid: CustomerId,
        clear: &BTreeMap<String, String>,
    ) -> Result<ConsentOverview, VaultError> {
        let state = self.notices();
        let current = state.current().ok_or(VaultError::NoNotice)?;
        let age = self.age_of(current, clear);
        let receipts = self.store().consents(&cid)?;
        let latest = latest(&receipts);
        let mut purposes = Vec::new();
        for p in &current.purposes {
            let def = self.schema().purpose(p.id.as_str());
            let (st, req) = self
                .purpose_state(&state, &p.id, age, &latest)
                .expect("the purpose is in the notice");
            let r = latest.get(p.id.as_str());
            purposes.push(PurposeConsent {
                purpose: p.id.clone(),
                name_en: def.map(|d| d.name_en.clone()).unwrap_or_default(),
                name_zh: def.map(|d| d.name_zh.clone()).unwrap_or_default(),
                basis: p.basis,
                offered: current.consent_may_apply(p),
                required: req.kinds.iter().copied().collect(),
                citations: req.citations(),
                state: st,
                receipt: r.map(|r| r.id.clone()),
                answered_at: r.map(|r| crate::records::input::rfc3339(r.ts_ms)),
                notice_version: r.map(|r| r.notice_version),
            });
        }
        Ok(ConsentOverview {
            customer: cid,
            notice_version: current.version,
            age,
            purposes,
        })
    }

    /// The key that signs receipts and certificates (never outside this
    /// crate: nothing else signs in Custodia's name).
    pub(crate) fn document_signer(&self) -> &DocumentSigner {
        self.signer
            .get_or_init(|| DocumentSigner::new(&self.keys().derive_subkey("document-signing-v1")))
    }

    /// The public signing key as a JWK (RFC 8037).
    pub fn signing_jwk(&self) -> serde_json::Value {
        self.document_signer().jwk()
    }

    /// The public signing key's raw bytes (Ed25519).
    pub fn signing_public_key(&self) -> [u8; 32] {
        self.document_signer().public_key()
    }

    /// A receipt in the Kantara / ISO/IEC TS 27560 layout.
    pub(crate) fn receipt_document(&self, r: &ConsentRecord) -> Result<Receipt, VaultError> {
        let state = self.notices();
        let n = state
            .version(r.notice_version)
            .ok_or_else(|| VaultError::Config(format!("notice version {} is missing", r.notice_version)))?;
        let lang = Language::parse(&r.language).ok_or_else(|| {
            VaultError::Store(custodia_store::StoreError::Corrupt(format!(
                "consent receipt {}: language {:?} is not one this build knows",
                r.id, r.language
            )))
        })?;
        let pn = n.purpose(&r.purpose);
        let def = self.schema().purpose(&r.purpose);
        let fields: Vec<&FieldName> = pn.map(|p| p.fields.iter().collect()).unwrap_or_default();
        let sensitive: Vec<String> = fields
            .iter()
            .filter(|f| {
                self.schema()
                    .field(f.as_str())
                    .is_some_and(|d| d.classification == Classification::Sensitive)
            })
            .map(|f| f.to_string())
            .collect();
        let recipients: Vec<String> = pn
            .map(|p| p.recipients.iter().map(|x| x.name.clone()).collect())
            .unwrap_or_default();
        let consent_type = if r.kinds.is_empty() {
            "WITHDRAWN".to_owned()
        } else {
            r.kinds
                .iter()
                .map(|k| {
                    if k == "general" {
                        "EXPLICIT".into()
                    } else {
                        k.to_uppercase()
                    }
                })
                .collect::<Vec<_>>()
                .join("+")
        };
        let jurisdiction = n
            .regimes
            .iter()
            .map(|g| match g {
                Regime::Pipl => "CN",
                Regime::Gdpr => "EU",
                Regime::Ccpa => "US-CA",
            })
            .collect::<Vec<_>>()
            .join(",");
        let c = &n.controller;
        Ok(Receipt {
            version: RECEIPT_VERSION.into(),
            jurisdiction,
            consent_timestamp: r.ts_ms / 1000,
            collection_method: r.channel.clone(),
            consent_receipt_id: r.id.clone(),
            language: r.language.clone(),
            pii_principal_id: r.customer.to_string(),
            pii_controllers: vec![PiiController {
                pii_controller: c.name.clone(),
                contact: c.contact.clone(),
                address: c.address.clone(),
                email: c.email.clone(),
                phone: c.phone.clone(),
            }],
            policy_url: n.policy_url.clone(),
            services: vec![ReceiptService {
                service: match lang {
                    Language::Zh => n.title_zh.clone(),
                    Language::En => n.title_en.clone(),
                },
                purposes: vec![ReceiptPurpose {
                    purpose: r.purpose.clone(),
                    purpose_category: vec![def.map(|d| d.name_en.clone()).unwrap_or_default()],
                    consent_type,
                    pii_category: fields.iter().map(|f| f.to_string()).collect(),
                    primary_purpose: false,
                    termination: pn
                        .map(|p| format!("withdrawal, or {}", p.retention.describe(Language::En)))
                        .unwrap_or_else(|| "withdrawal".into()),
                    third_party_disclosure: !recipients.is_empty(),
                    third_party_name: (!recipients.is_empty()).then(|| recipients.join("; ")),
                }],
            }],
            sensitive: !sensitive.is_empty(),
            spi_cat: sensitive,
            notice_version: r.notice_version,
            notice_text_sha256: r.text_sha256.clone(),
            action: if r.given { "given" } else { "withdrawn" }.into(),
            consent_text: n
                .consent_text(&r.purpose, self.schema(), lang)
                .filter(|lines| text_digest(lines) == r.text_sha256)
                .unwrap_or_default(),
            document_sha256: r.document_sha256.clone(),
        })
    }

    fn sign_receipt(&self, signer: &DocumentSigner, r: &ConsentRecord) -> Result<SignedReceipt, VaultError> {
        let receipt = self.receipt_document(r)?;
        let payload = serde_json::to_vec(&receipt).expect("a receipt serializes");
        Ok(SignedReceipt {
            jws: signer.sign(&payload),
            receipt,
        })
    }

    /// Every receipt of a customer, signed, oldest first. Needs what
    /// [`Vault::customer_consents`] needs.
    pub fn signed_receipts(
        &self,
        p: &Principal,
        id: &str,
        purpose: &Purpose,
    ) -> Result<Vec<SignedReceipt>, VaultError> {
        let rec = self.consent_reader(p, id, purpose)?;
        self.receipts_of(rec.id)
    }

    /// One receipt by id, signed.
    #[cfg(test)]
    pub(crate) fn signed_receipt(&self, receipt_id: &str) -> Result<SignedReceipt, VaultError> {
        let r = self.store().consent_receipt(receipt_id)?.ok_or_else(|| {
            VaultError::NotFound(format!("receipt {:?}", receipt_id.chars().take(64).collect::<String>()))
        })?;
        self.sign_receipt(self.document_signer(), &r)
    }

    pub(crate) fn receipts_of(&self, cid: CustomerId) -> Result<Vec<SignedReceipt>, VaultError> {
        let signer = self.document_signer();
        self.store()
            .consents(&cid)?
            .iter()
            .map(|r| self.sign_receipt(signer, r))
            .collect()
    }

    /// Answers in force per purpose and notice version. Needs `read_audit`
    /// or `manage_policy`.
    pub fn consent_stats(&self, p: &Principal) -> Result<Vec<ConsentStat>, VaultError> {
        self.require_any_admin(p, &[Permission::ReadAudit, Permission::ManagePolicy])?;
        let state = self.notices();
        let mut by: BTreeMap<(String, u32), ConsentStat> = BTreeMap::new();
        for t in self.store().consent_tallies()? {
            let floor = Purpose::new(&t.purpose).map(|p| state.floor(&p)).unwrap_or(0);
            let s = by
                .entry((t.purpose.clone(), t.notice_version))
                .or_insert_with(|| ConsentStat {
                    purpose: t.purpose.clone(),
                    notice_version: t.notice_version,
                    given: 0,
                    withdrawn: 0,
                    pending_renewal: 0,
                });
            match (t.given, t.notice_version < floor) {
                (false, _) => s.withdrawn += t.customers,
                (true, true) => s.pending_renewal += t.customers,
                (true, false) => s.given += t.customers,
            }
        }
        Ok(by.into_values().collect())
    }
}
