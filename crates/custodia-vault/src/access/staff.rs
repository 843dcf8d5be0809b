//! The life of a staff account after its creation: e-mail on file,
//! one-time links to the person (set up, forgotten password, MFA again),
//! own password change, disable/enable, unlock, delete, and the changes
//! that wait for a second person's approval (roles that reach personal
//! data or hand out access, MFA resets).
//!
//! Whoever administers accounts never sees another person's password,
//! TOTP secret, recovery codes or link: links go to the person's own
//! address and only their SHA-256 is kept. Every step is audited under
//! the account's name, which is never reused (deleted accounts keep their
//! row, emptied of secrets).

use crate::access::authz::{person_of, Principal, Who};
use crate::{now_ms, Vault, VaultError};
use custodia_core::accounts::AccountKind;
use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_core::policy::Permission;
use custodia_crypto::totp::TotpSecret;
use custodia_crypto::{open_secret, password, seal_secret};
use custodia_store::prelude::*;
use custodia_store::{AccountLinkRecord, AccountRecord, Applied, ApprovalRecord, Mutation};
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

pub use custodia_core::accounts::{ApprovalKind, ApprovalState, LinkKind};

/// An approval as shown.
#[derive(Debug, Clone, Serialize)]
pub struct ApprovalView {
    /// Id.
    pub id: String,
    /// What it does.
    pub kind: ApprovalKind,
    /// The account.
    pub account: String,
    /// Roles to add (grants).
    pub roles: Vec<String>,
    /// Where the account's links go (masked): the new address of an
    /// address change, the one on file otherwise, so the approver sees who
    /// would receive them.
    pub email: Option<String>,
    /// Who asked.
    pub requested_by: String,
    /// When (RFC 3339).
    pub requested_at: String,
    /// Where it stands.
    pub state: ApprovalState,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When (RFC 3339).
    pub decided_at: Option<String>,
    /// The decider's note.
    pub note: Option<String>,
}

/// What a link is for, as its page shows it (no secrets).
#[derive(Debug, Clone, Serialize)]
pub struct LinkInfo {
    /// The account.
    pub account: String,
    /// What it does.
    pub kind: LinkKind,
    /// Whether the person must type their current password.
    pub asks_current_password: bool,
    /// Whether the person chooses a new password.
    pub asks_new_password: bool,
    /// Whether a second-factor code is asked (a password reset of an
    /// account with MFA).
    pub asks_code: bool,
}

/// Where a link leaves the person.
#[derive(Debug)]
pub enum LinkStep {
    /// Done: sign in now.
    Done,
    /// Scan this and confirm with a code (the link stays valid until then).
    Enroll {
        /// `otpauth://` URI.
        otpauth_uri: String,
        /// The secret in base32.
        secret_base32: String,
    },
}

/// A link that was sent.
#[derive(Debug, Clone, Serialize)]
pub struct LinkSent {
    /// The account.
    pub account: String,
    /// What it does.
    pub kind: LinkKind,
    /// The address, masked.
    pub to: String,
    /// Expiry (RFC 3339).
    pub expires_at: String,
}

fn input(msg: impl Into<String>) -> VaultError {
    VaultError::Input(msg.into())
}

fn invalid_link() -> VaultError {
    VaultError::Forbidden("this link is invalid, used or expired; ask for a new one".into())
}

/// `l***@example.com`: enough for the person to recognise, not to harvest.
pub fn mask_email(e: &str) -> String {
    match e.split_once('@') {
        Some((local, domain)) => {
            format!("{}***@{domain}", local.chars().next().unwrap_or('*'))
        }
        None => "***".into(),
    }
}

/// Whether `e` looks like an address mail can go to (no spaces, no header
/// characters).
pub(crate) fn valid_email_pub(e: &str) -> bool {
    valid_email(e)
}

fn valid_email(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    e.len() <= 254
        && !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && e.chars().all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:\"".contains(c))
}

/// Roles whose grant waits for a second person: every role that reaches
/// personal data or privacy duties, and the administrative roles that can
/// themselves approve (`manage_accounts`), so one administrator cannot
/// create an accomplice to approve with.
pub(crate) fn grant_needs_approval(v: &Vault, role: &str) -> bool {
    !v.policy().is_administrative(role) || v.policy().grants(&[role.to_owned()], Permission::ManageAccounts)
}

impl Vault {
    fn email_key(&self) -> custodia_crypto::Key32 {
        self.keys().derive_subkey("staff-email")
    }

    pub(crate) fn seal_email(&self, name: &str, email: &str) -> Vec<u8> {
        seal_secret(
            &self.email_key(),
            format!("custodia/email/{name}").as_bytes(),
            email.as_bytes(),
        )
    }

    /// A staff member's address on file, opened.
    pub(crate) fn staff_email(&self, a: &AccountRecord) -> Result<Option<String>, VaultError> {
        let Some(sealed) = &a.email else { return Ok(None) };
        let clear = open_secret(
            &self.email_key(),
            format!("custodia/email/{}", a.name).as_bytes(),
            sealed,
        )?;
        Ok(Some(String::from_utf8_lossy(&clear).into_owned()))
    }

    pub(crate) fn live_account(&self, name: &str) -> Result<AccountRecord, VaultError> {
        self.store()
            .account(name)?
            .filter(|a| a.deleted_ms.is_none())
            .ok_or_else(|| VaultError::NotFound(format!("account {name:?}")))
    }

    fn staff_event(&self, p: &Principal, action: Action, detail: String) -> AuditEvent {
        let mut e = AuditEvent::new(now_ms(), p.actor(), action);
        e.detail = Some(detail);
        e
    }

    fn not_self(&self, p: &Principal, name: &str, what: &str) -> Result<(), VaultError> {
        if p.person() == Some(name) || p.account() == Some(name) {
            return Err(self.forbid(
                p,
                None,
                format!("nobody {what} their own account; another administrator does"),
            ));
        }
        Ok(())
    }

    /// Ask to record a staff member's e-mail address (where their one-time
    /// links and alerts go). Needs `manage_accounts`, and a second person's
    /// approval: whoever could point an account's address at their own
    /// mailbox could send themselves its links. On approval the account's
    /// outstanding links stop working and a previous address is told.
    pub fn set_email(
        &self,
        p: &Principal,
        name: &str,
        email: &str,
    ) -> Result<crate::access::identity::AccountView, VaultError> {
        self.require_admin(p, Permission::ManageAccounts)?;
        self.not_self(p, name, "changes the e-mail address of")?;
        let email = email.trim();
        if !valid_email(email) {
            return Err(input("give an e-mail address like name@example.com"));
        }
        let a = self.live_account(name)?;
        if a.kind != AccountKind::Staff {
            return Err(input("service accounts have no e-mail address"));
        }
        self.request_approval(
            p,
            ApprovalKind::SetEmail,
            name,
            vec![],
            Some(self.seal_email(name, email)),
        )?;
        self.account_view_of(name)
    }

    /// Apply an approved address change.
    fn apply_email(&self, p: &Principal, mut a: AccountRecord, sealed: Vec<u8>, id: &str) -> Result<(), VaultError> {
        let old = self.staff_email(&a)?;
        a.email = Some(sealed);
        let new = self.staff_email(&a)?.unwrap_or_default();
        a.updated_ms = now_ms();
        let name = a.name.clone();
        let e = self.staff_event(
            p,
            Action::Account,
            format!("e-mail address of {name} set to {} (approval {id})", mask_email(&new)),
        );
        self.apply_one(vec![
            Mutation::PutAccount {
                account: Box::new(a),
                create: false,
                events: vec![e],
            },
            Mutation::DropAccountLinks { account: name.clone() },
        ])?;
        if let (Some(old), Some(mail)) = (old, self.config().mail.as_ref()) {
            if old != new {
                let _ = crate::privacy::delivery::send_mail(
                    mail,
                    self.dir(),
                    &old,
                    "Custodia: 邮箱已更改 / your e-mail address was changed",
                    &format!(
                        "您的 Custodia 账号 {name} 的邮箱已更改为 {m}。如非您所知，请立即联系管理员。\n\n\
                         The e-mail address of your Custodia account {name} was changed to {m}. If you did not expect this, tell your administrator now.\n",
                        m = mask_email(&new)
                    ),
                );
            }
        }
        Ok(())
    }

    /// Send a staff member a one-time link to their own address: `setup`
    /// (choose a password, then enroll MFA) or `mfa` (enroll MFA again).
    /// Needs `manage_accounts`. The administrator learns where it went
    /// (masked) and until when it works, never the link.
    pub fn send_link(&self, p: &Principal, name: &str, kind: LinkKind) -> Result<LinkSent, VaultError> {
        self.require_admin(p, Permission::ManageAccounts)?;
        if kind == LinkKind::Password {
            return Err(input(
                "password links are asked for by the person (\"forgot password\" on the sign-in page)",
            ));
        }
        self.not_self(p, name, "sends a link to")?;
        let a = self.live_account(name)?;
        if a.kind != AccountKind::Staff {
            return Err(input("service accounts use API tokens; they have no password or MFA"));
        }
        if a.disabled {
            return Err(input(format!("{name} is disabled; enable it first")));
        }
        if kind == LinkKind::Setup && a.password.is_some() && a.mfa_secret.is_some() {
            return Err(input(format!(
                "{name} has a password and MFA already; a forgotten password is reset from the sign-in page"
            )));
        }
        if kind == LinkKind::Mfa && a.mfa_secret.is_some() {
            return Err(input(format!(
                "{name} has MFA enrolled; reset it first (custodia user reset-mfa {name}, approved by a second person)"
            )));
        }
        self.issue_link(&a, kind, &p.actor())
    }

    /// Create, store and e-mail a link.
    pub(crate) fn issue_link(&self, a: &AccountRecord, kind: LinkKind, by: &str) -> Result<LinkSent, VaultError> {
        let mail = self.config().mail.clone().ok_or_else(|| {
            VaultError::Delivery("no mail server is configured: add [mail] to config.toml (see README)".into())
        })?;
        let to = self.staff_email(a)?.ok_or_else(|| {
            input(format!(
                "{} has no e-mail address on file (custodia user email {} ADDRESS)",
                a.name, a.name
            ))
        })?;
        let secret = Zeroizing::new(crate::access::session::random_hex(32));
        let now = now_ms();
        let link = AccountLinkRecord {
            digest: crate::access::session::digest(&secret),
            account: a.name.clone(),
            kind,
            created_ms: now,
            expires_ms: now + kind.hours() * 3_600_000,
            used: false,
            created_by: by.to_owned(),
        };
        let expires_at = crate::records::input::rfc3339(link.expires_ms);
        let masked = mask_email(&to);
        let mut e = AuditEvent::new(now, by, Action::Account);
        e.detail = Some(format!(
            "{} link for {} sent to {masked}, valid until {expires_at}",
            kind.as_str(),
            a.name
        ));
        self.apply_one(vec![Mutation::PutAccountLink {
            link: link.clone(),
            events: vec![e],
        }])?;
        let base = self.config().portal.base_url.trim_end_matches('/').to_owned();
        let url = format!("{base}/account/link?t={}", secret.as_str());
        let (zh, en) = match kind {
            LinkKind::Setup => (
                "设置您的 Custodia 账号（选择密码并绑定验证器）",
                "set up your Custodia account (choose a password, add your authenticator)",
            ),
            LinkKind::Password => ("重设您的 Custodia 密码", "choose a new Custodia password"),
            LinkKind::Mfa => ("重新绑定您的验证器", "add your authenticator again"),
        };
        let text = format!(
            "请打开以下链接以{zh}。链接仅可使用一次，有效期至 {expires_at}。\n\
             Open this link to {en}. It works once and expires at {expires_at}.\n\n    {url}\n\n\
             如非本人操作，请忽略本邮件并告知管理员。 If you did not expect this, ignore it and tell your administrator.\n",
        );
        if let Err(err) = crate::privacy::delivery::send_mail(&mail, self.dir(), &to, &format!("Custodia: {en}"), &text)
        {
            // A link that never arrived must not stay usable.
            self.apply_one(vec![Mutation::DropAccountLinks {
                account: a.name.clone(),
            }])?;
            return Err(err);
        }
        Ok(LinkSent {
            account: a.name.clone(),
            kind,
            to: masked,
            expires_at,
        })
    }

    /// Ask for a password link (the sign-in page's "forgot password"). The
    /// answer never says whether the account exists or has an address;
    /// at most three links an hour go to one account.
    pub fn forgot_password(&self, name: &str, client: &str) -> Result<(), VaultError> {
        let name: String = name.trim().to_lowercase().chars().take(64).collect();
        let counted = self.count_failures(
            vec![
                (format!("forgot:{name}"), 0, 3_600_000, 0),
                (format!("forgotaddr:{client}"), 0, 3_600_000, 0),
            ],
            vec![],
        )?;
        let too_many =
            counted.first().is_some_and(|c| c.0.failures > 3) || counted.get(1).is_some_and(|c| c.0.failures > 20);
        let mut e = AuditEvent::new(now_ms(), format!("login:{name}"), Action::Account);
        let account = self
            .store()
            .account(&name)?
            .filter(|a| a.kind == AccountKind::Staff && !a.disabled && a.deleted_ms.is_none() && a.email.is_some());
        match (&account, too_many) {
            (Some(a), false) => {
                e.detail = Some(format!("password link asked for client={client}"));
                self.audit(vec![e])?;
                if let Err(err) = self.issue_link(a, LinkKind::Password, &format!("login:{name}")) {
                    let mut f = AuditEvent::new(now_ms(), "system", Action::Account);
                    f.outcome = Outcome::Failed;
                    f.detail = Some(format!("password link for {name} not sent: {err}"));
                    self.audit(vec![f])?;
                }
            }
            // Over the limit: counted, not written one by one.
            (_, true) => {}
            _ => {
                e.outcome = Outcome::Denied;
                e.detail = Some(format!(
                    "password link not sent ({}) client={client}",
                    if too_many {
                        "too many asked for"
                    } else {
                        "no such account with an address"
                    }
                ));
                self.audit(vec![e])?;
            }
        }
        Ok(())
    }

    fn link_of(&self, secret: &str) -> Result<(AccountLinkRecord, LinkKind, AccountRecord), VaultError> {
        let l = self
            .store()
            .account_link(&crate::access::session::digest(secret.trim()))?
            .filter(|l| !l.used && l.expires_ms > now_ms())
            .ok_or_else(invalid_link)?;
        let kind = l.kind;
        let a = self
            .store()
            .account(&l.account)?
            .filter(|a| !a.disabled && a.deleted_ms.is_none())
            .ok_or_else(invalid_link)?;
        Ok((l, kind, a))
    }

    /// What a link asks for (its page's form).
    pub fn link_info(&self, secret: &str) -> Result<LinkInfo, VaultError> {
        let (_, kind, a) = self.link_of(secret)?;
        Ok(LinkInfo {
            account: a.name.clone(),
            kind,
            // Whoever set the address cannot use a link to an account that has a
            // password without knowing it.
            asks_current_password: matches!(kind, LinkKind::Mfa | LinkKind::Setup) && a.password.is_some(),
            asks_new_password: kind == LinkKind::Password || (kind == LinkKind::Setup && a.password.is_none()),
            asks_code: kind == LinkKind::Password && a.mfa_secret.is_some(),
        })
    }

    fn needs_mfa(&self, a: &AccountRecord) -> bool {
        a.roles
            .iter()
            .any(|r| self.policy().role(r).is_some_and(|r| r.requires_mfa))
    }

    /// The first step of a link: the passwords (and, for a password reset
    /// of an account with MFA, a code). Either done, or an enrollment to
    /// confirm with [`Vault::link_confirm_mfa`].
    pub fn link_submit(
        &self,
        secret: &str,
        new_password: Option<&str>,
        current_password: Option<&str>,
        code: Option<&str>,
        client: &str,
    ) -> Result<LinkStep, VaultError> {
        let (l, kind, mut a) = self.link_of(secret)?;
        let read_ms = a.updated_ms;
        let info = self.link_info(secret)?;
        let name = a.name.clone();
        let now = now_ms();
        let actor = format!("staff:{name}");
        let kpw = format!("pw:{name}:{}", crate::access::session::address_key(client));
        if info.asks_current_password {
            if let Some(until) = self.counter_locked(&kpw, now)? {
                return Err(VaultError::Forbidden(format!(
                    "too many wrong passwords from here; try again after {}",
                    crate::records::input::rfc3339(until)
                )));
            }
            let ok = password::verify(current_password.unwrap_or(""), a.password.as_deref().unwrap_or("")).is_ok();
            if !ok {
                let mut e = AuditEvent::new(now, &actor, Action::Login);
                e.outcome = Outcome::Denied;
                e.detail = Some(format!("{} link: wrong password client={client}", kind.as_str()));
                self.count_failures(
                    vec![(kpw.clone(), self.config().sign_in.password_failures, 900_000, 900_000)],
                    vec![e],
                )?;
                return Err(VaultError::Forbidden("the password is wrong".into()));
            }
        }
        let kcode = format!("code:{name}");
        if info.asks_code {
            // A locked second factor stays locked for links too, whatever
            // the code.
            if let Some(until) = self.counter_locked(&kcode, now)? {
                return Err(VaultError::Forbidden(format!(
                    "the second factor is locked until {}",
                    crate::records::input::rfc3339(until)
                )));
            }
            let ok = match (a.mfa_secret.clone(), code.map(str::trim).filter(|c| !c.is_empty())) {
                (Some(sealed), Some(code)) => self.second_factor(&mut a, &sealed, code)?,
                _ => false,
            };
            if !ok {
                let mut e = AuditEvent::new(now, &actor, Action::Login);
                e.outcome = Outcome::Denied;
                e.detail = Some(format!("password link: wrong code client={client}"));
                let c = self.config().sign_in.clone();
                let lock = i64::from(c.code_lock_minutes.max(1)) * 60_000;
                let locked = self
                    .count_failures(vec![(kcode.clone(), c.code_failures, lock, lock)], vec![e])?
                    .first()
                    .is_some_and(|x| x.1);
                if locked {
                    let mut al = AuditEvent::new(now, "system", Action::Lockout);
                    al.outcome = Outcome::Denied;
                    al.detail = Some(format!(
                        "ALERT: second factor of {name} locked for {} minutes after wrong codes on a password link (last from {client})",
                        c.code_lock_minutes
                    ));
                    self.audit(vec![al])?;
                    self.apply_one(vec![Mutation::DropAccountLinks { account: name.clone() }])?;
                    self.alert_staff(
                        &a,
                        "Custodia: 第二因素已锁定 / your second factor was locked",
                        &format!(
                            "有人使用发往您邮箱的重设密码链接并多次输入错误验证码（最近一次来自 {client}）。链接已作废，第二因素已锁定。\n\n\
                             Someone used the password link sent to your address with wrong codes (last from {client}). The link was cancelled and your second factor is locked.\n"
                        ),
                    );
                }
                return Err(VaultError::Forbidden(
                    "a code from your authenticator (or a recovery code) is needed to choose a new password".into(),
                ));
            }
        }
        if info.asks_new_password {
            let pw = new_password.unwrap_or("");
            password::check_policy(pw, &name).map_err(|e| input(e.to_string()))?;
            a.password = Some(password::hash(pw));
        }
        a.updated_ms = now;
        let enroll = match kind {
            LinkKind::Mfa => true,
            LinkKind::Setup => a.mfa_secret.is_none() && self.needs_mfa(&a),
            LinkKind::Password => false,
        };
        if enroll {
            let secret = TotpSecret::generate();
            a.mfa_pending = Some(seal_secret(
                &self.keys().derive_subkey("mfa-secrets"),
                format!("custodia/mfa/{name}").as_bytes(),
                secret.expose(),
            ));
            let mut e = AuditEvent::new(now, &actor, Action::Mfa);
            e.detail = Some(format!("{} link: enrollment started client={client}", kind.as_str()));
            match self
                .apply_one(vec![Mutation::PutAccountIf {
                    account: Box::new(a),
                    expect_updated_ms: read_ms,
                    events: vec![e],
                }])?
                .pop()
            {
                Some(Applied::Done) => {}
                _ => return Err(invalid_link()),
            }
            return Ok(LinkStep::Enroll {
                otpauth_uri: secret.otpauth_uri("Custodia", &name),
                secret_base32: secret.base32(),
            });
        }
        let mut e = AuditEvent::new(now, &actor, Action::Account);
        e.detail = Some(format!("{} link used: password chosen client={client}", kind.as_str()));
        let mut rs = AuditEvent::new(now, &actor, Action::Logout);
        rs.detail = Some("every session signed out: the password changed".into());
        self.use_link(l, a, read_ms, vec![e])?;
        self.apply_one(vec![Mutation::RevokeSessions {
            account: name,
            events: vec![rs],
        }])?;
        Ok(LinkStep::Done)
    }

    fn use_link(
        &self,
        l: AccountLinkRecord,
        a: AccountRecord,
        read_ms: i64,
        events: Vec<AuditEvent>,
    ) -> Result<(), VaultError> {
        match self
            .apply_one(vec![Mutation::UseAccountLink {
                digest: l.digest,
                now_ms: now_ms(),
                account: Box::new(a),
                expect_updated_ms: read_ms,
                events,
            }])?
            .pop()
        {
            Some(Applied::Done) => Ok(()),
            _ => Err(invalid_link()),
        }
    }

    /// The second step of a link that enrolls MFA: the authenticator's
    /// code. Returns the recovery codes (shown once, to the person).
    pub fn link_confirm_mfa(&self, secret: &str, code: &str, client: &str) -> Result<Vec<String>, VaultError> {
        let (l, kind, mut a) = self.link_of(secret)?;
        let read_ms = a.updated_ms;
        let name = a.name.clone();
        let pending = a
            .mfa_pending
            .clone()
            .ok_or_else(|| input("no enrollment is waiting; open the link again"))?;
        let totp = self.totp_of(&name, &pending)?;
        let step = totp
            .verify(code, chrono::Utc::now().timestamp() as u64, None)
            .ok_or_else(|| {
                input("the code does not match; check the authenticator's clock and try the current code")
            })?;
        let codes = crate::access::identity::recovery_codes();
        a.recovery = codes
            .iter()
            .map(|c| custodia_core::audit::to_hex(&Sha256::digest(c.as_bytes())))
            .collect();
        a.mfa_secret = Some(pending);
        a.mfa_pending = None;
        a.mfa_last_step = Some(step as i64);
        a.updated_ms = now_ms();
        let mut e = AuditEvent::new(now_ms(), format!("staff:{name}"), Action::Mfa);
        e.detail = Some(format!("{} link used: MFA enrolled client={client}", kind.as_str()));
        self.use_link(l, a, read_ms, vec![e])?;
        Ok(codes)
    }

    /// A signed-in staff member changes their own password (the current
    /// one is asked). Every other session of theirs ends and every
    /// remembered browser is forgotten; they are told by e-mail.
    pub fn change_password(
        &self,
        p: &Principal,
        current: &str,
        new: &str,
        keep_session: Option<&str>,
    ) -> Result<(), VaultError> {
        let Who::Staff { account, .. } = &p.0 else {
            return Err(self.forbid(p, None, "only a signed-in staff member changes their own password"));
        };
        let mut a = self.live_account(account)?;
        let read_ms = a.updated_ms;
        // A stolen session must not become a way to guess the password.
        let key = format!("pwchange:{account}");
        if let Some(until) = self.counter_locked(&key, now_ms())? {
            return Err(VaultError::Forbidden(format!(
                "too many wrong current passwords; try again after {}",
                crate::records::input::rfc3339(until)
            )));
        }
        if password::verify(current, a.password.as_deref().unwrap_or("")).is_err() {
            let mut e = AuditEvent::new(now_ms(), p.actor(), Action::Account);
            e.outcome = Outcome::Denied;
            e.detail = Some("password change refused: the current password is wrong".into());
            let lock = i64::from(self.config().sign_in.password_lock_minutes.max(1)) * 60_000;
            self.count_failures(
                vec![(key, self.config().sign_in.password_failures, lock, lock)],
                vec![e],
            )?;
            return Err(VaultError::Forbidden("the current password is wrong".into()));
        }
        password::check_policy(new, account).map_err(|e| input(e.to_string()))?;
        a.password = Some(password::hash(new));
        a.updated_ms = now_ms();
        let e = self.staff_event(p, Action::Account, format!("{account} changed their password"));
        let keep = keep_session.and_then(|t| self.store().session(&crate::access::session::digest(t)).ok().flatten());
        match self
            .apply_one(vec![Mutation::PutAccountIf {
                account: Box::new(a.clone()),
                expect_updated_ms: read_ms,
                events: vec![e],
            }])?
            .pop()
        {
            Some(Applied::Done) => {}
            _ => {
                return Err(VaultError::Forbidden(
                    "the account changed meanwhile; sign in again".into(),
                ))
            }
        }
        let mut muts = vec![Mutation::RevokeSessions {
            account: account.clone(),
            events: vec![],
        }];
        if let Some(mut s) = keep {
            s.revoked = false;
            muts.push(Mutation::PutSession {
                session: s,
                events: vec![],
            });
        }
        self.apply_one(muts)?;
        self.alert_staff(
            &a,
            "Custodia: 密码已更改 / your password was changed",
            &format!(
                "您的 Custodia 账号 {account} 的密码刚刚被更改，其他会话均已退出。如非本人操作，请立即联系管理员。\n\n\
                 The password of your Custodia account {account} was just changed and your other sessions were signed out. If this was not you, tell your administrator now.\n"
            ),
        );
        Ok(())
    }

    /// Disable an account (its sessions and tokens stop at once) or enable
    /// it again. Needs `manage_accounts`; never one's own, never the last
    /// administrator.
    pub fn set_disabled(
        &self,
        p: &Principal,
        name: &str,
        disabled: bool,
        reason: Option<&str>,
    ) -> Result<crate::access::identity::AccountView, VaultError> {
        self.require_admin(p, Permission::ManageAccounts)?;
        self.not_self(p, name, if disabled { "disables" } else { "enables" })?;
        let mut a = self.live_account(name)?;
        if a.disabled == disabled {
            return self.account_view_of(name);
        }
        if disabled
            && a.roles
                .iter()
                .any(|r| self.leaves_no_administrator(name, r).unwrap_or(false))
        {
            return Err(input(format!(
                "{name} is the last working administrator; create another first"
            )));
        }
        a.disabled = disabled;
        a.updated_ms = now_ms();
        let why = reason
            .map(|r| format!(" ({})", r.chars().take(200).collect::<String>()))
            .unwrap_or_default();
        let e = self.staff_event(
            p,
            Action::Account,
            format!("{name} {}{why}", if disabled { "disabled" } else { "enabled" }),
        );
        let mut muts = vec![Mutation::PutAccount {
            account: Box::new(a),
            create: false,
            events: vec![e],
        }];
        if disabled {
            muts.push(Mutation::RevokeSessions {
                account: name.to_owned(),
                events: vec![],
            });
        }
        self.apply_one(muts)?;
        self.account_view_of(name)
    }

    /// Clear an account's sign-in counters: every address shut out of it,
    /// a locked second factor. Needs `manage_accounts`.
    pub fn unlock(&self, p: &Principal, name: &str) -> Result<(), VaultError> {
        self.require_admin(p, Permission::ManageAccounts)?;
        self.live_account(name)?;
        let e = self.staff_event(
            p,
            Action::Account,
            format!("sign-in counters of {name} cleared (unlocked)"),
        );
        self.apply_one(vec![Mutation::ClearCounters {
            keys: crate::access::session::account_counter_keys(name),
            prefixes: crate::access::session::account_counter_prefixes(name),
            events: vec![e],
        }])?;
        Ok(())
    }

    /// Delete an account: its secrets, address and roles are removed, its
    /// sessions, tokens and links stop, and its name stays taken so the
    /// audit trail keeps meaning one account. Needs `manage_accounts`;
    /// never one's own, never the last administrator.
    pub fn delete_account(&self, p: &Principal, name: &str) -> Result<(), VaultError> {
        self.require_admin(p, Permission::ManageAccounts)?;
        self.not_self(p, name, "deletes")?;
        let mut a = self.live_account(name)?;
        for r in &a.roles {
            if self.leaves_no_administrator(name, r)? {
                return Err(input(format!(
                    "{name} is the last working administrator; create another first"
                )));
            }
        }
        let now = now_ms();
        let e = self.staff_event(
            p,
            Action::Account,
            format!("{} account {name} deleted (roles were [{}])", a.kind, a.roles.join(",")),
        );
        a.password = None;
        a.roles.clear();
        a.mfa_secret = None;
        a.mfa_pending = None;
        a.recovery.clear();
        a.email = None;
        a.disabled = true;
        a.deleted_ms = Some(now);
        a.updated_ms = now;
        let mut muts = vec![
            Mutation::PutAccount {
                account: Box::new(a),
                create: false,
                events: vec![e],
            },
            Mutation::RevokeSessions {
                account: name.to_owned(),
                events: vec![],
            },
            Mutation::DropAccountLinks {
                account: name.to_owned(),
            },
            Mutation::ClearCounters {
                keys: crate::access::session::account_counter_keys(name),
                prefixes: crate::access::session::account_counter_prefixes(name),
                events: vec![],
            },
        ];
        for t in self.store().tokens()? {
            if t.account == name && !t.revoked {
                muts.push(Mutation::RevokeToken {
                    id: t.id,
                    events: vec![],
                });
            }
        }
        for ap in self.store().approvals()? {
            if ap.account == name && ap.state == ApprovalState::Pending {
                muts.push(self.decided(ap, ApprovalState::Cancelled, p, Some("the account was deleted"), vec![]));
            }
        }
        self.apply_one(muts)?;
        Ok(())
    }

    fn decided(
        &self,
        mut ap: ApprovalRecord,
        state: ApprovalState,
        p: &Principal,
        note: Option<&str>,
        events: Vec<AuditEvent>,
    ) -> Mutation {
        ap.state = state;
        ap.decided_by = Some(p.actor());
        ap.decided_ms = Some(now_ms());
        ap.note = note.map(|n| n.chars().take(500).collect());
        Mutation::DecideApproval { approval: ap, events }
    }

    /// Decide a pending approval, refusing if someone decided it a moment
    /// before (the store decides each approval once).
    fn decide_once(
        &self,
        ap: ApprovalRecord,
        state: ApprovalState,
        p: &Principal,
        note: Option<&str>,
        events: Vec<AuditEvent>,
    ) -> Result<(), VaultError> {
        let id = ap.id.clone();
        match self.apply_one(vec![self.decided(ap, state, p, note, events)])?.pop() {
            Some(Applied::Done) => Ok(()),
            _ => Err(input(format!("approval {id} was decided a moment ago"))),
        }
    }

    /// Ask for a change that waits for a second person.
    pub(crate) fn request_approval(
        &self,
        p: &Principal,
        kind: ApprovalKind,
        account: &str,
        roles: Vec<String>,
        payload: Option<Vec<u8>>,
    ) -> Result<ApprovalView, VaultError> {
        // The first of two people is a person too: a service token's
        // holder could otherwise ask and approve as two names.
        if p.person().is_none() {
            return Err(self.forbid(
                p,
                None,
                "this change waits for a second person's approval, so a person asks for it (a signed-in administrator or privacy officer, or the operator), not an API token",
            ));
        }
        let now = now_ms();
        let ap = ApprovalRecord {
            id: format!("apr_{}", crate::access::session::random_hex(8)),
            kind,
            account: account.to_owned(),
            roles: roles.clone(),
            requested_by: p.actor(),
            requested_ms: now,
            state: ApprovalState::Pending,
            decided_by: None,
            decided_ms: None,
            note: None,
            payload,
        };
        let e = self.staff_event(
            p,
            Action::Account,
            format!(
                "approval {} asked for: {} {account}{}",
                ap.id,
                kind.as_str(),
                if roles.is_empty() {
                    String::new()
                } else {
                    format!(" roles=[{}]", roles.join(","))
                }
            ),
        );
        self.apply_one(vec![Mutation::PutApproval {
            approval: ap.clone(),
            events: vec![e],
        }])?;
        self.approval_view_pub(ap)
    }

    /// Reset a staff member's second factor: after a second person
    /// approves, the TOTP secret and recovery codes are removed, every
    /// session ends and an enrollment link goes to the person's address.
    /// Needs `manage_accounts`.
    pub fn request_mfa_reset(&self, p: &Principal, name: &str) -> Result<ApprovalView, VaultError> {
        self.require_admin(p, Permission::ManageAccounts)?;
        self.not_self(p, name, "resets the second factor of")?;
        let a = self.live_account(name)?;
        if a.kind != AccountKind::Staff {
            return Err(input("service accounts have no second factor"));
        }
        if a.email.is_none() {
            return Err(input(format!(
                "{name} has no e-mail address on file, so the new enrollment link could not reach them: add one first (custodia user email {name} ADDRESS)"
            )));
        }
        if self
            .store()
            .approvals()?
            .iter()
            .any(|x| x.account == name && x.kind == ApprovalKind::ResetMfa && x.state == ApprovalState::Pending)
        {
            return Err(input(format!("an MFA reset of {name} is already waiting for approval")));
        }
        self.request_approval(p, ApprovalKind::ResetMfa, name, vec![], None)
    }

    /// Approvals, newest first. Needs `manage_accounts` or `review_access`.
    pub fn approvals(&self, p: &Principal, pending_only: bool) -> Result<Vec<ApprovalView>, VaultError> {
        self.require_any_admin(p, &[Permission::ManageAccounts, Permission::ReviewAccess])?;
        self.store()
            .approvals()?
            .into_iter()
            .filter(|a| !pending_only || a.state == ApprovalState::Pending)
            .map(|a| self.approval_view_pub(a))
            .collect()
    }

    fn pending_approval(&self, p: &Principal, id: &str) -> Result<ApprovalRecord, VaultError> {
        self.require_any_admin(p, &[Permission::ManageAccounts, Permission::ReviewAccess])?;
        let ap = self
            .store()
            .approval(id)?
            .ok_or_else(|| VaultError::NotFound(format!("approval {id:?}")))?;
        if ap.state != ApprovalState::Pending {
            return Err(input(format!("approval {id} is {} already", ap.state)));
        }
        Ok(ap)
    }

    /// Approve a pending change and apply it. The approver is a person
    /// other than whoever asked and other than the account changed, and
    /// holds what the change needs (for roles: what granting them needs;
    /// for an MFA reset: `manage_accounts` or `review_access`).
    pub fn approve(&self, p: &Principal, id: &str) -> Result<ApprovalView, VaultError> {
        let ap = self.pending_approval(p, id)?;
        let kind = ap.kind;
        let me = p.person();
        if me.is_none() {
            return Err(self.forbid(p, None, "approvals are given by a person, not a service token"));
        }
        if me == person_of(&ap.requested_by) {
            let e = VaultError::SeparationOfDuties(format!("{id} was asked for by you; a second person approves it"));
            self.audit_refusal(p, None, None, &e);
            return Err(e);
        }
        if me == Some(ap.account.as_str()) || p.account() == Some(ap.account.as_str()) {
            let e = VaultError::SeparationOfDuties(format!("{id} changes your own account; someone else approves it"));
            self.audit_refusal(p, None, None, &e);
            return Err(e);
        }
        let a = self.live_account(&ap.account)?;
        let e = self.staff_event(
            p,
            Action::Account,
            format!(
                "approval {id} approved: {} {} (asked for by {})",
                ap.kind, ap.account, ap.requested_by
            ),
        );
        match kind {
            ApprovalKind::GrantRoles => {
                let mut wanted = a.roles.clone();
                for r in &ap.roles {
                    if !wanted.contains(r) {
                        wanted.push(r.clone());
                    }
                }
                self.check_role_change(p, &a.name, &a.roles, &wanted)?;
                self.decide_once(ap.clone(), ApprovalState::Approved, p, None, vec![e])?;
                self.apply_roles(p, a, wanted, Some(id))?;
            }
            ApprovalKind::SetEmail => {
                self.require_admin(p, Permission::ManageAccounts)?;
                let sealed = ap
                    .payload
                    .clone()
                    .ok_or_else(|| VaultError::Io(format!("approval {id} carries no address")))?;
                self.decide_once(ap.clone(), ApprovalState::Approved, p, None, vec![e])?;
                self.apply_email(p, a, sealed, id)?;
            }
            ApprovalKind::ResetMfa => {
                self.require_any_admin(p, &[Permission::ManageAccounts, Permission::ReviewAccess])?;
                self.decide_once(ap.clone(), ApprovalState::Approved, p, None, vec![e])?;
                let mut a = a;
                a.mfa_secret = None;
                a.mfa_pending = None;
                a.mfa_last_step = None;
                a.recovery.clear();
                a.updated_ms = now_ms();
                let r = self.staff_event(
                    p,
                    Action::Mfa,
                    format!("second factor of {} removed ({id}); every session signed out", a.name),
                );
                self.apply_one(vec![
                    Mutation::PutAccount {
                        account: Box::new(a.clone()),
                        create: false,
                        events: vec![r],
                    },
                    Mutation::RevokeSessions {
                        account: a.name.clone(),
                        events: vec![],
                    },
                ])?;
                if let Err(err) = self.issue_link(&a, LinkKind::Mfa, &p.actor()) {
                    let mut f = AuditEvent::new(now_ms(), p.actor(), Action::Account);
                    f.outcome = Outcome::Failed;
                    f.detail = Some(format!("enrollment link for {} not sent: {err}", a.name));
                    self.audit(vec![f])?;
                }
            }
        }
        approval_view(
            self.store()
                .approval(id)?
                .ok_or_else(|| VaultError::NotFound(id.into()))?,
        )
    }

    /// Refuse a pending change (another person), or withdraw it (whoever
    /// asked).
    pub fn reject(&self, p: &Principal, id: &str, note: Option<&str>) -> Result<ApprovalView, VaultError> {
        let ap = self.pending_approval(p, id)?;
        let own = p.person().is_some() && p.person() == person_of(&ap.requested_by);
        let state = if own {
            ApprovalState::Cancelled
        } else {
            ApprovalState::Rejected
        };
        let e = self.staff_event(
            p,
            Action::Account,
            format!("approval {id} {}: {} {}", state.as_str(), ap.kind, ap.account),
        );
        self.decide_once(ap, state, p, note, vec![e])?;
        approval_view(
            self.store()
                .approval(id)?
                .ok_or_else(|| VaultError::NotFound(id.into()))?,
        )
    }
}

impl Vault {
    /// An approval as shown, with the address its links would reach.
    pub(crate) fn approval_view_pub(&self, a: ApprovalRecord) -> Result<ApprovalView, VaultError> {
        let email = match &a.payload {
            Some(sealed) => open_secret(
                &self.email_key(),
                format!("custodia/email/{}", a.account).as_bytes(),
                sealed,
            )
            .ok()
            .map(|c| mask_email(&String::from_utf8_lossy(&c))),
            None => match self.store().account(&a.account)? {
                Some(acc) => self.staff_email(&acc)?.map(|e| mask_email(&e)),
                None => None,
            },
        };
        let mut v = approval_view(a)?;
        v.email = email;
        Ok(v)
    }
}

fn approval_view(a: ApprovalRecord) -> Result<ApprovalView, VaultError> {
    Ok(ApprovalView {
        email: None,
        kind: a.kind,
        state: a.state,
        requested_at: crate::records::input::rfc3339(a.requested_ms),
        decided_at: a.decided_ms.map(crate::records::input::rfc3339),
        id: a.id,
        account: a.account,
        roles: a.roles,
        requested_by: a.requested_by,
        decided_by: a.decided_by,
        note: a.note,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_masked_and_checked() {
        assert_eq!(mask_email("li.na@example.com"), "l***@example.com");
        assert_eq!(mask_email("nonsense"), "***");
        for ok in ["a@b.cn", "li.na+x@example.com"] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "a@b",
            "@b.cn",
            "a@.cn",
            "a@b.",
            "a b@c.cn",
            "a@b.cn\r\nBcc: x@y.z",
            "<a@b.cn>",
        ] {
            assert!(!valid_email(bad), "{bad:?}");
        }
    }

    #[test]
    fn stored_kinds_and_states_parse_back_and_unknown_ones_fail() {
        for k in [LinkKind::Setup, LinkKind::Password, LinkKind::Mfa] {
            assert_eq!(LinkKind::parse(k.as_str()).unwrap(), k);
        }
        for k in [ApprovalKind::GrantRoles, ApprovalKind::ResetMfa, ApprovalKind::SetEmail] {
            assert_eq!(ApprovalKind::parse(k.as_str()).unwrap(), k);
        }
        for s in [
            ApprovalState::Pending,
            ApprovalState::Approved,
            ApprovalState::Rejected,
            ApprovalState::Cancelled,
        ] {
            assert_eq!(ApprovalState::parse(s.as_str()).unwrap(), s);
        }
        assert!(LinkKind::parse("admin").is_none());
        assert!(ApprovalKind::parse("").is_none());
        assert!(ApprovalState::parse("Pending").is_none());
    }
}
