//! Staff passwords: Argon2id at OWASP's recommended parameters, PHC
//! strings, rehash-on-login when the parameters change, and a length-based
//! policy with a check against common passwords (NIST SP 800-63B §5.1.1.2).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// OWASP Password Storage Cheat Sheet: Argon2id, 19 MiB, 2 passes, 1 lane.
pub const M_KIB: u32 = 19 * 1024;
/// Passes.
pub const T: u32 = 2;
/// Lanes.
pub const P: u32 = 1;
/// Shortest accepted password, in characters.
pub const MIN_LEN: usize = 12;
/// Longest accepted password, in characters.
pub const MAX_LEN: usize = 128;

const COMMON: &str = include_str!("../data/common-passwords.txt");

/// Why a new password was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    /// Too short.
    #[error("a password needs at least {MIN_LEN} characters")]
    TooShort,
    /// Too long.
    #[error("a password has at most {MAX_LEN} characters")]
    TooLong,
    /// In the list of common passwords.
    #[error("this password is on the list of commonly used passwords")]
    Common,
    /// Contains the account name.
    #[error("a password must not contain the account name")]
    ContainsName,
}

fn argon() -> Argon2<'static> {
    Argon2::new(
        Algorithm::Argon2id,
        Version::V0x13,
        Params::new(M_KIB, T, P, None).expect("valid parameters"),
    )
}

/// Check a new password against the policy.
pub fn check_policy(password: &str, account: &str) -> Result<(), PasswordPolicyError> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(PasswordPolicyError::TooShort);
    }
    if n > MAX_LEN {
        return Err(PasswordPolicyError::TooLong);
    }
    let lower = password.to_lowercase();
    if COMMON.lines().any(|c| !c.is_empty() && c == lower) {
        return Err(PasswordPolicyError::Common);
    }
    if account.chars().count() >= 3 && lower.contains(&account.to_lowercase()) {
        return Err(PasswordPolicyError::ContainsName);
    }
    Ok(())
}

/// The password does not match (or the stored hash is unreadable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("wrong password")]
pub struct WrongPassword;

/// Hash a password (PHC string with its salt and parameters).
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    argon()
        .hash_password(password.as_bytes(), &salt)
        .expect("Argon2id with valid parameters")
        .to_string()
}

/// Verify a password against a PHC string. Returns `Some(new_hash)` when
/// it matched but was hashed with other parameters (store the new hash).
pub fn verify(password: &str, phc: &str) -> Result<Option<String>, WrongPassword> {
    let parsed = PasswordHash::new(phc).map_err(|_| WrongPassword)?;
    argon()
        .verify_password(password.as_bytes(), &parsed)
        .map_err(|_| WrongPassword)?;
    let current = parsed.algorithm.as_str() == "argon2id"
        && parsed.params.get_decimal("m") == Some(M_KIB)
        && parsed.params.get_decimal("t") == Some(T)
        && parsed.params.get_decimal("p") == Some(P);
    Ok((!current).then(|| hash(password)))
}

/// Spend the same time as a verification, for unknown accounts (so timing
/// does not tell which accounts exist).
pub fn dummy_verify(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash("custodia-dummy-password"));
    let _ = verify(password, phc);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("correct horse battery staple");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert_eq!(verify("correct horse battery staple", &h), Ok(None));
        assert_eq!(verify("wrong horse battery staple", &h), Err(WrongPassword));
        assert_eq!(verify("x", "not a phc string"), Err(WrongPassword));
    }

    #[test]
    fn old_parameters_are_rehashed() {
        let weak = Argon2::new(
            Algorithm::Argon2id,
            Version::V0x13,
            Params::new(8 * 1024, 1, 1, None).unwrap(),
        );
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let old = weak
            .hash_password(b"correct horse battery staple", &salt)
            .unwrap()
            .to_string();
        let new = verify("correct horse battery staple", &old).unwrap().expect("rehash");
        assert!(new.contains("m=19456,t=2,p=1"));
        assert_eq!(verify("correct horse battery staple", &new), Ok(None));
    }

    #[test]
    fn policy_table() {
        let cases: &[(&str, &str, Result<(), PasswordPolicyError>)] = &[
            ("short", "li", Err(PasswordPolicyError::TooShort)),
            ("passwordpassword", "li", Err(PasswordPolicyError::Common)),
            ("Password1234", "li", Err(PasswordPolicyError::Common)),
            ("zhangwei-is-great", "zhangwei", Err(PasswordPolicyError::ContainsName)),
            ("长城长城长城长城长城长城", "li", Ok(())),
            ("correct horse battery staple", "li", Ok(())),
            (&"a".repeat(129), "li", Err(PasswordPolicyError::TooLong)),
        ];
        for (pw, acct, want) in cases {
            assert_eq!(&check_policy(pw, acct), want, "{pw}");
        }
    }

    #[test]
    fn dummy_verify_runs() {
        dummy_verify("anything");
    }
}
