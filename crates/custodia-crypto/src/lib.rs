//! # custodia-crypto
//!
//! The key hierarchy and every cryptographic operation Custodia performs:
//!
//! ```text
//! master secret (key file, or Argon2id(passphrase))
//!   ├─ HKDF "kek" ‖ version  → key-encryption keys (versioned, rotatable)
//!   │      └─ AES-256-GCM wrap → per-customer data keys
//!   │             └─ AES-256-GCM → each personal/sensitive field value
//!   ├─ HKDF "blind-index" ‖ field → HMAC-SHA256 blind-index keys
//!   ├─ HKDF "audit-chain"         → HMAC key of the audit hash chain
//!   └─ HKDF "key-check"           → check value proving the right secret
//! ```
//!
//! Key material lives in [`secret::Key32`], which zeroizes on drop and
//! never prints.

pub mod backup;
pub mod blind;
pub mod chain;
pub mod envelope;
pub mod jws;
pub mod master;
pub mod password;
pub mod secret;
pub mod totp;

pub use blind::BlindIndexer;
pub use chain::AuditChain;
pub use envelope::{open_secret, record_fields, seal_secret, DataKey, FieldCipher, Kek, WrappedKey};
pub use master::{KeyRing, MasterSecret};
pub use secret::Key32;

/// Why a cryptographic operation failed. Messages never include key
/// material or plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// Authentication failed: wrong key, or the ciphertext, its header or
    /// its binding (customer, field, version) was altered.
    #[error("decryption failed: the ciphertext is corrupt, altered or bound to another record or field")]
    Decrypt,
    /// The ciphertext is not in a known format.
    #[error("ciphertext format not recognized (header {0:#04x})")]
    Format(u8),
    /// A wrapped key names a key-encryption-key version this key ring lacks.
    #[error("key-encryption-key version {0} is not available")]
    UnknownKekVersion(u32),
    /// The key file is unreadable or malformed.
    #[error("master key file: {0}")]
    KeyFile(String),
    /// The master secret does not match the one this data was created with.
    #[error("the master secret does not match this data directory (wrong key file or passphrase)")]
    WrongSecret,
    /// Argon2id refused its parameters or input.
    #[error("passphrase derivation failed: {0}")]
    Passphrase(String),
}
