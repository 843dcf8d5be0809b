//! Staff sign-in: password, then TOTP (or a recovery code), with short
//! revocable sessions, counted so that guessing is slow and nobody can lock
//! a colleague out.
//!
//! * **Passwords.** Wrong passwords are counted per account *and address*
//!   (or per remembered browser). After `password_failures` in a window
//!   that address is shut out of that account for a while; the owner, from
//!   another address or from a browser that signed in before (the device
//!   cookie, as OWASP's "slow brute force" guidance describes), signs in
//!   as usual, and the neighbours behind the same address are not
//!   affected. Per account and per address, failures only add a delay,
//!   which the server waits out asynchronously: right credentials always
//!   get in.
//! * **Second factor.** After a right password, wrong codes are counted per
//!   account: `code_failures` lock the second factor for a while (except in
//!   the owner's remembered browsers, each counted on its own) and alert
//!   the owner by e-mail and the audit log, because someone has the password.
//! * Unknown names and wrong passwords get the same answer after the same
//!   work (a dummy Argon2id verification), so sign-in does not tell which
//!   accounts exist. The counters live in the database: a restart keeps
//!   them and servers sharing a PostgreSQL database share them.

use crate::{now_ms, Vault, VaultError};
use custodia_core::accounts::AccountKind;
use custodia_core::audit::{Action, AuditEvent, Outcome};
use custodia_crypto::totp::TotpSecret;
use custodia_crypto::{open_secret, password};
use custodia_store::prelude::*;
use custodia_store::{AccountRecord, Applied, CounterRecord, Mutation, SessionRecord};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use zeroize::Zeroizing;

/// How long a session lasts.
pub const SESSION_MS: i64 = 8 * 3600 * 1000;
/// The window per-address and per-account delays count failures in.
const DELAY_WINDOW_MS: i64 = 15 * 60 * 1000;
/// Name of the cookie that remembers a browser.
pub const DEVICE_COOKIE: &str = "custodia_device";

/// Why a sign-in failed (what the person is told).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoginError {
    /// Name, password or code wrong (deliberately not saying which).
    #[error("the name, password or code is wrong")]
    Invalid,
    /// This address (or browser) failed too often for this account.
    #[error("too many failed sign-ins for this account from here; try again in {minutes} minutes, or from a browser you signed in with before")]
    Locked {
        /// Minutes to wait.
        minutes: i64,
    },
    /// The second factor is locked after wrong codes.
    #[error("too many wrong codes: the second factor of this account is locked for {minutes} minutes and its owner has been alerted; a browser you signed in with before still works")]
    CodeLocked {
        /// Minutes to wait.
        minutes: i64,
    },
}

/// What a sign-in gives back: the result, how long the server should wait
/// before answering (asynchronously, never holding a thread), and a new
/// device cookie for the browser after a success.
#[derive(Debug)]
pub struct LoginOutcome {
    /// The session, or why not.
    pub result: Result<SessionStart, LoginError>,
    /// Wait this long before answering.
    pub delay: Duration,
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
    /// The device cookie's value, to set (remembered for `device_days`).
    pub device: Zeroizing<String>,
    /// Seconds the device cookie lasts.
    pub device_max_age: i64,
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
    /// When a second-factor code was last confirmed in it (ms).
    pub mfa_at_ms: Option<i64>,
}

pub(crate) fn digest(s: &str) -> Vec<u8> {
    Sha256::digest(s.as_bytes()).to_vec()
}

pub(crate) fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
    custodia_core::audit::to_hex(&b)
}

/// Counter keys. Addresses and browser ids are the staff member's, not
/// customers'; names are login names.
fn key_pw(name: &str, from: &From) -> String {
    match from {
        From::Device(d) => format!("pwdev:{name}:{d}"),
        From::Address(a) => format!("pw:{name}:{}", address_key(a)),
    }
}

/// The address an attempt is counted against: IPv4 as is, IPv6 by its /64
/// (one subscriber usually holds a whole /64, so single addresses would
/// give an attacker endless fresh counters).
pub fn address_key(client: &str) -> String {
    match client.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        _ => client.to_owned(),
    }
}
fn key_code(name: &str, from: &From) -> String {
    match from {
        From::Device(d) => format!("codedev:{name}:{d}"),
        From::Address(_) => format!("code:{name}"),
    }
}
fn key_account(name: &str) -> String {
    format!("acct:{name}")
}
fn key_address(client: &str) -> String {
    format!("addr:{}", address_key(client))
}

/// Every counter of one account (for unlocking).
pub(crate) fn account_counter_prefixes(name: &str) -> Vec<String> {
    vec![
        format!("pw:{name}:"),
        format!("pwdev:{name}:"),
        format!("codedev:{name}:"),
    ]
}
pub(crate) fn account_counter_keys(name: &str) -> Vec<String> {
    vec![format!("code:{name}"), key_account(name)]
}

/// Where an attempt comes from: a browser that signed in to this account
/// before, or only an address.
enum From {
    Device(String),
    Address(String),
}

fn minutes_until(until: i64, now: i64) -> i64 {
    ((until - now + 59_999) / 60_000).max(1)
}

/// The growing per-account delay: 0 for the first failure, then 250 ms,
/// 500 ms, … up to 4 s.
fn account_delay(failures: u32) -> Duration {
    match failures {
        0 | 1 => Duration::ZERO,
        n => Duration::from_millis(250u64 << (n - 2).min(4)),
    }
}

/// Failed API-token checks per source, kept in memory and written to the
/// audit log as one event per source and window (the first failure at
/// once, the count when the window closes), so that requests with made-up
/// tokens cannot grow the log without bound.
#[derive(Debug, Default)]
pub struct TokenFailures {
    windows: Mutex<HashMap<String, (i64, u64)>>,
}

/// Length of a token-failure window.
pub const TOKEN_WINDOW_MS: i64 = 10 * 60 * 1000;
/// Most sources tracked at once; beyond, failures are counted under "other".
const TOKEN_SOURCES: usize = 10_000;

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

    fn device_key(&self) -> custodia_crypto::Key32 {
        self.keys().derive_subkey("device-cookies")
    }

    /// The MAC of a device cookie: bound to the account and to its current
    /// password hash, so a password change forgets every browser.
    fn device_mac(&self, a: &AccountRecord, nonce: &str, issued: i64) -> String {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(self.device_key().expose()).expect("any key length");
        m.update(format!("custodia/device/v1|{}|{nonce}|{issued}|", a.name).as_bytes());
        m.update(&Sha256::digest(a.password.as_deref().unwrap_or("").as_bytes()));
        custodia_core::audit::to_hex(&m.finalize().into_bytes())
    }

    fn new_device(&self, a: &AccountRecord) -> Zeroizing<String> {
        let nonce = random_hex(12);
        let issued = now_ms();
        Zeroizing::new(format!(
            "{}:{nonce}:{issued}:{}",
            a.name,
            self.device_mac(a, &nonce, issued)
        ))
    }

    /// The browser id of a device cookie that is valid for this account.
    fn device_of(&self, a: &AccountRecord, cookie: Option<&str>) -> Option<String> {
        let mut parts = cookie?.rsplitn(4, ':');
        let (mac, issued, nonce, name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let issued: i64 = issued.parse().ok()?;
        let days = i64::from(self.config().sign_in.device_days);
        if name != a.name || now_ms() - issued > days * 86_400_000 || issued > now_ms() + 60_000 {
            return None;
        }
        let want = self.device_mac(a, nonce, issued);
        // Compared in constant time: the MAC is the cookie's only secret.
        let same = want.len() == mac.len() && want.bytes().zip(mac.bytes()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0;
        same.then(|| nonce.to_owned())
    }

    pub(crate) fn counter_locked(&self, key: &str, now: i64) -> Result<Option<i64>, VaultError> {
        Ok(self
            .store()
            .counter(key)?
            .and_then(|c| (c.locked_until_ms > now).then_some(c.locked_until_ms)))
    }

    /// Count failures; the counters after them, in order, and whether each locked.
    pub(crate) fn count_failures(
        &self,
        counts: Vec<(String, u32, i64, i64)>,
        events: Vec<AuditEvent>,
    ) -> Result<Vec<(CounterRecord, bool)>, VaultError> {
        let now = now_ms();
        let mut muts: Vec<Mutation> = counts
            .into_iter()
            .map(|(key, limit, window_ms, lock_ms)| Mutation::CountFailure {
                key,
                now_ms: now,
                window_ms,
                limit,
                lock_ms,
                events: vec![],
            })
            .collect();
        muts.push(Mutation::Audit(events));
        let mut out = Vec::new();
        for r in self.apply_one(muts)? {
            match r {
                Applied::Counted(c, locked) => out.push((c, locked)),
                Applied::Done => {}
                other => return Err(VaultError::Io(format!("unexpected store answer {other:?}"))),
            }
        }
        Ok(out)
    }

    /// Sign in with name, password and (when enrolled) a TOTP or recovery
    /// code, from `client` (the address the server believes), with the
    /// browser's device cookie if it sent one.
    pub fn login(
        &self,
        name: &str,
        pass: &str,
        code: Option<&str>,
        client: &str,
        device: Option<&str>,
    ) -> Result<LoginOutcome, VaultError> {
        let cfg = self.config().sign_in.clone();
        let now = now_ms();
        let name = name.trim().to_lowercase();
        let name: String = name.chars().take(64).collect();
        let account = self
            .store()
            .account(&name)?
            .filter(|a| a.kind == AccountKind::Staff && !a.disabled && a.deleted_ms.is_none());
        let from = match account.as_ref().and_then(|a| self.device_of(a, device)) {
            Some(d) => From::Device(d),
            None => From::Address(client.to_owned()),
        };
        let pw_lock_ms = i64::from(cfg.password_lock_minutes.max(1)) * 60_000;
        let code_lock_ms = i64::from(cfg.code_lock_minutes.max(1)) * 60_000;
        let kpw = key_pw(&name, &from);
        if let Some(until) = self.counter_locked(&kpw, now)? {
            self.audit(vec![self.login_event(
                &name,
                client,
                Outcome::Denied,
                "refused: this address is shut out of this account after repeated wrong passwords".into(),
            )])?;
            return Ok(LoginOutcome {
                result: Err(LoginError::Locked {
                    minutes: minutes_until(until, now),
                }),
                delay: Duration::ZERO,
            });
        }
        let verdict = match &account {
            None => {
                password::dummy_verify(pass);
                Err("unknown_or_disabled_account")
            }
            Some(a) => match a.password.as_deref() {
                // An account set up by link has no password until its owner
                // chooses one.
                None => {
                    password::dummy_verify(pass);
                    Err("no_password_set")
                }
                Some(h) => password::verify(pass, h).map_err(|_| "wrong_password"),
            },
        };
        let read_ms = account.as_ref().map_or(0, |a| a.updated_ms);
        let mut account = match (verdict, account) {
            (Ok(rehash), Some(mut a)) => {
                if let Some(h) = rehash {
                    a.password = Some(h);
                }
                a
            }
            (Err(reason), _) => {
                let counted = self.count_failures(
                    vec![
                        (kpw.clone(), cfg.password_failures, pw_lock_ms, pw_lock_ms),
                        (key_account(&name), 0, DELAY_WINDOW_MS, 0),
                        (key_address(client), 0, DELAY_WINDOW_MS, 0),
                    ],
                    vec![self.login_event(&name, client, Outcome::Denied, reason.into())],
                )?;
                let mut delay = account_delay(counted.get(1).map_or(0, |c| c.0.failures));
                if counted.get(2).is_some_and(|c| c.0.failures > cfg.address_failures) {
                    delay += Duration::from_millis(cfg.address_delay_ms);
                }
                if counted.first().is_some_and(|c| c.1) {
                    let mut e = AuditEvent::new(now, "system", Action::Lockout);
                    e.outcome = Outcome::Denied;
                    e.detail = Some(format!(
                        "{name}: {} shut out for {} minutes after {} wrong passwords; the account itself stays open",
                        match &from {
                            From::Device(_) => "a remembered browser".to_owned(),
                            From::Address(a) => format!("address {a}"),
                        },
                        cfg.password_lock_minutes,
                        cfg.password_failures
                    ));
                    self.audit(vec![e])?;
                }
                return Ok(LoginOutcome {
                    result: Err(LoginError::Invalid),
                    delay,
                });
            }
            (Ok(_), None) => unreachable!("a verified password has an account"),
        };
        // Second factor, when enrolled.
        let mut mfa_ok = false;
        if let Some(sealed) = account.mfa_secret.clone() {
            let kcode = key_code(&name, &from);
            if let Some(until) = self.counter_locked(&kcode, now)? {
                self.audit(vec![self.login_event(
                    &name,
                    client,
                    Outcome::Denied,
                    "refused: the second factor is locked after wrong codes".into(),
                )])?;
                return Ok(LoginOutcome {
                    result: Err(LoginError::CodeLocked {
                        minutes: minutes_until(until, now),
                    }),
                    delay: Duration::ZERO,
                });
            }
            let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
                self.audit(vec![self.login_event(
                    &name,
                    client,
                    Outcome::Denied,
                    "missing_code".into(),
                )])?;
                return Ok(LoginOutcome {
                    result: Err(LoginError::Invalid),
                    delay: Duration::ZERO,
                });
            };
            if !self.second_factor(&mut account, &sealed, code)? {
                return self.code_failed(&account, client, &kcode, code_lock_ms);
            }
            mfa_ok = true;
        }
        let requires_mfa = account
            .roles
            .iter()
            .any(|r| self.policy().role(r).is_some_and(|r| r.requires_mfa));
        let token = Zeroizing::new(random_hex(32));
        let session = SessionRecord {
            digest: digest(&token),
            account: name.clone(),
            mfa_ok,
            csrf: random_hex(16),
            created_ms: now,
            expires_ms: now + SESSION_MS,
            revoked: false,
            mfa_at_ms: mfa_ok.then_some(now),
        };
        account.updated_ms = now;
        let device = match &from {
            From::Device(_) => Zeroizing::new(device.unwrap_or_default().to_owned()),
            From::Address(_) => self.new_device(&account),
        };
        let ev = self.login_event(
            &name,
            client,
            Outcome::Ok,
            format!(
                "signed in {} MFA{}",
                if mfa_ok { "with" } else { "without" },
                if matches!(from, From::Device(_)) {
                    ", from a remembered browser"
                } else {
                    ""
                }
            ),
        );
        let mut clear = vec![kpw, key_account(&name)];
        if mfa_ok {
            clear.push(key_code(&name, &from));
        }
        // Only if nobody disabled, deleted or changed the account while its
        // password was checked: the row read then is not written back over
        // an administrator's change.
        match self
            .apply_one(vec![Mutation::PutAccountIf {
                account: Box::new(account),
                expect_updated_ms: read_ms,
                events: vec![],
            }])?
            .pop()
        {
            Some(Applied::Done) => {}
            _ => {
                self.audit(vec![self.login_event(
                    &name,
                    client,
                    Outcome::Denied,
                    "refused: the account changed during sign-in".into(),
                )])?;
                return Ok(LoginOutcome {
                    result: Err(LoginError::Invalid),
                    delay: Duration::ZERO,
                });
            }
        }
        self.apply_one(vec![
            Mutation::ClearCounters {
                keys: clear,
                prefixes: vec![],
                events: vec![],
            },
            Mutation::PutSession {
                session,
                events: vec![ev],
            },
        ])?;
        Ok(LoginOutcome {
            result: Ok(SessionStart {
                token,
                account: name,
                must_enroll_mfa: requires_mfa && !mfa_ok,
                device,
                device_max_age: i64::from(cfg.device_days) * 86_400,
            }),
            delay: Duration::ZERO,
        })
    }

    /// Check a TOTP code (each time step once) or an unused recovery code
    /// (spent) against the account's sealed secret; the account records
    /// what was used, for the caller to store.
    pub(crate) fn second_factor(&self, a: &mut AccountRecord, sealed: &[u8], code: &str) -> Result<bool, VaultError> {
        let secret = self.totp_of(&a.name, sealed)?;
        let last = a.mfa_last_step.map(|s| s as u64);
        if let Some(step) = secret.verify(code, chrono::Utc::now().timestamp() as u64, last) {
            a.mfa_last_step = Some(step as i64);
            return Ok(true);
        }
        let d = custodia_core::audit::to_hex(&Sha256::digest(code.to_uppercase().as_bytes()));
        Ok(match a.recovery.iter().position(|r| *r == d) {
            Some(i) => {
                a.recovery.remove(i);
                true
            }
            None => false,
        })
    }

    /// The TOTP secret sealed for `name`.
    pub(crate) fn totp_of(&self, name: &str, sealed: &[u8]) -> Result<TotpSecret, VaultError> {
        let seed = open_secret(
            &self.keys().derive_subkey("mfa-secrets"),
            format!("custodia/mfa/{name}").as_bytes(),
            sealed,
        )?;
        Ok(TotpSecret::from_bytes(seed[..32].try_into().map_err(|_| {
            VaultError::Crypto(custodia_crypto::CryptoError::Decrypt)
        })?))
    }

    /// A wrong second-factor code after a right password: counted per
    /// account (per browser for remembered ones); the lock alerts the owner.
    fn code_failed(
        &self,
        a: &AccountRecord,
        client: &str,
        kcode: &str,
        lock_ms: i64,
    ) -> Result<LoginOutcome, VaultError> {
        let cfg = &self.config().sign_in;
        let counted = self.count_failures(
            vec![(kcode.to_owned(), cfg.code_failures, lock_ms, lock_ms)],
            vec![self.login_event(
                &a.name,
                client,
                Outcome::Denied,
                "wrong_code (the password was right)".into(),
            )],
        )?;
        let (c, locked) = counted.into_iter().next().unwrap_or((
            CounterRecord {
                key: kcode.to_owned(),
                failures: 1,
                window_start_ms: 0,
                locked_until_ms: 0,
            },
            false,
        ));
        if locked {
            let mut e = AuditEvent::new(now_ms(), "system", Action::Lockout);
            e.outcome = Outcome::Denied;
            e.detail = Some(format!(
                "ALERT: second factor of {} locked for {} minutes after {} wrong codes following a right password (last from {client}): someone else may know the password",
                a.name, cfg.code_lock_minutes, c.failures
            ));
            self.audit(vec![e])?;
            self.alert_staff(
                a,
                "Custodia: 第二因素已锁定 / your second factor was locked",
                &format!(
                    "有人使用您的正确密码登录，但多次输入错误的验证码（最近一次来自 {client}）。您的第二因素已锁定 {m} 分钟。如果不是您本人，请立即修改密码并联系管理员。\n\n\
                     Someone signed in to your Custodia account {name} with the right password but wrong codes (last from {client}). Your second factor is locked for {m} minutes. If this was not you, change your password now and tell your administrator.\n",
                    m = cfg.code_lock_minutes,
                    name = a.name
                ),
            );
            return Ok(LoginOutcome {
                result: Err(LoginError::CodeLocked {
                    minutes: minutes_until(c.locked_until_ms, now_ms()),
                }),
                delay: Duration::ZERO,
            });
        }
        Ok(LoginOutcome {
            result: Err(LoginError::Invalid),
            delay: account_delay(c.failures),
        })
    }

    /// Tell a staff member something at their e-mail address on file, if
    /// they have one and mail is configured; a failure is audited, never
    /// fatal (the audit log has the alert either way).
    pub(crate) fn alert_staff(&self, a: &AccountRecord, subject: &str, text: &str) {
        let Some(mail) = self.config().mail.as_ref() else {
            return;
        };
        let Ok(Some(to)) = self.staff_email(a) else { return };
        if let Err(err) = crate::privacy::delivery::send_mail(mail, self.dir(), &to, subject, text) {
            let mut e = AuditEvent::new(now_ms(), "system", Action::Account);
            e.outcome = Outcome::Failed;
            e.detail = Some(format!("could not e-mail {}: {err}", a.name));
            let _ = self.audit(vec![e]);
        }
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
            Some(a) if !a.disabled && a.deleted_ms.is_none() => Ok(Some(Session {
                account: s.account,
                mfa_ok: s.mfa_ok,
                csrf: s.csrf,
                mfa_at_ms: s.mfa_at_ms,
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
        s.mfa_at_ms = Some(now_ms());
        self.apply_one(vec![Mutation::PutSession {
            session: s,
            events: vec![],
        }])
        .map(|_| ())
    }

    /// Confirm the second factor again in a live session (the step-up a
    /// reveal asks for once `[sign_in] step_up_seconds` have passed since
    /// the last code). A right code renews the session's MFA time; wrong
    /// codes count toward the account's code lock, as at sign-in.
    /// `p` must be the session's own person; every refusal is audited.
    pub fn step_up(
        &self,
        p: &crate::access::authz::Principal,
        token: Option<&str>,
        code: &str,
        client: &str,
    ) -> Result<(), VaultError> {
        let r = self.step_up_session(p, token, code, client);
        if let Err(e) = &r {
            self.audit_refusal(p, None, None, e);
        }
        r
    }

    fn step_up_session(
        &self,
        p: &crate::access::authz::Principal,
        token: Option<&str>,
        code: &str,
        client: &str,
    ) -> Result<(), VaultError> {
        let now = now_ms();
        let not_own =
            || VaultError::Forbidden("a step-up confirms the second factor of the caller's own staff session".into());
        let token = token.ok_or_else(not_own)?;
        let mut s = self
            .store()
            .session(&digest(token))?
            .filter(|s| !s.revoked && s.expires_ms > now)
            .ok_or_else(not_own)?;
        if !matches!(&p.0, crate::access::authz::Who::Staff { account, .. } if *account == s.account) {
            return Err(not_own());
        }
        let mut a = self
            .store()
            .account(&s.account)?
            .filter(|a| !a.disabled && a.deleted_ms.is_none())
            .ok_or_else(|| VaultError::NotFound("session".into()))?;
        let Some(sealed) = a.mfa_secret.clone() else {
            return Err(VaultError::MfaRequired(
                "enroll a second factor first (your account page)".into(),
            ));
        };
        let kcode = format!("code:{}", a.name);
        if let Some(until) = self.counter_locked(&kcode, now)? {
            return Err(VaultError::MfaRequired(format!(
                "your second factor is locked after wrong codes for {} more minutes",
                minutes_until(until, now)
            )));
        }
        let read_ms = a.updated_ms;
        if !self.second_factor(&mut a, &sealed, code.trim())? {
            let lock_ms = i64::from(self.config().sign_in.code_lock_minutes.max(1)) * 60_000;
            let out = self.code_failed(&a, client, &kcode, lock_ms)?;
            return Err(VaultError::MfaRequired(match out.result {
                Err(LoginError::CodeLocked { minutes }) => {
                    format!("wrong code: your second factor is now locked for {minutes} minutes")
                }
                _ => "the code is wrong or already used".into(),
            }));
        }
        a.updated_ms = now;
        s.mfa_ok = true;
        s.mfa_at_ms = Some(now);
        let mut e = AuditEvent::new(now, format!("staff:{}", a.name), Action::Mfa);
        e.detail = Some(format!("second factor confirmed again (step-up) client={client}"));
        match self
            .apply_one(vec![
                Mutation::PutAccountIf {
                    account: Box::new(a),
                    expect_updated_ms: read_ms,
                    events: vec![],
                },
                Mutation::PutSession {
                    session: s,
                    events: vec![e],
                },
            ])?
            .first()
        {
            Some(Applied::Done) => Ok(()),
            _ => Err(VaultError::Input("the account changed meanwhile; try again".into())),
        }
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

    /// Record a refused API token from `source`. The first refusal of a
    /// window is audited at once; later ones are counted and written as one
    /// event when the window closes ([`Vault::flush_token_failures`]).
    /// Returns whether the source is over its limit (answer 429).
    pub fn refused_token(&self, refusal: crate::access::authz::TokenRefusal, source: &str) -> bool {
        let now = now_ms();
        let limit = u64::from(self.config().sign_in.token_failures.max(1));
        let (first, count) = {
            let mut m = self.token_failures.windows.lock().expect("token failures");
            let key = if m.len() >= TOKEN_SOURCES && !m.contains_key(source) {
                "other".to_owned()
            } else {
                source.to_owned()
            };
            let e = m.entry(key).or_insert((now, 0));
            e.1 += 1;
            (e.1 == 1, e.1)
        };
        if first {
            let mut e = AuditEvent::new(now, "anonymous", Action::AccessDenied);
            e.outcome = Outcome::Denied;
            e.detail = Some(format!(
                "{} from {source}; further refusals from it in the next {} minutes are counted in one event",
                refusal.code(),
                TOKEN_WINDOW_MS / 60_000
            ));
            drop(self.store().submit(vec![Mutation::Audit(vec![e])]));
        }
        count > limit
    }

    /// Write one event per source whose token-failure window is over (all
    /// of them with `all`, at shutdown): how many refusals it had.
    pub fn flush_token_failures(&self, all: bool) -> Result<usize, VaultError> {
        let now = now_ms();
        let done: Vec<(String, i64, u64)> = {
            let mut m = self.token_failures.windows.lock().expect("token failures");
            let keys: Vec<String> = m
                .iter()
                .filter(|(_, (start, _))| all || now - start >= TOKEN_WINDOW_MS)
                .map(|(k, _)| k.clone())
                .collect();
            keys.into_iter()
                .filter_map(|k| m.remove(&k).map(|(s, n)| (k, s, n)))
                .collect()
        };
        let events: Vec<AuditEvent> = done
            .iter()
            .filter(|(_, _, n)| *n > 1)
            .map(|(src, start, n)| {
                let mut e = AuditEvent::new(now, "anonymous", Action::AccessDenied);
                e.outcome = Outcome::Denied;
                e.detail = Some(format!(
                    "{n} invalid API tokens from {src} between {} and {}",
                    crate::records::input::rfc3339(*start),
                    crate::records::input::rfc3339(now.min(start + TOKEN_WINDOW_MS))
                ));
                e
            })
            .collect();
        let n = events.len();
        if n > 0 {
            self.audit(events)?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_delay_grows_and_stays_bounded() {
        assert_eq!(account_delay(0), Duration::ZERO);
        assert_eq!(account_delay(1), Duration::ZERO);
        assert_eq!(account_delay(2), Duration::from_millis(250));
        assert_eq!(account_delay(3), Duration::from_millis(500));
        assert_eq!(account_delay(6), Duration::from_millis(4000));
        assert_eq!(account_delay(1000), Duration::from_millis(4000));
    }

    #[test]
    fn counter_keys_separate_addresses_and_browsers() {
        let a = From::Address("203.0.113.7".into());
        let d = From::Device("abc".into());
        assert_eq!(key_pw("li.na", &a), "pw:li.na:203.0.113.7");
        assert_eq!(key_pw("li.na", &d), "pwdev:li.na:abc");
        // One code counter per account for unknown browsers, one per browser otherwise.
        assert_eq!(key_code("li.na", &a), "code:li.na");
        assert_eq!(key_code("li.na", &d), "codedev:li.na:abc");
        // The unlock prefixes cover every per-address and per-browser key.
        let pre = account_counter_prefixes("li.na");
        for k in [key_pw("li.na", &a), key_pw("li.na", &d), key_code("li.na", &d)] {
            assert!(pre.iter().any(|p| k.starts_with(p)), "{k}");
        }
        assert!(account_counter_keys("li.na").contains(&key_code("li.na", &a)));
        // IPv6 addresses count by their /64.
        assert_eq!(address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
        assert_eq!(address_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(address_key("192.0.2.1"), "192.0.2.1");
        // A prefix of one account never covers another whose name extends it.
        assert!(!key_pw("li.nan", &a).starts_with(&pre[0]));
    }
}
