//! The customers' privacy portal: single-use entry codes the company
//! issues, short portal sessions, and what a customer may do there (read
//! the notice and what changed, give and withdraw consents, download their
//! data, ask for correction or deletion).
//!
//! A customer never reaches the portal by an id: only by an entry code of
//! 50 random bits (shown once, stored as a SHA-256 digest), usable once,
//! expiring, with failed attempts throttled per client address.

use crate::consent::{ConsentAction, ConsentInput, ConsentOverview, RecordedConsent, SignedReceipt};
use crate::{now_ms, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_core::notice::{self, Change, Language, Notice};
use custodia_core::rights::RequestKind;
use custodia_core::{CustomerId, FieldName, Purpose};
use custodia_store::{Applied, Mutation, PortalTokenRecord, RequestRecord};
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

/// Crockford's base32 alphabet: no I, L, O, U, so codes read aloud well.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A newly issued entry code (shown once).
#[derive(Debug, Serialize)]
pub struct PortalLink {
    /// The code, `XXXXX-XXXXX`.
    #[serde(serialize_with = "ser_secret")]
    pub code: Zeroizing<String>,
    /// Path of the entry page with the code filled in (prefix the server's address).
    #[serde(serialize_with = "ser_secret")]
    pub path: Zeroizing<String>,
    /// Whose portal it opens.
    pub customer: CustomerId,
    /// Expiry (RFC 3339).
    pub expires_at: String,
}

fn ser_secret<S: serde::Serializer>(t: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t)
}

/// A portal session just opened.
#[derive(Debug)]
pub struct PortalSession {
    /// The session secret for the cookie.
    pub token: Zeroizing<String>,
    /// Whose portal.
    pub customer: CustomerId,
}

/// A live portal session.
#[derive(Debug, Clone)]
pub struct PortalContext {
    /// Whose portal.
    pub customer: CustomerId,
    /// The session's anti-CSRF token.
    pub csrf: String,
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
}

impl From<&RequestRecord> for RequestSummary {
    fn from(r: &RequestRecord) -> Self {
        RequestSummary {
            id: r.id.clone(),
            kind: r.kind.clone(),
            status: r.status.clone(),
            channel: r.channel.clone(),
            received_at: crate::record::rfc3339(r.created_ms),
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
}

fn digest(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
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

    /// Issue a single-use entry code to a customer's portal, valid for `hours`.
    pub fn issue_portal_link(&self, actor: &str, customer: &str, hours: u32) -> Result<PortalLink, VaultError> {
        let cid: CustomerId = customer
            .parse()
            .map_err(|e: custodia_core::IdError| VaultError::Input(e.to_string()))?;
        if !(1..=MAX_ENTRY_HOURS).contains(&hours) {
            return Err(VaultError::Input(format!(
                "an entry code lives 1 to {MAX_ENTRY_HOURS} hours"
            )));
        }
        if self.store().get(&cid)?.is_none() {
            return Err(VaultError::NotFound(cid.to_string()));
        }
        let code = new_code();
        let now = now_ms();
        let rec = PortalTokenRecord {
            digest: digest(&normalize_code(&code)),
            customer: cid,
            kind: "entry".into(),
            csrf: String::new(),
            created_ms: now,
            expires_ms: now + hours as i64 * 3_600_000,
            used: false,
            issued_by: actor.into(),
        };
        let e = self.portal_event(
            actor,
            Some(cid),
            Outcome::Ok,
            format!("entry code issued, valid {hours} h"),
        );
        self.apply_one(vec![Mutation::PutPortalToken {
            token: rec.clone(),
            events: vec![e],
        }])?;
        let path = Zeroizing::new(format!("/portal/enter?code={}", code.as_str()));
        Ok(PortalLink {
            code,
            path,
            customer: cid,
            expires_at: crate::record::rfc3339(rec.expires_ms),
        })
    }

    /// Exchange an entry code for a portal session.
    pub fn portal_enter(&self, code: &str, client: &str) -> Result<Result<PortalSession, PortalRefusal>, VaultError> {
        let now = now_ms();
        let key = format!("portal:{client}");
        if let Some(until) = self.throttle().locked_until(&key, now) {
            return Ok(Err(PortalRefusal::Locked {
                minutes: (until - now + 59_999) / 60_000,
            }));
        }
        let d = digest(&normalize_code(code));
        let found = self.store().portal_token(&d)?.filter(|t| t.kind == "entry");
        let refuse = |why: &str| -> Result<Result<PortalSession, PortalRefusal>, VaultError> {
            let (_, locked) = self.throttle().fail(&key, now);
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
            issued_by: PORTAL_ACTOR.into(),
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
                self.throttle().clear(&key);
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

    /// What the portal's main page shows, in `lang`.
    pub fn portal_view(&self, customer: CustomerId, lang: Language) -> Result<PortalView, VaultError> {
        let rec = self
            .store()
            .get(&customer)?
            .ok_or_else(|| VaultError::NotFound(customer.to_string()))?;
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
            .filter(|p| p.basis.needs_consent())
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
        Ok(PortalView {
            customer,
            notice: current,
            accepted_version: accepted,
            changes_since,
            consents,
            texts,
            requests: self.requests_of(customer)?,
        })
    }

    /// Give or withdraw a consent from the portal. Each purpose is its own
    /// form, so every answer there is a separate one; `guardian` says a
    /// parent or guardian is answering.
    pub fn portal_set_consent(
        &self,
        customer: CustomerId,
        purpose: &str,
        give: bool,
        guardian: bool,
        lang: Language,
    ) -> Result<RecordedConsent, VaultError> {
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
        };
        let mut out = self.record_consents(PORTAL_ACTOR, &customer.to_string(), &[input])?;
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
        let receipts: Vec<SignedReceipt> = self.signed_receipts(&customer.to_string())?;
        Ok(serde_json::json!({
            "customer": customer,
            "external_id": rec.external_id,
            "created_at": crate::record::rfc3339(rec.created_ms),
            "updated_at": crate::record::rfc3339(rec.updated_ms),
            "fields": clear,
            "consents": consents,
            "receipts": receipts,
            "signing_key": self.signing_jwk(),
            "requests": self.requests_of(customer)?,
        }))
    }

    /// Everything held about the customer, for their own download: clear
    /// values of every field, consents with signed receipts, requests.
    pub fn portal_download(&self, customer: CustomerId) -> Result<serde_json::Value, VaultError> {
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
    pub fn portal_request(
        &self,
        customer: CustomerId,
        kind: RequestKind,
        note: &str,
    ) -> Result<RequestSummary, VaultError> {
        let v = self.new_request(
            PORTAL_ACTOR,
            &crate::rights::NewRequest {
                customer: customer.to_string(),
                kind: kind.as_str().into(),
                channel: Some("portal".into()),
                note: Some(note.to_owned()),
                ..Default::default()
            },
        )?;
        if kind.needs_verification() {
            self.verify_request(PORTAL_ACTOR, &v.id, "portal_code")?;
        } else {
            self.carry_out(PORTAL_ACTOR, &v.id, None)?;
        }
        let r = self
            .store()
            .request(&v.id)?
            .ok_or_else(|| VaultError::NotFound(v.id.clone()))?;
        Ok(RequestSummary::from(&r))
    }

    /// A customer's requests.
    pub fn requests_of(&self, customer: CustomerId) -> Result<Vec<RequestSummary>, VaultError> {
        Ok(self
            .store()
            .requests(&customer)?
            .iter()
            .map(RequestSummary::from)
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
