//! Staff sign-in: password, then TOTP (or a recovery code), throttled per
//! account and per client address, with short revocable sessions.
//!
//! Unknown names and wrong passwords get the same answer after the same
//! work (a dummy Argon2id verification), so sign-in does not tell which
//! accounts exist. Failures add a growing delay; five failures within 15
//! minutes lock the name and the address for 15 minutes. The counters live
//! in this process's memory (a restart clears them); every attempt,
//! failure and lockout is in the audit log.

use crate::{now_ms, Vault, VaultError};
use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_crypto::totp::TotpSecret;
use custodia_crypto::{open_secret, password};
use custodia_store::{Mutation, SessionRecord};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use zeroize::Zeroizing;

/// How long a session lasts.
pub const SESSION_MS: i64 = 8 * 3600 * 1000;
/// Failures before a lockout.
pub const MAX_FAILURES: u32 = 5;
/// Window and lockout length.
pub const LOCK_MS: i64 = 15 * 60 * 1000;

/// Failure counters per account name and per client address.
#[derive(Debug, Default)]
pub struct Throttle {
    entries: Mutex<HashMap<String, (u32, i64, i64)>>, // key -> (failures, first failure ms, locked until ms)
}

impl Throttle {
    pub(crate) fn locked_until(&self, key: &str, now: i64) -> Option<i64> {
        let m = self.entries.lock().expect("throttle");
        m.get(key).and_then(|&(_, _, until)| (until > now).then_some(until))
    }

    /// Record a failure; returns (failures so far, whether this locked it).
    pub(crate) fn fail(&self, key: &str, now: i64) -> (u32, bool) {
        let mut m = self.entries.lock().expect("throttle");
        let e = m.entry(key.to_owned()).or_insert((0, now, 0));
        if now - e.1 > LOCK_MS {
            *e = (0, now, 0);
        }
        e.0 += 1;
        let lock = e.0 >= MAX_FAILURES && e.2 <= now;
        if lock {
            e.2 = now + LOCK_MS;
        }
        (e.0, lock)
    }

    pub(crate) fn clear(&self, key: &str) {
        self.entries.lock().expect("throttle").remove(key);
    }
}

/// Why a sign-in failed (what the person is told).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Name, password or code wrong (deliberately not saying which).
    #[error("the name, password or code is wrong")]
    Invalid,
    /// Too many failures.
    #[error("too many failed attempts; try again in {minutes} minutes")]
    Locked {
        /// Minutes to wait.
        minutes: i64,
    },
}

/// A started session.
#[derive(Debug)]
pub struct SessionStart {
    /// The session id for the cookie (shown to the browser only).
    pub token: Zeroizing<String>,
    /// The account.
    pub account: String,
    /// Whether the person must enroll MFA before using data roles.
    pub must_enroll_mfa: bool,
}

/// A live session.
#[derive(Debug, Clone)]
pub struct Session {
    /// The account.
    pub account: String,
    /// Whether MFA was verified (or enrolled) in this session.
    pub mfa_ok: bool,
    /// The session's anti-CSRF token.
    pub csrf: String,
}

fn digest(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    custodia_core::audit::to_hex(&b)
}

impl Vault {
    fn login_event(&self, name: &str, client: &str, outcome: Outcome, detail: String) -> AuditEvent {
        let mut e = AuditEvent::new(
            now_ms(),
            format!("login:{}", name.chars().take(64).collect::<String>()),
            Action::Login,
        );
        e.outcome = outcome;
        e.detail = Some(format!("{detail} client={client}"));
        e
    }

    /// Sign in with name, password and (when enrolled) a TOTP or recovery code.
    pub fn login(
        &self,
        name: &str,
        pass: &str,
        code: Option<&str>,
        client: &str,
    ) -> Result<Result<SessionStart, LoginError>, VaultError> {
        let now = now_ms();
        let name = name.trim().to_lowercase();
        let (kname, kclient) = (format!("account:{name}"), format!("client:{client}"));
        if let Some(until) = self
            .throttle()
            .locked_until(&kname, now)
            .or_else(|| self.throttle().locked_until(&kclient, now))
        {
            self.audit(vec![self.login_event(&name, client, Outcome::Denied, "locked".into())])?;
            return Ok(Err(LoginError::Locked {
                minutes: ((until - now) / 60_000).max(1),
            }));
        }
        let account = self
            .store()
            .account(&name)?
            .filter(|a| a.kind == "staff" && !a.disabled);
        let verdict = match &account {
            None => {
                password::dummy_verify(pass);
                Err("unknown_or_disabled_account")
            }
            Some(a) => match password::verify(pass, a.password.as_deref().unwrap_or("")) {
                Err(_) => Err("wrong_password"),
                Ok(rehash) => Ok(rehash),
            },
        };
        let mut account = match (verdict, account) {
            (Ok(rehash), Some(mut a)) => {
                if let Some(h) = rehash {
                    a.password = Some(h);
                }
                a
            }
            (Err(reason), _) => return self.login_failed(&name, client, &kname, &kclient, reason),
            (Ok(_), None) => unreachable!("a verified password has an account"),
        };
        // Second factor, when enrolled.
        let mut mfa_ok = false;
        if let Some(sealed) = account.mfa_secret.clone() {
            let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
                return self.login_failed(&name, client, &kname, &kclient, "missing_code");
            };
            let seed = open_secret(
                &self.keys().derive_subkey("mfa-secrets"),
                format!("custodia/mfa/{name}").as_bytes(),
                &sealed,
            )?;
            let secret = TotpSecret::from_bytes(
                seed[..32]
                    .try_into()
                    .map_err(|_| VaultError::Crypto(custodia_crypto::CryptoError::Decrypt))?,
            );
            let last = account.mfa_last_step.map(|s| s as u64);
            if let Some(step) = secret.verify(code, chrono::Utc::now().timestamp() as u64, last) {
                account.mfa_last_step = Some(step as i64);
            } else {
                let d = custodia_core::audit::to_hex(&Sha256::digest(code.to_uppercase().as_bytes()));
                match account.recovery.iter().position(|r| *r == d) {
                    Some(i) => {
                        account.recovery.remove(i);
                    }
                    None => return self.login_failed(&name, client, &kname, &kclient, "wrong_code"),
                }
            }
            mfa_ok = true;
        }
        let requires_mfa = account
            .roles
            .iter()
            .any(|r| self.policy().role(r).is_some_and(|r| r.requires_mfa));
        self.throttle().clear(&kname);
        self.throttle().clear(&kclient);
        let token = Zeroizing::new(random_hex(32));
        let session = SessionRecord {
            digest: digest(&token),
            account: name.clone(),
            mfa_ok,
            csrf: random_hex(16),
            created_ms: now,
            expires_ms: now + SESSION_MS,
            revoked: false,
        };
        account.updated_ms = now;
        let ev = self.login_event(
            &name,
            client,
            Outcome::Ok,
            if mfa_ok {
                "signed in with MFA".into()
            } else {
                "signed in without MFA".into()
            },
        );
        self.apply_one(vec![
            Mutation::PutAccount {
                account: Box::new(account),
                create: false,
                events: vec![],
            },
            Mutation::PutSession {
                session,
                events: vec![ev],
            },
        ])?;
        Ok(Ok(SessionStart {
            token,
            account: name,
            must_enroll_mfa: requires_mfa && !mfa_ok,
        }))
    }

    fn login_failed(
        &self,
        name: &str,
        client: &str,
        kname: &str,
        kclient: &str,
        reason: &str,
    ) -> Result<Result<SessionStart, LoginError>, VaultError> {
        let now = now_ms();
        let (n, locked_name) = self.throttle().fail(kname, now);
        let (m, locked_client) = self.throttle().fail(kclient, now);
        let mut events = vec![self.login_event(name, client, Outcome::Denied, reason.into())];
        if locked_name || locked_client {
            let mut e = AuditEvent::new(now, "system", Action::Lockout);
            e.outcome = Outcome::Denied;
            e.detail = Some(format!(
                "{} locked for 15 minutes after {MAX_FAILURES} failures",
                if locked_name { kname } else { kclient }
            ));
            events.push(e);
        }
        self.audit(events)?;
        // Growing delay: 100 ms, 200 ms, … up to 1.6 s.
        let k = n.max(m).min(5);
        std::thread::sleep(Duration::from_millis(100 << (k - 1)));
        Ok(Err(LoginError::Invalid))
    }

    /// The live session behind a cookie value.
    pub fn session(&self, token: &str) -> Result<Option<Session>, VaultError> {
        let Some(s) = self.store().session(&digest(token))? else {
            return Ok(None);
        };
        if s.revoked || s.expires_ms <= now_ms() {
            return Ok(None);
        }
        match self.store().account(&s.account)? {
            Some(a) if !a.disabled => Ok(Some(Session {
                account: s.account,
                mfa_ok: s.mfa_ok,
                csrf: s.csrf,
            })),
            _ => Ok(None),
        }
    }

    /// Mark a session's second factor as done (after enrollment in it).
    pub fn session_mfa_done(&self, token: &str) -> Result<(), VaultError> {
        let mut s = self
            .store()
            .session(&digest(token))?
            .ok_or_else(|| VaultError::NotFound("session".into()))?;
        s.mfa_ok = true;
        self.apply_one(vec![Mutation::PutSession {
            session: s,
            events: vec![],
        }])
        .map(|_| ())
    }

    /// End a session.
    pub fn logout(&self, token: &str) -> Result<(), VaultError> {
        if let Some(mut s) = self.store().session(&digest(token))? {
            s.revoked = true;
            let mut e = AuditEvent::new(now_ms(), format!("staff:{}", s.account), Action::Logout);
            e.detail = Some("signed out".into());
            self.apply_one(vec![Mutation::PutSession {
                session: s,
                events: vec![e],
            }])?;
        }
        Ok(())
    }
}
