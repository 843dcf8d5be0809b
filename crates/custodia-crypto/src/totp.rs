//! Time-based one-time passwords (RFC 6238 over RFC 4226 HOTP), with the
//! replay rule Custodia needs: a code is accepted for one time step at most
//! once, so verification returns the step it matched and the caller stores
//! it as the last used step.

use crate::secret::Key32;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq;

/// Seconds per time step.
pub const STEP: u64 = 30;
/// Digits per code.
pub const DIGITS: u32 = 6;

/// The hash behind the HMAC (RFC 6238 allows three; authenticators use SHA-1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// HMAC-SHA-1 (the authenticator-app default).
    Sha1,
    /// HMAC-SHA-256.
    Sha256,
    /// HMAC-SHA-512.
    Sha512,
}

fn hmac(alg: Algorithm, key: &[u8], msg: &[u8]) -> Vec<u8> {
    match alg {
        Algorithm::Sha1 => {
            let mut m = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key).expect("any key length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha256 => {
            let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).expect("any key length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
        Algorithm::Sha512 => {
            let mut m = <Hmac<sha2::Sha512> as Mac>::new_from_slice(key).expect("any key length");
            m.update(msg);
            m.finalize().into_bytes().to_vec()
        }
    }
}

/// The HOTP value (RFC 4226 §5.3) of `counter` with `digits` digits.
pub fn hotp(alg: Algorithm, key: &[u8], counter: u64, digits: u32) -> u32 {
    let h = hmac(alg, key, &counter.to_be_bytes());
    let off = (h[h.len() - 1] & 0x0f) as usize;
    let bin =
        ((h[off] as u32 & 0x7f) << 24) | ((h[off + 1] as u32) << 16) | ((h[off + 2] as u32) << 8) | h[off + 3] as u32;
    bin % 10u32.pow(digits)
}

/// A TOTP secret (160 bits, as authenticator apps expect).
#[derive(Clone)]
pub struct TotpSecret(Key32);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    /// A fresh random secret.
    pub fn generate() -> TotpSecret {
        TotpSecret(Key32::random())
    }

    /// From stored bytes (only the first 20 are used).
    pub fn from_bytes(b: [u8; 32]) -> TotpSecret {
        TotpSecret(Key32::from_bytes(b))
    }

    /// The bytes to store (encrypted).
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }

    fn key(&self) -> &[u8] {
        &self.0.expose()[..20]
    }

    /// Base32 (RFC 4648, no padding), as typed into an authenticator.
    pub fn base32(&self) -> String {
        base32(self.key())
    }

    /// The `otpauth://` URI for enrollment (QR code content).
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let enc = |s: &str| -> String {
            s.bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect()
        };
        format!(
            "otpauth://totp/{}:{}?secret={}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP}",
            enc(issuer),
            enc(account),
            self.base32(),
            enc(issuer)
        )
    }

    /// The code for Unix time `t`.
    pub fn code_at(&self, t: u64) -> String {
        format!("{:06}", hotp(Algorithm::Sha1, self.key(), t / STEP, DIGITS))
    }

    /// Check `code` at Unix time `t`, allowing one step of clock drift each
    /// way, refusing steps at or before `last_used`. Returns the matched
    /// step, which the caller must store as the new `last_used`.
    pub fn verify(&self, code: &str, t: u64, last_used: Option<u64>) -> Option<u64> {
        let code = code.trim();
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let now = t / STEP;
        let mut found = None;
        // Check every candidate step so timing does not reveal which matched.
        for step in [now.saturating_sub(1), now, now + 1] {
            let want = format!("{:06}", hotp(Algorithm::Sha1, self.key(), step, DIGITS));
            let ok: bool = want.as_bytes().ct_eq(code.as_bytes()).into();
            if ok && last_used.is_none_or(|l| step > l) && found.is_none() {
                found = Some(step);
            }
        }
        found
    }
}

/// RFC 4648 base32 without padding.
pub fn base32(data: &[u8]) -> String {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(data.len().div_ceil(5) * 8);
    let mut buf = 0u64;
    let mut bits = 0;
    for &b in data {
        buf = (buf << 8) | b as u64;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(A[((buf >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(A[((buf << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decode RFC 4648 base32 (no padding, upper case); `None` on other characters.
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    const A: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Vec::with_capacity(s.len() * 5 / 8);
    let (mut buf, mut bits) = (0u64, 0);
    for c in s.trim().trim_end_matches('=').bytes() {
        buf = (buf << 5) | A.iter().position(|&x| x == c.to_ascii_uppercase())? as u64;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B: (time, SHA-1, SHA-256, SHA-512), 8 digits.
    const VECTORS: &[(u64, u32, u32, u32)] = &[
        (59, 94287082, 46119246, 90693936),
        (1111111109, 7081804, 68084774, 25091201),
        (1111111111, 14050471, 67062674, 99943326),
        (1234567890, 89005924, 91819424, 93441116),
        (2000000000, 69279037, 90698825, 38618901),
        (20000000000, 65353130, 77737706, 47863826),
    ];

    #[test]
    fn rfc6238_appendix_b() {
        let k1 = b"12345678901234567890";
        let k256 = b"12345678901234567890123456789012";
        let k512 = b"1234567890123456789012345678901234567890123456789012345678901234";
        for &(t, s1, s256, s512) in VECTORS {
            assert_eq!(hotp(Algorithm::Sha1, k1, t / 30, 8), s1, "SHA1 t={t}");
            assert_eq!(hotp(Algorithm::Sha256, k256, t / 30, 8), s256, "SHA256 t={t}");
            assert_eq!(hotp(Algorithm::Sha512, k512, t / 30, 8), s512, "SHA512 t={t}");
        }
    }

    #[test]
    fn rfc4226_appendix_d() {
        let want = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (c, w) in want.iter().enumerate() {
            assert_eq!(hotp(Algorithm::Sha1, b"12345678901234567890", c as u64, 6), *w);
        }
    }

    #[test]
    fn base32_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(i.as_bytes()), o);
        }
    }

    #[test]
    fn base32_round_trip() {
        for v in ["", "f", "fo", "foo", "foob", "fooba", "foobar"] {
            assert_eq!(base32_decode(&base32(v.as_bytes())).unwrap(), v.as_bytes());
        }
        assert_eq!(base32_decode("MZXW6YTBOI======").unwrap(), b"foobar");
        assert_eq!(base32_decode("mzxw6"), Some(b"foo".to_vec()));
        assert_eq!(base32_decode("M1"), None);
    }

    #[test]
    fn verify_accepts_drift_and_refuses_replay() {
        let s = TotpSecret::generate();
        let t = 1_800_000_000;
        let code = s.code_at(t);
        let step = s.verify(&code, t, None).unwrap();
        assert_eq!(step, t / STEP);
        assert_eq!(s.verify(&code, t, Some(step)), None, "same step twice");
        assert_eq!(s.verify(&s.code_at(t - 30), t, None), Some(step - 1));
        assert_eq!(s.verify(&s.code_at(t + 30), t, None), Some(step + 1));
        assert_eq!(s.verify(&s.code_at(t - 90), t, None), None);
        assert_eq!(s.verify("12345", t, None), None);
        assert_eq!(s.verify("abcdef", t, None), None);
        assert!(format!("{s:?}").contains("redacted"));
        let uri = s.otpauth_uri("Custodia", "li.na@example.com");
        assert!(
            uri.starts_with("otpauth://totp/Custodia:li.na%40example.com?secret="),
            "{uri}"
        );
        assert!(uri.contains(&s.base32()));
        assert_eq!(s.base32().len(), 32);
    }
}
