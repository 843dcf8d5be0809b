//! Envelope encryption: per-customer data keys wrapped by versioned
//! key-encryption keys, and per-field AEAD ciphertexts.
//!
//! Formats (all integers big-endian):
//!
//! ```text
//! wrapped data key : 0x01 ‖ kek_version:u32 ‖ nonce:12 ‖ AES-256-GCM(dk):48
//!   AAD = "custodia/dk/v1" ‖ customer_id:16 ‖ kek_version:u32
//! sealed record    : 0x02 ‖ base_nonce:12 ‖ field*
//!   field          = code:u8 ‖ len:varint ‖ 0x02 ‖ AES-256-GCM(value)   (len covers 0x02 and the GCM output)
//!   nonce(field)   = base_nonce XOR code (in the last byte)
//!   AAD(field)     = "custodia/field/v2" ‖ customer_id:16 ‖ dk_version:u32 ‖ code:u8 ‖ len(name):u8 ‖ name
//! ```
//!
//! Every field value is its own AEAD ciphertext with a version byte; the AAD
//! binds it to its customer, field and data-key version, so a ciphertext
//! copied to another row or field fails to decrypt. A record is always
//! sealed whole with a fresh random base nonce (updates re-seal every
//! field), so no (key, nonce) pair repeats; sharing the base across fields
//! saves 11 bytes per field, which matters at millions of rows.

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
            .encrypt(
                Nonce::from_slice(&n),
                Payload {
                    msg: dk.0.expose(),
                    aad: &aad,
                },
            )
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
            .decrypt(
                Nonce::from_slice(&w.0[5..17]),
                Payload {
                    msg: &w.0[17..],
                    aad: &aad,
                },
            )
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

/// Seal a small secret (an MFA seed, say) under `key`, bound to `aad`:
/// `0x01 ‖ nonce:12 ‖ AES-256-GCM(pt)`.
pub fn seal_secret(key: &Key32, aad: &[u8], pt: &[u8]) -> Vec<u8> {
    let n = nonce();
    let ct = Aes256Gcm::new(key.expose().into())
        .encrypt(Nonce::from_slice(&n), Payload { msg: pt, aad })
        .expect("AES-GCM encryption of a small secret cannot fail");
    let mut out = Vec::with_capacity(13 + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&n);
    out.extend_from_slice(&ct);
    out
}

/// Open what [`seal_secret`] sealed.
pub fn open_secret(key: &Key32, aad: &[u8], sealed: &[u8]) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoError> {
    if sealed.len() < 29 || sealed[0] != FORMAT_V1 {
        return Err(CryptoError::Format(sealed.first().copied().unwrap_or(0)));
    }
    Aes256Gcm::new(key.expose().into())
        .decrypt(
            Nonce::from_slice(&sealed[1..13]),
            Payload {
                msg: &sealed[13..],
                aad,
            },
        )
        .map(zeroize::Zeroizing::new)
        .map_err(|_| CryptoError::Decrypt)
}

const RECORD_V2: u8 = 0x02;

fn field_aad(customer: &CustomerId, dk_version: u32, code: u8, field: &FieldName) -> Vec<u8> {
    let name = field.as_str().as_bytes();
    let mut aad = Vec::with_capacity(17 + 16 + 4 + 2 + name.len());
    aad.extend_from_slice(b"custodia/field/v2");
    aad.extend_from_slice(customer.as_bytes());
    aad.extend_from_slice(&dk_version.to_be_bytes());
    aad.push(code);
    aad.push(name.len() as u8);
    aad.extend_from_slice(name);
    aad
}

fn put_varint(out: &mut Vec<u8>, mut v: usize) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn get_varint(b: &[u8]) -> Option<(usize, &[u8])> {
    let mut v = 0usize;
    for (i, &x) in b.iter().enumerate().take(4) {
        v |= ((x & 0x7f) as usize) << (7 * i);
        if x & 0x80 == 0 {
            return Some((v, &b[i + 1..]));
        }
    }
    None
}

/// A sealed record taken apart: its base nonce and `(code, ciphertext)` per field.
pub type RecordParts<'a> = ([u8; 12], Vec<(u8, &'a [u8])>);

/// The fields of a sealed record, still encrypted.
pub fn record_fields(sealed: &[u8]) -> Result<RecordParts<'_>, CryptoError> {
    let (&fmt, rest) = sealed.split_first().ok_or(CryptoError::Format(0))?;
    if fmt != RECORD_V2 {
        return Err(CryptoError::Format(fmt));
    }
    let base: [u8; 12] = rest
        .get(..12)
        .ok_or(CryptoError::Format(fmt))?
        .try_into()
        .expect("12 bytes");
    let mut rest = &rest[12..];
    let mut out = Vec::new();
    while let Some((&code, r)) = rest.split_first() {
        let (len, r) = get_varint(r).ok_or(CryptoError::Format(fmt))?;
        let ct = r.get(..len).ok_or(CryptoError::Format(fmt))?;
        out.push((code, ct));
        rest = &r[len..];
    }
    Ok((base, out))
}

impl FieldCipher {
    fn nonce_for(base: &[u8; 12], code: u8) -> [u8; 12] {
        let mut n = *base;
        n[11] ^= code;
        n
    }

    /// Seal a whole record: `(code, field name, value)` with distinct codes.
    pub fn seal_record(&self, fields: &[(u8, &FieldName, &[u8])]) -> Vec<u8> {
        let base = nonce();
        let mut out = Vec::with_capacity(13 + fields.iter().map(|f| f.2.len() + 20).sum::<usize>());
        out.push(RECORD_V2);
        out.extend_from_slice(&base);
        for (code, name, value) in fields {
            debug_assert_eq!(fields.iter().filter(|f| f.0 == *code).count(), 1, "codes are distinct");
            let aad = field_aad(&self.customer, self.dk_version, *code, name);
            let ct = self
                .aead
                .encrypt(
                    Nonce::from_slice(&Self::nonce_for(&base, *code)),
                    Payload { msg: value, aad: &aad },
                )
                .expect("AES-GCM encryption of a bounded value cannot fail");
            out.push(*code);
            put_varint(&mut out, ct.len() + 1);
            out.push(RECORD_V2);
            out.extend_from_slice(&ct);
        }
        out
    }

    fn open_ct(&self, base: &[u8; 12], code: u8, name: &FieldName, ct: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (&fmt, body) = ct.split_first().ok_or(CryptoError::Format(0))?;
        if fmt != RECORD_V2 {
            return Err(CryptoError::Format(fmt));
        }
        let aad = field_aad(&self.customer, self.dk_version, code, name);
        self.aead
            .decrypt(
                Nonce::from_slice(&Self::nonce_for(base, code)),
                Payload { msg: body, aad: &aad },
            )
            .map_err(|_| CryptoError::Decrypt)
    }

    /// Open every field of a sealed record; `name_of` maps codes to names.
    pub fn open_record<'n>(
        &self,
        sealed: &[u8],
        name_of: &dyn Fn(u8) -> Option<&'n FieldName>,
    ) -> Result<Vec<(u8, Vec<u8>)>, CryptoError> {
        let (base, fields) = record_fields(sealed)?;
        fields
            .into_iter()
            .map(|(code, ct)| {
                let name = name_of(code).ok_or(CryptoError::Format(code))?;
                Ok((code, self.open_ct(&base, code, name, ct)?))
            })
            .collect()
    }

    /// Open one field of a sealed record, if present.
    pub fn open_field(&self, sealed: &[u8], code: u8, name: &FieldName) -> Result<Option<Vec<u8>>, CryptoError> {
        let (base, fields) = record_fields(sealed)?;
        match fields.into_iter().find(|(c, _)| *c == code) {
            Some((_, ct)) => self.open_ct(&base, code, name, ct).map(Some),
            None => Ok(None),
        }
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
    fn small_secrets_are_bound_to_their_context() {
        let k = Key32::random();
        let s = seal_secret(&k, b"account:li", b"seed");
        assert_eq!(&open_secret(&k, b"account:li", &s).unwrap()[..], b"seed");
        assert_eq!(open_secret(&k, b"account:wang", &s).unwrap_err(), CryptoError::Decrypt);
        assert!(open_secret(&Key32::random(), b"account:li", &s).is_err());
        assert!(open_secret(&k, b"account:li", &s[..5]).is_err());
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

    fn names() -> Vec<FieldName> {
        ["name", "email", "mobile", "notes"].iter().map(|n| f(n)).collect()
    }

    #[test]
    fn ciphertexts_cannot_be_swapped() {
        let a = CustomerId::new();
        let b = CustomerId::new();
        let n = names();
        let name_of = |c: u8| n.get(c as usize);
        let dk = DataKey::generate();
        let ca = dk.cipher(a, 1);
        let rec = ca.seal_record(&[(1, &n[1], b"a@example.com"), (2, &n[2], b"+8613800138000")]);
        assert_eq!(
            ca.open_record(&rec, &name_of).unwrap(),
            vec![(1, b"a@example.com".to_vec()), (2, b"+8613800138000".to_vec())]
        );
        assert_eq!(ca.open_field(&rec, 2, &n[2]).unwrap().unwrap(), b"+8613800138000");
        assert_eq!(ca.open_field(&rec, 3, &n[3]).unwrap(), None);
        // Another customer, another data-key version, another field name: refused.
        assert_eq!(
            dk.cipher(b, 1).open_record(&rec, &name_of).unwrap_err(),
            CryptoError::Decrypt
        );
        assert_eq!(
            dk.cipher(a, 2).open_record(&rec, &name_of).unwrap_err(),
            CryptoError::Decrypt
        );
        assert_eq!(ca.open_field(&rec, 1, &n[2]).unwrap_err(), CryptoError::Decrypt);
        // Swapping the codes of two fields (moving a value to another field): refused.
        let (_, fields) = record_fields(&rec).unwrap();
        let mut swapped = rec[..13].to_vec();
        for (code, ct) in fields.iter().rev() {
            swapped.push(if *code == 1 { 2 } else { 1 });
            put_varint(&mut swapped, ct.len());
            swapped.extend_from_slice(ct);
        }
        assert_eq!(ca.open_record(&swapped, &name_of).unwrap_err(), CryptoError::Decrypt);
        // Moving a field ciphertext into another customer's record: refused.
        let other = dk.cipher(b, 1).seal_record(&[(1, &n[1], b"b@example.com")]);
        let (_, of) = record_fields(&other).unwrap();
        let mut moved = rec[..13].to_vec();
        moved.push(1);
        put_varint(&mut moved, of[0].1.len());
        moved.extend_from_slice(of[0].1);
        assert_eq!(ca.open_record(&moved, &name_of).unwrap_err(), CryptoError::Decrypt);
        let mut bad = rec.clone();
        bad[0] = 9;
        assert_eq!(ca.open_record(&bad, &name_of).unwrap_err(), CryptoError::Format(9));
        assert!(ca.open_record(&rec[..20], &name_of).is_err());
    }

    #[test]
    fn each_field_carries_a_version_byte_and_its_own_nonce() {
        let n = names();
        let c = DataKey::generate().cipher(CustomerId::new(), 1);
        let rec = c.seal_record(&[(0, &n[0], b"x"), (3, &n[3], b"x")]);
        let (base, fields) = record_fields(&rec).unwrap();
        assert!(fields.iter().all(|(_, ct)| ct[0] == 0x02));
        // Same value, different fields: different ciphertexts.
        assert_ne!(fields[0].1, fields[1].1);
        assert_ne!(FieldCipher::nonce_for(&base, 0), FieldCipher::nonce_for(&base, 3));
        // Sealing twice gives a fresh base nonce.
        assert_ne!(record_fields(&c.seal_record(&[(0, &n[0], b"x")])).unwrap().0, base);
    }

    proptest! {
        #[test]
        fn record_round_trip_and_tamper_detection(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 1..4), flip in 0usize..2000) {
            let n = names();
            let name_of = |c: u8| n.get(c as usize);
            let c = DataKey::generate().cipher(CustomerId::new(), 7);
            let items: Vec<(u8, &FieldName, &[u8])> = values.iter().enumerate().map(|(i, v)| (i as u8, &n[i], v.as_slice())).collect();
            let rec = c.seal_record(&items);
            let opened = c.open_record(&rec, &name_of).unwrap();
            prop_assert_eq!(opened.len(), values.len());
            for ((code, pt), (i, v)) in opened.iter().zip(values.iter().enumerate()) {
                prop_assert_eq!(*code as usize, i);
                prop_assert_eq!(pt, v);
            }
            // Any single-bit change is detected or makes the record unreadable.
            let mut t = rec.clone();
            let i = flip % t.len();
            t[i] ^= 1;
            prop_assert!(c.open_record(&t, &name_of) != Ok(opened));
        }

        #[test]
        fn record_parser_is_total(b in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = record_fields(&b);
        }
    }
}
