//! A 256-bit secret that zeroizes itself and never prints.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// 32 bytes of key material. `Debug` prints `Key32(<redacted>)`; the bytes
/// are wiped when the value is dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct Key32([u8; 32]);

impl Key32 {
    /// Wrap existing bytes (the caller should wipe its copy).
    pub fn from_bytes(b: [u8; 32]) -> Key32 {
        Key32(b)
    }
    /// Fresh random key material from the operating system's CSPRNG.
    pub fn random() -> Key32 {
        let mut b = [0u8; 32];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut b);
        Key32(b)
    }
    /// Borrow the bytes for a cryptographic call.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Key32 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key32(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let k = Key32::from_bytes([0xAB; 32]);
        let s = format!("{k:?}");
        assert_eq!(s, "Key32(<redacted>)");
        assert!(!s.to_lowercase().contains("ab"));
    }

    #[test]
    fn random_keys_differ() {
        assert_ne!(Key32::random().expose(), Key32::random().expose());
    }
}
