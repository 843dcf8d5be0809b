//! Blind indexes for exact-match search over encrypted fields.
//!
//! `index(v) = first 8 bytes of HMAC-SHA256(K_field, normalized v)`, stored
//! as a signed 64-bit integer. What this leaks to someone holding the
//! database but not the master secret: which records share a value of the
//! same field (equality), and so how often each value occurs. It does not
//! leak order, length or the value itself, and indexes of different fields
//! are unrelated because each field has its own key. With 64 bits,
//! collisions at a million records are improbable (~3·10⁻⁸), and the vault
//! decrypts candidates and compares anyway, so a collision can never return
//! the wrong customer.

use crate::secret::Key32;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Computes blind-index values for one field.
#[derive(Clone)]
pub struct BlindIndexer {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for BlindIndexer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BlindIndexer(<redacted>)")
    }
}

impl BlindIndexer {
    /// An indexer keyed with `key`.
    pub fn new(key: &Key32) -> BlindIndexer {
        Self::from_key_bytes(key.expose())
    }

    fn from_key_bytes(key: &[u8]) -> BlindIndexer {
        BlindIndexer {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length"),
        }
    }

    /// The full HMAC-SHA256 tag (used by tests and for derivations).
    pub fn tag(&self, normalized: &str) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(normalized.as_bytes());
        m.finalize().into_bytes().into()
    }

    /// The stored index value of a normalized value.
    pub fn index(&self, normalized: &str) -> i64 {
        let t = self.tag(normalized);
        i64::from_be_bytes([t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_rfc4231_case_2() {
        let b = BlindIndexer::from_key_bytes(b"Jefe");
        assert_eq!(
            custodia_core::audit::to_hex(&b.tag("what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(b.index("what do ya want for nothing?"), 0x5bdcc146bf60754e_u64 as i64);
    }

    #[test]
    fn equal_values_equal_indexes() {
        let b = BlindIndexer::new(&Key32::random());
        assert_eq!(b.index("a@example.com"), b.index("a@example.com"));
        assert_ne!(b.index("a@example.com"), b.index("b@example.com"));
        assert!(format!("{b:?}").contains("redacted"));
    }
}
