//! The customers' privacy portal: single-use entry codes the company
//! issues, short portal sessions, and what a customer may do there (read
//! the notice and what changed, give and withdraw consents, download their
//! data, ask for correction or deletion).
//!
//! A customer never reaches the portal by an id: only by an entry code of
//! 50 random bits (shown once, stored as a SHA-256 digest), usable once,
//! expiring, with failed attempts throttled per client address.

use crate::access::authz::{person_of, Principal};
use crate::privacy::consent::{ConsentAction, ConsentInput, ConsentOverview, RecordedConsent, SignedReceipt};
use crate::privacy::delivery::Channel;
use crate::{now_ms, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_core::notice::{self, Change, Language, Notice};
use custodia_core::policy::Permission;
use custodia_core::rights::RequestKind;
use custodia_core::FieldType;
use custodia_core::{CustomerId, FieldName, Purpose};
use custodia_store::prelude::*;
use custodia_store::{Applied, Mutation, PortalTokenRecord, RequestRecord, StoredCustomer};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The actor recorded for what customers do in the portal.
pub const PORTAL_ACTOR: &str = "customer:portal";
/// Longest validity of an entry code.
pub const MAX_ENTRY_HOURS: u32 = 24 * 30;
/// How long a portal session lasts.
pub const PORTAL_SESSION_MS: i64 = 30 * 60 * 1000;
/// Wrong entry codes from one address before it waits.
const PORTAL_FAILURES: u32 = 5;
/// How long it waits (and the window failures are counted in).
const PORTAL_LOCK_MS: i64 = 15 * 60 * 1000;

/// Crockford's base32 alphabet: no I, L, O, U, so codes read aloud well.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// What staff learn when a portal code is sent: that it went, when, how,
/// and to which (masked) address. The code itself is never shown to staff.
#[derive(Debug, Clone, Serialize)]
pub struct PortalCodeSent {
    /// Whose portal it opens.
    pub customer: CustomerId,
    /// How it went.
    pub channel: Channel,
    /// The address or number it went to, masked.
    pub to: String,
    /// When it was sent (RFC 3339).
    pub sent_at: String,
    /// When the code stops working (RFC 3339).
    pub expires_at: String,
}

/// A portal session just opened.
#[derive(Debug)]
pub struct PortalSession {
    /// The session secret for the cookie.
    pub token: Zeroizing<String>,
    /// Whose portal.
    pub customer: CustomerId,
}

/// A live portal session (only the vault makes one, from a session the
/// customer opened with their code).
#[derive(Debug, Clone)]
pub struct PortalContext {
    customer: CustomerId,
    csrf: String,
    code_from: String,
}

impl PortalContext {
    /// Whose portal.
    pub fn customer(&self) -> CustomerId {
        self.customer
    }

    /// The session's anti-CSRF token.
    pub fn csrf(&self) -> &str {
        &self.csrf
    }

    /// The caller the portal acts as: this customer, nobody else.
    pub fn principal(&self) -> Principal {
        Principal(crate::access::authz::Who::Customer {
            customer: self.customer,
            code_from: self.code_from.clone(),
        })
    }
}

/// Why an entry code was refused (the customer is told only "invalid or
/// expired", or to wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortalRefusal {
    /// Unknown, used or expired.
    Invalid,
    /// Too many failures from this address.
    Locked {
        /// Minutes to wait.
        minutes: i64,
    },
}

/// A request as listed to its customer (no details).
#[derive(Debug, Clone, Serialize)]
pub struct RequestSummary {
    /// Request id.
    pub id: String,
    /// Kind.
    pub kind: String,
    /// State.
    pub status: String,
    /// Channel.
    pub channel: String,
    /// Received (RFC 3339).
    pub received_at: String,
    /// The answer deadline (YYYY-MM-DD), while open.
    pub due: Option<String>,
}

impl From<&RequestRecord> for RequestSummary {
    fn from(r: &RequestRecord) -> Self {
        RequestSummary {
            id: r.id.clone(),
            kind: r.kind.clone(),
            status: r.status.clone(),
            channel: r.channel.clone(),
            received_at: crate::records::input::rfc3339(r.created_ms),
            due: None,
        }
    }
}

/// Everything the portal's main page shows.
#[derive(Debug, Clone)]
pub struct PortalView {
    /// Whose.
    pub customer: CustomerId,
    /// The notice in force.
    pub notice: Arc<Notice>,
    /// The version the customer last accepted (latest consent given, or the
    /// version in force when the record was created).
    pub accepted_version: Option<u32>,
    /// What changed from that version to the current one.
    pub changes_since: Vec<Change>,
    /// Consents per purpose.
    pub consents: ConsentOverview,
    /// The exact consent text of each consent-based purpose, in the page's language.
    pub texts: BTreeMap<Purpose, Vec<String>>,
    /// The customer's requests.
    pub requests: Vec<RequestSummary>,
    /// A version published to take effect later: it, when (RFC 3339), and
    /// what it changes from the version in force.
    pub upcoming: Option<(Arc<Notice>, String, Vec<Change>)>,
}

fn digest(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

/// A contact-hold row (see [`PortalTokenRecord`]): no code goes to the
/// contact until it expires.
const CONTACT_HOLD: &str = "contact_hold";

/// A contact-setter row: who last set the contact (they never send it a
/// code); it lasts until the next change replaces it.
const CONTACT_SETTER: &str = "contact_setter";

/// How long a setter row lasts.
const SETTER_MS: i64 = 10 * 366 * 86_400_000;

/// The key of a contact row: one per kind, customer and channel, renewed
/// in place.
fn contact_digest(kind: &str, customer: CustomerId, channel: Channel) -> Vec<u8> {
    digest(&format!("{kind}:{customer}:{}", channel.as_str()))
}

impl Vault {
    /// The rows recording that `p` changed the customer's contact for
    /// `channel` at `now`: the hold (when `[portal] contact_hold_hours` is
    /// set) and the setter. Stored with the change.
    pub(crate) fn contact_change_rows(
        &self,
        p: &Principal,
        customer: CustomerId,
        channel: Channel,
        now: i64,
    ) -> Vec<Mutation> {
        let hours = self.config().portal.contact_hold_hours as i64;
        let row = |kind: &str, expires_ms: i64| Mutation::PutPortalToken {
            token: PortalTokenRecord {
                digest: contact_digest(kind, customer, channel),
                customer,
                kind: kind.into(),
                csrf: String::new(),
                created_ms: now,
                expires_ms,
                used: false,
                issued_by: p.actor(),
            },
            events: Vec::new(),
        };
        let mut rows = Vec::new();
        if hours > 0 {
            rows.push(row(CONTACT_HOLD, now + hours * 3_600_000));
        }
        rows.push(row(CONTACT_SETTER, now + SETTER_MS));
        rows
    }

    /// A live contact row of this kind, customer and channel.
    fn contact_row(
        &self,
        kind: &str,
        customer: CustomerId,
        channel: Channel,
    ) -> Result<Option<PortalTokenRecord>, VaultError> {
        Ok(self
            .store()
            .portal_token(&contact_digest(kind, customer, channel))?
            .filter(|h| h.kind == kind && h.expires_ms > now_ms()))
    }

    /// Tell a customer, at the contact they had, that staff changed it (a
    /// portal code could otherwise go to a contact they never gave). The
    /// message names no value; a failure is audited, never fatal to the
    /// change already made.
    pub(crate) fn notify_contact_change(&self, actor: &str, customer: CustomerId, channel: Channel, old: &str) {
        let cfg = self.config();
        let when = crate::records::input::rfc3339(now_ms());
        let (what_en, what_zh) = channel.contact_name();
        let text = format!(
            "您在我们这里登记的{what_zh}已于 {when} 由工作人员修改。如非您本人要求，请立即联系我们。\n\
             The {what_en} on your customer record was changed by our staff at {when}. If you did not ask for this, contact us now.\n"
        );
        let sent = match channel {
            Channel::Email => cfg.mail.as_ref().map(|m| {
                crate::privacy::delivery::send_mail(
                    m,
                    self.dir(),
                    old,
                    "联系方式已修改 / Your contact details changed",
                    &text,
                )
            }),
            Channel::Sms => cfg
                .sms
                .as_ref()
                .map(|s| crate::privacy::delivery::send_sms(s, self.dir(), old, &text)),
        };
        let (outcome, detail) = match sent {
            None => return,
            Some(Ok(())) => (Outcome::Ok, format!("the previous {what_en} was told of the change")),
            Some(Err(e)) => (
                Outcome::Failed,
                format!("the previous {what_en} could not be told of the change: {e}"),
            ),
        };
        let e = self.portal_event(actor, Some(customer), outcome, detail);
        drop(self.store().submit(vec![Mutation::Audit(vec![e])]));
    }
}

/// Canonical form of a typed code: upper case, separators dropped, the
/// letters people confuse with digits mapped as Crockford's base32 does.
pub fn normalize_code(s: &str) -> String {
    s.chars()
        .filter(|c| !matches!(c, '-' | ' ' | '\u{3000}'))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            other => other,
        })
        .take(32)
        .collect()
}

fn new_code() -> Zeroizing<String> {
    let mut b = [0u8; 10];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    let mut s = Zeroizing::new(String::with_capacity(11));
    for (i, x) in b.iter().enumerate() {
        if i == 5 {
            s.push('-');
        }
        s.push(ALPHABET[(*x & 31) as usize] as char);
    }
    zeroize::Zeroize::zeroize(&mut b);
    s
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    custodia_core::audit::to_hex(&b)
}

impl Vault {
    fn portal_event(&self, actor: &str, customer: Option<CustomerId>, outcome: Outcome, detail: String) -> AuditEvent {
        let mut e = AuditEvent::new(now_ms(), actor, Action::Portal);
        e.customer = customer;
        e.outcome = outcome;
        e.detail = Some(detail);
        e
    }

    /// Send a customer a single-use entry code to their privacy portal, to
    /// their own contact on file (`channel`: e-mail by default, or a text
    /// message). Needs `record_consent` of the whole record for `purpose`.
    /// Staff never see the code: they learn that it was sent, when, and to
    /// which masked address. The message carries the code and the portal's
    /// address, nothing else personal.
    pub fn send_portal_code(
        &self,
        p: &Principal,
        customer: &str,
        purpose: &Purpose,
        channel: Option<Channel>,
    ) -> Result<PortalCodeSent, VaultError> {
        let (rec, _) = self.require_record(p, customer, Permission::RecordConsent, purpose)?;
        let cid = rec.id;
        let actor = p.actor();
        let clear = self.decrypt(&rec)?;
        let contact = |t: FieldType| {
            self.schema()
                .fields()
                .iter()
                .filter(|f| f.kind == t)
                .find_map(|f| clear.get(f.name.as_str()).map(|v| (f, v.clone())))
        };
        let channel = channel.unwrap_or(Channel::Email);
        let (field, to) = contact(channel.field_type())
            .ok_or_else(|| VaultError::Delivery(format!("the customer has no {} on file", channel.contact_name().0)))?;
        let masked_to = field.mask.apply(&to);
        if let Some(h) = self.contact_row(CONTACT_HOLD, cid, channel)? {
            return Err(self.forbid(
                p,
                Some(cid),
                format!(
                    "the customer's {} was changed by staff at {}; no portal code goes to it before {} (send by the other channel, or verify the customer another way)",
                    channel.contact_name().0,
                    crate::records::input::rfc3339(h.created_ms),
                    crate::records::input::rfc3339(h.expires_ms)
                ),
            ));
        }
        if let Some(setter) = self.contact_row(CONTACT_SETTER, cid, channel)? {
            let setter = person_of(&setter.issued_by);
            if setter.is_some() && setter == person_of(&actor) {
                return Err(self.forbid(
                    p,
                    Some(cid),
                    "you set this contact yourself, so another person sends it a portal code",
                ));
            }
        }
        let cfg = self.config();
        // Check the channel is configured before a code exists.
        match channel {
            Channel::Email if cfg.mail.is_none() => {
                return Err(VaultError::Delivery(
                    "no mail server is configured: add [mail] to config.toml (see README)".into(),
                ))
            }
            Channel::Sms if cfg.sms.is_none() => {
                return Err(VaultError::Delivery(
                    "no SMS gateway is configured: add [sms] to config.toml (see README)".into(),
                ))
            }
            _ => {}
        }
        let hours = cfg.portal.code_hours.clamp(1, MAX_ENTRY_HOURS);
        let (code, d, expires_ms) = self.issue_entry_code(
            &actor,
            cid,
            hours,
            &format!(
                "entry code sent by {} to {masked_to}, valid {hours} h",
                channel.as_str()
            ),
        )?;
        let expires_at = crate::records::input::rfc3339(expires_ms);
        let base = cfg.portal.base_url.trim_end_matches('/');
        let text = format!(
            "您的个人信息保护门户验证码 / Your privacy portal code:\n\n    {code}\n\n\
             请打开 {base}/portal/enter 并输入验证码。验证码仅可使用一次，有效期至 {expires_at}。\n\
             Open {base}/portal/enter and type the code. It works once and expires at {expires_at}.\n\n\
             如非本人操作，请忽略本消息。 If you did not ask for this, ignore this message.\n",
            code = code.as_str()
        );
        let sent = match channel {
            Channel::Email => crate::privacy::delivery::send_mail(
                cfg.mail.as_ref().expect("checked above"),
                self.dir(),
                &to,
                "个人信息保护门户验证码 / Your privacy portal code",
                &text,
            ),
            Channel::Sms => {
                crate::privacy::delivery::send_sms(cfg.sms.as_ref().expect("checked above"), self.dir(), &to, &text)
            }
        };
        if let Err(err) = sent {
            // A code that never arrived must not stay usable.
            let e = self.portal_event(
                &actor,
                Some(cid),
                Outcome::Failed,
                format!("entry code to {masked_to} not delivered and revoked: {err}"),
            );
            self.apply_one(vec![Mutation::UsePortalToken {
                digest: d,
                now_ms: now_ms(),
                then: None,
                events: vec![e],
            }])?;
            return Err(err);
        }
        Ok(PortalCodeSent {
            customer: cid,
            channel,
            to: masked_to,
            sent_at: crate::records::input::rfc3339(now_ms()),
            expires_at,
        })
    }

    /// Store a new entry code for `cid`, valid `hours`; returns the code,
    /// its digest and its expiry. Only [`Vault::send_portal_code`] hands
    /// codes on, to the customer's own contact.
    pub(crate) fn issue_entry_code(
        &self,
        actor: &str,
        cid: CustomerId,
        hours: u32,
        detail: &str,
    ) -> Result<(Zeroizing<String>, Vec<u8>, i64), VaultError> {
        if !(1..=MAX_ENTRY_HOURS).contains(&hours) {
            return Err(VaultError::Input(format!(
                "an entry code lives 1 to {MAX_ENTRY_HOURS} hours"
            )));
        }
        let code = new_code();
        let now = now_ms();
        let d = digest(&normalize_code(&code));
        let rec = PortalTokenRecord {
            digest: d.clone(),
            customer: cid,
            kind: "entry".into(),
            csrf: String::new(),
            created_ms: now,
            expires_ms: now + hours as i64 * 3_600_000,
            used: false,
            issued_by: actor.into(),
        };
        let e = self.portal_event(actor, Some(cid), Outcome::Ok, detail.into());
        self.apply_one(vec![Mutation::PutPortalToken {
            token: rec.clone(),
            events: vec![e],
        }])?;
        Ok((code, d, rec.expires_ms))
    }

    /// Exchange an entry code for a portal session.
    pub fn portal_enter(&self, code: &str, client: &str) -> Result<Result<PortalSession, PortalRefusal>, VaultError> {
        let now = now_ms();
        let key = format!("portal:{client}");
        if let Some(until) = self.counter_locked(&key, now)? {
            return Ok(Err(PortalRefusal::Locked {
                minutes: (until - now + 59_999) / 60_000,
            }));
        }
        let d = digest(&normalize_code(code));
        let found = self.store().portal_token(&d)?.filter(|t| t.kind == "entry");
        let refuse = |why: &str| -> Result<Result<PortalSession, PortalRefusal>, VaultError> {
            let locked = self
                .count_failures(
                    vec![(key.clone(), PORTAL_FAILURES, PORTAL_LOCK_MS, PORTAL_LOCK_MS)],
                    vec![],
                )?
                .first()
                .is_some_and(|c| c.1);
            let detail = format!(
                "entry refused ({why}) client={client}{}",
                if locked { "; address locked" } else { "" }
            );
            self.audit(vec![self.portal_event("anonymous", None, Outcome::Denied, detail)])?;
            Ok(Err(PortalRefusal::Invalid))
        };
        let Some(t) = found else {
            return refuse("unknown code");
        };
        if t.used || t.expires_ms <= now {
            return refuse(if t.used { "used code" } else { "expired code" });
        }
        let token = Zeroizing::new(random_hex(32));
        let session = PortalTokenRecord {
            digest: digest(&token),
            customer: t.customer,
            kind: "session".into(),
            csrf: random_hex(16),
            created_ms: now,
            expires_ms: now + PORTAL_SESSION_MS,
            used: false,
            // The session remembers who sent its code (separation of
            // duties for the requests filed in it).
            issued_by: t.issued_by.clone(),
        };
        let e = self.portal_event(
            PORTAL_ACTOR,
            Some(t.customer),
            Outcome::Ok,
            format!("entered with a code issued by {} client={client}", t.issued_by),
        );
        match self
            .apply_one(vec![Mutation::UsePortalToken {
                digest: d,
                now_ms: now,
                then: Some(session),
                events: vec![e],
            }])?
            .pop()
        {
            Some(Applied::Done) => {
                self.apply_one(vec![Mutation::ClearCounters {
                    keys: vec![key.clone()],
                    prefixes: vec![],
                    events: vec![],
                }])?;
                Ok(Ok(PortalSession {
                    token,
                    customer: t.customer,
                }))
            }
            // Used by a concurrent request a moment ago.
            _ => refuse("used code"),
        }
    }

    /// The live portal session behind a cookie value.
    pub fn portal_session(&self, token: &str) -> Result<Option<PortalContext>, VaultError> {
        let Some(t) = self.store().portal_token(&digest(token))? else {
            return Ok(None);
        };
        if t.kind != "session" || t.used || t.expires_ms <= now_ms() {
            return Ok(None);
        }
        if self.store().get(&t.customer)?.is_none() {
            return Ok(None);
        }
        Ok(Some(PortalContext {
            customer: t.customer,
            csrf: t.csrf,
            code_from: t.issued_by,
        }))
    }

    /// End a portal session.
    pub fn portal_sign_out(&self, token: &str) -> Result<(), VaultError> {
        if let Some(ctx) = self.portal_session(token)? {
            let e = self.portal_event(PORTAL_ACTOR, Some(ctx.customer), Outcome::Ok, "signed out".into());
            self.apply_one(vec![Mutation::UsePortalToken {
                digest: digest(token),
                now_ms: now_ms(),
                then: None,
                events: vec![e],
            }])?;
        }
        Ok(())
    }

    /// The customer a portal principal is, and their record.
    fn own_record(&self, p: &Principal) -> Result<StoredCustomer, VaultError> {
        let Some(customer) = p.customer() else {
            return Err(self.forbid(
                p,
                None,
                "only the customer, signed in to the privacy portal, can do this",
            ));
        };
        self.require_customer(p, customer)?;
        self.store()
            .get(&customer)?
            .ok_or_else(|| VaultError::NotFound(customer.to_string()))
    }

    /// What the portal's main page shows, in `lang`, to the customer `p`.
    pub fn portal_view(&self, p: &Principal, lang: Language) -> Result<PortalView, VaultError> {
        let rec = self.own_record(p)?;
        let customer = rec.id;
        let state = self.notices();
        let current = state.current().ok_or(VaultError::NoNotice)?.clone();
        let clear = self.decrypt(&rec)?;
        let consents = self.consent_overview(customer, &clear)?;
        let receipts = self.store().consents(&customer)?;
        let accepted = receipts
            .iter()
            .filter(|r| r.given)
            .map(|r| r.notice_version)
            .max()
            .or_else(|| state.in_force_at(rec.created_ms).map(|n| n.version));
        let changes_since = match accepted.and_then(|v| state.version(v)) {
            Some(old) if old.version < current.version => notice::diff(old, &current),
            _ => Vec::new(),
        };
        let texts = current
            .purposes
            .iter()
            .filter(|p| current.consent_may_apply(p))
            .filter_map(|p| {
                current
                    .consent_text(p.id.as_str(), self.schema(), lang)
                    .map(|t| (p.id.clone(), t))
            })
            .collect();
        let mut e = AuditEvent::new(now_ms(), PORTAL_ACTOR, Action::Read);
        e.customer = Some(customer);
        e.detail = Some("privacy portal: notice and consents".into());
        self.audit(vec![e])?;
        let upcoming = state
            .upcoming()
            .map(|(n, at)| (n.clone(), crate::records::input::rfc3339(at), notice::diff(&current, n)));
        Ok(PortalView {
            customer,
            notice: current,
            accepted_version: accepted,
            changes_since,
            consents,
            texts,
            requests: self.requests_of(customer)?,
            upcoming,
        })
    }

    /// Give or withdraw a consent from the portal. Each purpose is its own
    /// form, so every answer there is a separate one; `guardian` says a
    /// parent or guardian is answering.
    pub fn portal_set_consent(
        &self,
        p: &Principal,
        purpose: &str,
        give: bool,
        guardian: bool,
        lang: Language,
    ) -> Result<RecordedConsent, VaultError> {
        let rec = self.own_record(p)?;
        let input = ConsentInput {
            purpose: purpose.chars().take(64).collect(),
            action: if give {
                ConsentAction::Give
            } else {
                ConsentAction::Withdraw
            },
            channel: "web".into(),
            language: lang.as_str().into(),
            separate: true,
            by: Some(if guardian { "guardian" } else { "subject" }.into()),
            text_sha256: None,
            notice_version: None,
            document_sha256: None,
        };
        let mut out = self.record_consents_for(PORTAL_ACTOR, &rec, &[input])?;
        Ok(out.pop().expect("one answer recorded"))
    }

    /// Everything held about the customer (no audit event: callers record
    /// who asked).
    pub(crate) fn data_package(&self, customer: CustomerId) -> Result<serde_json::Value, VaultError> {
        let rec = self
            .store()
            .get(&customer)?
            .ok_or_else(|| VaultError::NotFound(customer.to_string()))?;
        let clear = self.decrypt(&rec)?;
        let consents = self.consent_overview(customer, &clear)?;
        let receipts: Vec<SignedReceipt> = self.receipts_of(customer)?;
        Ok(serde_json::json!({
            "customer": customer,
            "external_id": rec.external_id,
            "created_at": crate::records::input::rfc3339(rec.created_ms),
            "updated_at": crate::records::input::rfc3339(rec.updated_ms),
            "fields": clear,
            "consents": consents,
            "receipts": receipts,
            "signing_key": self.signing_jwk(),
            "requests": self.requests_of(customer)?,
        }))
    }

    /// Everything held about the customer, for their own download: clear
    /// values of every field, consents with signed receipts, requests.
    pub fn portal_download(&self, caller: &Principal) -> Result<serde_json::Value, VaultError> {
        let customer = self.own_record(caller)?.id;
        let p = self.data_package(customer)?;
        let mut e = AuditEvent::new(now_ms(), PORTAL_ACTOR, Action::Export);
        e.customer = Some(customer);
        e.purpose = Purpose::new("data_subject_request").ok();
        e.fields = p["fields"]
            .as_object()
            .map(|o| o.keys().filter_map(|k| FieldName::new(k).ok()).collect())
            .unwrap_or_default();
        e.detail = Some("privacy portal: the customer downloaded their data".into());
        self.audit(vec![e])?;
        Ok(p)
    }

    /// Receive a request from the portal. The customer entered with a
    /// single-use code the company issued to them, which is recorded as the
    /// identity verification; opt-outs and consent withdrawals are carried
    /// out at once (they need no verification and must be as easy as
    /// consenting).
    pub fn portal_request(&self, p: &Principal, kind: RequestKind, note: &str) -> Result<RequestSummary, VaultError> {
        let customer = self.own_record(p)?.id;
        let v = self.new_request(
            p,
            &crate::rights::requests::NewRequest {
                customer: customer.to_string(),
                kind: kind.as_str().into(),
                channel: Some("portal".into()),
                note: Some(note.to_owned()),
                ..Default::default()
            },
        )?;
        if kind.needs_verification() {
            self.verify_request(p, &v.id, "portal_code")?;
        } else {
            self.carry_out(p, &v.id, None)?;
        }
        let r = self
            .store()
            .request(&v.id)?
            .ok_or_else(|| VaultError::NotFound(v.id.clone()))?;
        Ok(self.summary_of(&r))
    }

    /// A request as the customer sees it, with its deadline while open.
    fn summary_of(&self, r: &RequestRecord) -> RequestSummary {
        let mut out = RequestSummary::from(r);
        if !matches!(r.status.as_str(), "completed" | "denied") {
            out.due = self.schedule_of(r).ok().map(|s| s.respond_by.to_string());
        }
        out
    }

    /// A customer's requests.
    pub(crate) fn requests_of(&self, customer: CustomerId) -> Result<Vec<RequestSummary>, VaultError> {
        Ok(self
            .store()
            .requests(&customer)?
            .iter()
            .map(|r| self.summary_of(r))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_crockford_and_normalize() {
        for _ in 0..100 {
            let c = new_code();
            assert_eq!(c.len(), 11);
            assert_eq!(&c[5..6], "-");
            assert!(
                c.bytes().filter(|b| *b != b'-').all(|b| ALPHABET.contains(&b)),
                "{}",
                c.as_str()
            );
            assert_eq!(normalize_code(&c.to_lowercase()), normalize_code(&c));
        }
        assert_eq!(normalize_code("ab0o1-il 2"), "AB00111 2".replace(' ', ""));
        assert_eq!(normalize_code(&"x".repeat(100)).len(), 32);
    }
}
