//! The audit log's hash chain: each event's MAC covers the previous MAC and
//! the event's canonical bytes, keyed from the master secret, so someone
//! who can edit the database but does not hold the master secret cannot
//! rewrite history and recompute the chain.

use crate::secret::Key32;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Computes chain MACs.
#[derive(Clone)]
pub struct AuditChain {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for AuditChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditChain(<redacted>)")
    }
}

impl AuditChain {
    /// A chain keyed with `key`.
    pub fn new(key: &Key32) -> AuditChain {
        AuditChain {
            mac: <Hmac<Sha256> as Mac>::new_from_slice(key.expose()).expect("any key length"),
        }
    }

    /// MAC of an event whose predecessor's MAC is `prev`.
    pub fn link(&self, prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
        let mut m = self.mac.clone();
        m.update(prev);
        m.update(canonical);
        m.finalize().into_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_depend_on_everything() {
        let c = AuditChain::new(&Key32::random());
        let a = c.link(&[0; 32], b"one");
        assert_ne!(a, c.link(&[1; 32], b"one"));
        assert_ne!(a, c.link(&[0; 32], b"two"));
        assert_ne!(a, AuditChain::new(&Key32::random()).link(&[0; 32], b"one"));
        assert_eq!(a, c.link(&[0; 32], b"one"));
    }
}
