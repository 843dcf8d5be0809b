//! The bootstrap token and break-glass access.
//!
//! **Bootstrap.** The first `serve` prints one token, shown once, whose
//! only power is to create the first administrator (`POST /v1/accounts`).
//! It is switched off when an administrator exists, however that account
//! was made (API or command line), and cannot be issued again while one
//! exists. It never reads or changes customer data. Only its SHA-256 is
//! stored (a random 256-bit token needs no slow hash).
//!
//! **Break-glass.** In an emergency (every administrator locked out, an
//! incident that needs data no role grants), someone who holds the data
//! directory and the master key runs `custodia break-glass` with an
//! administrator's password and authenticator code and a reason. It issues
//! a token valid for at most an hour that is allowed everything. Issuing it
//! and every use of it are in the audit log under `breakglass:<admin>/…`,
//! the issue as its own `break_glass` event naming the reason; `status` and
//! the access review list break-glass tokens.

use crate::access::authz::{digest, new_secret, new_token_id, IssuedToken, Principal, Who, BREAK_GLASS_SCOPE};
use crate::{now_ms, Vault, VaultError};
use custodia_core::accounts::AccountKind;
use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_core::policy::Permission;
use custodia_store::prelude::*;
use custodia_store::{Mutation, TokenRecord};
use zeroize::Zeroizing;

const META_BOOTSTRAP: &str = "admin_token_sha256";
/// Prefix of Custodia tokens (helps secret scanners spot leaks).
pub const TOKEN_PREFIX: &str = "cst_";
/// Longest life of a break-glass token.
pub const MAX_BREAK_GLASS_MINUTES: u32 = 60;
/// How often the stored bootstrap digest is re-read (so `token reset` or
/// a new administrator takes effect in running servers).
const RECHECK_MS: i64 = 5000;

/// The mutation that switches the bootstrap token off.
pub(crate) fn switch_off() -> Mutation {
    Mutation::SetMeta {
        key: META_BOOTSTRAP.into(),
        value: Vec::new(),
    }
}

/// Where the bootstrap token stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BootstrapStatus {
    /// Never issued (a data directory that no `serve` has started yet).
    NeverIssued,
    /// Issued and usable: no administrator exists yet.
    Active,
    /// Switched off (an administrator exists, or it was disabled).
    Off,
}

/// The cached bootstrap digest and when it was read.
#[derive(Debug, Default)]
pub(crate) struct BootstrapCache {
    state: std::sync::RwLock<(Option<[u8; 32]>, i64)>,
}

impl Vault {
    fn bootstrap_digest(&self) -> Result<Option<Vec<u8>>, VaultError> {
        Ok(self.store().meta(META_BOOTSTRAP)?)
    }

    /// Whether a bootstrap token is issued and not switched off.
    pub(crate) fn bootstrap_active(&self) -> Result<bool, VaultError> {
        Ok(self.bootstrap_digest()?.is_some_and(|d| d.len() == 32))
    }

    /// Drop the cached digest, so the next check reads the store.
    pub(crate) fn forget_bootstrap(&self) {
        *self.bootstrap_cache().state.write().expect("bootstrap cache") = (None, 0);
    }

    /// Where the bootstrap token stands.
    pub fn bootstrap_status(&self) -> Result<BootstrapStatus, VaultError> {
        Ok(match self.bootstrap_digest()? {
            None => BootstrapStatus::NeverIssued,
            Some(d) if d.len() == 32 && !self.administrator_exists()? => BootstrapStatus::Active,
            Some(_) => BootstrapStatus::Off,
        })
    }

    /// Issue a new bootstrap token (replacing any earlier one), shown once.
    /// Refused once an administrator exists: from then on accounts are
    /// made by administrators, and emergencies use break-glass. Needs
    /// `manage_accounts` (the operator who starts the first server).
    pub fn issue_bootstrap_token(&self, p: &Principal) -> Result<Zeroizing<String>, VaultError> {
        self.require_admin(p, Permission::ManageAccounts)?;
        if self.administrator_exists()? {
            return Err(self.forbid(
                p,
                None,
                "an administrator exists, so there is no bootstrap token any more; administrators create accounts, \
                 and `custodia break-glass` covers emergencies",
            ));
        }
        let token = new_secret(TOKEN_PREFIX);
        let mut e = AuditEvent::new(now_ms(), p.actor(), Action::TokenIssue);
        e.detail =
            Some("bootstrap token issued (creates the first administrator only); any earlier one revoked".into());
        self.apply_one(vec![
            Mutation::SetMeta {
                key: META_BOOTSTRAP.into(),
                value: digest(&token),
            },
            Mutation::Audit(vec![e]),
        ])?;
        self.forget_bootstrap();
        Ok(token)
    }

    /// Switch the bootstrap token off. Needs `manage_accounts`.
    pub fn disable_bootstrap(&self, p: &Principal) -> Result<(), VaultError> {
        self.require_admin(p, Permission::ManageAccounts)?;
        let mut e = AuditEvent::new(now_ms(), p.actor(), Action::TokenIssue);
        e.detail = Some("bootstrap token disabled".into());
        self.apply_one(vec![switch_off(), Mutation::Audit(vec![e])])?;
        self.forget_bootstrap();
        Ok(())
    }

    /// The bootstrap principal, when `presented` is the live bootstrap
    /// token. Constant-time comparison of digests; the stored digest is
    /// re-read every few seconds, and a token presented after an
    /// administrator exists is refused (and switched off).
    pub fn authenticate_bootstrap(&self, presented: &str) -> Result<Option<Principal>, VaultError> {
        Ok(self.bootstrap_matches(presented)?.then_some(Principal(Who::Bootstrap)))
    }

    fn bootstrap_matches(&self, presented: &str) -> Result<bool, VaultError> {
        if !presented.starts_with(TOKEN_PREFIX) || presented.len() != TOKEN_PREFIX.len() + 64 {
            return Ok(false);
        }
        let now = now_ms();
        let cache = self.bootstrap_cache();
        let (stored, at) = *cache.state.read().expect("bootstrap cache");
        let stored = if now - at > RECHECK_MS {
            let fresh = self
                .bootstrap_digest()?
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok());
            *cache.state.write().expect("bootstrap cache") = (fresh, now);
            fresh
        } else {
            stored
        };
        let Some(stored) = stored else { return Ok(false) };
        let got = digest(presented);
        let diff = got.iter().zip(stored.iter()).fold(0u8, |a, (x, y)| a | (x ^ y));
        if diff != 0 {
            return Ok(false);
        }
        if self.administrator_exists()? {
            // An administrator was made some other way (e.g. a policy
            // change gave an existing role manage_accounts).
            let mut e = AuditEvent::new(now, "token:bootstrap", Action::TokenIssue);
            e.outcome = Outcome::Denied;
            e.detail = Some("bootstrap token presented after an administrator exists; switched off".into());
            // Queued, not awaited: this runs on the server's async threads.
            drop(self.store().submit(vec![switch_off(), Mutation::Audit(vec![e])]));
            self.forget_bootstrap();
            return Ok(false);
        }
        Ok(true)
    }

    /// Open break-glass access: a token allowed everything for at most
    /// [`MAX_BREAK_GLASS_MINUTES`], for the administrator `admin`, whose
    /// password and current authenticator code (or a recovery code) prove
    /// they take part. Only the local operator (who holds the master key)
    /// can call this. Loud: the issue is a `break_glass` event with the
    /// reason, and every use is recorded under `breakglass:<admin>/<token>`.
    pub fn break_glass(
        &self,
        p: &Principal,
        admin: &str,
        password: &str,
        code: &str,
        reason: &str,
        minutes: u32,
    ) -> Result<IssuedToken, VaultError> {
        let Who::Operator { .. } = &p.0 else {
            return Err(self.forbid(
                p,
                None,
                "break-glass is opened on the server's command line, with the master key",
            ));
        };
        let reason = reason.trim();
        if reason.chars().count() < 10 || reason.chars().count() > 500 {
            return Err(VaultError::Input(
                "give the reason for break-glass access (10-500 characters, no personal data)".into(),
            ));
        }
        if !(1..=MAX_BREAK_GLASS_MINUTES).contains(&minutes) {
            return Err(VaultError::Input(format!(
                "break-glass access lasts 1 to {MAX_BREAK_GLASS_MINUTES} minutes"
            )));
        }
        let refused = |why: &str| {
            let mut e = AuditEvent::new(now_ms(), p.actor(), Action::BreakGlass);
            e.outcome = Outcome::Denied;
            e.detail = Some(format!("break-glass refused for {admin}: {why}"));
            let _ = self.audit(vec![e]);
            VaultError::Forbidden(format!("break-glass refused: {why}"))
        };
        let account = self.store().account(admin)?;
        let Some(a) = account.filter(|a| a.kind == AccountKind::Staff && !a.disabled && a.deleted_ms.is_none()) else {
            return Err(refused("not an active staff administrator"));
        };
        if !self.policy().grants(&a.roles, Permission::ManageAccounts) {
            return Err(refused("not an active staff administrator"));
        }
        if a.mfa_secret.is_none() {
            return Err(refused("the administrator has no second factor enrolled"));
        }
        match self.login(admin, password, Some(code), "break-glass", None)?.result {
            Ok(start) => {
                // The session only proved the credentials.
                self.logout(&start.token)?;
            }
            Err(_) => return Err(refused("the password or code is wrong")),
        }
        let token = new_secret(TOKEN_PREFIX);
        let id = new_token_id();
        let now = now_ms();
        let rec = TokenRecord {
            id: id.clone(),
            account: admin.to_owned(),
            digest: digest(&token),
            scopes: vec![BREAK_GLASS_SCOPE.into()],
            expires_ms: now + minutes as i64 * 60_000,
            revoked: false,
            created_ms: now,
        };
        let mut e = AuditEvent::new(now, p.actor(), Action::BreakGlass);
        e.detail = Some(format!(
            "BREAK-GLASS token {id} opened for administrator {admin}, {minutes} min: {reason}"
        ));
        self.apply_one(vec![Mutation::PutToken {
            token: rec.clone(),
            events: vec![e],
        }])?;
        tracing::warn!(admin, token = %id, minutes, "break-glass access opened");
        Ok(IssuedToken {
            id,
            token,
            account: admin.to_owned(),
            scopes: vec![BREAK_GLASS_SCOPE.into()],
            expires_at: crate::records::input::rfc3339(rec.expires_ms),
        })
    }
}
