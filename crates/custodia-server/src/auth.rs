//! Bearer-token authentication. Until staff accounts exist, one admin API
//! token is issued at first start and shown once; only its SHA-256 is
//! stored (a random 256-bit token needs no slow hash).

use custodia_core::audit::{Action, AuditEvent};
use custodia_store::Mutation;
use custodia_vault::{now_ms, Vault, VaultError};
use sha2::{Digest, Sha256};
use std::sync::RwLock;
use zeroize::Zeroizing;

const META_ADMIN: &str = "admin_token_sha256";
/// Prefix of Custodia tokens (helps secret scanners spot leaks).
pub const TOKEN_PREFIX: &str = "cst_";

fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Issue a new admin token, replacing any previous one. Returns the token,
/// which is not stored anywhere.
pub fn issue_admin_token(vault: &Vault, actor: &str) -> Result<Zeroizing<String>, VaultError> {
    let mut raw = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let token = Zeroizing::new(format!("{TOKEN_PREFIX}{}", custodia_core::audit::to_hex(&raw)));
    zeroize::Zeroize::zeroize(&mut raw);
    let mut e = AuditEvent::new(now_ms(), actor, Action::TokenIssue);
    e.detail = Some("admin token issued; previous admin token revoked".into());
    let results = vault.store().apply(vec![
        Mutation::SetMeta {
            key: META_ADMIN.into(),
            value: digest(&token).to_vec(),
        },
        Mutation::Audit(vec![e]),
    ])?;
    for r in results {
        r?;
    }
    Ok(token)
}

/// Switch the bootstrap admin token off (once staff and service accounts
/// exist). `issue_admin_token` switches it on again, from the CLI only.
pub fn disable_admin_token(vault: &Vault, actor: &str) -> Result<(), VaultError> {
    let mut e = AuditEvent::new(now_ms(), actor, Action::TokenIssue);
    e.detail = Some("bootstrap admin token disabled".into());
    for r in vault.store().apply(vec![
        Mutation::SetMeta {
            key: META_ADMIN.into(),
            value: Vec::new(),
        },
        Mutation::Audit(vec![e]),
    ])? {
        r?;
    }
    Ok(())
}

/// Whether an admin token has been issued (or deliberately disabled).
pub fn has_admin_token(vault: &Vault) -> Result<bool, VaultError> {
    Ok(vault.store().meta(META_ADMIN)?.is_some())
}

/// Checks presented tokens against the stored digest, re-reading it every
/// few seconds so `custodia token reset` takes effect without a restart.
pub struct TokenCheck {
    state: RwLock<(Option<[u8; 32]>, i64)>,
}

impl Default for TokenCheck {
    fn default() -> Self {
        TokenCheck {
            state: RwLock::new((None, 0)),
        }
    }
}

impl TokenCheck {
    /// The actor name of a valid token, or `None`.
    pub fn check(&self, vault: &Vault, presented: &str) -> Result<Option<String>, VaultError> {
        let now = now_ms();
        let (stored, at) = *self.state.read().expect("token state");
        let stored = if now - at > 5000 {
            let fresh = vault
                .store()
                .meta(META_ADMIN)?
                .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok());
            *self.state.write().expect("token state") = (fresh, now);
            fresh
        } else {
            stored
        };
        let Some(stored) = stored else { return Ok(None) };
        if !presented.starts_with(TOKEN_PREFIX) || presented.len() != TOKEN_PREFIX.len() + 64 {
            return Ok(None);
        }
        let got = digest(presented);
        let diff = got.iter().zip(stored.iter()).fold(0u8, |a, (x, y)| a | (x ^ y));
        Ok((diff == 0).then(|| "token:admin".to_owned()))
    }
}
