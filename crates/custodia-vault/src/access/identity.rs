//! Staff and service accounts, MFA enrollment, training records, and the
//! access policy's decisions for them (`policy explain`).
//!
//! Account data is about employees, not customers, but gets the same care:
//! passwords are Argon2id hashes, TOTP seeds are sealed under a key derived
//! from the master secret and bound to the account name, recovery codes are
//! stored as SHA-256 digests, and every change is audited.

use crate::access::authz::Principal;
use crate::{now_ms, Vault, VaultError};
use chrono::NaiveDate;
use custodia_core::accounts::{ApprovalKind, ApprovalState};
use custodia_core::audit::{Action, AuditEvent};
use custodia_core::policy::{Decision, Permission, Request, Subject};
use custodia_crypto::totp::TotpSecret;
use custodia_crypto::{open_secret, password, seal_secret};
use custodia_store::prelude::*;
use custodia_store::{AccountRecord, Applied, Mutation, TrainingRecord};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

pub use custodia_core::accounts::AccountKind;

/// A training as shown.
#[derive(Debug, Clone, Serialize)]
pub struct TrainingView {
    /// Course id.
    pub course: String,
    /// Completion date.
    pub completed: String,
    /// Score.
    pub score: i64,
    /// Expiry date.
    pub expires: String,
    /// Whether the score reaches the course's pass mark.
    pub passed: bool,
    /// Whether it counts today: passed, not expired, a course of the policy.
    pub valid: bool,
    /// Who recorded it.
    pub recorded_by: String,
}

/// An account as shown (no secrets).
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    /// Login name.
    pub name: String,
    /// Staff or service.
    pub kind: AccountKind,
    /// Roles.
    pub roles: Vec<String>,
    /// Whether MFA is enrolled.
    pub mfa_enrolled: bool,
    /// Whether one of the roles needs MFA (and so cannot be used without it).
    pub mfa_required: bool,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Recovery codes left.
    pub recovery_codes_left: usize,
    /// Trainings, newest first.
    pub trainings: Vec<TrainingView>,
    /// The e-mail address on file, masked (staff).
    pub email: Option<String>,
    /// Whether a password is set (an account set up by link has none
    /// until its owner chooses one).
    pub password_set: bool,
    /// Whether the account was deleted (its name stays taken).
    pub deleted: bool,
    /// Changes to it waiting for a second person's approval.
    pub pending_approvals: Vec<crate::access::staff::ApprovalView>,
}

/// What MFA enrollment gives the person (shown once).
#[derive(Debug, Clone, Serialize)]
pub struct MfaEnrollment {
    /// `otpauth://` URI for the authenticator (QR code content).
    pub otpauth_uri: String,
    /// The secret in base32, for manual entry.
    pub secret_base32: String,
    /// One-time recovery codes.
    pub recovery_codes: Vec<String>,
}

/// Ten one-time recovery codes (`ABCDE-FGHIJ`), shown once.
pub(crate) fn recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let mut b = [0u8; 7];
            rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
            let s = custodia_crypto::totp::base32(&b)[..10].to_owned();
            format!("{}-{}", &s[..5], &s[5..])
        })
        .collect()
}

fn mask_check(e: &str) -> Result<(), ()> {
    crate::access::staff::valid_email_pub(e).then_some(()).ok_or(())
}

fn valid_name(n: &str) -> bool {
    (2..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-@".contains(&b))
}

fn input(msg: impl Into<String>) -> VaultError {
    VaultError::Input(msg.into())
}

fn digest_hex(s: &str) -> String {
    custodia_core::audit::to_hex(&Sha256::digest(s.as_bytes()))
}

impl Vault {
    fn mfa_key(&self) -> custodia_crypto::Key32 {
        self.keys().derive_subkey("mfa-secrets")
    }

    fn put_account(&self, a: AccountRecord, create: bool, event: AuditEvent) -> Result<(), VaultError> {
        match self
            .apply_one(vec![Mutation::PutAccount {
                account: Box::new(a),
                create,
                events: vec![event],
            }])?
            .pop()
        {
            Some(Applied::Done) => Ok(()),
            Some(Applied::AccountExists) => Err(input("an account with this name exists already")),
            other => Err(VaultError::Io(format!("unexpected store answer {other:?}"))),
        }
    }

    fn account_record(&self, name: &str) -> Result<AccountRecord, VaultError> {
        self.store()
            .account(name)?
            .ok_or_else(|| VaultError::NotFound(format!("account {name:?}")))
    }

    /// Whether a working administrator account exists (a staff or service
    /// account, not disabled, whose roles grant `manage_accounts`).
    pub fn administrator_exists(&self) -> Result<bool, VaultError> {
        Ok(self.store().accounts()?.iter().any(|a| self.administers(a, &a.roles)))
    }

    /// Whether account `a`, holding `roles`, is a working administrator.
    fn administers(&self, a: &AccountRecord, roles: &[String]) -> bool {
        !a.disabled && self.policy().grants(roles, Permission::ManageAccounts)
    }

    /// Whether `p` may enroll MFA for `name` in a signed-in session: only
    /// the person themselves, and only for an account without an e-mail
    /// address on file (those enroll through a one-time link sent there,
    /// so that whoever knows the password, an administrator who set it
    /// included, cannot enroll their own authenticator).
    fn self_enroll(&self, p: &Principal, name: &str) -> Result<(), VaultError> {
        if p.account() != Some(name) || !matches!(p.0, crate::access::authz::Who::Staff { .. }) {
            return Err(self.forbid(
                p,
                None,
                "MFA is enrolled by the person: send them a link (custodia user send-link NAME --mfa); nobody sees another person's secret",
            ));
        }
        if self.live_account(name)?.email.is_some() {
            return Err(self.forbid(
                p,
                None,
                "this account enrolls MFA through the link sent to its e-mail address; ask an administrator to send one",
            ));
        }
        Ok(())
    }

    /// Create an account. Needs `manage_accounts`, and for each role what
    /// [`Vault::set_roles`] needs to grant it; the bootstrap token may
    /// create the first administrator (a staff account whose roles are all
    /// administrative and include `manage_accounts`), and is switched off
    /// by it. Staff accounts need a password that passes the policy.
    pub fn create_account(
        &self,
        p: &Principal,
        name: &str,
        kind: AccountKind,
        roles: &[String],
        pass: Option<&str>,
    ) -> Result<AccountView, VaultError> {
        self.new_account(p, name, kind, roles, pass, None)
    }

    /// Create a staff account with an e-mail address instead of a
    /// password: a one-time setup link goes there, and the person chooses
    /// their password (and enrolls MFA) themselves, so nobody else ever
    /// knows it. Otherwise as [`Vault::create_account`].
    pub fn invite_staff(
        &self,
        p: &Principal,
        name: &str,
        roles: &[String],
        email: &str,
    ) -> Result<AccountView, VaultError> {
        self.new_account(p, name, AccountKind::Staff, roles, None, Some(email))
    }

    fn new_account(
        &self,
        p: &Principal,
        name: &str,
        kind: AccountKind,
        roles: &[String],
        pass: Option<&str>,
        email: Option<&str>,
    ) -> Result<AccountView, VaultError> {
        let admin_role = self.policy().grants(roles, Permission::ManageAccounts);
        if p.is_bootstrap() {
            if self.administrator_exists()? {
                return Err(self.forbid(
                    p,
                    None,
                    "an administrator exists, so the bootstrap token is off; sign in as an administrator",
                ));
            }
            let only_admin = roles.iter().all(|r| self.policy().is_administrative(r));
            if kind != AccountKind::Staff || !admin_role || !only_admin {
                return Err(self.forbid(
                    p,
                    None,
                    "the bootstrap token creates only the first administrator: a staff account whose roles are administrative and grant manage_accounts (e.g. administrator)",
                ));
            }
        } else {
            self.require_admin(p, Permission::ManageAccounts)?;
        }
        let actor = p.actor();
        let actor = actor.as_str();
        if !valid_name(name) {
            return Err(input(
                "account names are 2-64 characters of a-z, 0-9, '.', '_', '-', '@'",
            ));
        }
        if !p.is_bootstrap() {
            self.check_role_change(p, name, &[], roles)?;
        } else {
            self.known_roles(roles)?;
        }
        // Roles that wait for a second person are asked for, not granted.
        let (later, now_roles): (Vec<String>, Vec<String>) = if p.is_bootstrap() {
            (Vec::new(), roles.to_vec())
        } else {
            roles
                .iter()
                .cloned()
                .partition(|r| crate::access::staff::grant_needs_approval(self, r))
        };
        if !later.is_empty() && p.person().is_none() {
            return Err(self.forbid(
                p,
                None,
                format!(
                    "roles {} wait for a second person's approval, so a person asks for them (a signed-in administrator or privacy officer, or the operator), not an API token",
                    later.join(", ")
                ),
            ));
        }
        let email = email.map(str::trim).filter(|e| !e.is_empty());
        if email.is_some() && kind == AccountKind::Service {
            return Err(input("service accounts have no e-mail address"));
        }
        if email.is_some() && self.config().mail.is_none() {
            return Err(VaultError::Delivery(
                "no mail server is configured, so the setup link could not be sent: add [mail] to config.toml (see README), or create the account with a password and no e-mail address".into(),
            ));
        }
        let password = match (kind, pass, email) {
            (AccountKind::Staff, Some(_), Some(_)) => {
                return Err(input(
                    "an account with an e-mail address gets a setup link and chooses its own password; give one or the other",
                ))
            }
            (AccountKind::Staff, Some(p), None) => {
                password::check_policy(p, name).map_err(|e| input(e.to_string()))?;
                Some(password::hash(p))
            }
            (AccountKind::Staff, None, Some(_)) => None,
            (AccountKind::Staff, None, None) => {
                return Err(input("a staff account needs an e-mail address (for its setup link) or a password"))
            }
            (AccountKind::Service, Some(_), _) => return Err(input("service accounts use API tokens, not passwords")),
            (AccountKind::Service, None, _) => None,
        };
        if let Some(e) = email {
            if mask_check(e).is_err() {
                return Err(input("give an e-mail address like name@example.com"));
            }
        }
        let roles = &now_roles;
        let now = now_ms();
        let rec = AccountRecord {
            name: name.to_owned(),
            kind,
            password,
            roles: roles.to_vec(),
            mfa_secret: None,
            mfa_pending: None,
            mfa_last_step: None,
            recovery: Vec::new(),
            disabled: false,
            created_ms: now,
            updated_ms: now,
            email: email.map(|e| self.seal_email(name, e)),
            deleted_ms: None,
        };
        let mut e = AuditEvent::new(now, actor, Action::Account);
        e.detail = Some(format!(
            "created {} account {name} roles={}",
            kind.as_str(),
            roles.join(",")
        ));
        if admin_role && self.bootstrap_active()? {
            // The first administrator exists: the bootstrap token has done
            // its one job.
            let mut off = AuditEvent::new(now, actor, Action::TokenIssue);
            off.detail = Some(format!("bootstrap token switched off: administrator {name} exists"));
            match self
                .apply_one(vec![
                    Mutation::PutAccount {
                        account: Box::new(rec),
                        create: true,
                        events: vec![e],
                    },
                    crate::operations::bootstrap::switch_off(),
                    Mutation::Audit(vec![off]),
                ])?
                .first()
            {
                Some(Applied::Done) => {}
                Some(Applied::AccountExists) => return Err(input("an account with this name exists already")),
                other => return Err(VaultError::Io(format!("unexpected store answer {other:?}"))),
            }
            self.forget_bootstrap();
        } else {
            self.put_account(rec, true, e)?;
        }
        if !later.is_empty() {
            self.request_approval(p, crate::access::staff::ApprovalKind::GrantRoles, name, later, None)?;
        }
        if email.is_some() {
            let a = self.account_record(name)?;
            self.issue_link(&a, crate::access::staff::LinkKind::Setup, actor).map_err(|e| {
                VaultError::Delivery(format!(
                    "account {name} was created, but its setup link could not be sent ({e}); send it again with `custodia user send-link {name}`"
                ))
            })?;
        }
        self.account_view(self.account_record(name)?)
    }

    /// One account as shown.
    pub(crate) fn account_view_of(&self, name: &str) -> Result<AccountView, VaultError> {
        self.account_view(self.account_record(name)?)
    }

    /// Refuse role ids the policy does not define.
    fn known_roles(&self, roles: &[String]) -> Result<(), VaultError> {
        for r in roles {
            if self.policy().role(r).is_none() {
                return Err(input(format!(
                    "unknown role {r:?}; the policy defines: {}",
                    self.policy()
                        .roles()
                        .iter()
                        .map(|r| r.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Who may give or take which roles. Administrative roles (accounts,
    /// keys, the audit log) are an account administrator's to hand out
    /// (`manage_accounts`); every other role reaches personal data or runs
    /// a privacy duty, and is granted by whoever reviews access
    /// (`review_access`), so one administrator alone cannot give anybody
    /// data. Nobody changes their own roles, and an account holds
    /// administrative roles or the others, never both (administrators see
    /// no personal data). Refusals are audited.
    pub(crate) fn check_role_change(
        &self,
        p: &Principal,
        account: &str,
        old: &[String],
        new: &[String],
    ) -> Result<(), VaultError> {
        self.known_roles(new)?;
        let changed: Vec<&String> = old
            .iter()
            .filter(|r| !new.contains(r))
            .chain(new.iter().filter(|r| !old.contains(r)))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        if p.person() == Some(account) || p.account() == Some(account) {
            return Err(self.forbid(
                p,
                None,
                "nobody changes their own roles; ask another administrator or privacy officer",
            ));
        }
        let administrative = |r: &String| self.policy().is_administrative(r);
        let (admin, data): (Vec<&String>, Vec<&String>) = new.iter().partition(|r| administrative(r));
        if !admin.is_empty() && !data.is_empty() {
            return Err(input(format!(
                "an account holds administrative roles ({}) or roles that reach personal data or privacy duties ({}), not both: administrators see no personal data",
                admin.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "),
                data.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
            )));
        }
        if changed.iter().any(|r| administrative(r)) {
            self.require_admin(p, Permission::ManageAccounts)?;
        }
        if let Some(r) = changed.iter().find(|r| !administrative(r)) {
            let d = self.decide(p, Permission::ReviewAccess, None, None, None);
            let grant_missing = !d.allowed
                && !matches!(
                    d.reason,
                    Some(custodia_core::policy::DenyReason::MfaRequired)
                        | Some(custodia_core::policy::DenyReason::TrainingRequired(_))
                );
            if grant_missing {
                return Err(self.forbid(
                    p,
                    None,
                    format!(
                        "role {r} reaches personal data or privacy duties, so it is granted by someone with review_access (a privacy officer): create the account with administrative roles or none, then have them grant it (PUT /v1/accounts/NAME/roles, custodia user roles)"
                    ),
                ));
            }
            self.require_admin(p, Permission::ReviewAccess)?;
        }
        Ok(())
    }

    /// Whether taking `role` from `account` leaves no working account that
    /// can manage accounts (the command line's operator could still, but a
    /// server nobody can administer is a lockout).
    pub(crate) fn leaves_no_administrator(&self, account: &str, role: &str) -> Result<bool, VaultError> {
        let accounts = self.store().accounts()?;
        let admin = |a: &AccountRecord, roles: &[String]| self.administers(a, roles);
        let Some(target) = accounts.iter().find(|a| a.name == account) else {
            return Ok(false);
        };
        let after: Vec<String> = target.roles.iter().filter(|r| *r != role).cloned().collect();
        Ok(admin(target, &target.roles)
            && !admin(target, &after)
            && !accounts.iter().any(|a| a.name != account && admin(a, &a.roles)))
    }

    /// Replace an account's roles, under the rules of
    /// `check_role_change`: `manage_accounts` for administrative
    /// roles, `review_access` for the others, never one's own. Roles taken
    /// away go at once; roles that reach personal data or can approve
    /// (see `access::staff::grant_needs_approval`) wait for a second
    /// person's approval and are listed under `pending_approvals`.
    pub fn set_roles(&self, p: &Principal, name: &str, roles: &[String]) -> Result<AccountView, VaultError> {
        self.require_any_admin(p, &[Permission::ManageAccounts, Permission::ReviewAccess])?;
        let a = self.live_account(name)?;
        let mut wanted: Vec<String> = Vec::new();
        for r in roles {
            if !wanted.contains(r) {
                wanted.push(r.clone());
            }
        }
        self.check_role_change(p, name, &a.roles, &wanted)?;
        if a.roles == wanted {
            return self.account_view(a);
        }
        let (later, _): (Vec<String>, Vec<String>) = wanted
            .iter()
            .filter(|r| !a.roles.contains(r))
            .cloned()
            .partition(|r| crate::access::staff::grant_needs_approval(self, r));
        let now_set: Vec<String> = wanted.iter().filter(|r| !later.contains(r)).cloned().collect();
        if !later.is_empty() && p.person().is_none() {
            return Err(self.forbid(
                p,
                None,
                format!(
                    "roles {} wait for a second person's approval, so a person asks for them, not an API token",
                    later.join(", ")
                ),
            ));
        }
        if !later.is_empty() {
            let pending = self.store().approvals()?.into_iter().any(|x| {
                x.account == name
                    && x.kind == ApprovalKind::GrantRoles
                    && x.state == ApprovalState::Pending
                    && x.roles == later
            });
            if !pending {
                self.request_approval(p, crate::access::staff::ApprovalKind::GrantRoles, name, later, None)?;
            }
        }
        if a.roles != now_set {
            self.apply_roles(p, a, now_set, None)?;
        }
        self.account_view(self.account_record(name)?)
    }

    /// Store new roles (checked already): the last administrator stays,
    /// and a grant of data roles revokes the account's earlier tokens.
    pub(crate) fn apply_roles(
        &self,
        p: &Principal,
        mut a: AccountRecord,
        wanted: Vec<String>,
        approval: Option<&str>,
    ) -> Result<(), VaultError> {
        let name = a.name.clone();
        for r in a.roles.iter().filter(|r| !wanted.contains(r)) {
            if self.leaves_no_administrator(&name, r)? {
                return Err(input(format!(
                    "{name} is the last working administrator; create another before taking {r} away"
                )));
            }
        }
        let now = now_ms();
        let mut e = AuditEvent::new(now, p.actor(), Action::Account);
        e.detail = Some(format!(
            "roles of {name}: [{}] -> [{}]{}",
            a.roles.join(","),
            wanted.join(","),
            approval.map(|id| format!(" (approval {id})")).unwrap_or_default()
        ));
        // A token issued before a data role was granted does not carry it:
        // whoever took it (perhaps an administrator, for an account with no
        // data roles then) is not the person the grant was meant for.
        let granted_data = wanted
            .iter()
            .any(|r| !a.roles.contains(r) && !self.policy().is_administrative(r));
        let mut muts = Vec::new();
        if granted_data {
            for t in self.store().tokens()? {
                if t.account == name && !t.revoked && t.expires_ms > now {
                    let mut r = AuditEvent::new(now, p.actor(), Action::TokenIssue);
                    r.detail = Some(format!("token {} revoked: {name} was granted data roles", t.id));
                    muts.push(Mutation::RevokeToken {
                        id: t.id,
                        events: vec![r],
                    });
                }
            }
        }
        a.roles = wanted;
        a.updated_ms = now;
        muts.insert(
            0,
            Mutation::PutAccount {
                account: Box::new(a),
                create: false,
                events: vec![e],
            },
        );
        for r in self.apply_one(muts)? {
            if !matches!(r, Applied::Done) {
                return Err(VaultError::Io(format!("unexpected store answer {r:?}")));
            }
        }
        Ok(())
    }

    /// One account with its trainings. Needs `manage_accounts` or
    /// `review_access`, or to be that person.
    pub fn account(&self, p: &Principal, name: &str) -> Result<AccountView, VaultError> {
        if p.account() != Some(name) || !matches!(p.0, crate::access::authz::Who::Staff { .. }) {
            self.require_any_admin(p, &[Permission::ManageAccounts, Permission::ReviewAccess])?;
        }
        let a = self.account_record(name)?;
        self.account_view(a)
    }

    fn account_view(&self, a: AccountRecord) -> Result<AccountView, VaultError> {
        let today = chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string();
        let trainings = self
            .store()
            .trainings(Some(&a.name))?
            .into_iter()
            .map(|t| {
                let passed = self.policy().passes(&t.course, t.score);
                TrainingView {
                    valid: passed && t.expires >= today,
                    passed,
                    course: t.course,
                    completed: t.completed,
                    score: t.score,
                    expires: t.expires,
                    recorded_by: t.recorded_by,
                }
            })
            .collect();
        let pending_approvals = self
            .store()
            .approvals()?
            .into_iter()
            .filter(|x| x.account == a.name && x.state == ApprovalState::Pending)
            .map(|x| self.approval_view_pub(x))
            .collect::<Result<Vec<_>, _>>()?;
        let email = self.staff_email(&a)?.map(|e| crate::access::staff::mask_email(&e));
        Ok(AccountView {
            // Service accounts authenticate with tokens: MFA never applies.
            mfa_required: a.kind == AccountKind::Staff
                && a.roles
                    .iter()
                    .any(|r| self.policy().role(r).is_some_and(|r| r.requires_mfa)),
            email,
            password_set: a.password.is_some(),
            deleted: a.deleted_ms.is_some(),
            pending_approvals,
            mfa_enrolled: a.mfa_secret.is_some(),
            recovery_codes_left: a.recovery.len(),
            name: a.name,
            kind: a.kind,
            roles: a.roles,
            disabled: a.disabled,
            trainings,
        })
    }

    /// Every account. Needs `manage_accounts` or `review_access`.
    pub fn accounts(&self, p: &Principal) -> Result<Vec<AccountView>, VaultError> {
        self.require_any_admin(p, &[Permission::ManageAccounts, Permission::ReviewAccess])?;
        self.store()
            .accounts()?
            .into_iter()
            .map(|a| self.account_view(a))
            .collect()
    }

    /// Start MFA enrollment: a new TOTP secret (pending until confirmed with
    /// a code) and ten recovery codes. Shown once.
    ///
    /// The person themselves (signed in) or an account administrator.
    pub fn start_mfa(&self, p: &Principal, name: &str) -> Result<MfaEnrollment, VaultError> {
        self.self_enroll(p, name)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let mut a = self.account_record(name)?;
        if a.kind != AccountKind::Staff {
            return Err(input("MFA is for staff accounts"));
        }
        let secret = TotpSecret::generate();
        a.mfa_pending = Some(seal_secret(
            &self.mfa_key(),
            format!("custodia/mfa/{name}").as_bytes(),
            secret.expose(),
        ));
        let codes = recovery_codes();
        a.recovery = codes.iter().map(|c| digest_hex(c)).collect();
        a.updated_ms = now_ms();
        let mut e = AuditEvent::new(now_ms(), actor, Action::Mfa);
        e.detail = Some(format!("enrollment started for {name}"));
        self.put_account(a, false, e)?;
        Ok(MfaEnrollment {
            otpauth_uri: secret.otpauth_uri("Custodia", name),
            secret_base32: secret.base32(),
            recovery_codes: codes,
        })
    }

    /// The enrollment still waiting for its first code (URI and base32
    /// secret; recovery codes are not kept in clear and cannot be shown again).
    pub fn pending_mfa(&self, p: &Principal, name: &str) -> Result<Option<(String, String)>, VaultError> {
        self.self_enroll(p, name)?;
        let a = self.account_record(name)?;
        let Some(pending) = a.mfa_pending else { return Ok(None) };
        let seed = open_secret(&self.mfa_key(), format!("custodia/mfa/{name}").as_bytes(), &pending)?;
        let secret = TotpSecret::from_bytes(
            seed[..32]
                .try_into()
                .map_err(|_| VaultError::Crypto(custodia_crypto::CryptoError::Decrypt))?,
        );
        Ok(Some((secret.otpauth_uri("Custodia", name), secret.base32())))
    }

    /// Finish MFA enrollment with a code from the authenticator.
    pub fn confirm_mfa(&self, p: &Principal, name: &str, code: &str) -> Result<(), VaultError> {
        self.self_enroll(p, name)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let mut a = self.account_record(name)?;
        let pending = a
            .mfa_pending
            .clone()
            .ok_or_else(|| input("no MFA enrollment is pending; start one first"))?;
        let seed = open_secret(&self.mfa_key(), format!("custodia/mfa/{name}").as_bytes(), &pending)?;
        let secret = TotpSecret::from_bytes(
            seed[..32]
                .try_into()
                .map_err(|_| VaultError::Crypto(custodia_crypto::CryptoError::Decrypt))?,
        );
        let step = secret
            .verify(code, chrono::Utc::now().timestamp() as u64, None)
            .ok_or_else(|| {
                input("the code does not match; check the authenticator's clock and try the current code")
            })?;
        a.mfa_secret = Some(pending);
        a.mfa_pending = None;
        a.mfa_last_step = Some(step as i64);
        a.updated_ms = now_ms();
        let mut e = AuditEvent::new(now_ms(), actor, Action::Mfa);
        e.detail = Some(format!("enrolled for {name}"));
        self.put_account(a, false, e)
    }

    /// Courses whose training counts today for `account`: a course of the
    /// policy, passed (score at least its pass mark), not expired.
    pub(crate) fn valid_courses(&self, account: &str) -> Result<Vec<String>, VaultError> {
        let today = chrono::Utc::now().date_naive().format("%Y-%m-%d").to_string();
        Ok(self
            .store()
            .trainings(Some(account))?
            .into_iter()
            .filter(|t| t.expires >= today && self.policy().passes(&t.course, t.score))
            .map(|t| t.course)
            .collect())
    }

    /// Record a completed training. Needs `manage_training`; nobody records
    /// their own. The course must be one of the policy's; its validity
    /// gives the expiry (`expires` may only shorten it). A score below the
    /// pass mark is recorded but does not count.
    pub fn record_training(
        &self,
        p: &Principal,
        name: &str,
        course: &str,
        completed: NaiveDate,
        score: i64,
        expires: Option<NaiveDate>,
    ) -> Result<TrainingView, VaultError> {
        self.require_admin(p, Permission::ManageTraining)?;
        if p.person() == Some(name) {
            let e = VaultError::SeparationOfDuties(format!(
                "{name} cannot record their own training; another person with manage_training does"
            ));
            self.audit_refusal(p, None, None, &e);
            return Err(e);
        }
        let actor = p.actor();
        let actor = actor.as_str();
        self.account_record(name)?;
        if !(0..=100).contains(&score) {
            return Err(input("score must be between 0 and 100"));
        }
        let Some(def) = self.policy().course(course) else {
            return Err(input(format!(
                "unknown course {:?}; the policy defines: {}",
                course.chars().take(64).collect::<String>(),
                self.policy()
                    .courses()
                    .iter()
                    .map(|c| c.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let today = chrono::Utc::now().date_naive();
        if completed > today {
            return Err(input("the completion date cannot be in the future"));
        }
        let longest = completed + chrono::Duration::days(def.valid_days);
        let expires = match expires {
            None => longest,
            Some(e) if e <= completed => return Err(input("the expiry must come after the completion date")),
            Some(e) if e > longest => {
                return Err(input(format!(
                    "{course} is valid {} days: the expiry can be {longest} at the latest",
                    def.valid_days
                )))
            }
            Some(e) => e,
        };
        let passed = score >= def.pass_mark;
        let t = TrainingRecord {
            account: name.to_owned(),
            course: course.to_owned(),
            completed: completed.format("%Y-%m-%d").to_string(),
            score,
            expires: expires.format("%Y-%m-%d").to_string(),
            recorded_by: actor.to_owned(),
        };
        let mut e = AuditEvent::new(now_ms(), actor, Action::Training);
        e.detail = Some(format!(
            "{name} completed {course} on {} (score {score}, pass mark {}{}, valid until {})",
            t.completed,
            def.pass_mark,
            if passed { "" } else { ": not passed, does not count" },
            t.expires
        ));
        let view = TrainingView {
            course: t.course.clone(),
            completed: t.completed.clone(),
            score,
            expires: t.expires.clone(),
            passed,
            valid: passed && t.expires >= today.format("%Y-%m-%d").to_string(),
            recorded_by: actor.to_owned(),
        };
        self.apply_one(vec![Mutation::PutTraining {
            training: t,
            events: vec![e],
        }])?;
        Ok(view)
    }

    /// How the policy decides a request by `account` (nothing is read or
    /// audited but the decision's inputs).
    ///
    /// Needs `review_access` or `manage_policy`; a customer named must be
    /// in the caller's scope.
    pub fn explain(
        &self,
        p: &Principal,
        account: &str,
        customer: Option<&str>,
        field: Option<&str>,
        permission: Permission,
        purpose: Option<&str>,
    ) -> Result<Decision, VaultError> {
        self.require_any_admin(p, &[Permission::ReviewAccess, Permission::ManagePolicy])?;
        let a = self.account_record(account)?;
        let courses = self.valid_courses(account)?;
        let attrs: Option<BTreeMap<String, String>> = match customer {
            None => None,
            Some(id) => Some(self.visible(p, id)?.1),
        };
        let fdef = match field {
            None => None,
            Some(f) => Some(
                self.schema()
                    .field(f)
                    .ok_or_else(|| VaultError::Invalid(vec![crate::unknown_field(f)]))?,
            ),
        };
        let purpose = purpose.map(|p| self.purpose(p)).transpose()?;
        let subject = Subject {
            roles: &a.roles,
            mfa: a.mfa_secret.is_some() || a.kind == AccountKind::Service,
            valid_courses: &courses,
            trained: a.kind == AccountKind::Service,
        };
        let req = Request {
            permission,
            field: fdef.map(|f| (&f.name, f.classification)),
            attrs: attrs.as_ref(),
            purpose: purpose.as_ref(),
        };
        Ok(self.policy().decide(&subject, &req))
    }
}
