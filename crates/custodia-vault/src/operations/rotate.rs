//! Key-encryption-key rotation: a new KEK version, and every data key
//! rewrapped under it, online and resumably.
//!
//! The new version becomes current first (new records use it at once),
//! then records still under an older version are rewrapped page by page,
//! each page committed on its own. Reads keep working throughout: every
//! wrapped key names the KEK version it is under. Interrupted, the next
//! `rotate` finds the records still under an old version and finishes the
//! job instead of starting another version.

use crate::progress::Progress;
use crate::{now_ms, Vault, VaultError, META_KEK};
use custodia_core::audit::{Action, AuditEvent};
use custodia_crypto::WrappedKey;
use custodia_store::prelude::*;
use custodia_store::{Applied, Mutation};
use rayon::prelude::*;
use serde::Serialize;

/// What a rotation did.
#[derive(Debug, Clone, Serialize)]
pub struct RotateReport {
    /// The KEK version data keys were moved off (the oldest seen).
    pub from: u32,
    /// The KEK version now current.
    pub to: u32,
    /// Data keys rewrapped by this run.
    pub rewrapped: u64,
    /// Whether this run finished an interrupted rotation.
    pub resumed: bool,
}

const PAGE: usize = 1000;

impl Vault {
    /// Rotate the key-encryption key (or finish an interrupted rotation).
    pub fn rotate(
        &self,
        p: &crate::access::authz::Principal,
        progress: &dyn Progress,
    ) -> Result<RotateReport, VaultError> {
        self.require_admin(p, custodia_core::policy::Permission::ManageKeys)?;
        let actor = p.actor();
        let actor = actor.as_str();
        let current = self.refresh_kek()?;
        let (_, stale) = self.store().counts(current)?;
        let (from, to, resumed) = if stale > 0 {
            (current.saturating_sub(1).max(1), current, true)
        } else {
            let to = current + 1;
            let mut e = AuditEvent::new(now_ms(), actor, Action::KeyRotate);
            e.detail = Some(format!("started from={current} to={to}"));
            self.apply_one(vec![
                Mutation::SetMeta {
                    key: META_KEK.into(),
                    value: to.to_string().into_bytes(),
                },
                Mutation::Audit(vec![e]),
            ])?;
            self.refresh_kek()?;
            (current, to, false)
        };
        let (_, todo) = self.store().counts(to)?;
        progress.start(todo, "keys");
        let mut rewrapped = 0u64;
        let result = (|| -> Result<(), VaultError> {
            // A few passes: another process may still create records under
            // the old version until it notices the new one (within 2 s).
            for pass in 0..20 {
                let mut cursor = 0;
                loop {
                    let (page, next) = self.store().scan_kek_below(to, cursor, PAGE)?;
                    if page.is_empty() {
                        break;
                    }
                    cursor = next;
                    let kek = self.keys().kek(to)?;
                    let muts: Vec<Mutation> = page
                        .par_iter()
                        .map(|r| {
                            let old = self.keys().kek(r.kek_version)?;
                            let dk = old.unwrap_key(&r.id, &WrappedKey(r.wrapped_dk.clone()))?;
                            Ok(Mutation::Rewrap {
                                id: r.id,
                                from_kek: r.kek_version,
                                to_kek: to,
                                wrapped_dk: kek.wrap(&r.id, &dk).0,
                            })
                        })
                        .collect::<Result<_, VaultError>>()?;
                    for r in self.store().apply(muts)? {
                        if r? == Applied::Done {
                            rewrapped += 1;
                        }
                    }
                    progress.advance(page.len() as u64);
                }
                if self.store().counts(to)?.1 == 0 {
                    return Ok(());
                }
                std::thread::sleep(std::time::Duration::from_millis(250 * (pass + 1)));
            }
            Err(VaultError::Io(
                "some records are still created under the old key version; run `custodia keys rotate` again".into(),
            ))
        })();
        progress.finish();
        let mut e = AuditEvent::new(now_ms(), actor, Action::KeyRotate);
        e.detail = Some(format!(
            "{} to={to} rewrapped={rewrapped}",
            if result.is_ok() { "finished" } else { "interrupted" }
        ));
        if result.is_err() {
            e.outcome = custodia_core::audit::Outcome::Failed;
        }
        self.audit(vec![e])?;
        result?;
        Ok(RotateReport {
            from,
            to,
            rewrapped,
            resumed,
        })
    }
}
