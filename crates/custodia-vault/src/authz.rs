//! Who is calling, and what the policy lets them do.
//!
//! Two kinds of callers reach the API today: the bootstrap admin token
//! (break-glass, full access, every use audited) and service accounts'
//! API tokens, which act under their roles and are limited further by the
//! token's scopes. Service accounts are applications: MFA and training
//! apply to people, so they are treated as satisfied for them — grant
//! service roles narrowly. Staff sign in with sessions (password + TOTP).

use crate::{now_ms, Access, CustomerView, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_core::policy::{Decision, DenyReason, Permission, Request, Subject};
use custodia_core::{CustomerId, FieldDef, Purpose};
use custodia_store::{Applied, Mutation, StoredCustomer, TokenRecord};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// The bootstrap admin token.
    Bootstrap,
    /// A staff member signed in with a session.
    Staff {
        /// Account name.
        account: String,
        /// The account's roles.
        roles: Vec<String>,
        /// Whether the second factor was verified in this session.
        mfa: bool,
        /// Courses whose training is valid today.
        courses: Vec<String>,
    },
    /// A service account acting through an API token.
    Service {
        /// Account name.
        account: String,
        /// Token id.
        token: String,
        /// The account's roles.
        roles: Vec<String>,
        /// What the token may be used for.
        scopes: Vec<Permission>,
    },
}

impl Principal {
    /// The actor recorded in audit events.
    pub fn actor(&self) -> String {
        match self {
            Principal::Bootstrap => "token:admin".into(),
            Principal::Service { account, token, .. } => format!("service:{account}/{token}"),
            Principal::Staff { account, .. } => format!("staff:{account}"),
        }
    }
}

/// Why a presented token was refused (recorded in the audit log, never
/// told to the caller, who only learns "invalid, expired or revoked").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    /// Not a token Custodia issued.
    Unknown,
    /// Past its expiry.
    Expired,
    /// Revoked.
    Revoked,
    /// Its account is disabled or gone.
    AccountDisabled,
}

impl TokenRefusal {
    /// Stable code.
    pub fn code(self) -> &'static str {
        match self {
            TokenRefusal::Unknown => "unknown_token",
            TokenRefusal::Expired => "expired_token",
            TokenRefusal::Revoked => "revoked_token",
            TokenRefusal::AccountDisabled => "account_disabled",
        }
    }
}

/// A newly issued token (the secret is shown once).
#[derive(Debug, Serialize)]
pub struct IssuedToken {
    /// Token id.
    pub id: String,
    /// The token itself.
    #[serde(serialize_with = "ser_secret")]
    pub token: Zeroizing<String>,
    /// Account.
    pub account: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Expiry (RFC 3339).
    pub expires_at: String,
}

fn ser_secret<S: serde::Serializer>(t: &Zeroizing<String>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(t)
}

/// A token as listed (no secret).
#[derive(Debug, Clone, Serialize)]
pub struct TokenView {
    /// Token id.
    pub id: String,
    /// Account.
    pub account: String,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Expiry (RFC 3339).
    pub expires_at: String,
    /// Whether revoked.
    pub revoked: bool,
}

fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

impl Vault {
    /// Issue an API token for a service account. `scopes` limits it to some
    /// permissions (empty: whatever the account's roles allow); it expires
    /// after `days`.
    pub fn issue_token(
        &self,
        actor: &str,
        account: &str,
        scopes: &[Permission],
        days: u32,
    ) -> Result<IssuedToken, VaultError> {
        let a = self
            .store()
            .account(account)?
            .ok_or_else(|| VaultError::NotFound(format!("account {account:?}")))?;
        if a.kind != "service" {
            return Err(VaultError::Input(
                "API tokens are for service accounts; staff sign in with password and MFA".into(),
            ));
        }
        if a.disabled {
            return Err(VaultError::Input("the account is disabled".into()));
        }
        if !(1..=366).contains(&days) {
            return Err(VaultError::Input("a token lives 1 to 366 days".into()));
        }
        let mut raw = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
        let token = Zeroizing::new(format!("cst_{}", custodia_core::audit::to_hex(&raw)));
        zeroize::Zeroize::zeroize(&mut raw);
        let mut idb = [0u8; 6];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut idb);
        let id = format!("tok_{}", custodia_core::audit::to_hex(&idb));
        let now = now_ms();
        let scopes: Vec<String> = scopes.iter().map(|p| p.as_str().to_owned()).collect();
        let rec = TokenRecord {
            id: id.clone(),
            account: account.to_owned(),
            digest: digest(&token),
            scopes: scopes.clone(),
            expires_ms: now + days as i64 * 86_400_000,
            revoked: false,
            created_ms: now,
        };
        let mut e = AuditEvent::new(now, actor, Action::TokenIssue);
        e.detail = Some(format!(
            "token {id} for {account} scopes={} days={days}",
            if scopes.is_empty() {
                "roles".into()
            } else {
                scopes.join(",")
            }
        ));
        self.apply_one(vec![Mutation::PutToken {
            token: rec.clone(),
            events: vec![e],
        }])?;
        Ok(IssuedToken {
            id,
            token,
            account: account.to_owned(),
            scopes,
            expires_at: crate::record::rfc3339(rec.expires_ms),
        })
    }

    /// Revoke a token by id.
    pub fn revoke_token(&self, actor: &str, id: &str) -> Result<(), VaultError> {
        let mut e = AuditEvent::new(now_ms(), actor, Action::TokenIssue);
        e.detail = Some(format!("token {id} revoked"));
        match self
            .apply_one(vec![Mutation::RevokeToken {
                id: id.to_owned(),
                events: vec![e],
            }])?
            .pop()
        {
            Some(Applied::Done) => Ok(()),
            _ => Err(VaultError::NotFound(format!("token {id:?}"))),
        }
    }

    /// Every token (no secrets).
    pub fn tokens(&self) -> Result<Vec<TokenView>, VaultError> {
        Ok(self
            .store()
            .tokens()?
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                account: t.account,
                scopes: t.scopes,
                expires_at: crate::record::rfc3339(t.expires_ms),
                revoked: t.revoked,
            })
            .collect())
    }

    /// The principal behind a service-account token.
    pub fn authenticate_token(&self, token: &str) -> Result<Result<Principal, TokenRefusal>, VaultError> {
        let Some(t) = self.store().token_by_digest(&digest(token))? else {
            return Ok(Err(TokenRefusal::Unknown));
        };
        if t.revoked {
            return Ok(Err(TokenRefusal::Revoked));
        }
        if t.expires_ms <= now_ms() {
            return Ok(Err(TokenRefusal::Expired));
        }
        let Some(a) = self.store().account(&t.account)? else {
            return Ok(Err(TokenRefusal::AccountDisabled));
        };
        if a.disabled || a.kind != "service" {
            return Ok(Err(TokenRefusal::AccountDisabled));
        }
        let scopes = if t.scopes.is_empty() {
            Permission::ALL.to_vec()
        } else {
            t.scopes.iter().filter_map(|s| Permission::parse(s)).collect()
        };
        Ok(Ok(Principal::Service {
            account: a.name,
            token: t.id,
            roles: a.roles,
            scopes,
        }))
    }

    /// The principal behind a staff session cookie.
    pub fn staff_principal(&self, session_token: &str) -> Result<Option<(Principal, String)>, VaultError> {
        let Some(sess) = self.session(session_token)? else {
            return Ok(None);
        };
        let Some(a) = self.store().account(&sess.account)? else {
            return Ok(None);
        };
        let courses = self.valid_courses(&a.name)?;
        Ok(Some((
            Principal::Staff {
                account: a.name,
                roles: a.roles,
                mfa: sess.mfa_ok,
                courses,
            },
            sess.csrf,
        )))
    }

    /// Decide one request for a principal.
    pub fn decide(
        &self,
        p: &Principal,
        permission: Permission,
        field: Option<&FieldDef>,
        attrs: Option<&BTreeMap<String, String>>,
        purpose: Option<&Purpose>,
    ) -> Decision {
        let req = Request {
            permission,
            field: field.map(|f| (&f.name, f.classification)),
            attrs,
            purpose,
        };
        let subject = match p {
            Principal::Bootstrap => {
                return Decision {
                    allowed: true,
                    reason: None,
                    rule: None,
                }
            }
            Principal::Staff {
                roles, mfa, courses, ..
            } => Subject {
                roles,
                mfa: *mfa,
                valid_courses: courses,
            },
            Principal::Service { roles, scopes, .. } => {
                if !scopes.contains(&permission) {
                    return Decision {
                        allowed: false,
                        reason: Some(DenyReason::NoGrant),
                        rule: None,
                    };
                }
                // Applications: the MFA and training gates are for people.
                Subject {
                    roles,
                    mfa: true,
                    valid_courses: self.policy().courses_for(permission),
                }
            }
        };
        self.policy().decide(&subject, &req)
    }

    /// Require an allow, auditing a denial.
    pub fn require(
        &self,
        p: &Principal,
        permission: Permission,
        field: Option<&FieldDef>,
        attrs: Option<&BTreeMap<String, String>>,
        purpose: Option<&Purpose>,
        customer: Option<CustomerId>,
    ) -> Result<(), VaultError> {
        let d = self.decide(p, permission, field, attrs, purpose);
        if d.allowed {
            return Ok(());
        }
        let what = match field {
            Some(f) => format!("{permission} of {}", f.name),
            None => permission.to_string(),
        };
        let mut e = AuditEvent::new(now_ms(), p.actor(), Action::AccessDenied);
        e.customer = customer;
        e.purpose = purpose.cloned();
        e.fields = field.map(|f| vec![f.name.clone()]).unwrap_or_default();
        e.outcome = Outcome::Denied;
        e.detail = Some(format!("{what}: {d}"));
        drop(self.store().submit(vec![Mutation::Audit(vec![e])]));
        Err(match d.reason {
            Some(DenyReason::PurposeRequired) => VaultError::PurposeRequired,
            _ => VaultError::Forbidden(format!("{what}: {d}")),
        })
    }

    /// The purpose a principal must declare for data access (services
    /// always; the bootstrap token only to reveal).
    pub fn purpose_for(&self, p: &Principal, purpose: Option<&str>) -> Result<Option<Purpose>, VaultError> {
        match (p, purpose.filter(|s| !s.is_empty())) {
            (_, Some(s)) => Ok(Some(self.purpose(s)?)),
            (Principal::Bootstrap, None) => Ok(None),
            (Principal::Service { .. } | Principal::Staff { .. }, None) => Err(VaultError::PurposeRequired),
        }
    }

    /// A record's view as `p` may see it: fields without `read_masked` are
    /// left out, reveals are checked field by field (any refusal fails the
    /// whole request, naming the field).
    pub fn view_as(
        &self,
        p: &Principal,
        rec: &StoredCustomer,
        access: &Access,
        purpose: Option<&Purpose>,
    ) -> Result<CustomerView, VaultError> {
        let declared = purpose.or(match access {
            Access::Masked => None,
            Access::Reveal { purpose, .. } => Some(purpose),
        });
        let attrs: BTreeMap<String, String> = serde_json::from_str(&rec.attrs).unwrap_or_default();
        if *p != Principal::Bootstrap {
            // Authorization before consent: a caller the policy does not let
            // use this purpose on this record learns nothing about the
            // customer's consents.
            let any = self.schema().fields().iter().any(|f| {
                self.decide(p, Permission::ReadMasked, Some(f), Some(&attrs), purpose)
                    .allowed
                    || self
                        .decide(p, Permission::Reveal, Some(f), Some(&attrs), purpose)
                        .allowed
            });
            if !any {
                self.require(p, Permission::ReadMasked, None, Some(&attrs), purpose, Some(rec.id))?;
            }
        }
        let mut view = self.view_for(rec, access, declared)?;
        if *p == Principal::Bootstrap {
            return Ok(view);
        }
        for name in &view.revealed {
            let def = self.schema().field(name.as_str()).expect("a schema field");
            self.require(p, Permission::Reveal, Some(def), Some(&attrs), purpose, Some(rec.id))?;
        }
        let mut hidden = Vec::new();
        for name in view.fields.keys() {
            let def = self.schema().field(name).expect("a schema field");
            let revealed = view.revealed.iter().any(|r| r.as_str() == name);
            if !revealed
                && !self
                    .decide(p, Permission::ReadMasked, Some(def), Some(&attrs), purpose)
                    .allowed
            {
                hidden.push(name.clone());
            }
        }
        if hidden.len() == view.fields.len() {
            return self
                .require(p, Permission::ReadMasked, None, Some(&attrs), purpose, Some(rec.id))
                .map(|_| view);
        }
        for h in hidden {
            view.fields.remove(&h);
        }
        Ok(view)
    }
}

impl Vault {
    /// Read one customer as `p`; the audit event is submitted, and must be
    /// awaited before the view is shown.
    pub fn get_as(
        &self,
        p: &Principal,
        id: &str,
        access: &Access,
        purpose: Option<&Purpose>,
    ) -> Result<(CustomerView, custodia_store::Pending), VaultError> {
        let id: CustomerId = id
            .parse()
            .map_err(|e: custodia_core::IdError| VaultError::Input(e.to_string()))?;
        let rec = self
            .store()
            .get(&id)?
            .ok_or_else(|| VaultError::NotFound(id.to_string()))?;
        let view = self.view_as(p, &rec, access, purpose)?;
        let mut e = self.read_event(&p.actor(), access, &view);
        if e.purpose.is_none() {
            e.purpose = purpose.cloned();
        }
        let pending = self.store().submit(vec![Mutation::Audit(vec![e])]);
        Ok((view, pending))
    }

    /// Exact-match search as `p`: results outside the caller's grants are
    /// left out (a search is no oracle for records one may not read).
    pub fn find_as(
        &self,
        p: &Principal,
        field: &str,
        value: &str,
        access: &Access,
        purpose: Option<&Purpose>,
        limit: usize,
    ) -> Result<Vec<CustomerView>, VaultError> {
        let def = self
            .schema()
            .field(field)
            .ok_or_else(|| VaultError::Invalid(vec![crate::unknown_field(field)]))?
            .clone();
        if !def.searchable {
            return Err(VaultError::NotSearchable(field.into()));
        }
        let actor = p.actor();
        let mut search = AuditEvent::new(now_ms(), &actor, Action::Search);
        search.fields = vec![def.name.clone()];
        search.purpose = purpose.cloned();
        let mut out = Vec::new();
        let mut without_consent = 0;
        if let Ok(normalized) = self.normalize(field, value) {
            for rec in self.lookup(&def, &normalized)? {
                let attrs: BTreeMap<String, String> = serde_json::from_str(&rec.attrs).unwrap_or_default();
                if !self
                    .decide(p, Permission::ReadMasked, Some(&def), Some(&attrs), purpose)
                    .allowed
                {
                    continue;
                }
                // Customers the purpose may not be used for are not found:
                // a search is no way around a missing consent.
                match self.view_as(p, &rec, access, purpose) {
                    Ok(v) => out.push(v),
                    Err(VaultError::ConsentRequired { .. } | VaultError::ProcessingStopped { .. }) => {
                        without_consent += 1;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
                if out.len() >= limit.clamp(1, crate::MAX_SEARCH) {
                    break;
                }
            }
        }
        search.detail = Some(if without_consent > 0 {
            format!("matches={} left_out_without_consent={without_consent}", out.len())
        } else {
            format!("matches={}", out.len())
        });
        let mut events = vec![search];
        for v in &out {
            let mut e = self.read_event(&actor, access, v);
            if e.purpose.is_none() {
                e.purpose = purpose.cloned();
            }
            events.push(e);
        }
        self.audit(events)?;
        Ok(out)
    }

    /// Check that `p` may write every field of a new record.
    pub fn authorize_create(
        &self,
        p: &Principal,
        input: &crate::RecordInput,
        purpose: Option<&Purpose>,
    ) -> Result<(), VaultError> {
        if *p == Principal::Bootstrap {
            return Ok(());
        }
        let attrs: BTreeMap<String, String> = input
            .fields
            .iter()
            .filter(|(k, _)| self.schema().field(k).is_some_and(|f| !f.classification.is_encrypted()))
            .map(|(k, v)| (k.clone(), v.trim().to_owned()))
            .collect();
        for name in input.fields.keys() {
            if let Some(def) = self.schema().field(name) {
                self.require(p, Permission::Write, Some(def), Some(&attrs), purpose, None)?;
            }
        }
        Ok(())
    }

    /// Check that `p` may change these fields of an existing record, or
    /// delete it (`fields` empty and `delete`).
    pub fn authorize_change(
        &self,
        p: &Principal,
        id: &str,
        fields: &[&str],
        delete: bool,
        purpose: Option<&Purpose>,
    ) -> Result<(), VaultError> {
        if *p == Principal::Bootstrap {
            return Ok(());
        }
        let cid: CustomerId = id
            .parse()
            .map_err(|e: custodia_core::IdError| VaultError::Input(e.to_string()))?;
        let rec = self
            .store()
            .get(&cid)?
            .ok_or_else(|| VaultError::NotFound(cid.to_string()))?;
        let attrs: BTreeMap<String, String> = serde_json::from_str(&rec.attrs).unwrap_or_default();
        if delete {
            return self.require(p, Permission::Delete, None, Some(&attrs), purpose, Some(cid));
        }
        for name in fields {
            if let Some(def) = self.schema().field(name) {
                self.require(p, Permission::Write, Some(def), Some(&attrs), purpose, Some(cid))?;
            }
        }
        Ok(())
    }
}

impl Vault {
    /// Check that `p` may act on a whole record with `permission` (reading
    /// its consents, recording consents, issuing a portal code).
    pub fn authorize_record(
        &self,
        p: &Principal,
        id: &str,
        permission: Permission,
        purpose: Option<&Purpose>,
    ) -> Result<CustomerId, VaultError> {
        let cid: CustomerId = id
            .parse()
            .map_err(|e: custodia_core::IdError| VaultError::Input(e.to_string()))?;
        let rec = self
            .store()
            .get(&cid)?
            .ok_or_else(|| VaultError::NotFound(cid.to_string()))?;
        if *p == Principal::Bootstrap {
            return Ok(cid);
        }
        let attrs: BTreeMap<String, String> = serde_json::from_str(&rec.attrs).unwrap_or_default();
        self.require(p, permission, None, Some(&attrs), purpose, Some(cid))?;
        Ok(cid)
    }
}
