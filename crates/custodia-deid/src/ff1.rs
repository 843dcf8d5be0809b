//! Format-preserving tokens with FF1 (NIST SP 800-38G), AES-256 keyed.
//!
//! A value keeps its shape: the digits of a card number become other
//! digits, separators stay where they were (and, for digit tokens, letters
//! such as an ID's check character X), letters of an alphanumeric code stay
//! alphanumeric. The field name is the tweak, so the same value
//! in two fields gives two different tokens. Domains smaller than 10^6
//! (radix^length) are refused, as SP 800-38G Rev. 1 requires.

use fpe::ff1::{FlexibleNumeralString, FF1};

/// Smallest domain (radix^length) FF1 may encrypt.
pub const MIN_DOMAIN: f64 = 1_000_000.0;

/// Why a value cannot be tokenized.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ff1Error {
    /// Too few characters of the alphabet for a safe domain.
    #[error("the value has {len} characters of a radix-{radix} alphabet: a domain under 10^6 is too small for FF1 (NIST SP 800-38G Rev. 1)")]
    DomainTooSmall {
        /// Characters.
        len: usize,
        /// Radix.
        radix: u32,
    },
    /// The value holds characters that are not ASCII.
    #[error("the value holds characters outside the token alphabet (only ASCII can be tokenized)")]
    Alphabet,
    /// FF1 refused (length limits).
    #[error("FF1: {0}")]
    Ff1(String),
}

/// An alphabet: digits, or digits and lower-case letters (radix 36).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// 0-9.
    Digits,
    /// 0-9a-z (upper case folds to lower and is restored).
    Alnum,
}

impl Alphabet {
    fn radix(self) -> u32 {
        match self {
            Alphabet::Digits => 10,
            Alphabet::Alnum => 36,
        }
    }
    fn value(self, c: char) -> Option<u16> {
        match (self, c) {
            (_, '0'..='9') => Some(c as u16 - '0' as u16),
            (Alphabet::Alnum, 'a'..='z') => Some(c as u16 - 'a' as u16 + 10),
            (Alphabet::Alnum, 'A'..='Z') => Some(c as u16 - 'A' as u16 + 10),
            _ => None,
        }
    }
    fn char_of(self, v: u16, upper: bool) -> char {
        let c = if v < 10 {
            (b'0' + v as u8) as char
        } else {
            (b'a' + (v - 10) as u8) as char
        };
        if upper {
            c.to_ascii_uppercase()
        } else {
            c
        }
    }
}

/// FF1 with an AES-256 key.
pub struct Ff1 {
    inner: FF1<aes::Aes256>,
    alphabet: Alphabet,
}

impl std::fmt::Debug for Ff1 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Ff1({:?}, <redacted>)", self.alphabet)
    }
}

impl Ff1 {
    /// A cipher for `alphabet` under a 32-byte key.
    pub fn new(key: &[u8; 32], alphabet: Alphabet) -> Ff1 {
        Ff1 {
            inner: FF1::new(key, alphabet.radix()).expect("radix 10 and 36 are valid"),
            alphabet,
        }
    }

    fn run(&self, tweak: &[u8], value: &str, decrypt: bool) -> Result<String, Ff1Error> {
        let mut numerals = Vec::with_capacity(value.len());
        let mut layout = Vec::with_capacity(value.len());
        for c in value.chars() {
            if let Some(v) = self.alphabet.value(c) {
                numerals.push(v);
                layout.push(Some(c.is_ascii_uppercase()));
            } else if c.is_ascii() {
                // Separators and, for digits, letters (an ID's X, a '+') stay in place.
                layout.push(None);
            } else {
                return Err(Ff1Error::Alphabet);
            }
        }
        let radix = self.alphabet.radix();
        if (radix as f64).powi(numerals.len() as i32) < MIN_DOMAIN {
            return Err(Ff1Error::DomainTooSmall {
                len: numerals.len(),
                radix,
            });
        }
        let ns = FlexibleNumeralString::from(numerals);
        let out: Vec<u16> = if decrypt {
            self.inner.decrypt(tweak, &ns)
        } else {
            self.inner.encrypt(tweak, &ns)
        }
        .map_err(|e| Ff1Error::Ff1(format!("{e:?}")))?
        .into();
        let mut it = out.into_iter();
        let mut chars = value.chars();
        Ok(layout
            .into_iter()
            .map(|l| {
                let orig = chars.next().unwrap_or(' ');
                match l {
                    Some(upper) => self.alphabet.char_of(it.next().unwrap_or(0), upper),
                    None => orig,
                }
            })
            .collect())
    }

    /// The token of `value` (separators stay), with `tweak` (the field name).
    pub fn encrypt(&self, tweak: &[u8], value: &str) -> Result<String, Ff1Error> {
        self.run(tweak, value, false)
    }

    /// The value behind a token.
    pub fn decrypt(&self, tweak: &[u8], token: &str) -> Result<String, Ff1Error> {
        self.run(tweak, token, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fpe::ff1::FlexibleNumeralString as F;
    use proptest::prelude::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn numerals(s: &str) -> Vec<u16> {
        s.chars().map(|c| c.to_digit(36).unwrap() as u16).collect()
    }

    fn text(v: Vec<u16>) -> String {
        v.into_iter()
            .map(|d| std::char::from_digit(d as u32, 36).unwrap())
            .collect()
    }

    /// NIST SP 800-38G sample vectors (FF1 samples 1-9).
    #[test]
    fn nist_sample_vectors() {
        const K128: &str = "2B7E151628AED2A6ABF7158809CF4F3C";
        const K192: &str = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F";
        const K256: &str = "2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94";
        const T1: &str = "";
        const T2: &str = "39383736353433323130";
        const T3: &str = "3737373770717273373737";
        let cases = [
            (K128, 10, T1, "0123456789", "2433477484"),
            (K128, 10, T2, "0123456789", "6124200773"),
            (K128, 36, T3, "0123456789abcdefghi", "a9tv40mll9kdu509eum"),
            (K192, 10, T1, "0123456789", "2830668132"),
            (K192, 10, T2, "0123456789", "2496655549"),
            (K192, 36, T3, "0123456789abcdefghi", "xbj3kv35jrawxv32ysr"),
            (K256, 10, T1, "0123456789", "6657667009"),
            (K256, 10, T2, "0123456789", "1001623463"),
            (K256, 36, T3, "0123456789abcdefghi", "xs8a0azh2avyalyzuwd"),
        ];
        for (i, (key, radix, tweak, pt, ct)) in cases.iter().enumerate() {
            let k = hex(key);
            let t = hex(tweak);
            let x = F::from(numerals(pt));
            let got = match k.len() {
                16 => FF1::<aes::Aes128>::new(&k, *radix).unwrap().encrypt(&t, &x).unwrap(),
                24 => FF1::<aes::Aes192>::new(&k, *radix).unwrap().encrypt(&t, &x).unwrap(),
                _ => FF1::<aes::Aes256>::new(&k, *radix).unwrap().encrypt(&t, &x).unwrap(),
            };
            assert_eq!(text(got.into()), *ct, "sample {}", i + 1);
        }
        // The same vectors through this module's AES-256 wrapper.
        let k: [u8; 32] = hex(K256).try_into().unwrap();
        let f = Ff1::new(&k, Alphabet::Digits);
        assert_eq!(f.encrypt(&hex(T2), "0123456789").unwrap(), "1001623463");
        let f = Ff1::new(&k, Alphabet::Alnum);
        assert_eq!(
            f.encrypt(&hex(T3), "0123456789abcdefghi").unwrap(),
            "xs8a0azh2avyalyzuwd"
        );
    }

    #[test]
    fn shape_tweak_and_domain() {
        let f = Ff1::new(&[7; 32], Alphabet::Digits);
        let t = f.encrypt(b"bank_card", "6225 8802 0123 4565").unwrap();
        assert_eq!(t.len(), 19);
        assert_eq!(&t[4..5], " ");
        assert_ne!(t, "6225 8802 0123 4565");
        assert_ne!(
            t,
            f.encrypt(b"mobile", "6225 8802 0123 4565").unwrap(),
            "the field is the tweak"
        );
        assert_eq!(f.decrypt(b"bank_card", &t).unwrap(), "6225 8802 0123 4565");
        assert!(matches!(
            f.encrypt(b"x", "12345"),
            Err(Ff1Error::DomainTooSmall { len: 5, radix: 10 })
        ));
        assert!(f.encrypt(b"x", "123456").is_ok(), "10^6 is the smallest domain");
        assert_eq!(f.encrypt(b"x", "12三456"), Err(Ff1Error::Alphabet));
        let id = f.encrypt(b"national_id", "11010519491231002X").unwrap();
        assert!(id.ends_with('X') && id.len() == 18, "{id}");
        let a = Ff1::new(&[7; 32], Alphabet::Alnum);
        assert!(a.encrypt(b"x", "abcd").is_ok(), "36^4 > 10^6");
        assert!(a.encrypt(b"x", "abc").is_err());
        let tok = a.encrypt(b"passport", "E12345678").unwrap();
        assert!(tok.starts_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit()));
        assert_eq!(
            a.decrypt(b"passport", &tok).unwrap(),
            "E12345678".to_lowercase().replacen('e', "E", 1)
        );
    }

    proptest! {
        #[test]
        fn round_trip(digits in "[0-9]{6,30}", tweak in proptest::collection::vec(any::<u8>(), 0..16)) {
            let f = Ff1::new(&[3; 32], Alphabet::Digits);
            let t = f.encrypt(&tweak, &digits).unwrap();
            prop_assert_eq!(t.len(), digits.len());
            prop_assert!(t.bytes().all(|b| b.is_ascii_digit()));
            prop_assert_eq!(f.decrypt(&tweak, &t).unwrap(), digits);
        }
    }
}
