//! Envelope encryption: per-customer data keys wrapped by versioned
//! key-encryption keys, and per-field AEAD ciphertexts.
//!
//! Formats (all integers big-endian):
//!
//! ```text
//! wrapped data key : 0x01 ‖ kek_version:u32 ‖ nonce:12 ‖ AES-256-GCM(dk):48
//!   AAD = "custodia/dk/v1" ‖ customer_id:16 ‖ kek_version:u32
//! field ciphertext : 0x01 ‖ dk_version:u32 ‖ nonce:12 ‖ AES-256-GCM(value)
//!   AAD = "custodia/field/v1" ‖ customer_id:16 ‖ len(field):u8 ‖ field ‖ dk_version:u32
//! ```
//!
//! The AAD binds every ciphertext to its customer, field and key version,
//! so a ciphertext copied to another row or field fails to decrypt. Nonces
//! are random: each data key encrypts few values, far below the 2^32 limit.

use crate::secret::Key32;
use crate::CryptoError;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use custodia_core::{CustomerId, FieldName};
use rand::RngCore;

const FORMAT_V1: u8 = 0x01;
const HEADER: usize = 1 + 4 + 12;
/// Length of a wrapped data key.
pub const WRAPPED_LEN: usize = HEADER + 32 + 16;
/// Bytes a field ciphertext adds to its plaintext.
pub const FIELD_OVERHEAD: usize = HEADER + 16;

fn nonce() -> [u8; 12] {
    let mut n = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut n);
    n
}

/// A key-encryption key of one version, with its AES key schedule ready.
pub struct Kek {
    version: u32,
    aead: Aes256Gcm,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Kek(v{}, <redacted>)", self.version)
    }
}

/// A data key as stored: wrapped under some KEK version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey(pub Vec<u8>);

impl WrappedKey {
    /// The KEK version this key is wrapped under.
    pub fn kek_version(&self) -> Result<u32, CryptoError> {
        let b = &self.0;
        if b.len() != WRAPPED_LEN {
            return Err(CryptoError::Format(b.first().copied().unwrap_or(0)));
        }
        if b[0] != FORMAT_V1 {
            return Err(CryptoError::Format(b[0]));
        }
        Ok(u32::from_be_bytes([b[1], b[2], b[3], b[4]]))
    }
}

fn dk_aad(customer: &CustomerId, kek_version: u32) -> [u8; 34] {
    let mut aad = [0u8; 34];
    aad[..14].copy_from_slice(b"custodia/dk/v1");
    aad[14..30].copy_from_slice(customer.as_bytes());
    aad[30..].copy_from_slice(&kek_version.to_be_bytes());
    aad
}

impl Kek {
    /// Build a KEK from derived key material.
    pub fn new(version: u32, key: &Key32) -> Kek {
        Kek {
            version,
            aead: Aes256Gcm::new(key.expose().into()),
        }
    }

    /// This KEK's version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Wrap `dk` for `customer`.
    pub fn wrap(&self, customer: &CustomerId, dk: &DataKey) -> WrappedKey {
        let n = nonce();
        let aad = dk_aad(customer, self.version);
        let ct = self
            .aead
            .encrypt(Nonce::from_slice(&n), Payload { msg: dk.0.expose(), aad: &aad })
            .expect("AES-GCM encryption of 32 bytes cannot fail");
        let mut out = Vec::with_capacity(WRAPPED_LEN);
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.version.to_be_bytes());
        out.extend_from_slice(&n);
        out.extend_from_slice(&ct);
        WrappedKey(out)
    }

    /// Unwrap a data key of `customer` wrapped under this KEK.
    pub fn unwrap_key(&self, customer: &CustomerId, w: &WrappedKey) -> Result<DataKey, CryptoError> {
        let v = w.kek_version()?;
        if v != self.version {
            return Err(CryptoError::UnknownKekVersion(v));
        }
        let aad = dk_aad(customer, v);
        let mut pt = self
            .aead
            .decrypt(Nonce::from_slice(&w.0[5..17]), Payload { msg: &w.0[17..], aad: &aad })
            .map_err(|_| CryptoError::Decrypt)?;
        let mut b = [0u8; 32];
        if pt.len() != 32 {
            zeroize::Zeroize::zeroize(&mut pt);
            return Err(CryptoError::Decrypt);
        }
        b.copy_from_slice(&pt);
        zeroize::Zeroize::zeroize(&mut pt);
        let k = Key32::from_bytes(b);
        zeroize::Zeroize::zeroize(&mut b);
        Ok(DataKey(k))
    }
}

/// A customer's data key (zeroized on drop).
#[derive(Debug)]
pub struct DataKey(Key32);

impl DataKey {
    /// A fresh random data key.
    pub fn generate() -> DataKey {
        let mut b = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut b);
        let k = Key32::from_bytes(b);
        zeroize::Zeroize::zeroize(&mut b);
        DataKey(k)
    }

    /// A cipher for this customer's field values under data-key version
    /// `dk_version`.
    pub fn cipher(&self, customer: CustomerId, dk_version: u32) -> FieldCipher {
        FieldCipher {
            customer,
            dk_version,
            aead: Aes256Gcm::new(self.0.expose().into()),
        }
    }
}

/// Encrypts and decrypts one customer's field values.
pub struct FieldCipher {
    customer: CustomerId,
    dk_version: u32,
    aead: Aes256Gcm,
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FieldCipher({}, dk v{}, <redacted>)", self.customer, self.dk_version)
    }
}

fn field_aad(customer: &CustomerId, field: &FieldName, dk_version: u32) -> Vec<u8> {
    let name = field.as_str().as_bytes();
    let mut aad = Vec::with_capacity(17 + 16 + 1 + name.len() + 4);
    aad.extend_from_slice(b"custodia/field/v1");
    aad.extend_from_slice(customer.as_bytes());
    aad.push(name.len() as u8);
    aad.extend_from_slice(name);
    aad.extend_from_slice(&dk_version.to_be_bytes());
    aad
}

impl FieldCipher {
    /// Encrypt a field value.
    pub fn seal(&self, field: &FieldName, plaintext: &[u8]) -> Vec<u8> {
        let n = nonce();
        let aad = field_aad(&self.customer, field, self.dk_version);
        let ct = self
            .aead
            .encrypt(Nonce::from_slice(&n), Payload { msg: plaintext, aad: &aad })
            .expect("AES-GCM encryption of a bounded value cannot fail");
        let mut out = Vec::with_capacity(HEADER + ct.len());
        out.push(FORMAT_V1);
        out.extend_from_slice(&self.dk_version.to_be_bytes());
        out.extend_from_slice(&n);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypt a field value sealed for this customer and `field`.
    pub fn open(&self, field: &FieldName, ct: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if ct.len() < FIELD_OVERHEAD {
            return Err(CryptoError::Format(ct.first().copied().unwrap_or(0)));
        }
        if ct[0] != FORMAT_V1 {
            return Err(CryptoError::Format(ct[0]));
        }
        let v = u32::from_be_bytes([ct[1], ct[2], ct[3], ct[4]]);
        if v != self.dk_version {
            return Err(CryptoError::Decrypt);
        }
        let aad = field_aad(&self.customer, field, v);
        self.aead
            .decrypt(Nonce::from_slice(&ct[5..17]), Payload { msg: &ct[17..], aad: &aad })
            .map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(n: &str) -> FieldName {
        FieldName::new(n).unwrap()
    }

    #[test]
    fn aes_256_gcm_known_answers() {
        // NIST GCM specification (McGrew & Viega), test cases 13 and 14.
        let k = Aes256Gcm::new(&[0u8; 32].into());
        let n = Nonce::from_slice(&[0u8; 12]);
        let t13 = k.encrypt(n, &b""[..]).unwrap();
        assert_eq!(custodia_core::audit::to_hex(&t13), "530f8afbc74536b9a963b4f1c4cb738b");
        let t14 = k.encrypt(n, &[0u8; 16][..]).unwrap();
        assert_eq!(
            custodia_core::audit::to_hex(&t14),
            "cea7403d4d606b6e074ec5d3baf39d18d0d1c8a799996bf0265b98b5d48ab919"
        );
    }

    #[test]
    fn wrap_round_trip_and_binding() {
        let kek = Kek::new(3, &Key32::random());
        let a = CustomerId::new();
        let b = CustomerId::new();
        let dk = DataKey::generate();
        let w = kek.wrap(&a, &dk);
        assert_eq!(w.0.len(), WRAPPED_LEN);
        assert_eq!(w.kek_version().unwrap(), 3);
        let back = kek.unwrap_key(&a, &w).unwrap();
        assert_eq!(back.0.expose(), dk.0.expose());
        // Moved to another customer: refused.
        assert_eq!(kek.unwrap_key(&b, &w).unwrap_err(), CryptoError::Decrypt);
        // Version header altered: refused.
        let mut bad = w.clone();
        bad.0[4] = 4;
        assert!(kek.unwrap_key(&a, &bad).is_err());
        let other = Kek::new(3, &Key32::random());
        assert_eq!(other.unwrap_key(&a, &w).unwrap_err(), CryptoError::Decrypt);
    }

    #[test]
    fn ciphertexts_cannot_be_swapped() {
        let a = CustomerId::new();
        let b = CustomerId::new();
        let dk = DataKey::generate();
        let ca = dk.cipher(a, 1);
        let ct = ca.seal(&f("email"), b"a@example.com");
        assert_eq!(ca.open(&f("email"), &ct).unwrap(), b"a@example.com");
        assert_eq!(ca.open(&f("mobile"), &ct).unwrap_err(), CryptoError::Decrypt);
        assert_eq!(dk.cipher(b, 1).open(&f("email"), &ct).unwrap_err(), CryptoError::Decrypt);
        assert_eq!(dk.cipher(a, 2).open(&f("email"), &ct).unwrap_err(), CryptoError::Decrypt);
        let mut t = ct.clone();
        t[0] = 9;
        assert_eq!(ca.open(&f("email"), &t).unwrap_err(), CryptoError::Format(9));
        assert!(ca.open(&f("email"), &ct[..10]).is_err());
    }

    proptest! {
        #[test]
        fn seal_open_round_trip(pt in proptest::collection::vec(any::<u8>(), 0..512), flip in 0usize..600) {
            let c = CustomerId::new();
            let dk = DataKey::generate();
            let fc = dk.cipher(c, 7);
            let ct = fc.seal(&f("notes"), &pt);
            prop_assert_eq!(ct.len(), pt.len() + FIELD_OVERHEAD);
            prop_assert_eq!(fc.open(&f("notes"), &ct).unwrap(), pt);
            // Any single-bit change is detected.
            let mut t = ct.clone();
            let i = flip % t.len();
            t[i] ^= 1;
            prop_assert!(fc.open(&f("notes"), &t).is_err());
        }
    }
}
