//! Signed documents that anyone can verify: compact JWS (RFC 7515) with
//! EdDSA over Ed25519 (RFC 8037). Consent receipts and, later, destruction
//! certificates are signed this way, so a customer or auditor can check
//! them with any JOSE library and the published public key.

use crate::secret::Key32;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use ed25519_dalek::{Signer, SigningKey, Verifier, VerifyingKey};

/// Why a signed document was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    /// Not three base64url parts.
    #[error("not a compact JWS (header.payload.signature)")]
    Format,
    /// The header is not EdDSA.
    #[error("unsupported JWS header (only alg EdDSA is accepted)")]
    Algorithm,
    /// The signature does not verify with the key.
    #[error("the signature does not match: the document was altered or signed by another key")]
    Signature,
}

/// An Ed25519 signing key (from the master secret).
pub struct DocumentSigner {
    key: SigningKey,
}

impl std::fmt::Debug for DocumentSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DocumentSigner({}, <redacted>)", self.key_id())
    }
}

impl DocumentSigner {
    /// A signer from 32 bytes of derived key material.
    pub fn new(seed: &Key32) -> DocumentSigner {
        DocumentSigner {
            key: SigningKey::from_bytes(seed.expose()),
        }
    }

    /// The public key (32 bytes).
    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// A short id of the public key (first 8 bytes, hex), put in `kid`.
    pub fn key_id(&self) -> String {
        custodia_core::audit::to_hex(&self.public_key()[..8])
    }

    /// The public key as a JSON Web Key (RFC 8037 `OKP`/`Ed25519`).
    pub fn jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "alg": "EdDSA",
            "use": "sig",
            "kid": self.key_id(),
            "x": B64.encode(self.public_key()),
        })
    }

    /// Sign `payload` (JSON) as a compact JWS.
    pub fn sign(&self, payload: &[u8]) -> String {
        let header = serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": self.key_id()});
        let signing_input = format!("{}.{}", B64.encode(header.to_string()), B64.encode(payload));
        let sig = self.key.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", B64.encode(sig.to_bytes()))
    }
}

/// The 32-byte public key of a JWK written by [`DocumentSigner::jwk`].
pub fn public_key_from_jwk(jwk: &serde_json::Value) -> Option<[u8; 32]> {
    if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
        return None;
    }
    B64.decode(jwk["x"].as_str()?).ok()?.try_into().ok()
}

/// Verify a compact JWS with `public_key`; returns the payload.
pub fn verify(jws: &str, public_key: &[u8; 32]) -> Result<Vec<u8>, JwsError> {
    let mut parts = jws.trim().split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JwsError::Format);
    };
    let header: serde_json::Value =
        serde_json::from_slice(&B64.decode(h).map_err(|_| JwsError::Format)?).map_err(|_| JwsError::Format)?;
    if header["alg"] != "EdDSA" {
        return Err(JwsError::Algorithm);
    }
    let sig: [u8; 64] = B64
        .decode(s)
        .map_err(|_| JwsError::Format)?
        .try_into()
        .map_err(|_| JwsError::Format)?;
    let key = VerifyingKey::from_bytes(public_key).map_err(|_| JwsError::Signature)?;
    key.verify(
        format!("{h}.{p}").as_bytes(),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .map_err(|_| JwsError::Signature)?;
    B64.decode(p).map_err(|_| JwsError::Format)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn rfc8032_test_1() {
        let sk: [u8; 32] = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .try_into()
            .unwrap();
        let s = DocumentSigner::new(&Key32::from_bytes(sk));
        assert_eq!(
            custodia_core::audit::to_hex(&s.public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
        );
        let sig = s.key.sign(b"");
        assert_eq!(
            custodia_core::audit::to_hex(&sig.to_bytes()),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
        );
    }

    #[test]
    fn sign_verify_and_tamper() {
        let s = DocumentSigner::new(&Key32::random());
        let jws = s.sign(br#"{"consentReceiptID":"r1"}"#);
        assert_eq!(verify(&jws, &s.public_key()).unwrap(), br#"{"consentReceiptID":"r1"}"#);
        let other = DocumentSigner::new(&Key32::random());
        assert_eq!(verify(&jws, &other.public_key()).unwrap_err(), JwsError::Signature);
        let parts: Vec<&str> = jws.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            B64.encode(br#"{"consentReceiptID":"r2"}"#),
            parts[2]
        );
        assert_eq!(verify(&forged, &s.public_key()).unwrap_err(), JwsError::Signature);
        assert_eq!(verify("a.b", &s.public_key()).unwrap_err(), JwsError::Format);
        let none_alg = format!("{}.{}.{}", B64.encode(r#"{"alg":"none"}"#), parts[1], parts[2]);
        assert_eq!(verify(&none_alg, &s.public_key()).unwrap_err(), JwsError::Algorithm);
        assert!(format!("{s:?}").contains("redacted"));
        assert_eq!(public_key_from_jwk(&s.jwk()), Some(s.public_key()));
        assert_eq!(public_key_from_jwk(&serde_json::json!({"kty": "RSA"})), None);
    }
}
