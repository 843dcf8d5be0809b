//! The master secret and the keys derived from it.

use crate::blind::BlindIndexer;
use crate::chain::AuditChain;
use crate::envelope::Kek;
use crate::secret::Key32;
use crate::CryptoError;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use zeroize::Zeroizing;

const KEY_FILE_HEADER: &str = "custodia-master-key-v1";

/// Argon2id parameters for passphrases: 64 MiB, 3 passes, 1 lane — above
/// OWASP's minimum (19 MiB, 2 passes) because this runs once per start.
pub const ARGON2_M_KIB: u32 = 64 * 1024;
/// Argon2id passes.
pub const ARGON2_T: u32 = 3;
/// Argon2id lanes.
pub const ARGON2_P: u32 = 1;

/// The root of the key hierarchy.
#[derive(Debug, Clone)]
pub struct MasterSecret(Key32);

impl MasterSecret {
    /// A new random master secret.
    pub fn generate() -> MasterSecret {
        MasterSecret(Key32::random())
    }

    /// Derive the master secret from a passphrase with Argon2id.
    pub fn from_passphrase(passphrase: &[u8], salt: &[u8; 16]) -> Result<MasterSecret, CryptoError> {
        if passphrase.len() < 12 {
            return Err(CryptoError::Passphrase(
                "the passphrase must be at least 12 characters".into(),
            ));
        }
        let params = argon2::Params::new(ARGON2_M_KIB, ARGON2_T, ARGON2_P, Some(32))
            .map_err(|e| CryptoError::Passphrase(e.to_string()))?;
        let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
        let mut out = [0u8; 32];
        a.hash_password_into(passphrase, salt, &mut out)
            .map_err(|e| CryptoError::Passphrase(e.to_string()))?;
        let k = Key32::from_bytes(out);
        zeroize::Zeroize::zeroize(&mut out);
        Ok(MasterSecret(k))
    }

    /// The text of a key file holding this secret.
    pub fn to_key_file(&self) -> Zeroizing<String> {
        Zeroizing::new(format!(
            "{KEY_FILE_HEADER}\n{}\n",
            custodia_core::audit::to_hex(self.0.expose())
        ))
    }

    /// Read a key file's text.
    pub fn from_key_file(text: &str) -> Result<MasterSecret, CryptoError> {
        let mut lines = text.lines();
        if lines.next() != Some(KEY_FILE_HEADER) {
            return Err(CryptoError::KeyFile(format!("missing the {KEY_FILE_HEADER} header")));
        }
        let hex = lines.next().unwrap_or("").trim();
        let mut b = [0u8; 32];
        if hex.len() != 64 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(CryptoError::KeyFile("expected 64 hexadecimal digits".into()));
        }
        for (i, byte) in b.iter_mut().enumerate() {
            *byte =
                u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| CryptoError::KeyFile("bad hex".into()))?;
        }
        let k = Key32::from_bytes(b);
        zeroize::Zeroize::zeroize(&mut b);
        Ok(MasterSecret(k))
    }

    fn derive(&self, label: &[u8], context: &[u8]) -> Key32 {
        let hk = Hkdf::<Sha256>::new(Some(b"custodia/v1"), self.0.expose());
        let mut info = Vec::with_capacity(label.len() + 1 + context.len());
        info.extend_from_slice(label);
        info.push(0);
        info.extend_from_slice(context);
        let mut out = [0u8; 32];
        hk.expand(&info, &mut out).expect("32 bytes is a valid HKDF length");
        let k = Key32::from_bytes(out);
        zeroize::Zeroize::zeroize(&mut out);
        k
    }

    /// A value stored beside the data that proves a later unlock used the
    /// same secret, without revealing anything about it.
    pub fn check_value(&self) -> [u8; 32] {
        let k = self.derive(b"key-check", b"");
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(k.expose()).expect("any key length");
        m.update(b"custodia key check");
        m.finalize().into_bytes().into()
    }
}

/// Everything derived from the master secret, with caches so hot paths do
/// not run HKDF or AES key schedules per call.
pub struct KeyRing {
    master: MasterSecret,
    keks: RwLock<HashMap<u32, Arc<Kek>>>,
    blind: RwLock<HashMap<String, Arc<BlindIndexer>>>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyRing(<redacted>)")
    }
}

impl KeyRing {
    /// A key ring over `master`, refusing it unless it matches `expected`
    /// check value (when one is given).
    pub fn open(master: MasterSecret, expected: Option<&[u8]>) -> Result<KeyRing, CryptoError> {
        if let Some(e) = expected {
            let got = master.check_value();
            // Constant-time comparison through the MAC API.
            let ok = e.len() == 32 && got.iter().zip(e).fold(0u8, |a, (x, y)| a | (x ^ y)) == 0;
            if !ok {
                return Err(CryptoError::WrongSecret);
            }
        }
        Ok(KeyRing {
            master,
            keks: RwLock::new(HashMap::new()),
            blind: RwLock::new(HashMap::new()),
        })
    }

    /// The master secret's check value.
    pub fn check_value(&self) -> [u8; 32] {
        self.master.check_value()
    }

    /// A copy of the master secret (to open a restored copy of the data
    /// with the same secret; zeroized on drop like the original).
    pub fn master_copy(&self) -> MasterSecret {
        self.master.clone()
    }

    /// Key-encryption key `version` (versions start at 1).
    pub fn kek(&self, version: u32) -> Result<Arc<Kek>, CryptoError> {
        if version == 0 {
            return Err(CryptoError::UnknownKekVersion(0));
        }
        if let Some(k) = self.keks.read().expect("kek cache").get(&version) {
            return Ok(k.clone());
        }
        let key = self.master.derive(b"kek", &version.to_be_bytes());
        let kek = Arc::new(Kek::new(version, &key));
        self.keks.write().expect("kek cache").insert(version, kek.clone());
        Ok(kek)
    }

    /// The blind-index key for `field`.
    pub fn blind(&self, field: &str) -> Arc<BlindIndexer> {
        if let Some(b) = self.blind.read().expect("blind cache").get(field) {
            return b.clone();
        }
        let key = self.master.derive(b"blind-index", field.as_bytes());
        let b = Arc::new(BlindIndexer::new(&key));
        self.blind
            .write()
            .expect("blind cache")
            .insert(field.to_owned(), b.clone());
        b
    }

    /// The audit chain's MAC key.
    pub fn audit_chain(&self) -> AuditChain {
        AuditChain::new(&self.master.derive(b"audit-chain", b""))
    }

    /// A key for signing and verifying backups, certificates and the like,
    /// separated by `purpose`.
    pub fn derive_subkey(&self, purpose: &str) -> Key32 {
        self.master.derive(b"subkey", purpose.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_file_round_trip() {
        let m = MasterSecret::generate();
        let text = m.to_key_file();
        let back = MasterSecret::from_key_file(&text).unwrap();
        assert_eq!(m.check_value(), back.check_value());
        assert!(MasterSecret::from_key_file("nope\n00").is_err());
        assert!(MasterSecret::from_key_file("custodia-master-key-v1\nzz").is_err());
    }

    #[test]
    fn wrong_secret_is_refused() {
        let a = MasterSecret::generate();
        let b = MasterSecret::generate();
        let check = a.check_value();
        assert!(KeyRing::open(a, Some(&check)).is_ok());
        assert_eq!(KeyRing::open(b, Some(&check)).unwrap_err(), CryptoError::WrongSecret);
    }

    #[test]
    fn passphrase_is_deterministic_and_salted() {
        let s1 = [1u8; 16];
        let s2 = [2u8; 16];
        let a = MasterSecret::from_passphrase(b"correct horse battery", &s1).unwrap();
        let b = MasterSecret::from_passphrase(b"correct horse battery", &s1).unwrap();
        let c = MasterSecret::from_passphrase(b"correct horse battery", &s2).unwrap();
        assert_eq!(a.check_value(), b.check_value());
        assert_ne!(a.check_value(), c.check_value());
        assert!(MasterSecret::from_passphrase(b"short", &s1).is_err());
    }

    #[test]
    fn derived_keys_are_separated() {
        let r = KeyRing::open(MasterSecret::generate(), None).unwrap();
        assert_ne!(r.blind("email").index("x"), r.blind("mobile").index("x"));
        assert_ne!(r.derive_subkey("a").expose(), r.derive_subkey("b").expose());
        assert!(r.kek(0).is_err());
        assert_eq!(r.kek(2).unwrap().version(), 2);
        assert!(format!("{r:?}").contains("redacted"));
    }
}
