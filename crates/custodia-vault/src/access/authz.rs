//! Who is calling, and what the policy lets them do.
//!
//! Every operation of the vault takes the caller, a [`Principal`], and
//! decides for itself; no shell (API, pages, command line, background
//! jobs) reaches customer data, keys or the store any other way. The
//! principals:
//!
//! * **staff** signed in with a session (password + TOTP): the policy with
//!   MFA and training gates;
//! * **service** accounts acting through scoped API tokens: the policy,
//!   limited further by the token's scopes (MFA and training are for
//!   people, so they do not apply — grant service roles narrowly);
//! * the **local operator** of the command line, with roles from
//!   `[operator]` in `config.toml`. Whoever holds the data directory and the
//!   master key can read everything, so for the operator the policy is a
//!   guardrail and a record of who did what, not a security boundary;
//! * a **customer** in the privacy portal: that one customer's own data and
//!   rights, nothing else;
//! * **system** jobs of the server (retention, scheduled backups, ledger
//!   synchronisation): each only its own job;
//! * the **bootstrap** token: creates the first administrator, nothing else;
//! * **break-glass**: an administrator's short-lived emergency token,
//!   issued on the server's command line (master key + the administrator's
//!   password and code); allowed everything, and loud in the audit log.

use crate::{now_ms, Vault, VaultError};
use custodia_core::accounts::AccountKind;
use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_core::policy::{Decision, DenyReason, Permission, Request, Subject};
use custodia_core::{CustomerId, FieldDef, Purpose};
use custodia_store::prelude::*;
use custodia_store::{Applied, Mutation, StoredCustomer, TokenRecord};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// A background job of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Job {
    /// Retention runs: destroy what no purpose of the notice keeps.
    Retention,
    /// Scheduled backups.
    Backup,
    /// Bringing the erasure ledger up to date with shared storage.
    LedgerSync,
}

impl Job {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Job::Retention => "retention",
            Job::Backup => "backup",
            Job::LedgerSync => "ledger_sync",
        }
    }
}

/// An authenticated caller. Only the vault makes principals — from a
/// verified API token or session, the configured operator, a portal
/// session, the bootstrap token — so a shell cannot claim an identity it
/// did not prove (the one exception, [`Principal::system`], can only run
/// the server's own jobs).
#[derive(Clone, PartialEq, Eq)]
pub struct Principal(pub(crate) Who);

impl std::fmt::Debug for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Principal({})", self.actor())
    }
}

/// Who a [`Principal`] is (private: only the vault makes principals).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Who {
    /// A staff member signed in with a session.
    Staff {
        /// Account name.
        account: String,
        /// The account's roles.
        roles: Vec<String>,
        /// Whether the second factor was verified in this session.
        mfa: bool,
        /// When a code was last confirmed in the session (ms): a reveal
        /// needs one within `[sign_in] step_up_seconds`.
        mfa_at_ms: Option<i64>,
        /// Courses whose training is valid today (passed, not expired).
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
    /// The local operator of the command line.
    Operator {
        /// The operator's name (OS user, or `CUSTODIA_OPERATOR`).
        name: String,
        /// Roles from `[operator]` in `config.toml`.
        roles: Vec<String>,
    },
    /// A customer in the privacy portal.
    Customer {
        /// The customer; nobody else's data is reachable.
        customer: CustomerId,
        /// Who sent the code the session was opened with (a request filed
        /// in the portal counts as verified by them, for separation of
        /// duties).
        code_from: String,
    },
    /// A background job of the server.
    System(Job),
    /// The bootstrap token (creates the first administrator only).
    Bootstrap,
    /// An administrator's break-glass token.
    BreakGlass {
        /// The administrator who opened it.
        admin: String,
        /// Token id.
        token: String,
    },
}

/// The person behind an audit actor (`staff:li.na`, `service:crm/tok_1`,
/// `operator:root`, `breakglass:it.admin/tok_2` → `li.na`, `crm`, `root`,
/// `it.admin`), for separation of duties.
pub(crate) fn person_of(actor: &str) -> Option<&str> {
    let (_, rest) = actor.split_once(':')?;
    Some(rest.split('/').next().unwrap_or(rest)).filter(|s| !s.is_empty())
}

impl Principal {
    /// The principal of one of the server's background jobs (it can do
    /// that job and nothing else).
    pub fn system(job: Job) -> Principal {
        Principal(Who::System(job))
    }

    /// The actor recorded in audit events.
    pub fn actor(&self) -> String {
        match &self.0 {
            Who::Bootstrap => "token:bootstrap".into(),
            Who::Service { account, token, .. } => format!("service:{account}/{token}"),
            Who::Staff { account, .. } => format!("staff:{account}"),
            Who::Operator { name, .. } => format!("operator:{name}"),
            Who::Customer { .. } => crate::privacy::portal::PORTAL_ACTOR.into(),
            Who::System(job) => format!("system:{}", job.as_str()),
            Who::BreakGlass { admin, token } => format!("breakglass:{admin}/{token}"),
        }
    }

    /// The roles the policy decides for (none for customers, jobs and the
    /// bootstrap token, which have operations of their own).
    pub fn roles(&self) -> &[String] {
        match &self.0 {
            Who::Staff { roles, .. } | Who::Service { roles, .. } | Who::Operator { roles, .. } => roles,
            _ => &[],
        }
    }

    /// The account name of staff, service and break-glass callers.
    pub fn account(&self) -> Option<&str> {
        match &self.0 {
            Who::Staff { account, .. } | Who::Service { account, .. } => Some(account),
            Who::BreakGlass { admin, .. } => Some(admin),
            _ => None,
        }
    }

    /// Who this is as a person, for separation of duties and "nobody
    /// records their own training": staff and break-glass by account,
    /// operators by name.
    pub fn person(&self) -> Option<&str> {
        match &self.0 {
            Who::Staff { account, .. } => Some(account),
            Who::BreakGlass { admin, .. } => Some(admin),
            Who::Operator { name, .. } => Some(name),
            _ => None,
        }
    }

    /// For a customer in the portal: who sent the code their session was
    /// opened with.
    pub fn code_from(&self) -> Option<&str> {
        match &self.0 {
            Who::Customer { code_from, .. } => Some(code_from),
            _ => None,
        }
    }

    /// Short kind name (`staff`, `service`, `operator`, `customer`,
    /// `system`, `bootstrap`, `break_glass`).
    pub fn kind(&self) -> &'static str {
        match &self.0 {
            Who::Staff { .. } => "staff",
            Who::Service { .. } => "service",
            Who::Operator { .. } => "operator",
            Who::Customer { .. } => "customer",
            Who::System(_) => "system",
            Who::Bootstrap => "bootstrap",
            Who::BreakGlass { .. } => "break_glass",
        }
    }

    /// The customer, for a customer in the portal.
    pub fn customer(&self) -> Option<CustomerId> {
        match &self.0 {
            Who::Customer { customer, .. } => Some(*customer),
            _ => None,
        }
    }

    /// Whether a staff member verified the second factor in this session
    /// (`None` for callers that are not staff sessions).
    pub fn mfa(&self) -> Option<bool> {
        match &self.0 {
            Who::Staff { mfa, .. } => Some(*mfa),
            _ => None,
        }
    }

    /// A staff member's courses whose training counts today.
    pub fn courses(&self) -> &[String] {
        match &self.0 {
            Who::Staff { courses, .. } => courses,
            _ => &[],
        }
    }

    /// A service token's scopes (`None` for other callers).
    pub fn scopes(&self) -> Option<&[Permission]> {
        match &self.0 {
            Who::Service { scopes, .. } => Some(scopes),
            _ => None,
        }
    }

    /// Whether this is the bootstrap token.
    pub fn is_bootstrap(&self) -> bool {
        self.0 == Who::Bootstrap
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

/// Scope marker of break-glass tokens in the token table.
pub(crate) const BREAK_GLASS_SCOPE: &str = "break_glass";

pub(crate) fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

pub(crate) fn new_secret(prefix: &str) -> Zeroizing<String> {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let token = Zeroizing::new(format!("{prefix}{}", custodia_core::audit::to_hex(&raw)));
    zeroize::Zeroize::zeroize(&mut raw);
    token
}

pub(crate) fn new_token_id() -> String {
    let mut idb = [0u8; 6];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut idb);
    format!("tok_{}", custodia_core::audit::to_hex(&idb))
}

/// The internal attributes of a stored record (what scoped grants look at).
pub(crate) fn attrs_of(rec: &StoredCustomer) -> Result<BTreeMap<String, String>, VaultError> {
    serde_json::from_str(&rec.attrs).map_err(|_| {
        VaultError::Store(custodia_store::StoreError::Corrupt(format!(
            "attributes of customer {}",
            rec.id
        )))
    })
}

/// What a break-glass token may not do, though it may do everything else:
/// whatever would outlive it.
pub const BREAK_GLASS_NEVER: [Permission; 4] = [
    Permission::ManageAccounts,
    Permission::ManagePolicy,
    Permission::ManageTraining,
    Permission::ReviewAccess,
];

impl Vault {
    /// The principal of the command line's operator `name`, with the roles
    /// `[operator]` in `config.toml` gives them.
    pub fn operator(&self, name: &str) -> Principal {
        Principal(Who::Operator {
            name: name.to_owned(),
            roles: self.config().operator.roles_of(name),
        })
    }

    /// Issue an API token for a service account. `scopes` limits it to some
    /// permissions (empty: whatever the account's roles allow); it expires
    /// after `days`. Needs `manage_accounts`, and for an account holding
    /// roles that reach personal data also `review_access` (whoever holds
    /// the token acts with those roles, so an administrator alone may not
    /// take one).
    pub fn issue_token(
        &self,
        p: &Principal,
        account: &str,
        scopes: &[Permission],
        days: u32,
    ) -> Result<IssuedToken, VaultError> {
        self.require_admin(p, Permission::ManageAccounts)?;
        let a = self
            .store()
            .account(account)?
            .ok_or_else(|| VaultError::NotFound(format!("account {account:?}")))?;
        if a.kind != AccountKind::Service {
            return Err(VaultError::Input(
                "API tokens are for service accounts; staff sign in with password and MFA".into(),
            ));
        }
        if a.disabled {
            return Err(VaultError::Input("the account is disabled".into()));
        }
        let data_roles: Vec<&String> = a.roles.iter().filter(|r| !self.policy().is_administrative(r)).collect();
        if !data_roles.is_empty() {
            let d = self.decide(p, Permission::ReviewAccess, None, None, None);
            if !d.allowed {
                return Err(self.forbid(
                    p,
                    None,
                    format!(
                        "{account} holds roles that reach personal data ({}), so its token is issued by someone who also holds review_access (the operator of the server, or an administrator together with a privacy officer)",
                        data_roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }
        if !(1..=366).contains(&days) {
            return Err(VaultError::Input("a token lives 1 to 366 days".into()));
        }
        let token = new_secret("cst_");
        let id = new_token_id();
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
        let mut e = AuditEvent::new(now, p.actor(), Action::TokenIssue);
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
            expires_at: crate::records::input::rfc3339(rec.expires_ms),
        })
    }

    /// Revoke a token by id. Needs `manage_accounts`.
    pub fn revoke_token(&self, p: &Principal, id: &str) -> Result<(), VaultError> {
        self.require_admin(p, Permission::ManageAccounts)?;
        let mut e = AuditEvent::new(now_ms(), p.actor(), Action::TokenIssue);
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

    /// Every token (no secrets). Needs `manage_accounts` or `review_access`.
    pub fn tokens(&self, p: &Principal) -> Result<Vec<TokenView>, VaultError> {
        self.require_any_admin(p, &[Permission::ManageAccounts, Permission::ReviewAccess])?;
        Ok(self
            .store()
            .tokens()?
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                account: t.account,
                scopes: t.scopes,
                expires_at: crate::records::input::rfc3339(t.expires_ms),
                revoked: t.revoked,
            })
            .collect())
    }

    /// The principal behind an API token (a service account's, or a
    /// break-glass token).
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
        if a.disabled {
            return Ok(Err(TokenRefusal::AccountDisabled));
        }
        if t.scopes.iter().any(|s| s == BREAK_GLASS_SCOPE) {
            // Only a staff administrator can hold one (checked at issue;
            // checked again here in case the account changed since).
            if a.kind != AccountKind::Staff || !self.policy().grants(&a.roles, Permission::ManageAccounts) {
                return Ok(Err(TokenRefusal::AccountDisabled));
            }
            return Ok(Ok(Principal(Who::BreakGlass {
                admin: a.name,
                token: t.id,
            })));
        }
        if a.kind != AccountKind::Service {
            return Ok(Err(TokenRefusal::AccountDisabled));
        }
        let scopes = if t.scopes.is_empty() {
            Permission::ALL.to_vec()
        } else {
            // Stored scopes were validated at issue; one that no longer
            // parses grants nothing.
            t.scopes.iter().filter_map(|s| Permission::parse(s)).collect()
        };
        Ok(Ok(Principal(Who::Service {
            account: a.name,
            token: t.id,
            roles: a.roles,
            scopes,
        })))
    }

    /// The principal behind a staff session cookie, and the session's CSRF
    /// token.
    pub fn staff_principal(&self, session_token: &str) -> Result<Option<(Principal, String)>, VaultError> {
        let Some(sess) = self.session(session_token)? else {
            return Ok(None);
        };
        let Some(a) = self.store().account(&sess.account)? else {
            return Ok(None);
        };
        if a.disabled {
            return Ok(None);
        }
        let courses = self.valid_courses(&a.name)?;
        Ok(Some((
            Principal(Who::Staff {
                account: a.name,
                roles: a.roles,
                mfa: sess.mfa_ok,
                mfa_at_ms: sess.mfa_at_ms,
                courses,
            }),
            sess.csrf,
        )))
    }

    /// Decide one request for a principal (pure: nothing is read or
    /// audited). Customers, jobs and the bootstrap token hold no policy
    /// permission; their operations check them by name.
    pub fn decide(
        &self,
        p: &Principal,
        permission: Permission,
        field: Option<&FieldDef>,
        attrs: Option<&BTreeMap<String, String>>,
        purpose: Option<&Purpose>,
    ) -> Decision {
        self.decide_with(p, permission, field, attrs, purpose, false)
    }

    /// [`Vault::decide`] for some customer in the caller's scope (whether
    /// the caller may do this at all, e.g. search a field).
    pub(crate) fn decide_anywhere(
        &self,
        p: &Principal,
        permission: Permission,
        field: Option<&FieldDef>,
        purpose: Option<&Purpose>,
    ) -> Decision {
        self.decide_with(p, permission, field, None, purpose, true)
    }

    fn decide_with(
        &self,
        p: &Principal,
        permission: Permission,
        field: Option<&FieldDef>,
        attrs: Option<&BTreeMap<String, String>>,
        purpose: Option<&Purpose>,
        anywhere: bool,
    ) -> Decision {
        let req = Request {
            permission,
            field: field.map(|f| (&f.name, f.classification)),
            attrs,
            purpose,
        };
        let deny = Decision {
            allowed: false,
            reason: Some(DenyReason::NoGrant),
            rule: None,
        };
        let subject = match &p.0 {
            // An emergency opens the data for an hour; it leaves nothing
            // behind: no accounts, role grants, training records or rule
            // changes made under it outlive the token.
            Who::BreakGlass { .. } if BREAK_GLASS_NEVER.contains(&permission) => return deny,
            Who::BreakGlass { .. } => {
                return Decision {
                    allowed: true,
                    reason: None,
                    rule: None,
                }
            }
            Who::Bootstrap | Who::Customer { .. } | Who::System(_) => return deny,
            Who::Staff {
                roles, mfa, courses, ..
            } => Subject {
                roles,
                mfa: *mfa,
                valid_courses: courses,
                trained: false,
            },
            Who::Service { roles, scopes, .. } => {
                if !scopes.contains(&permission) {
                    return deny;
                }
                Subject {
                    roles,
                    mfa: true,
                    valid_courses: &[],
                    trained: true,
                }
            }
            Who::Operator { roles, .. } => Subject {
                roles,
                mfa: true,
                valid_courses: &[],
                trained: true,
            },
        };
        let d = if anywhere {
            self.policy().decide_anywhere(&subject, &req)
        } else {
            self.policy().decide(&subject, &req)
        };
        // A person reveals only within the step-up time of their last code.
        if let (true, Permission::Reveal, Who::Staff { mfa_at_ms, .. }) = (d.allowed, permission, &p.0) {
            let seconds = self.config().sign_in.step_up_seconds;
            let fresh = mfa_at_ms.is_some_and(|t| now_ms() - t <= i64::from(seconds) * 1000);
            if !fresh {
                return Decision {
                    allowed: false,
                    reason: Some(DenyReason::StepUp { seconds }),
                    rule: d.rule,
                };
            }
        }
        d
    }

    /// Whether `p` holds an administration permission (for what pages offer).
    pub fn can(&self, p: &Principal, permission: Permission) -> bool {
        self.decide(p, permission, None, None, None).allowed
    }

    /// Whether a customer with these attributes exists for `p` at all: in
    /// the scope of one of its data grants (its own record, for a customer;
    /// every record, for jobs and break-glass).
    pub(crate) fn sees(&self, p: &Principal, id: CustomerId, attrs: &BTreeMap<String, String>) -> bool {
        match &p.0 {
            Who::BreakGlass { .. } | Who::System(_) => true,
            Who::Customer { customer, .. } => *customer == id,
            Who::Bootstrap => false,
            Who::Staff { roles, .. } | Who::Operator { roles, .. } => self.policy().sees(roles, Some(attrs)),
            Who::Service { roles, scopes, .. } => {
                scopes.iter().any(|s| s.is_data()) && self.policy().sees(roles, Some(attrs))
            }
        }
    }

    /// Whether `p` sees every customer (a data grant without a scope), so
    /// a list need not read each customer's attributes to filter.
    pub(crate) fn sees_everyone(&self, p: &Principal) -> bool {
        match &p.0 {
            Who::BreakGlass { .. } | Who::System(_) => true,
            Who::Customer { .. } | Who::Bootstrap => false,
            Who::Staff { roles, .. } | Who::Operator { roles, .. } => self.policy().sees(roles, None),
            Who::Service { roles, scopes, .. } => scopes.iter().any(|s| s.is_data()) && self.policy().sees(roles, None),
        }
    }

    fn denial_event(
        &self,
        p: &Principal,
        customer: Option<CustomerId>,
        purpose: Option<&Purpose>,
        fields: Vec<custodia_core::FieldName>,
        detail: String,
    ) {
        let mut e = AuditEvent::new(now_ms(), p.actor(), Action::AccessDenied);
        e.customer = customer;
        e.purpose = purpose.cloned();
        e.fields = fields;
        e.outcome = Outcome::Denied;
        e.detail = Some(detail);
        // Queued, not awaited: a refusal shows no data, and this may run on
        // an async thread.
        drop(self.store().submit(vec![Mutation::Audit(vec![e])]));
    }

    /// Read a customer the caller may know to exist: a customer outside
    /// every data grant's scope answers exactly like a missing one (the
    /// refusal is audited), so scope is no existence oracle.
    pub(crate) fn visible(
        &self,
        p: &Principal,
        id: &str,
    ) -> Result<(StoredCustomer, BTreeMap<String, String>), VaultError> {
        let cid = crate::parse_customer(id)?;
        let rec = self
            .store()
            .get(&cid)?
            .ok_or_else(|| VaultError::NotFound(cid.to_string()))?;
        let attrs = attrs_of(&rec)?;
        if !self.sees(p, cid, &attrs) {
            self.denial_event(
                p,
                Some(cid),
                None,
                Vec::new(),
                "customer outside the caller's scope".into(),
            );
            return Err(VaultError::NotFound(cid.to_string()));
        }
        Ok((rec, attrs))
    }

    /// Require an allow, auditing a denial. The refusal names the caller's
    /// own grants, never facts about the customer.
    pub(crate) fn require(
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
        let e = self.refusal(p, permission, field, purpose, &d);
        self.denial_event(
            p,
            customer,
            purpose,
            field.map(|f| vec![f.name.clone()]).unwrap_or_default(),
            e.to_string(),
        );
        Err(e)
    }

    /// The error for a refused decision (nothing audited).
    pub(crate) fn refusal(
        &self,
        p: &Principal,
        permission: Permission,
        field: Option<&FieldDef>,
        purpose: Option<&Purpose>,
        d: &Decision,
    ) -> VaultError {
        let mut what = match field {
            Some(f) => format!("{permission} of {}", f.name),
            None => permission.to_string(),
        };
        if let Some(pu) = purpose {
            what.push_str(&format!(" for {pu}"));
        }
        match &d.reason {
            Some(DenyReason::PurposeRequired) => VaultError::PurposeRequired,
            Some(DenyReason::MfaRequired) => VaultError::MfaRequired(format!("{what}: {d}")),
            Some(DenyReason::StepUp { seconds }) => VaultError::StepUpRequired { seconds: *seconds },
            Some(DenyReason::TrainingRequired(c)) => VaultError::TrainingRequired {
                course: c.clone(),
                detail: format!("{what}: {d}"),
            },
            _ => VaultError::Forbidden(format!("{what}: {d}{}", self.denial_hint(p))),
        }
    }

    /// Audit a refusal decided elsewhere (bulk operations, consent and
    /// notice refusals).
    pub(crate) fn audit_refusal(
        &self,
        p: &Principal,
        customer: Option<CustomerId>,
        purpose: Option<&Purpose>,
        e: &VaultError,
    ) {
        self.denial_event(p, customer, purpose, Vec::new(), format!("{}: {e}", e.code()));
    }

    /// What a refused caller is told about who they are.
    fn denial_hint(&self, p: &Principal) -> String {
        match &p.0 {
            Who::Bootstrap => " (the bootstrap token only creates the first administrator: POST /v1/accounts)".into(),
            Who::Operator { name, roles } => format!(
                " (operator {name} acts with roles [{}] from [operator] in config.toml)",
                roles.join(", ")
            ),
            Who::BreakGlass { .. } => " (a break-glass token opens data for an emergency; accounts, role grants, training and policy changes need an ordinary administrator or privacy officer)".into(),
            _ => String::new(),
        }
    }

    /// A refusal decided by an operation's own rule (not a policy grant),
    /// audited like every other.
    pub(crate) fn forbid(&self, p: &Principal, customer: Option<CustomerId>, msg: impl Into<String>) -> VaultError {
        let msg = msg.into();
        self.denial_event(p, customer, None, Vec::new(), format!("forbidden: {msg}"));
        VaultError::Forbidden(msg)
    }

    /// Require an administration permission (no field, scope or purpose).
    pub(crate) fn require_admin(&self, p: &Principal, permission: Permission) -> Result<(), VaultError> {
        self.require(p, permission, None, None, None, None)
    }

    /// Require any one of several administration permissions; the refusal
    /// names the first.
    pub(crate) fn require_any_admin(&self, p: &Principal, any: &[Permission]) -> Result<(), VaultError> {
        if any.iter().any(|x| self.decide(p, *x, None, None, None).allowed) {
            return Ok(());
        }
        self.require_admin(p, any[0])
    }

    /// Require a record-level data permission on a customer the caller
    /// sees (e.g. `delete`, `record_consent`).
    pub(crate) fn require_record(
        &self,
        p: &Principal,
        id: &str,
        permission: Permission,
        purpose: &Purpose,
    ) -> Result<(StoredCustomer, BTreeMap<String, String>), VaultError> {
        let (rec, attrs) = self.visible(p, id)?;
        self.require(p, permission, None, Some(&attrs), Some(purpose), Some(rec.id))?;
        Ok((rec, attrs))
    }

    /// Require that `p` is this customer in the portal.
    pub(crate) fn require_customer(&self, p: &Principal, id: CustomerId) -> Result<(), VaultError> {
        match &p.0 {
            Who::Customer { customer, .. } if *customer == id => Ok(()),
            Who::Customer { customer, .. } => {
                self.denial_event(
                    p,
                    Some(*customer),
                    None,
                    Vec::new(),
                    "a portal session reached for another customer".into(),
                );
                Err(VaultError::NotFound(id.to_string()))
            }
            _ => {
                self.denial_event(
                    p,
                    Some(id),
                    None,
                    Vec::new(),
                    "a portal operation is the customer's own".into(),
                );
                Err(VaultError::Forbidden(
                    "only the customer, signed in to the privacy portal, can do this".into(),
                ))
            }
        }
    }

    /// Require that `p` is this background job.
    pub(crate) fn require_job(&self, p: &Principal, job: Job) -> Result<(), VaultError> {
        if p.0 == Who::System(job) {
            return Ok(());
        }
        self.denial_event(
            p,
            None,
            None,
            Vec::new(),
            format!("{} is a job of the server", job.as_str()),
        );
        Err(VaultError::Forbidden(format!(
            "{} is a background job of the server",
            job.as_str()
        )))
    }
}
